"""The nightly state held in memory between writes, for :class:`~clusterer.nightly.feed.Feed`.

A :class:`View` is what a night reads of the state (:class:`~clusterer.nightly.diff.Stored`,
the language means) together with what a night reads of its corpus, the live items as
:class:`~clusterer.records.Item` without texts, their raw vectors and duplicate features,
taken from the state (``features`` holds them since schema 4). So a feed places an item
without reading the state or a corpus again, and answers lookups without touching
SQLite. :meth:`View.apply` brings it up to date with what a run committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..duplicates import TextFeatures
from ..errors import StateError
from ..records import Item
from .assign import Means
from .diff import Stored
from .state import Changes, GroupRow, State, StoredItem


@dataclass
class View:
    """The live items in order (``ids``, ``items``, ``features``, ``hashes`` and the
    first ``len(ids)`` rows of ``raw``), every stored row and group (``stored``), the
    language means, the last run included and the model's name. ``members`` holds
    the items of each story, event and duplicate group (their ids' prefixes differ).

    A post grows the lists and mappings in place before it commits, and :meth:`apply`
    then brings the rest up to date: ``live`` counts the committed live items, which
    :meth:`live_rows` and :attr:`vectors` give."""

    stored: Stored
    means: Means
    run: int
    model: str | None
    ids: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    features: list[TextFeatures] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    pos: dict[str, int] = field(default_factory=dict)
    raw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    members: dict[str, set[str]] = field(default_factory=dict)
    live: int = 0

    @classmethod
    def load(cls, state: State) -> View:
        """The view of ``state`` as it stands (read under its lock). StateError if a
        live item has no stored features: a state last written before schema 4."""
        next_story, next_dup, next_event = state.counters()
        rows = state.items()
        stored = Stored(rows, state.stories(), state.dup_groups(), next_story, next_dup, next_event, state.events())
        live = [r for r in rows.values() if not r.deleted]
        ids = [r.id for r in live]
        features = state.features(ids)
        lacking = [i for i in ids if i not in features]
        if lacking:
            raise StateError(
                f"{state.path}: {len(lacking)} stored items (first {lacking[0]!r}) have no duplicate features, "
                "which states written before schema 4 lack; run `cluster update` on the corpus once to store them"
            )
        view = cls(stored, state.means(), state.last_run(), state.model)
        view.ids = ids
        view.items = [_item(r, features[r.id][1]) for r in live]
        view.features = [features[i][0] for i in ids]
        view.hashes = {r.id: r.hash for r in live}
        view.pos = {i: k for k, i in enumerate(ids)}
        view.raw = state.vectors(ids) if ids else np.zeros((0, 0), dtype=np.float32)
        view.live = len(ids)
        for r in live:
            for gid in (r.story, r.dup, r.event):
                if gid:
                    view.members.setdefault(gid, set()).add(r.id)
        return view

    @property
    def vectors(self) -> np.ndarray:
        """The live items' raw vectors, a row each, in order."""
        return self.raw[: self.live]

    def buffer(self, rows: int, dim: int) -> np.ndarray:
        """A buffer of ``rows`` rows of ``dim`` whose first rows are the live items'
        vectors: ``raw`` itself where it has room (its rows past the live items are
        free), else a larger copy."""
        if self.raw.shape[1] == dim and self.raw.shape[0] >= rows:
            return self.raw
        grown = np.zeros((max(rows, 2 * self.raw.shape[0], 1024), dim), dtype=np.float32)
        if self.live:
            grown[: self.live] = self.vectors
        return grown

    def apply(
        self,
        changes: Changes,
        ids: list[str],
        items: list[Item],
        features: list[TextFeatures],
        hashes: dict[str, str],
        pos: dict[str, int],
        raw: np.ndarray,
    ) -> set[str]:
        """What a run committed (``changes``), with its live items in order (their
        items, features, hashes and a buffer whose first rows are their raw vectors).
        Returns the stories, events and duplicate groups it touched: whose row, or
        one of whose members' rows, it changed (the others are as they were)."""
        stored = self.stored
        touched: set[str] = set()
        for row in changes.items:
            old = stored.rows.get(row.id)
            for gid in (old.story, old.dup, old.event) if old is not None and not old.deleted else ():
                if gid:
                    touched.add(gid)
                if gid and gid in self.members:
                    self.members[gid].discard(row.id)
                    if not self.members[gid]:
                        del self.members[gid]
            if not row.deleted:
                for gid in (row.story, row.dup, row.event):
                    if gid:
                        touched.add(gid)
                        self.members.setdefault(gid, set()).add(row.id)
            stored.rows[row.id] = row
        touched.update(g.id for g in (*changes.stories, *changes.dup_groups, *changes.events))
        _update(stored.stories, changes.stories)
        _update(stored.dups, changes.dup_groups)
        _update(stored.events, changes.events)
        stored.next_story, stored.next_dup, stored.next_event = changes.next_story, changes.next_dup, changes.next_event
        for name in ("story_of", "dup_of", "event_of"):  # cached over the rows
            stored.__dict__.pop(name, None)
        self.means = dict(changes.means) if changes.means else self.means
        self.run = changes.run.id
        self.ids, self.items, self.features, self.hashes, self.pos, self.raw = ids, items, features, hashes, pos, raw
        self.live = len(ids)
        return touched

    def row(self, item_id: str) -> StoredItem | None:
        """The live row of ``item_id`` (None if unknown or deleted)."""
        row = self.stored.rows.get(item_id)
        return row if row is not None and not row.deleted else None

    def rows_of(self, gid: str) -> list[StoredItem]:
        """The live rows of a story, event or duplicate group, by id."""
        return [self.stored.rows[i] for i in sorted(self.members.get(gid, ()))]

    def live_rows(self) -> list[StoredItem]:
        return [self.stored.rows[i] for i in self.ids[: self.live]]


def _item(row: StoredItem, snippet: str) -> Item:
    """A stored row as a night reads its item: no text, its opening in ``meta``."""
    return Item(
        id=row.id,
        doc=row.doc,
        kind=row.kind,
        text="",
        title=row.title,
        lang=row.lang,
        date=row.date,
        url=row.url,
        meta={"snippet": snippet},
        source=row.source,
    )


def _update(rows: dict[str, GroupRow], changed: Iterable[GroupRow]) -> None:
    for row in changed:
        rows[row.id] = row
