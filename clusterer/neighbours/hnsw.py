"""HNSW graphs (faiss) over fixed-size shards of consecutive rows, each built in one
go by one thread with a fixed seed: the same rows give the same graphs and answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .exact import _empty, _exact, _threads, top_k


@dataclass(frozen=True)
class HnswParams:
    """HNSW settings. The defaults give recall >= 0.97 at k <= 30 on 384-d data.

    ``m`` (links per node; twice that on the bottom layer), ``ef_construction``
    and ``seed`` (of the level draws) go to faiss's HNSW graph; ``ef_search`` is
    the search breadth per graph (raised to k + 1 when a query asks for more).
    With ``shard_size`` 0 (the default) all rows go into one graph, built by every
    thread: a query's cost grows with the log of the rows, so a search of every
    row grows as n log n (issue 25). faiss (>= 1.15) builds the same graph whatever
    the number of threads (tested), so the answer never depends on the cores.
    With ``shard_size`` > 0 rows are split into graphs of that many consecutive
    rows, each built by one thread and searched by every query: what a growing
    index wants (:class:`~clusterer.neighbours.index.NeighbourIndex` builds only its
    last shard again when rows arrive), while a search of every row then grows as
    n * n / shard_size.
    With ``fp16`` the graphs hold the vectors in half precision (faiss's
    ``IndexHNSWSQ``): half the memory and, on a CPU with AVX-512, about 1.5 times as
    fast to build and search (on an AVX2-only Zen 3, as fast as float32), while the
    candidates they give are ranked on their true float32 dot products, so only
    which candidates are found can differ (recall the same or higher,
    ``benchmarks/bench_ann.py``).
    """

    m: int = 16
    ef_construction: int = 64
    ef_search: int = 96
    seed: int = 42
    shard_size: int = 0
    fp16: bool = True

    def __post_init__(self):
        for name in ("m", "ef_construction", "ef_search"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"HnswParams.{name} must be >= 2, got {getattr(self, name)!r}")
        if self.shard_size != 0 and int(self.shard_size) < 2:
            raise ValueError(f"HnswParams.shard_size must be 0 (one graph) or >= 2, got {self.shard_size!r}")


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


def build_graph(rows: np.ndarray, params: HnswParams, threads: int = 1):
    """One faiss HNSW graph of ``rows``, built in one go on ``threads`` threads (the
    same graph on any number) with the seed of ``params``."""
    with _omp_threads(threads) as faiss:
        dim = rows.shape[1]
        if params.fp16:
            half = faiss.ScalarQuantizer.QT_fp16
            graph = faiss.IndexHNSWSQ(dim, half, params.m, faiss.METRIC_INNER_PRODUCT)
            graph.train(rows)  # fp16 learns nothing from the rows; faiss asks for the call
        else:
            graph = faiss.IndexHNSWFlat(dim, params.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = params.ef_construction
        graph.hnsw.rng = faiss.RandomGenerator(params.seed)
        graph.add(rows)  # faiss releases the GIL while inserting
    return graph


class _ShardedGraph:
    """HNSW graphs over consecutive slices of ``shard_size`` rows (one graph of all
    rows where it is 0).

    Row ``p`` always lives in shard ``p // shard_size``, and every shard's graph
    is built in one go from all its rows with the seed of :class:`HnswParams`:
    the graphs depend only on the rows, never on the number of cores (faiss builds
    one graph alike on any number of threads) or on how the rows were batched
    (faiss's graph for rows added in two batches differs from the one for the same
    rows added at once, so a shard that gets more rows is built again). Several
    shards are built at the same time, one thread each; a lone shard by every
    thread. A query searches every shard and merges.
    """

    def __init__(self, dim: int, params: HnswParams):
        self.dim = dim
        self.params = params
        self.graphs: list = []
        self.count = 0

    @property
    def size(self) -> int:
        """Rows a shard holds: ``shard_size``, or all of them (one graph) where it is 0."""
        return self.params.shard_size or (1 << 62)

    def _build(self, rows: np.ndarray, threads: int = 1):
        return build_graph(rows, self.params, threads)

    def extend(self, base: np.ndarray, threads: int | None) -> None:
        """Cover every row of ``base``, whose first :attr:`count` rows are in already."""
        size, n = self.size, base.shape[0]
        if n <= self.count:
            return
        first = self.count // size  # the open shard (if any) is built again with its new rows
        shards = range(first, (n - 1) // size + 1)
        cores = _threads(threads)

        def build(shard: int, inner: int = 1):
            return self._build(base[shard * size : min(n, (shard + 1) * size)], inner)

        workers = min(len(shards), cores)
        if workers <= 1:  # one shard at a time, each built by every thread
            built = [build(shard, cores) for shard in shards]
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
        size = self.size
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


def _dots(queries: np.ndarray, base: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The float32 dot product of each query row with each of its candidate base
    rows (``labels``, all valid), as many queries at a time as gather 16M floats of
    candidate rows (64 MB, whatever the number of shards: at 1M rows, 1,024 queries
    gathered 350 MB)."""
    out = np.empty(labels.shape, dtype=np.float32)
    rows = max(1, (1 << 24) // max(1, labels.shape[1] * base.shape[1]))
    for lo in range(0, len(labels), rows):
        out[lo : lo + rows] = np.einsum("id,ijd->ij", queries[lo : lo + rows], base[labels[lo : lo + rows]])
    return out


def _merge(
    labels: np.ndarray, dots: np.ndarray, k: int, self_offset: int | None, start: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from all shards to the top k: self removed, sorted, cut."""
    own = None if self_offset is None else self_offset + start + np.arange(len(labels))
    return top_k(labels, dots, k, own)  # faiss's inner-product "distance" is the dot product
