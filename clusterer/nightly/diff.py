"""Tonight's corpus against the state: which items are new, changed, unchanged,
deleted, or kept although missing.

Pure functions over plain data (content hashes by item id, the stored rows, the
inputs skipped tonight and on earlier nights); reading the corpus and the state
is :mod:`clusterer.nightly.job`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from ..records import Skipped
from .state import GroupRow, StoredItem

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


@dataclass
class Stored:
    """What a run reads of the state before it changes anything: every item row
    (deleted ones too), the story, duplicate-group and event rows, and the next free
    numbers of their ids."""

    rows: dict[str, StoredItem]
    stories: dict[str, GroupRow] = field(default_factory=dict)
    dups: dict[str, GroupRow] = field(default_factory=dict)
    next_story: int = 1
    next_dup: int = 1
    next_event: int = 1
    events: dict[str, GroupRow] = field(default_factory=dict)

    @cached_property
    def story_of(self) -> dict[str, str | None]:
        """The story of each live stored item (None: noise)."""
        return {i: r.story for i, r in self.rows.items() if not r.deleted}

    @cached_property
    def event_of(self) -> dict[str, str | None]:
        """The event of each live stored item (None: none)."""
        return {i: r.event for i, r in self.rows.items() if not r.deleted}

    @cached_property
    def dup_of(self) -> dict[str, str | None]:
        """The duplicate group of each live stored item (None: none)."""
        return {i: r.dup for i, r in self.rows.items() if not r.deleted}


def status(item_id: str, text_hash: str, rows: Mapping[str, StoredItem]) -> str:
    """:data:`NEW` for an item the state does not hold, or holds as deleted;
    :data:`CHANGED` for a live stored item whose embedded text has another hash
    now; else :data:`UNCHANGED`. New and changed items are embedded and placed."""
    row = rows.get(item_id)
    if row is None or row.deleted:
        return NEW
    return CHANGED if row.hash != text_hash else UNCHANGED


def missing(hashes: Mapping[str, str], rows: Mapping[str, StoredItem]) -> list[StoredItem]:
    """The live stored rows whose item is not in tonight's corpus (``hashes``: item id
    -> content hash): each is deleted tonight, or kept (see :func:`unsure_of_deletion`)."""
    return [r for r in rows.values() if not r.deleted and r.id not in hashes]


@dataclass
class Diff:
    """Item ids by what tonight does with them: ``new``, ``changed`` and ``unchanged``
    in corpus order; ``deleted`` and ``kept`` (missing, but maybe in an input that
    could not be read: kept as they were) sorted."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @cached_property
    def fresh(self) -> frozenset[str]:
        """The items embedded and placed tonight: new and changed."""
        return frozenset(self.new) | frozenset(self.changed)


def diff(
    hashes: Mapping[str, str],
    rows: Mapping[str, StoredItem],
    skipped: Sequence[Skipped],
    skipped_then: Mapping[int, list[dict]],
) -> Diff:
    """Tonight's corpus (``hashes``: item id -> content hash of its embedded text, in
    corpus order) against the stored ``rows``. ``skipped`` are tonight's skipped
    inputs, ``skipped_then`` those of the runs that last read the :func:`missing`
    rows (run id -> the skipped rows of its report)."""
    out = Diff()
    lists = {NEW: out.new, CHANGED: out.changed, UNCHANGED: out.unchanged}
    for item_id, text_hash in hashes.items():
        lists[status(item_id, text_hash, rows)].append(item_id)
    unsure = unsure_of_deletion(skipped, skipped_then)
    gone = missing(hashes, rows)
    out.deleted = sorted(r.id for r in gone if not unsure(r))
    out.kept = sorted(r.id for r in gone if unsure(r))
    return out


def diff_posted(
    hashes: Mapping[str, str], rows: Mapping[str, StoredItem], gone: Sequence[str], order: Mapping[str, int]
) -> Diff:
    """:func:`diff` for a post, whose corpus is the live items plus the posted ones
    (``hashes``, as they were given): the posted items new, changed (in the live
    items' ``order``) or unchanged, and ``gone`` deleted (the live teasers a re-posted
    page no longer has). The live items a post does not repeat are unchanged too,
    not listed: a post's work is what it brings."""
    out = Diff()
    lists = {NEW: out.new, CHANGED: out.changed, UNCHANGED: out.unchanged}
    for item_id, text_hash in hashes.items():
        lists[status(item_id, text_hash, rows)].append(item_id)
    out.changed.sort(key=order.__getitem__)
    out.deleted = sorted(gone)
    return out


def unsure_of_deletion(skipped: Sequence[Skipped], then: Mapping[int, list[dict]]) -> Callable[[StoredItem], bool]:
    """Whether a stored row missing tonight may be in an input that could not be
    read: such a row is kept, not deleted. That is so when

    - its file could not be read at all tonight;
    - a damaged JSONL line still shows its record id (a half-written line);
    - its file has a damaged line showing no id that was not there, byte for
      byte, on the night the row was last read (``then``: run -> its skipped
      inputs); damage older than that hides no record of it.

    A row from before schema 2 does not know its file: the last rule then looks
    at every file.
    """
    damaged = [s for s in skipped if s.unread]
    whole = {s.path for s in damaged if s.line is None}
    shown = {s.record for s in damaged if s.line is not None and s.record}
    anonymous = [s for s in damaged if s.line is not None and not s.record]
    seen_then = {rid: {(s["path"], s.get("digest")) for s in rows} for rid, rows in then.items()}

    def unsure(row: StoredItem) -> bool:
        if row.doc in shown or (row.source or row.doc) in whole:
            return True
        old = seen_then.get(row.last_seen, set())
        return any((s.path, s.digest) not in old for s in anonymous if row.source is None or s.path == row.source)

    return unsure
