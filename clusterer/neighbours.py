"""Nearest neighbours by cosine similarity: the only module that knows about kNN.

Vectors are L2-normalised float32 rows (what every :class:`~clusterer.embed.encoders.Encoder`
returns), so cosine similarity is a dot product.

Two ways to search, one result shape:

* **exact**: blocked matrix products, ``chunk`` query rows at a time against all
  base rows, so memory stays O(chunk * n) and never n x n. Ties are broken by the
  lower index, so the answer is fully determined by the data.
* **hnsw**: HNSW graphs (faiss's ``IndexHNSWSQ`` on fp16 copies of the rows, or
  ``IndexHNSWFlat``; inner product; from the ``faiss-cpu`` wheels) over
  fixed-size shards of consecutive rows, each built in one go from all its rows
  by one thread with a fixed seed, so the same rows always give the same graphs
  and the same answer whatever the number of cores;
  shards are built in parallel, queries run on several threads (they only read).
  Candidates are sorted like the exact path and their similarities are the true
  float32 dot products (computed here from the rows); only the recall is approximate: >= 0.97 at
  k = 10..30 on clustered 384-d data (tests, ``benchmarks/bench_ann.py``).

``method="auto"`` is exact up to :data:`EXACT_MAX_ITEMS` base rows and hnsw above.

Padding: results always have exactly ``k`` columns. When fewer than ``k``
neighbours exist (``n - 1 < k`` for :func:`knn`), the missing columns hold index
``-1`` and similarity ``-inf``, so array code (means over the top k, margins) can
mask them with ``np.isfinite``. Results are sorted, so ``idx[:, :j]`` of a call
with ``k`` is the answer for any ``j <= k``: call once with the largest k needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write
from .errors import StateError

EXACT_MAX_ITEMS = 20_000
"""Above this many base rows, ``method="auto"`` switches from exact to hnsw."""

METHODS = ("auto", "exact", "hnsw")

_BLOCK_FLOATS = 1 << 23  # 8 Mi similarities per exact block (32 MiB, 64 MiB of argpartition indices)
_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class HnswParams:
    """HNSW settings. The defaults give recall >= 0.97 at k <= 30 on 384-d data.

    ``m`` (links per node; twice that on the bottom layer), ``ef_construction``
    and ``seed`` (of the level draws) go to faiss's HNSW graph; ``ef_search`` is
    the search breadth per shard (raised to k + 1 when a query asks for more).
    Rows are split into graphs of ``shard_size`` consecutive rows, built in
    parallel: a fixed size, so the result never depends on the number of cores.
    With ``fp16`` the graphs hold the vectors in half precision (faiss's
    ``IndexHNSWSQ``): half the memory and, on a CPU with AVX-512, about 1.5 times as
    fast to build and search (on an AVX2-only Zen 3, as fast as float32), while the
    candidates they give are ranked on their true float32 dot products, so only
    which candidates are found can differ (recall the same or higher,
    ``benchmarks/bench_ann.py``).
    """

    m: int = 16
    ef_construction: int = 64
    ef_search: int = 48
    seed: int = 42
    shard_size: int = 100_000
    fp16: bool = True

    def __post_init__(self):
        for name in ("m", "ef_construction", "ef_search", "shard_size"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"HnswParams.{name} must be >= 2, got {getattr(self, name)!r}")


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


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ImportError("approximate neighbours need the 'faiss-cpu' package: pip install faiss-cpu") from exc
    return faiss


@contextmanager
def _omp_threads(count: int) -> Iterator[Any]:
    """faiss (the module) with ``count`` OpenMP threads in the calling thread; what
    that thread had is put back after (the setting is per thread, not global)."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield faiss
    finally:
        faiss.omp_set_num_threads(before)


