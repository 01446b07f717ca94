"""Data: reading, locating, splitting and graphing labelled structures."""

from equilens.data import keys
from equilens.data.dataset import GraphDataset, TypeMap, edge_features, to_device
from equilens.data.frames import Frames, concat
from equilens.data.graph import build_edges, neighbour_edges
from equilens.data.molecules import RMD17_MOLECULES, RMD17_SPLITS, rmd17_filename
from equilens.data.readers import read_ase, read_file, read_md17_npz, read_rmd17_npz
from equilens.data.sources import locate
from equilens.data.splits import Splits, split_file, split_rmd17

__all__ = [
    "Frames", "GraphDataset", "RMD17_MOLECULES", "RMD17_SPLITS", "Splits", "TypeMap",
    "build_edges", "concat", "edge_features", "keys", "locate", "neighbour_edges", "read_ase", "read_file",
    "read_md17_npz", "read_rmd17_npz", "rmd17_filename", "split_file", "split_rmd17",
    "to_device",
]
