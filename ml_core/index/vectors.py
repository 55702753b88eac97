"""Validation of vectors and ids at the index boundary.

faiss trusts its inputs: a wrong dimension reads past a buffer, NaN silently poisons inner
products, and an unnormalised vector makes inner product stop meaning cosine similarity. So
every vector that enters the index or queries it passes through here first and bad input
fails loudly with a ValueError that says what was wrong.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-12


def as_vectors(x, dim: int, *, name: str = "vectors") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 ``(n, dim)`` array of unit rows.

    A single vector of shape ``(dim,)`` becomes ``(1, dim)``. Raises ValueError on a wrong
    shape or dimension, non-finite values, or an all-zero row (it has no direction).
    """
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise ValueError(f"{name} have dimension {arr.shape[1]}, the index expects {dim}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    norms = _row_norms(arr)
    if not np.isfinite(norms).all():
        bad = int(np.flatnonzero(~np.isfinite(norms))[0])
        raise ValueError(f"{name} row {bad} contains NaN or infinity")
    if (norms < _EPS).any():
        bad = int(np.flatnonzero(norms < _EPS)[0])
        raise ValueError(f"{name} row {bad} is all zeros and has no direction")
    unit = not norms.size or np.abs(norms - 1).max() < 1e-4
    if arr.dtype == np.float32 and arr.flags.c_contiguous and unit:
        return arr  # already unit rows (embeddings from the database): no 2 GB copy at 1M
    arr = np.array(arr, dtype=np.float32, order="C", copy=True)  # never modify caller's data
    arr /= norms[:, None].astype(np.float32)
    return arr


def _row_norms(arr: np.ndarray) -> np.ndarray:
    """Row L2 norms without an (n, d) temporary; NaN/inf rows give non-finite norms.

    float32 rows are summed in float32 (fast); rows that overflow are redone in float64 so a
    large but finite vector is not mistaken for infinity.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        x = arr if arr.dtype == np.float32 else arr.astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", x, x)).astype(np.float64)
        redo = ~np.isfinite(norms)
        if redo.any():
            wide = arr[redo].astype(np.float64)
            norms[redo] = np.sqrt(np.einsum("ij,ij->i", wide, wide))
        return norms


def as_ids(ids, n: int | None = None) -> np.ndarray:
    """Return ``ids`` as a 1-D int64 array of unique non-negative ids (faiss uses -1 as "none")."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be integers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"got {arr.shape[0]} ids for {n} vectors")
    if arr.size and arr.min() < 0:
        raise ValueError("ids must be non-negative")
    if np.unique(arr).shape[0] != arr.shape[0]:
        raise ValueError("ids must be unique within one call")
    return arr


def as_id_set(ids) -> np.ndarray:
    """Sorted unique int64 array for allow-lists; duplicates are fine there, negatives are not."""
    arr = np.unique(np.asarray(list(ids) if isinstance(ids, (set, frozenset)) else ids,
                               dtype=np.int64).ravel())
    if arr.size and arr[0] < 0:
        raise ValueError("allowed ids must be non-negative")
    return arr