class _ShardedGraph:
    """HNSW graphs over consecutive slices of ``shard_size`` rows.

    Row ``p`` always lives in shard ``p // shard_size``, and every shard's graph
    is built in one go from all its rows, by one thread, with the seed of
    :class:`HnswParams`: the graphs depend only on the rows, never on the number
    of cores or on how the rows were batched (faiss's graph for rows added in
    two batches differs from the one for the same rows added at once, so a shard
    that gets more rows is built again). Different shards are built at the same
    time, which is how building uses more than one core; a query searches every
    shard and merges.
    """

    def __init__(self, dim: int, params: HnswParams):
        self.dim = dim
        self.params = params
        self.graphs: list = []
        self.count = 0

    def _build(self, rows: np.ndarray):
        with _omp_threads(1) as faiss:
            if self.params.fp16:
                half = faiss.ScalarQuantizer.QT_fp16
                graph = faiss.IndexHNSWSQ(self.dim, half, self.params.m, faiss.METRIC_INNER_PRODUCT)
                graph.train(rows)  # fp16 learns nothing from the rows; faiss asks for the call
            else:
                graph = faiss.IndexHNSWFlat(self.dim, self.params.m, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = self.params.ef_construction
            graph.hnsw.rng = faiss.RandomGenerator(self.params.seed)
            graph.add(rows)  # faiss releases the GIL while inserting
        return graph

    def extend(self, base: np.ndarray, threads: int | None) -> None:
        """Cover every row of ``base``, whose first :attr:`count` rows are in already."""
        size, n = self.params.shard_size, base.shape[0]
        if n <= self.count:
            return
        first = self.count // size  # the open shard (if any) is built again with its new rows
        shards = range(first, (n - 1) // size + 1)

        def build(shard: int):
            return self._build(base[shard * size : min(n, (shard + 1) * size)])

        workers = min(len(shards), _threads(threads))
        if workers <= 1:
            built = [build(shard) for shard in shards]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                built = list(pool.map(build, shards))
        self.graphs[first:] = built
        self.count = n

    def search(
        self, queries: np.ndarray, base: np.ndarray, k: int, self_offset: int | None, threads: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        m, n = queries.shape[0], self.count
        idx, sim = _empty(m, k)
        want = min(k + (1 if self_offset is not None else 0), n)
        if want <= 0 or m == 0:
            return idx, sim
        size = self.params.shard_size
        counts = [g.ntotal for g in self.graphs]
        width = sum(min(want, c) for c in counts)
        rows = max(1, min(m, 8192, (1 << 22) // width))
        with _omp_threads(_threads(threads)) as faiss:
            breadth = faiss.SearchParametersHNSW()
            breadth.efSearch = max(self.params.ef_search, want)
            for start in range(0, m, rows):
                stop = min(m, start + rows)
                q = queries[start:stop]
                found = [g.search(q, min(want, c), params=breadth) for g, c in zip(self.graphs, counts)]
                if any((labels < 0).any() for _, labels in found):
                    # faiss could not fill every row (a poorly connected graph): this
                    # block falls back to the exact search, which always can.
                    off = None if self_offset is None else self_offset + start
                    cols, vals = _exact(q, base, k, off)
                else:
                    labels = np.hstack([found[s][1] + s * size for s in range(len(found))])
                    if self.params.fp16:  # faiss's dots are of the fp16 copies: rank on the true ones
                        dots = _dots(q, base, labels)
                    else:
                        dots = np.hstack([dots for dots, _ in found])
                    cols, vals = _merge(labels, dots, k, self_offset, start)
                kk = cols.shape[1]
                idx[start:stop, :kk] = cols
                sim[start:stop, :kk] = vals
        return idx, sim


def _dots(queries: np.ndarray, base: np.ndarray, labels: np.ndarray, rows: int = 1024) -> np.ndarray:
    """The float32 dot product of each query row with each of its candidate base
    rows (``labels``, all valid), ``rows`` queries at a time."""
    out = np.empty(labels.shape, dtype=np.float32)
    for lo in range(0, len(labels), rows):
        out[lo : lo + rows] = np.einsum("id,ijd->ij", queries[lo : lo + rows], base[labels[lo : lo + rows]])
    return out


def _merge(
    labels: np.ndarray, dots: np.ndarray, k: int, self_offset: int | None, start: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from all shards to the top k: self removed, sorted, cut."""
    own = None if self_offset is None else self_offset + start + np.arange(len(labels))
    return top_k(labels, dots, k, own)  # faiss's inner-product "distance" is the dot product


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


class NeighbourIndex:
    """A persistent, growing set of ``(id, vector)`` to search, for the nightly job.

    Searches are exact while the index holds at most ``exact_max`` items and use an
    HNSW graph above that. The graph is built lazily, at the first query that needs
    it, from all items in insertion order; items added later join it at the next
    query, which builds again only the last, partly filled shard and any new ones.
    Either way each shard is built from all its rows at once, so results depend
    only on the sequence of ``(id, vector)`` added, not on how it was batched,
    queried or saved.

    :meth:`save` stores ids, vectors and settings (one ``.npz`` file, written to a
    temporary file then moved into place), not the graph: :meth:`load` rebuilds
    it on first need, which keeps the file small, free of any library's binary
    format, and the results identical to an index that was never saved.
    """

    FORMAT_VERSION = 1

    def __init__(
        self,
        dim: int | None = None,
        *,
        exact_max: int = EXACT_MAX_ITEMS,
        params: HnswParams = HnswParams(),
        threads: int | None = None,
    ):
        if dim is not None and int(dim) < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if int(exact_max) < 0:
            raise ValueError(f"exact_max must be >= 0, got {exact_max!r}")
        self.dim = None if dim is None else int(dim)
        self.exact_max = int(exact_max)
        self.params = params
        self.threads = threads
        self._ids: list = []
        self._pos: dict = {}
        self._buf: np.ndarray = np.zeros((0, self.dim or 0), dtype=np.float32)
        self._graph: _ShardedGraph | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._pos

    @property
    def exact(self) -> bool:
        """Whether a query now searches exactly (at most ``exact_max`` items): then
        the first k of a query's k' > k nearest are its k nearest, ties included."""
        return len(self._ids) <= self.exact_max

    @property
    def ids(self) -> Sequence[str]:
        """Item ids in insertion order (row i of :attr:`vectors`)."""
        return tuple(self._ids)

    @property
    def vectors(self) -> np.ndarray:
        """A read-only view of the stored vectors, one row per id."""
        view = self._buf[: len(self._ids)]
        view.flags.writeable = False
        return view

    def add(self, ids: Iterable[str], vectors: np.ndarray) -> None:
        """Append items. Ids must be new strings, unique within the call."""
        ids = list(ids)
        x = _as_matrix(vectors, dim=self.dim)
        if len(ids) != x.shape[0]:
            raise ValueError(f"got {len(ids)} ids for {x.shape[0]} vectors")
        for item_id in ids:
            if not isinstance(item_id, str):
                raise ValueError(f"ids must be strings, got {item_id!r}")
        if len(set(ids)) != len(ids):
            raise ValueError("ids repeat within one add() call")
        known = [i for i in ids if i in self._pos]
        if known:
            raise ValueError(f"{len(known)} id(s) already in the index, e.g. {known[0]!r}")
        if not ids:
            return
        if self.dim is None:
            self.dim = x.shape[1]
            self._buf = np.zeros((0, self.dim), dtype=np.float32)
        n0 = len(self._ids)
        self._reserve(n0 + len(ids))
        self._buf[n0 : n0 + len(ids)] = x
        for offset, item_id in enumerate(ids):
            self._pos[item_id] = n0 + offset
        self._ids.extend(ids)

    def _reserve(self, size: int) -> None:
        if size > self._buf.shape[0]:
            grown = np.zeros((max(size, 2 * self._buf.shape[0], 64), self.dim or 0), dtype=np.float32)
            grown[: len(self._ids)] = self._buf[: len(self._ids)]
            self._buf = grown

    def query(self, vectors: np.ndarray, k: int):
        """The ``k`` nearest stored items of every query row.

        Returns ``(ids, sims)``: a list with, per query, a list of
        ``min(k, len(self))`` ids, and a float32 array of shape
        ``(len(vectors), min(k, len(self)))``, both sorted by similarity desc
        then insertion order. A query vector that is itself stored finds itself.
        """
        k = _check_k(k)
        n = len(self._ids)
        if self.dim is None:
            x = _as_matrix(vectors, "queries")
            return [[] for _ in range(x.shape[0])], np.zeros((x.shape[0], 0), dtype=np.float32)
        x = _as_matrix(vectors, "queries", dim=self.dim)
        kk = min(k, n)
        base = self._buf[:n]
        if n <= self.exact_max:
            idx, sims = _exact(x, base, kk, self_offset=None)
        else:
            if self._graph is None:
                self._graph = _ShardedGraph(self.dim, self.params)
            self._graph.extend(base, self.threads)  # rows added since the last query
            idx, sims = self._graph.search(x, base, kk, None, self.threads)
        ids = self._ids
        return [[ids[j] for j in row if j >= 0] for row in idx.tolist()], sims

    def save(self, path) -> None:
        """Write the index to ``path`` atomically (temporary file, then rename)."""
        path = Path(path)
        n = len(self._ids)

        def write(fh):
            np.savez(
                fh,
                format_version=np.int64(self.FORMAT_VERSION),
                dim=np.int64(self.dim or 0),
                exact_max=np.int64(self.exact_max),
                params=np.array([asdict(self.params)[f] for f in _PARAM_FIELDS], dtype=np.int64),
                ids=np.array(self._ids, dtype=np.str_),
                vectors=self._buf[:n],
            )

        atomic_write(path, write, binary=True)

    @classmethod
    def load(cls, path, *, threads: int | None = None) -> NeighbourIndex:
        """Read an index written by :meth:`save`; :class:`StateError` if unusable."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format_version"])
                if version != cls.FORMAT_VERSION:
                    raise StateError(
                        f"{path}: neighbour index format {version}, this version reads {cls.FORMAT_VERSION}"
                    )
                dim = int(data["dim"]) or None
                exact_max = int(data["exact_max"])
                stored: dict[str, Any] = dict(zip(_PARAM_FIELDS, map(int, data["params"])))  # older: fewer
                if "fp16" in stored:
                    stored["fp16"] = bool(stored["fp16"])
                params = HnswParams(**stored)
                ids = [str(i) for i in data["ids"].tolist()]
                vectors = np.asarray(data["vectors"], dtype=np.float32)
        except StateError:
            raise
        except FileNotFoundError as exc:
            raise StateError(f"{path}: no neighbour index there") from exc
        except Exception as exc:  # zip, key, value errors: a damaged file
            raise StateError(f"{path}: unreadable neighbour index ({exc})") from exc
        if len(ids) != vectors.shape[0] or (dim is not None and vectors.shape[1] != dim):
            raise StateError(f"{path}: neighbour index is inconsistent ({len(ids)} ids, vectors {vectors.shape})")
        index = cls(dim, exact_max=exact_max, params=params, threads=threads)
        try:
            index.add(ids, vectors)
        except ValueError as exc:
            raise StateError(f"{path}: neighbour index is inconsistent ({exc})") from exc
        return index


_PARAM_FIELDS = ("m", "ef_construction", "ef_search", "seed", "shard_size", "fp16")
