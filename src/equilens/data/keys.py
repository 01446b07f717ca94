"""Names of every field that flows between data, models, training and analysis.

Each key is a constant; no other module spells these strings. The comment above
each one states its shape (per atom, per edge, per frame) and its unit.
Internal units are those of rMD17: energies in kcal/mol, forces in kcal/mol/Å,
lengths in Å (see :mod:`equilens.data.units`).
"""

from typing import Final

# (n_atoms, 3) float, Å. Cartesian positions of every atom of the batch.
POSITIONS: Final[str] = "positions"
# (n_atoms,) int64. Atomic number of every atom.
ATOMIC_NUMBERS: Final[str] = "atomic_numbers"
# (n_atoms,) int64. Index of the atom's species in the model's type list (0..n_types-1).
ATOM_TYPES: Final[str] = "atom_types"
# (n_atoms,) int64. Index of the frame each atom belongs to (0..n_frames-1).
BATCH: Final[str] = "batch"
# (2, n_edges) int64. Row 0: source (neighbour) j, row 1: target (centre) i; a directed
# edge j -> i for every ordered pair within the cutoff, both directions present.
EDGE_INDEX: Final[str] = "edge_index"
# (n_frames, 3, 3) float, Å. Cell of each frame, rows the lattice vectors a, b, c; in a
# batch only when its data set is periodic (zero rows for a direction without a cell).
CELL: Final[str] = "cell"
# (n_frames, 3) bool. Periodic directions of each frame (along a, b, c); in a batch only
# when its data set is periodic (the pretrained models build their own graphs from it).
PBC: Final[str] = "pbc"
# (n_edges, 3) float (integer values). Cell shift S of edge j -> i: the neighbour is the
# image x_j + S·cell of atom j; in a batch only when its data set is periodic.
EDGE_SHIFTS: Final[str] = "edge_shifts"
# (n_edges, 3) float, Å. r_j - r_i (+ S·cell) for edge j -> i.
EDGE_VECTORS: Final[str] = "edge_vectors"
# (n_edges,) float, Å. |r_j - r_i|.
EDGE_LENGTHS: Final[str] = "edge_lengths"
# (n_edges, (l_max+1)^2 - 1) float, no unit. Real spherical harmonics Y_l(x̂) of the edge
# direction for l = 1..l_max, orders concatenated (e3nn's 'component' normalisation).
EDGE_HARMONICS: Final[str] = "edge_harmonics"
# (n_edges,) float, 1/Å. √(2/r_c) u(r/r_c) / r: the factor of the Bessel radial embedding
# that depends on the length only (u is the polynomial cutoff envelope).
EDGE_ENVELOPE: Final[str] = "edge_envelope"
#: Per-edge quantities that depend on positions only: a model may take them from the
#: batch instead of recomputing them when positions do not change (energy-only training).
EDGE_GEOMETRY: Final[tuple[str, ...]] = (EDGE_LENGTHS, EDGE_HARMONICS, EDGE_ENVELOPE)
# (n_frames,) int64. Number of atoms of each frame.
N_ATOMS: Final[str] = "n_atoms"

# (n_frames,) float, kcal/mol. Total energy (label or prediction).
ENERGY: Final[str] = "energy"
# (n_atoms, 3) float, kcal/mol/Å. Forces -dE/dr (label or prediction).
FORCES: Final[str] = "forces"
# (n_frames, 3, 3) float, kcal/mol/Å³. Stress (1/V) ∂E/∂ε of each frame (label or
# prediction), ASE's sign convention (positive under tension).
STRESS: Final[str] = "stress"
# (n_atoms,) float, kcal/mol. Per-atom energy contributions of a prediction.
ATOMIC_ENERGY: Final[str] = "atomic_energy"

# (n_frames, latent_dim) float, no unit. Graph-level last-layer latent: the mean over a
# frame's atoms of the invariant (l=0) features that feed the energy head. Invariant under
# E(3); its irreps are `latent_dim x 0e` for every model. Returned, with NODE_FEATURES, by
# a model in eval mode only (training needs neither).
LATENT: Final[str] = "latent"
# list over layers of (n_atoms, irreps.dim) float. Node features after each interaction;
# their irreps are the model's `layer_irreps`.
NODE_FEATURES: Final[str] = "node_features"

ALL_INPUT_KEYS: Final[tuple[str, ...]] = (
    POSITIONS,
    ATOMIC_NUMBERS,
    ATOM_TYPES,
    BATCH,
    EDGE_INDEX,
    N_ATOMS,
)
