"""HNSW graphs over a night's stored items, kept on disk between nights, so that a
night builds only the graphs whose rows changed (issue 25: at 1M stored items the
graphs built again every night were a third of the night).

The state's rows are cut into shards by their *place* in it (the nightly state's row
number, :meth:`~clusterer.nightly.state.State.places`, divided by the shard size), not
by where they sit in tonight's corpus. A shard's graph holds every row of the state in
its range, those a night does not search too (deleted items, whose rows the state
keeps; items of a file that could not be read; a changed item's row as stored), which
its searches leave out (a faiss selector): so a shard holds the same rows night after
night until a row leaves the state (a changed item is written again, at the state's end,
where the new items go: its old shard is built again the next night), and a night on a
large state loads every shard but the last one. Each shard's graph is built from its
rows in place order, in one go, with the seed of
:class:`~clusterer.neighbours.hnsw.HnswParams`: the graphs, and so the answers, depend
only on the state's rows, never on whether a graph was built tonight or loaded.

A graph file is named by a digest of its shard's ids and vectors and the HNSW
settings, so it is only ever read for the very rows it was built from: a run killed
while writing one, or a state restored from a backup, costs a build, never a wrong
answer. Files are written to a temporary name, then renamed; those a night does not
use are removed. The folder is derived data: deleting it costs one night's build.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path
from typing import Any

import numpy as np

from .exact import EXACT_MAX_ITEMS, _as_matrix, _check_k, _empty, _exact, _threads, top_k
from .hnsw import HnswParams, _dots, _faiss, _omp_threads, build_graph
from .index import GROWING, NeighbourIndex

SUFFIX = ".hnsw"


class SavedGraphs:
    """The graphs of the stored items a night searches, kept in ``folder``.

    :meth:`index` gives a search over the stored items (exact, a
    :class:`~clusterer.neighbours.index.NeighbourIndex`, up to ``exact_max`` of
    them, as a night's index without saved graphs; :class:`ShardSearch` above),
    loading the graphs saved for the same rows and building and saving the others.
    ``built`` and ``loaded`` count the shards of the last call.
    """

    def __init__(
        self,
        folder: str | Path,
        params: HnswParams = GROWING,
        *,
        exact_max: int = EXACT_MAX_ITEMS,
        threads: int | None = None,
    ):
        if params.shard_size < 1:
            raise ValueError("saved graphs need shards (HnswParams.shard_size >= 2)")
        self.folder = Path(folder)
        self.params = params
        self.exact_max = int(exact_max)
        self.threads = threads
        self.built = self.loaded = 0

    def index(
        self,
        ids: Sequence[str],
        x: np.ndarray,
        rows: Sequence[int] | np.ndarray,
        places: Sequence[int] | np.ndarray,
        absent: tuple[Sequence[str], np.ndarray, Sequence[int]] | None = None,
    ) -> NeighbourIndex | ShardSearch:
        """A search over ``rows`` of ``x`` (the stored items; ``ids``: the id of each
        row of ``x``), whose places in the state are ``places`` (one per row given).

        ``absent``: the ids, vectors (centred as ``x``) and places of the state's other
        rows, not searched tonight (deleted items, items of a file that could not be
        read, a changed item's row as stored): they stay in their shard's graph, left
        out of every answer, so that a night that deletes an item loads its shard's
        graph. The graphs depend on the rows in the state, searched or not."""
        rows = np.asarray(rows, dtype=np.int64)
        places = np.asarray(places, dtype=np.int64)
        if rows.shape != places.shape:
            raise ValueError(f"{len(places)} places for {len(rows)} rows")
        self.built = self.loaded = 0
        if len(rows) <= self.exact_max:
            index = NeighbourIndex(x.shape[1] if x.size else None, exact_max=self.exact_max, params=self.params)
            index.add([ids[r] for r in rows], x[rows])
            return index
        gone_ids, gone_x, given = absent if absent is not None else ([], x[:0], [])
        gone_places = np.asarray(given, dtype=np.int64)
        if len(gone_ids) != len(gone_x) or len(gone_ids) != len(gone_places):
            raise ValueError("absent rows need an id, a vector and a place each")
        # every row by place: a searched one as its row of x, an absent one as -1 - its number
        source = np.concatenate([rows, -1 - np.arange(len(gone_ids), dtype=np.int64)])
        where = np.concatenate([places, gone_places])
        order = np.lexsort((source, where))  # place order (a place is given once)
        source, where = source[order], where[order]
        cuts = np.flatnonzero(np.diff(where // self.params.shard_size)) + 1
        keep: set[str] = set()
        shards: list[tuple[np.ndarray, Any]] = []
        cores = _threads(self.threads)
        for number, members in zip(
            where[np.concatenate([[0], cuts])] // self.params.shard_size, np.split(source, cuts)
        ):
            searched = members >= 0
            part = np.empty((len(members), x.shape[1]), dtype=np.float32)
            part[searched] = x[members[searched]]
            part[~searched] = gone_x[-1 - members[~searched]]
            names = [ids[r] if r >= 0 else gone_ids[-1 - r] for r in members.tolist()]
            name = f"{int(number):06d}-{self._digest(names, part)}{SUFFIX}"
            keep.add(name)
            graph = self._load(self.folder / name)
            if graph is None:
                # one shard at a time, by every thread: a night's usual one to build is a full
                # one, and faiss builds a graph on two threads in half the time of one
                # (100,000 rows of 256-d: 11.8 s, 24.5 s)
                graph = build_graph(part, self.params, cores)
                self._save(graph, self.folder / name)
                self.built += 1
            else:
                self.loaded += 1
            shards.append((np.where(searched, members, -1), graph))
        self._prune(keep)
        return ShardSearch(list(ids), x, shards, self.params, self.threads)

    def _digest(self, ids: Sequence[str], part: np.ndarray) -> str:
        h = hashlib.blake2b(digest_size=12)
        h.update(repr(astuple(self.params)).encode())
        h.update("\0".join(ids).encode())
        h.update(part.data)  # the rows' bytes, not a copy of them
        return h.hexdigest()

    def _load(self, path: Path):
        if not path.exists():
            return None
        try:
            return _faiss().read_index(str(path))
        except Exception:  # a damaged file: built again (and written over)
            return None

    def _save(self, graph, path: Path) -> None:
        """Write ``graph`` to ``path`` by way of a temporary file; a folder that cannot
        be written costs the next night a build, not this night's run."""
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _faiss().write_index(graph, str(tmp))
            os.replace(tmp, path)
        except (OSError, RuntimeError):
            tmp.unlink(missing_ok=True)

    def _prune(self, keep: set[str]) -> None:
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if (path.suffix == SUFFIX or path.name.endswith(".tmp")) and path.name not in keep:
                path.unlink(missing_ok=True)


class ShardSearch:
    """A search of the stored items through one HNSW graph per shard: every query
    searches every graph (leaving out the rows not searched tonight), the candidates
    are ranked on their float32 dot products with the rows of ``x`` (as
    :class:`~clusterer.neighbours.index.NeighbourIndex` ranks its graphs'), ties by
    row. The query interface of :class:`~clusterer.neighbours.index.NeighbourIndex`.
    ``shards``: per graph, the row of ``x`` each of its labels stands for (-1: a row
    not searched), and the graph."""

    exact = False

    def __init__(self, ids: list[str], x: np.ndarray, shards: list, params: HnswParams, threads: int | None):
        self.ids, self.x, self.params, self.threads = ids, x, params, threads
        searched = [(rows, g) for r, g in shards if (rows := np.asarray(r, dtype=np.int64)).max(initial=-1) >= 0]
        self.rows = [rows for rows, _ in searched]  # shards with nothing searched tonight are left out
        self.graphs = [g for _, g in searched]
        self.counts = [int((r >= 0).sum()) for r in self.rows]
        self.stored = np.concatenate([r[r >= 0] for r in self.rows]) if self.rows else np.zeros(0, dtype=np.int64)
        # the labels a graph may answer: all, or all but its rows not searched (faiss's
        # selectors are kept here, which the search parameters only point to)
        self._selectors = [faiss_not_in(np.flatnonzero(r < 0)) if (r < 0).any() else None for r in self.rows]

    def __len__(self) -> int:
        return len(self.stored)

    def query(self, vectors: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """The ``k`` nearest stored items of every query row: ids and similarities, as
        :meth:`NeighbourIndex.query <clusterer.neighbours.index.NeighbourIndex.query>` gives them."""
        k = _check_k(k)
        q_all = _as_matrix(vectors, "queries", dim=self.x.shape[1])
        m, kk = q_all.shape[0], min(k, len(self))
        idx, sim = _empty(m, kk)
        if kk and m:
            width = sum(min(kk, c) for c in self.counts)
            block = max(1, min(m, 8192, (1 << 22) // width))
            with _omp_threads(_threads(self.threads)) as faiss:
                params = []
                for chosen in self._selectors:
                    breadth = faiss.SearchParametersHNSW()
                    breadth.efSearch = max(self.params.ef_search, kk)
                    if chosen is not None:
                        breadth.sel = chosen[0]
                    params.append(breadth)
                for start in range(0, m, block):
                    q = q_all[start : start + block]
                    found = [g.search(q, min(kk, c), params=p) for g, c, p in zip(self.graphs, self.counts, params)]
                    if any((labels < 0).any() for _, labels in found):  # a poorly connected graph: exact
                        cols, vals = _exact(q, self.x[self.stored], kk, None)
                        cols = np.where(cols >= 0, self.stored[np.maximum(cols, 0)], -1)
                    else:
                        labels = np.hstack([r[lab] for r, (_, lab) in zip(self.rows, found)])
                        cols, vals = top_k(labels, _dots(q, self.x, labels), kk)
                    idx[start : start + len(q)], sim[start : start + len(q)] = cols, vals
        ids = self.ids
        return [[ids[j] for j in row if j >= 0] for row in idx.tolist()], sim


def faiss_not_in(labels: np.ndarray) -> tuple[Any, Any]:
    """A faiss selector of every label but ``labels``, with the selector it wraps
    (faiss keeps pointers, not references: both must outlive the searches)."""
    faiss = _faiss()
    inner = faiss.IDSelectorBatch(np.ascontiguousarray(labels, dtype=np.int64))
    return faiss.IDSelectorNot(inner), inner
