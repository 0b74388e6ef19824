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
