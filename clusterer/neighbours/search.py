"""The searches: :func:`knn` (a set against itself), :func:`knn_between` (queries
against a base) and :func:`knn_with_queries` (both, over one graph); exact or HNSW.
"""

from __future__ import annotations

import numpy as np

from .exact import EXACT_MAX_ITEMS, _as_matrix, _check_k, _check_method, _exact
from .hnsw import HnswParams, _ShardedGraph

# --------------------------------------------------------------------------- public


def _graph(base: np.ndarray, method: str, params: HnswParams, threads: int | None) -> _ShardedGraph | None:
    """The HNSW graph over ``base`` that ``method`` calls for, or None where the
    search is exact (``"exact"``, ``"auto"`` up to :data:`EXACT_MAX_ITEMS` rows,
    or at most one row)."""
    n = base.shape[0]
    if method == "exact" or (method == "auto" and n <= EXACT_MAX_ITEMS) or n <= 1:
        return None
    graph = _ShardedGraph(base.shape[1], params)
    graph.extend(base, threads)
    return graph


def _search(
    graph: _ShardedGraph | None,
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    self_offset: int | None,
    threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``queries`` in ``base``: through ``graph``, or exact without one."""
    if graph is None or k == 0:
        return _exact(queries, base, k, self_offset)
    return graph.search(queries, base, k, self_offset, threads)


def knn(
    vectors: np.ndarray,
    k: int,
    method: str = "auto",
    *,
    params: HnswParams = HnswParams(),
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other rows of every row by cosine similarity (self excluded).

    Returns ``(indices, sims)``: int64 and float32 arrays of shape ``(n, k)``,
    sorted by similarity desc, ties by index asc; padded with ``-1`` / ``-inf``
    when ``n - 1 < k``. ``method`` is ``"auto"`` (exact up to
    :data:`EXACT_MAX_ITEMS` rows, hnsw above), ``"exact"`` or ``"hnsw"``.
    ``threads`` bounds hnsw query threads (default: all cores).
    """
    x = _as_matrix(vectors)
    k = _check_k(k)
    graph = _graph(x, _check_method(method), params, threads) if k else None
    return _search(graph, x, x, k, 0, threads)


def knn_between(
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    method: str = "auto",
    *,
    params: HnswParams = HnswParams(),
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``base`` for every row of ``queries`` (no self to
    exclude: the sets are distinct, e.g. two languages for margin scores).

    Same result shape, order and padding as :func:`knn`; indices point into ``base``.
    ``"auto"`` picks hnsw when ``base`` has more than :data:`EXACT_MAX_ITEMS` rows.
    """
    b = _as_matrix(base, "base")
    q = _as_matrix(queries, "queries", dim=b.shape[1])
    k = _check_k(k)
    graph = _graph(b, _check_method(method), params, threads) if k else None
    return _search(graph, q, b, k, None, threads)


def knn_with_queries(
    vectors: np.ndarray,
    k: int,
    queries: np.ndarray,
    k_queries: int,
    method: str = "auto",
    *,
    params: HnswParams = HnswParams(),
    threads: int | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``knn(vectors, k)`` and ``knn_between(queries, vectors, k_queries)`` from one
    index: where both would build an HNSW graph over ``vectors``, it is built once.

    The answers are the same as those of the two separate calls."""
    x = _as_matrix(vectors)
    q = _as_matrix(queries, "queries", dim=x.shape[1])
    k, k_queries = _check_k(k), _check_k(k_queries)
    graph = _graph(x, _check_method(method), params, threads) if k or k_queries else None
    return _search(graph, x, x, k, 0, threads), _search(graph, q, x, k_queries, None, threads)
