"""The result shape every search here answers in (:func:`top_k`), the checks on
what comes in, and the exact search: blocked matrix products, ties by the lower index.
"""

from __future__ import annotations

import os

import numpy as np

EXACT_MAX_ITEMS = 20_000
"""Above this many base rows, ``method="auto"`` switches from exact to hnsw."""

METHODS = ("auto", "exact", "hnsw")

_BLOCK_FLOATS = 1 << 23  # 8 Mi similarities per exact block (32 MiB, 64 MiB of argpartition indices)
_NORM_TOLERANCE = 1e-3


# --------------------------------------------------------------------------- checks


def _as_matrix(vectors, name: str = "vectors", dim: int | None = None) -> np.ndarray:
    x = np.asarray(vectors)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} have dimension {x.shape[1]}, expected {dim}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if x.size:
        norms = np.einsum("ij,ij->i", x, x)
        bad = (np.abs(norms - 1.0) > _NORM_TOLERANCE) & (norms > 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} must be L2-normalised rows; row {row} has norm {float(np.sqrt(norms[row])):.4f}")
    return x


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    return int(k)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    return method


def _threads(threads: int | None) -> int:
    return max(1, int(threads) if threads else (os.cpu_count() or 1))


def _empty(m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((m, k), -1, dtype=np.int64), np.full((m, k), -np.inf, dtype=np.float32)


# --------------------------------------------------------------------------- exact


def _top_rows(sims: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``kk`` columns of every row, by similarity desc then column asc."""
    n = sims.shape[1]
    if kk < n:
        cols = np.argpartition(sims, n - kk, axis=1)[:, n - kk :]
        vals = np.take_along_axis(sims, cols, axis=1)
        kth = vals.min(axis=1)
        # A tie at the cut-off may have let argpartition pick an arbitrary column:
        # redo those rows so the lowest columns win.
        tied = np.flatnonzero((sims >= kth[:, None]).sum(axis=1) > kk)
        for r in tied:
            cand = np.flatnonzero(sims[r] >= kth[r])
            pick = cand[np.lexsort((cand, -sims[r, cand]))[:kk]]
            cols[r] = pick
            vals[r] = sims[r, pick]
    else:
        cols = np.broadcast_to(np.arange(n), sims.shape).copy()
        vals = sims.copy()
    order = np.lexsort((cols, -vals), axis=-1)
    return np.take_along_axis(cols, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _exact(
    queries: np.ndarray, base: np.ndarray, k: int, self_offset: int | None, chunk: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of ``queries`` in ``base``; with ``self_offset`` query row i is
    base row ``self_offset + i`` and is excluded."""
    m, n = queries.shape[0], base.shape[0]
    idx, sim = _empty(m, k)
    kk = min(k, n - (1 if self_offset is not None else 0))
    if kk <= 0 or m == 0:
        return idx, sim
    rows = chunk or max(1, _BLOCK_FLOATS // max(n, 1))
    for start in range(0, m, rows):
        stop = min(m, start + rows)
        block = queries[start:stop] @ base.T
        if self_offset is not None:
            r = np.arange(stop - start)
            block[r, self_offset + start + r] = -np.inf
        cols, vals = _top_rows(block, kk)
        idx[start:stop, :kk] = cols
        sim[start:stop, :kk] = vals
    return idx, sim


# --------------------------------------------------------------------------- hnsw


def top_k(cand: np.ndarray, sims: np.ndarray, k: int, own: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best candidates of every row, in the shape every search here answers in.

    ``cand``/``sims``: per query row, candidate indices (one numbering; ``-1``
    for none) and their similarities, e.g. the answers of several searches put
    side by side. ``own``: per row an index to leave out (the query itself).
    Sorted by similarity desc, ties by index asc, cut to ``k`` columns and
    padded with ``-1`` / ``-inf``: merging the answers over parts of a base
    gives the answer over the whole base."""
    cand = np.array(cand, dtype=np.int64)
    vals = np.array(sims, dtype=np.float32)
    if cand.shape != vals.shape or cand.ndim != 2:
        raise ValueError(f"candidates and similarities must be 2-D of one shape, got {cand.shape} and {vals.shape}")
    vals[cand < 0] = -np.inf
    if own is not None:
        vals[cand == np.asarray(own, dtype=np.int64)[:, None]] = -np.inf
    order = np.lexsort((cand, -vals), axis=-1)[:, :k]
    cand = np.take_along_axis(cand, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    cand[~np.isfinite(vals)] = -1
    if cand.shape[1] < k:
        pad_idx, pad_sim = _empty(len(cand), k - cand.shape[1])
        cand, vals = np.hstack([cand, pad_idx]), np.hstack([vals, pad_sim])
    return cand, vals


# --------------------------------------------------------------------------- public
