"""Reading tonight's corpus in batches, as the batch run does
(:meth:`~clusterer.pipeline.Clusterer.run`): per ``read_batch`` records, the
batch run's preparation (:meth:`~clusterer.pipeline.Clusterer.prepared`: split,
duplicate features, texts dropped; with an executor, ``cluster update --ray``,
done on the cluster by its :meth:`~clusterer.pipeline.Executor.prepare_corpus`),
then the hash of each item's embedded text, an unchanged item's vector from the
state, and the new and changed ones embedded (the misses of the cache on the
cluster too, with an executor). What is kept of an item is its metadata (and
opening, for titles), its content length, its vector and, where the night needs
them in hand, its :class:`~clusterer.duplicates.TextFeatures`: memory grows with
the number of items, not with their length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..duplicates import TextFeatures
from ..embed.cache import text_key
from ..length import content_length
from ..pipeline import Clusterer
from ..records import Item, Skipped
from .diff import UNCHANGED, status
from .state import StoredItem


@dataclass
class Tonight:
    """The corpus as read tonight, without its texts: the items (metadata, their
    opening in ``meta["snippet"]``), the content hash of each item's embedded text,
    their raw vectors (a row each, in item order), their duplicate features (None
    for an unchanged item read without them, see :func:`read_tonight`), the inputs
    skipped, how many texts the encoder computed (not found in the cache or the
    state), the seconds spent taking vectors from the state and embedding, and the
    content length of each item's embedded text
    (:func:`~clusterer.length.content_length`; empty where every item has its
    features, which hold it)."""

    items: list[Item]
    hashes: dict[str, str]
    vectors: np.ndarray
    features: Sequence[TextFeatures | None]
    skipped: list[Skipped] = field(default_factory=list)
    embedded: int = 0
    embed_seconds: float = 0.0
    chars: list[int] = field(default_factory=list)

    @cached_property
    def position(self) -> dict[str, int]:
        return {it.id: k for k, it in enumerate(self.items)}

    def vector(self, item_id: str) -> np.ndarray:
        return self.vectors[self.position[item_id]]

    def features_in_hand(self) -> list[TextFeatures]:
        """Every item's features, for a batch run (read with ``held=None``)."""
        if any(f is None for f in self.features):
            raise ValueError("items were read without their features")
        return [f for f in self.features if f is not None]

    @property
    def langs(self) -> list[str | None]:
        return [it.lang for it in self.items]


