"""The embed job: the driver's plan of the batches its cache lacks (:class:`_Plan`), and
the actors that each load the model once and encode them (:class:`_Encode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

    from ..embed.cache import Embedder


class _Plan:
    """The driver's side of the embed job: which texts the cache lacks, in the
    batches a local run would compute, and where each item's vector comes from."""

    def __init__(self, embedder: Embedder, ray: Any) -> None:
        self.embedder = embedder
        self.ray = ray
        self.blocks: list = []  # one Arrow block of texts per batch, in the object store
        self.sizes: list[int] = []
        self.keys: list[list[str]] = []  # per batch
        self.results: dict[int, np.ndarray] = {}
        self.source: dict[int, np.ndarray | tuple[int, int]] = {}  # item -> vector, or (batch, row)
        self.pending: dict[str, tuple[int, int]] = {}  # key -> (batch, row) of texts sent earlier

    def add(self, positions: list[int] | None, texts: list[str]) -> None:
        """Plan one group's texts (``positions``: its items; None: texts no item needs)."""
        cached = self.embedder.cache is not None  # a local run finds an earlier group's texts in its cache
        keys, found, batches = self.embedder.plan(texts, known=self.pending if cached else ())
        where = dict(self.pending) if cached else {}
        for idx in batches:
            n = len(self.blocks)
            self.blocks.append(self.ray.put(_text_block(n, [texts[i] for i in idx])))
            self.sizes.append(len(idx))
            self.keys.append([keys[i] for i in idx])
            for row, i in enumerate(idx):
                where[keys[i]] = (n, row)
        if cached:
            self.pending.update(where)
        for p, key in zip(positions or (), keys):
            self.source[p] = found[key] if key in found else where[key]

    def size(self) -> int:
        return sum(self.sizes)

    def done(self, n: int, vectors: np.ndarray) -> None:
        self.embedder.store(self.keys[n], vectors)
        self.results[n] = vectors

    def vectors(self, count: int) -> np.ndarray:
        rows = []
        for p in range(count):
            got = self.source[p]
            rows.append(self.results[got[0]][got[1]] if isinstance(got, tuple) else got)
        return np.stack(rows).astype(np.float32)


# -- what runs on the cluster ------------------------------------------------------
class _Encode:
    """An embedding actor: loads the model once (on its first batch), then encodes
    whole batches. ``encoder`` is set on a subclass per job."""

    encoder: Any = None

    def __call__(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        ids = table.column("batch").to_numpy()
        rows = table.column("row").to_numpy()
        texts = table.column("text").to_pylist()
        out_ids, out_rows, out_vecs = [], [], []
        for n in dict.fromkeys(ids.tolist()):  # a block holds one batch; more if Ray joined blocks
            mine = np.flatnonzero(ids == n)
            vectors = np.asarray(self.encoder.encode([texts[i] for i in mine]), dtype=np.float32)
            out_ids.append(ids[mine])
            out_rows.append(rows[mine])
            out_vecs.append(vectors)
        vectors = np.concatenate(out_vecs)
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        return pa.table(
            {
                "batch": np.concatenate(out_ids),
                "row": np.concatenate(out_rows),
                "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )


def _text_block(n: int, texts: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table({"batch": [n] * len(texts), "row": list(range(len(texts))), "text": list(texts)})


def _vectors(column) -> np.ndarray:
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    return np.asarray(array.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(array), -1)
