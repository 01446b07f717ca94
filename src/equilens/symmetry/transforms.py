"""Elements of E(3) × S_n and their action on batch dicts.

A batch (see :mod:`equilens.data.keys`) holds several disjoint frames. Every function
here acts frame by frame: frame f gets its own orthogonal matrix Q_f, translation t_f
and permutation of its own atoms, so a model that leaks information between frames,
or depends on where a frame sits in the batch, is caught as well.

Positions are transformed in float64 whatever their stored dtype; callers cast the
result to the precision they test.
"""

from __future__ import annotations

import numpy as np
import torch
from e3nn import o3

from equilens.data import keys
from equilens.errors import DataError

#: Keys with one row per atom, moved by a permutation.
ATOM_KEYS = (keys.POSITIONS, keys.ATOM_TYPES, keys.ATOMIC_NUMBERS, keys.BATCH, keys.FORCES,
             keys.ATOMIC_ENERGY)
#: Keys with one row per frame, left alone by every transformation here.
FRAME_KEYS = (keys.N_ATOMS, keys.ENERGY, keys.CELL, keys.PBC, keys.STRESS)
#: Keys with one column (EDGE_INDEX) or row per edge.
EDGE_KEYS = (keys.EDGE_INDEX, keys.EDGE_VECTORS, keys.EDGE_LENGTHS, keys.EDGE_HARMONICS,
             keys.EDGE_ENVELOPE, keys.EDGE_SHIFTS)