def read_tonight(
    clusterer: Clusterer,
    corpus: str | Path,
    rows: Mapping[str, StoredItem],
    stored_vectors: Callable[[Sequence[str]], np.ndarray],
    reuse_stored: bool = False,
    stored_features: Callable[[Sequence[str]], Mapping[str, TextFeatures]] | None = None,
    held: Container[str] | None = None,
) -> Tonight:
    """Read ``corpus`` ``clusterer.read_batch`` records at a time against the stored
    ``rows``: an unchanged item (see :func:`~clusterer.nightly.diff.status`) takes its
    vector from ``stored_vectors`` (ids -> raw vectors, the state's) and its duplicate
    features from ``stored_features`` (ids -> those the state holds; computed again
    from its text where it holds none), a new or changed one is embedded (through the
    cache) and its features computed. Reading locally, the features are computed for
    those only: nine tenths of a night's reading went to every item's features (a
    night of 1,000 new items on 100,000: 76 of 90 s); an executor's cluster computes
    every item's as it reads. Where ``held`` is given (the ids whose features the
    state holds: a night that places its items among the stored ones), an unchanged
    item in it is read without its features (None): the placement takes those of
    the stored items it reaches from the state
    (:class:`~clusterer.nightly.table.ItemTable`), so that a night holds the
    features of the items it touches, not the archive's (5 KB an item).
    With ``reuse_stored`` (a full run),
    a new or changed text that an unchanged item holds too (a republication) takes
    that item's stored vector instead, the last one's in corpus order: such items
    wait, with their texts, until the whole corpus is read."""
    embedder = clusterer._embedder()
    model, encoded_before = embedder.encoder.name, embedder.encoded
    skipped: list[Skipped] = []
    executor = clusterer.executor
    # as the batch run reads: here, or on the executor's cluster
    batches: Iterable[tuple[list[Item], list[str], list[TextFeatures] | None]] = (
        executor.prepare_corpus(clusterer, corpus, skipped)
        if executor is not None
        else ((items, texts, None) for items, texts in clusterer.prepared_texts(corpus, skipped))
    )
    items: list[Item] = []
    features: list[TextFeatures | None] = []
    chars: list[int] = []
    hashes: dict[str, str] = {}
    raw = _Rows(sum(not r.deleted for r in rows.values()))
    reusable = {r.hash for r in rows.values() if not r.deleted} if reuse_stored else set()
    holder: dict[str, str] = {}  # text hash -> the last unchanged item with it
    waiting: dict[str, str] = {}  # new or changed items whose text an unchanged item may hold: id -> text
    embed_seconds = 0.0
    for batch_items, texts, batch_features in batches:
        known: list[str] = []
        todo: dict[str, str] = {}
        at: dict[str, int] = {}  # row of each item of the batch
        for it, text in zip(batch_items, texts):
            at[it.id] = len(items) + len(at)
            text_hash = hashes[it.id] = text_key(model, text)
            if status(it.id, text_hash, rows) == UNCHANGED:
                known.append(it.id)
                holder[text_hash] = it.id
            elif text_hash in reusable:
                waiting[it.id] = text
            else:
                todo[it.id] = text
        items.extend(batch_items)
        chars.extend(content_length(text) for text in texts)
        if batch_features is None:
            features.extend(_features(batch_items, texts, known, stored_features, held))
        else:
            features.extend(batch_features)
        t = time.perf_counter()
        if known:
            raw.put([at[i] for i in known], stored_vectors(known))
        if todo:
            raw.put([at[i] for i in todo], embedder.embed(list(todo.values())))
        embed_seconds += time.perf_counter() - t
    t = time.perf_counter()
    if waiting:
        position = {it.id: k for k, it in enumerate(items)}
        took = [i for i in waiting if hashes[i] in holder]
        if took:
            raw.put([position[i] for i in took], raw.rows([position[holder[hashes[i]]] for i in took]))
        rest = {i: text for i, text in waiting.items() if hashes[i] not in holder}
        if rest:
            raw.put([position[i] for i in rest], embedder.embed(list(rest.values())))
    vectors = raw.result(len(items))
    embed_seconds += time.perf_counter() - t
    return Tonight(items, hashes, vectors, features, skipped, embedder.encoded - encoded_before, embed_seconds, chars)


class _Rows:
    """The night's vectors, a row per item, written as they come into one buffer (grown
    by half again where the corpus outgrows it): never a vector per item held apart and
    then stacked, which held them twice. ``expect``: the rows it will likely hold (the
    stored live items; pages the corpus does not fill are never touched)."""

    def __init__(self, expect: int):
        self.expect = max(int(expect) + int(expect) // 8, 1024)
        self.buf = np.zeros((0, 0), dtype=np.float32)

    def put(self, rows: Sequence[int], vectors: np.ndarray) -> None:
        if not len(rows):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        need = max(rows) + 1
        if self.buf.shape[1] != vectors.shape[1] or need > self.buf.shape[0]:
            grown = np.empty((max(need, self.expect, self.buf.shape[0] * 3 // 2), vectors.shape[1]), np.float32)
            if self.buf.size:
                grown[: self.buf.shape[0]] = self.buf
            self.buf = grown
        self.buf[rows] = vectors

    def rows(self, rows: Sequence[int]) -> np.ndarray:
        return self.buf[rows]

    def result(self, n: int) -> np.ndarray:
        return self.buf[:n] if n else np.zeros((0, 0), dtype=np.float32)


def _features(
    items: Sequence[Item],
    texts: Sequence[str],
    known: Sequence[str],
    stored: Callable[[Sequence[str]], Mapping[str, TextFeatures]] | None,
    held: Container[str] | None,
) -> list[TextFeatures | None]:
    """A batch's duplicate features: None for an unchanged (``known``) item whose
    features the state holds (``held``), read later where needed; the state's for
    another unchanged item where it has them (``stored``); else computed from the text."""
    if held is not None:
        unchanged = set(known)
        return [
            None if it.id in unchanged and it.id in held else TextFeatures.of(text, it.lang)
            for it, text in zip(items, texts)
        ]
    have = stored(known) if stored is not None and known else {}
    return [
        f if (f := have.get(it.id)) is not None else TextFeatures.of(text, it.lang) for it, text in zip(items, texts)
    ]
