"""A persistent, growing index for the nightly job: ids and vectors, searched exactly
or through HNSW graphs built lazily; saved as one ``.npz`` without the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import StateError
from .exact import EXACT_MAX_ITEMS, _as_matrix, _check_k, _exact
from .hnsw import HnswParams, _ShardedGraph

GROWING = HnswParams(ef_search=48, shard_size=100_000)
"""A growing index's graphs: shards of 100k rows, so that a night's new rows build
again only the last shard (one graph of every row would be built again whole each
night); a night's few queries search every shard (recall@10 0.997 at 200k)."""


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
        params: HnswParams = GROWING,
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
                params = replace(GROWING, **stored)  # fields an older file lacks: the defaults
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