def random_orthogonal(n: int, *, improper: bool = False,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(n, 3, 3) random orthogonal matrices.

    Proper ones (det +1) are Haar-uniform rotations from ``e3nn.o3.rand_matrix``;
    improper ones (det -1) are the same times -1, a rotation composed with the
    inversion r → -r. Draws from the global torch RNG (seed it, or wrap the call in
    ``torch.random.fork_rng``).
    """
    if n < 0:
        raise DataError(f"number of matrices must be >= 0, got {n}")
    q = o3.rand_matrix(n, dtype=dtype)
    return -q if improper else q


def random_translation(n: int, scale: float = 5.0, *,
                       dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(n, 3) translations in Å, each component normal with standard deviation ``scale``."""
    if n < 0:
        raise DataError(f"number of translations must be >= 0, got {n}")
    return scale * torch.randn(n, 3, dtype=dtype)


def _check_rigid(batch: dict[str, torch.Tensor], rotation: torch.Tensor,
                 translation: torch.Tensor | None) -> int:
    n_frames = int(batch[keys.N_ATOMS].shape[0])
    if rotation.shape != (n_frames, 3, 3):
        raise DataError(f"rotation must be (n_frames, 3, 3) = ({n_frames}, 3, 3), "
                        f"got {tuple(rotation.shape)}")
    if translation is not None and translation.shape != (n_frames, 3):
        raise DataError(f"translation must be (n_frames, 3) = ({n_frames}, 3), "
                        f"got {tuple(translation.shape)}")
    gram = rotation.double() @ rotation.double().transpose(1, 2)
    error = float((gram - torch.eye(3, dtype=torch.float64)).abs().max()) if n_frames else 0.0
    if error > 1e-8:
        raise DataError(f"rotation matrices must be orthogonal (Q Qᵀ = I); off by {error:.3g}")
    return n_frames


def rotate_vectors(vectors: torch.Tensor, frame: torch.Tensor,
                   rotation: torch.Tensor) -> torch.Tensor:
    """v'_a = Q_{frame[a]} v_a for (n, 3) vectors, in float64; rotation (n_frames, 3, 3)."""
    return torch.einsum("aij,aj->ai", rotation.double()[frame], vectors.double())


def transform_batch(batch: dict[str, torch.Tensor], rotation: torch.Tensor,
                    translation: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The batch with every frame f moved rigidly: r → Q_f r + t_f (float64 positions).

    Args:
        batch: a batch dict; POSITIONS (n_atoms, 3) Å.
        rotation: (n_frames, 3, 3) orthogonal matrices (proper or improper).
        translation: (n_frames, 3) Å, or None for none.

    Returns:
        A new dict: POSITIONS float64 transformed; FORCES, EDGE_VECTORS and the lattice
        vectors of a periodic batch's CELL (rows) rotated (vectors do not translate;
        EDGE_SHIFTS, integer multiples of the lattice vectors, stay); a STRESS label
        becomes Q σ Qᵀ; cached EDGE_HARMONICS dropped (a model recomputes
        them); everything else, including EDGE_INDEX (distances and hence the neighbour
        graph are unchanged), shared with the input.
    """
    _check_rigid(batch, rotation, translation)
    frame = batch[keys.BATCH]
    out = {k: v for k, v in batch.items() if k != keys.EDGE_HARMONICS}
    pos = rotate_vectors(batch[keys.POSITIONS], frame, rotation)
    if translation is not None:
        pos = pos + translation.double()[frame]
    out[keys.POSITIONS] = pos
    if keys.FORCES in batch:
        out[keys.FORCES] = rotate_vectors(batch[keys.FORCES], frame, rotation).to(
            batch[keys.FORCES].dtype)
    if keys.CELL in batch:
        out[keys.CELL] = torch.einsum("fij,fkj->fki", rotation.double(),
                                      batch[keys.CELL].double()).to(batch[keys.CELL].dtype)
    if keys.STRESS in batch:
        q = rotation.double()
        out[keys.STRESS] = (q @ batch[keys.STRESS].double() @ q.transpose(1, 2)).to(
            batch[keys.STRESS].dtype)
    if keys.EDGE_VECTORS in batch:
        edge_frame = frame[batch[keys.EDGE_INDEX][1]]
        out[keys.EDGE_VECTORS] = rotate_vectors(batch[keys.EDGE_VECTORS], edge_frame,
                                                rotation).to(batch[keys.EDGE_VECTORS].dtype)
    return out


def random_permutation(n_atoms: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """(sum(n_atoms),) int64 permutation that shuffles the atoms of each frame among themselves.

    Frames are contiguous blocks of ``n_atoms[f]`` atoms; new atom a is old atom
    ``perm[a]``, and ``perm[a]`` lies in the same block as a.
    """
    n_atoms = torch.as_tensor(n_atoms, dtype=torch.long)
    if n_atoms.ndim != 1 or bool((n_atoms < 0).any()):
        raise DataError(f"n_atoms must be a 1-D tensor of counts >= 0, got {n_atoms.tolist()}")
    parts, start = [], 0
    for n in n_atoms.tolist():
        parts.append(start + torch.randperm(n, generator=generator))
        start += n
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def invert_permutation(perm: torch.Tensor) -> torch.Tensor:
    """inv with inv[perm[a]] = a."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), device=perm.device)
    return inv


def check_permutation(batch: dict[str, torch.Tensor], perm: torch.Tensor) -> None:
    """Raise DataError unless ``perm`` is a permutation of the batch's atoms within frames."""
    n = int(batch[keys.POSITIONS].shape[0])
    perm = torch.as_tensor(perm)
    if perm.shape != (n,) or perm.dtype != torch.long:
        raise DataError(f"permutation must be ({n},) int64, got {tuple(perm.shape)} {perm.dtype}")
    if not torch.equal(torch.sort(perm).values, torch.arange(n)):
        raise DataError("permutation must hold every atom index 0..n_atoms-1 exactly once")
    frame = batch[keys.BATCH]
    if not torch.equal(frame[perm], frame):
        raise DataError("permutation moves atoms between frames; it may only reorder the "
                        "atoms of each frame among themselves")


def permute_batch(batch: dict[str, torch.Tensor], perm: torch.Tensor) -> dict[str, torch.Tensor]:
    """The batch with its atoms reordered: new atom a is old atom ``perm[a]``.

    Per-atom keys (``ATOM_KEYS``) are gathered; EDGE_INDEX is relabelled with the inverse
    permutation and its columns put back in the paired order the dataset builds, so
    the result equals the batch built from the reordered frames.
    Per-edge keys follow their edges; per-frame keys are unchanged. Any other key is
    a DataError, since how it should move is unknown.
    """
    check_permutation(batch, perm)
    unknown = sorted(set(batch) - set(ATOM_KEYS) - set(FRAME_KEYS) - set(EDGE_KEYS))
    if unknown:
        raise DataError(f"permute_batch: unknown batch keys {', '.join(unknown)}; known: "
                        f"{', '.join(ATOM_KEYS + FRAME_KEYS + EDGE_KEYS)}")
    out = {k: v[perm] if k in ATOM_KEYS else v for k, v in batch.items()}
    if keys.EDGE_INDEX in batch:
        edges = invert_permutation(perm)[batch[keys.EDGE_INDEX]]
        order = paired_order(edges, batch.get(keys.EDGE_SHIFTS))
        out[keys.EDGE_INDEX] = edges[:, order]
        for key in EDGE_KEYS[1:]:
            if key in batch:
                out[key] = batch[key][order]
    return out


def paired_order(edges: torch.Tensor, shifts: torch.Tensor | None = None) -> torch.Tensor:
    """(n_edges,) int64 order that puts directed edges in the dataset's paired order.

    First the edges j → i with j < i (or j = i and the first nonzero cell shift
    negative), sorted by centre, neighbour and shift; then every such edge reversed
    (−shift), in the same order. ``edges`` (2, n_edges) (neighbour, centre); ``shifts``
    (n_edges, 3) integer cell shifts or None (all zero).
    """
    src, dst = (e.cpu().numpy() for e in edges)
    s = (np.zeros((src.shape[0], 3), dtype=np.int64) if shifts is None
         else np.rint(shifts.detach().cpu().numpy()).astype(np.int64))
    nonzero = s != 0
    lead = s[np.arange(s.shape[0]), np.argmax(nonzero, axis=1)] if s.shape[0] else s[:, 0]
    first = (src < dst) | ((src == dst) & (lead < 0))
    # the second half sorts by its reverse's key: (centre, neighbour, shift) of j → i
    centre, neighbour = np.where(first, dst, src), np.where(first, src, dst)
    sign = np.where(first, 1, -1)[:, None]
    key = (s * sign).T
    order = np.lexsort((key[2], key[1], key[0], neighbour, centre, ~first))
    return torch.as_tensor(order, dtype=torch.long, device=edges.device)


def permute_features(values: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Per-atom values (n_atoms, ...) as they should read after :func:`permute_batch`."""
    return values[perm]
