"""Items placed as they arrive, on the nightly state: the library side of ``cluster serve``.

``Feed(state_path, clusterer).add(records)`` is one run of the nightly job whose
corpus is the state's live items plus ``records``: the records are prepared as a
night prepares its corpus (:meth:`~clusterer.pipeline.Clusterer.prepare`), compared
with the stored rows (:func:`~clusterer.nightly.diff.diff`), the new and changed
items embedded and placed by the night's own placement
(:meth:`~clusterer.nightly.job.Nightly.place`), the rows built by the night's
:func:`~clusterer.nightly.outcome.build_outcome`, and committed in one transaction
under the state's :class:`~clusterer.nightly.state.StateLock`. So the ids and
placements are those ``cluster update`` gives when its nights bring the same items
in the same order. What differs: a post never deletes an item that it does not
repeat (a re-posted record's teasers that are gone are deleted, as a night
deletes them), only the rows that changed are written, and only the posted
items count as seen by the run.

The state stays in memory between posts (a :class:`~clusterer.nightly.view.View`);
a run written by another process (``cluster update``) is noticed when the lock is
next taken, and the state read again. Lookups (:meth:`Feed.item`,
:meth:`Feed.story`, :meth:`Feed.stories`) read that memory only, never SQLite, so
a write in progress does not hold them up.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import heapq
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..align import SpecificsMemo, unpack
from ..debias import center_by_language
from ..duplicates import PairJudge, TextFeatures
from ..embed.cache import Embedder, text_key
from ..errors import CorpusError, StateError, StateLocked
from ..neighbours import NeighbourIndex
from ..pipeline import Clusterer, to_record
from ..records import ARTICLE, TEASER_MARK, Record, date_span, day_number, teaser_id
from ..result import ClusterResult
from .assign import Means, Placement, place_among, stale_means
from .changes import ChangeReport
from .diff import UNCHANGED, Diff, Stored, diff_posted, status
from .job import Nightly, _state_failure
from .outcome import build_outcome, features_to_store, seal
from .placement import Groups, dup_id, event_id, story_id
from .snapshot import snapshot
from .state import OVERALL, Changes, State, StateLock, means_by_lang
from .table import ItemTable
from .tonight import Tonight
from .view import View

# The kept neighbour index searches exactly up to this many items: a post adds to it
# at no cost, where an HNSW graph (a night's, past EXACT_MAX_ITEMS) is built again
# from all its rows whenever rows join. So up to EXACT_MAX_ITEMS the neighbours are
# a night's exactly; past it they are the true ones, which a night's graph finds
# with a recall of 0.97 or more.
EXACT_UP_TO = 2_000_000
AHEAD_UP_TO = 1
"""A post of this many texts to embed or fewer embeds their sentences in the same
call (:func:`_embed_ahead`)."""


@dataclass
class _Kept:
    """What a feed keeps between posts, so that a post costs what it touches: the
    live items' :class:`~clusterer.nightly.table.ItemTable` (centred with the stored
    means), their stories, duplicate groups and events as the placement changes them
    (:class:`~clusterer.nightly.placement.Groups`), the items per language, and the
    neighbour index of the live items (None: built at the next post)."""

    table: ItemTable
    groups: tuple[Groups, Groups, Groups]
    langs: Counter
    index: NeighbourIndex | None = None


@dataclass
class _Summary:
    """A live story as :meth:`Feed.stories` lists it: its summary, its last item's
    day number, and its place in the list (the latest item first, then by id)."""

    info: StoryInfo
    last: float | None
    order: tuple[float, str]


@dataclass
class DuplicateGroupInfo:
    """An item's duplicate group: its id, canonical item and members; after a post,
    the ``evidence`` for the item and the canonical one (for the canonical item, its
    closest other member), as :meth:`~clusterer.duplicates.PairEvidence.to_dict` gives it."""

    id: str
    canonical: str
    members: list[str]
    evidence: dict | None = None


@dataclass
class ItemInfo:
    """Where an item is: story (and its title), event, duplicate group. ``status``
    after a post: new, changed or unchanged (the same text as stored: nothing written)."""

    id: str
    doc: str
    kind: str
    lang: str | None
    title: str | None
    date: str | None
    url: str | None
    story: str | None
    story_title: str | None
    event: str | None
    duplicate_group: DuplicateGroupInfo | None
    first_seen: int
    last_seen: int
    status: str | None = None


@dataclass
class Added:
    """What a post did: the run that wrote it (None: nothing to write, every item as
    stored) and each posted item where it now is, in the order given."""

    run: int | None
    items: list[ItemInfo]


@dataclass
class EventInfo:
    id: str
    members: list[str]
    first_date: str | None
    last_date: str | None


@dataclass
class StoryInfo:
    """A story: its title, the run that created it, what became of it (``live``,
    ``merged`` into ``merged_into``, ``dissolved``), and, while live, its members,
    events (in time order) and duplicate groups."""

    id: str
    title: str | None
    created_run: int
    status: str
    merged_into: str | None = None
    languages: list[str] = field(default_factory=list)
    first_date: str | None = None
    last_date: str | None = None
    articles: int = 0
    teasers: int = 0
    members: list[ItemInfo] = field(default_factory=list)
    events: list[EventInfo] = field(default_factory=list)
    duplicate_groups: list[DuplicateGroupInfo] = field(default_factory=list)


class Feed:
    """Place records on the nightly state at ``state_path`` as they arrive.

    One writer at a time: each :meth:`add` takes the state's lock, waiting up to
    ``lock_wait`` seconds while another process (``cluster update``) holds it, then
    raises :class:`StateLocked`. Call :meth:`add`, :meth:`open` and :meth:`refresh`
    from one thread (the state's SQLite connection belongs to it); the lookups from any.
    """

    def __init__(self, state_path: str | Path, clusterer: Clusterer, candidates: int = 30, lock_wait: float = 30.0):
        self.state_path = Path(state_path)
        self.clusterer = clusterer
        self.nightly = Nightly(state_path, clusterer, candidates)
        self.lock_wait = lock_wait
        self._state: State | None = None
        self._view: View | None = None
        self._stale = False  # a failed run may have left rows in the view's buffer
        self._guard = threading.Lock()  # held while the view changes, and while a lookup reads it
        self._kept: _Kept | None = None  # what places a post without a pass over the state (see _keep)
        # how the posts that placed items were placed: "kept" (on what the feed keeps,
        # touching only what the post changes) or "full" (the night's placement over
        # every item: the first post, a new or doubled language, a page that lost teasers)
        self.placed: Counter[str] = Counter()
        # the live stories' summaries for stories(), by id: built when the state is read
        # (so that no listing waits for them), then made again after a post for the
        # stories it touched only (see _summarise)
        self._summaries: dict[str, _Summary] = {}
        # the figures and names of the stored items' sentences, which each post's
        # alignment of the items it touches asks for again
        self._specifics = SpecificsMemo()

    # -- writing ---------------------------------------------------------------
    def open(self) -> None:
        """Read the state (waiting for its lock as :meth:`add` does)."""
        with self._locked(self.lock_wait):
            self._current()

    def refresh(self) -> bool:
        """Read the state again if another process wrote it since: True if it did.
        The lock is taken only then (a night starting meanwhile is not refused for
        a look), and not waited for: False while another process holds it."""
        if self._state is not None and self._view is not None and not self._stale:
            try:
                if self._state.last_run() == self._view.run:
                    return False
            except sqlite3.DatabaseError:
                return False
        try:
            with self._locked(0.0):
                before = self._view
                return self._current() is not before
        except StateLocked:
            return False

    def add(self, records: Sequence[Record | dict]) -> Added:
        """Embed, place and commit ``records`` (JSONL records as dicts, or Records):
        one run. A record whose text is as stored changes nothing; nothing is
        written when no record does. CorpusError for a repeated id or a reserved one,
        StateLocked when the lock could not be had, StateError when the state
        could not be written (nothing of the post is then)."""
        admitted = _admit(records)
        with self._locked(self.lock_wait):
            view = self._current()
            try:
                return self._add(view, admitted)
            except sqlite3.DatabaseError as exc:
                self._stale = True
                raise StateError(_state_failure(self.state_path, exc)) from None
            except BaseException:
                self._stale = True
                raise

    @contextlib.contextmanager
    def _locked(self, wait: float) -> Iterator[None]:
        deadline = time.monotonic() + wait
        lock = StateLock(self.state_path)
        while True:
            try:
                lock.acquire()
                break
            except StateLocked:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        try:
            yield
        finally:
            lock.release()

    def _current(self) -> View:
        """The view, read again if another run wrote the state since (call under the lock)."""
        if self._state is None:
            self._state = State(self.state_path)
        try:
            last = self._state.last_run()
            if self._view is None or self._stale or last != self._view.run:
                view = View.load(self._state)
                summaries: dict[str, _Summary] = {}
                self._summarise(view, summaries, view.stored.stories)
                with self._guard:
                    self._view, self._stale, self._summaries = view, False, summaries
                self._kept = None
        except sqlite3.DatabaseError as exc:
            raise StateError(_state_failure(self.state_path, exc)) from None
        assert self._view is not None
        return self._view

    def _add(self, view: View, records: list[Record]) -> Added:
        state = self._state
        assert state is not None
        clusterer = self.clusterer
        embedder = clusterer._embedder()
        model = embedder.encoder.name
        state.check_model(model)
        clusterer.prior()
        t0, started = time.perf_counter(), _now()
        items, texts, features = clusterer.prepare(records)
        hashes = {it.id: text_key(model, text) for it, text in zip(items, texts)}
        rows = view.stored.rows
        states = {i: status(i, h, rows) for i, h in hashes.items()}
        todo = {it.id: text for it, text in zip(items, texts) if states[it.id] != UNCHANGED}
        gone = {i for r in records for i in _items_of(r.id, view.pos) if i not in hashes}
        shown = [it.id for it in items]
        if not todo and not gone:
            with self._guard:
                return Added(None, [self._info(view, i, UNCHANGED) for i in shown])

        t1 = time.perf_counter()
        fresh, known = _embed_ahead(embedder, todo, [f for it, f in zip(items, features) if it.id in todo])
        embed_seconds = time.perf_counter() - t1
        full = not rows
        kept = self._keep(view) if not full and not gone else None  # built before the view grows
        before = view.live
        # tonight: the live items in their order, the posted ones in place or after them.
        # A post that drops none works on the view's own lists and mappings (copies of
        # them cost some 15 ms a post at 100,000 items): lookups read the view's first
        # `live` items and its rows, which change at `apply`; a post that fails leaves the
        # view stale, read again before the next post.
        if gone:
            ids, pos = list(view.ids), dict(view.pos)
            tonight_items, tonight_features, tonight_hashes = list(view.items), list(view.features), dict(view.hashes)
        else:
            ids, pos = view.ids, view.pos
            tonight_items, tonight_features, tonight_hashes = view.items, view.features, view.hashes
        added = sum(it.id not in pos for it in items)
        dim = fresh.shape[1] if fresh.size else view.raw.shape[1]
        buf = view.buffer(len(ids) + added, dim)
        vector_of = dict(zip(todo, fresh))
        for it, f in zip(items, features):
            k = pos.get(it.id)
            if k is None:
                k = pos[it.id] = len(ids)
                ids.append(it.id)
                tonight_items.append(it)
                tonight_features.append(f)
            else:
                tonight_items[k], tonight_features[k] = it, f
            tonight_hashes[it.id] = hashes[it.id]
            if it.id in vector_of:
                buf[k] = vector_of[it.id]
        if gone:
            keep = [k for k, i in enumerate(ids) if i not in gone]
            buf = buf[keep]
            ids = [ids[k] for k in keep]
            tonight_items = [tonight_items[k] for k in keep]
            tonight_features = [tonight_features[k] for k in keep]
            pos = {i: k for k, i in enumerate(ids)}
            for i in gone:
                del tonight_hashes[i]
        tonight = Tonight(
            tonight_items, tonight_hashes, buf[: len(ids)], tonight_features, [], len(todo), embed_seconds
        )
        tonight.__dict__["position"] = pos  # Tonight.position, known already

        run_id = state.next_run_id()
        report = ChangeReport(
            run=run_id,
            kind="batch" if full else "serve",
            state=str(self.state_path),
            corpus=f"{len(records)} posted record(s)",
            model=model,
            started=started,
        )
        delta = diff_posted(hashes, rows, sorted(gone), view.pos)
        t2 = time.perf_counter()
        langs = Counter(kept.langs) if kept is not None else Counter()
        for i in delta.fresh:
            prev = view.row(i)
            if prev is not None:
                langs[prev.lang] -= 1
            langs[tonight_items[pos[i]].lang] += 1
        if kept is not None and OVERALL in view.means and not stale_means(view.means, langs):
            # the means stand: the post is placed on what the feed keeps, rows it touches only
            means = dict(view.means)
            placement = self._place_kept(kept, tonight, delta, before, means, known)
            kept.langs = langs
            self.placed["kept"] += 1
        else:
            # the first post, a new or doubled language, a page that lost teasers: the
            # night's placement over every item; what the feed keeps is built again after
            self._kept = None
            placement, means = self.nightly.place(view.means, view.stored, tonight, delta, full)
            self.placed["full"] += 1
        report.timings.update(read=t1 - t0, embed=embed_seconds, place=time.perf_counter() - t2)
        changes = build_outcome(report, view.stored, tonight, delta, placement, means)
        _written_only(changes, view.stored, set(hashes))
        changes.features = features_to_store(tonight, delta.fresh)
        report.timings["total"] = time.perf_counter() - t0
        seal(report, changes, _now())
        state.commit(model, changes)
        with self._guard:
            touched = view.apply(changes, ids, tonight_items, tonight_features, tonight_hashes, pos, buf)
            self._summarise(view, self._summaries, touched)
            infos = [self._info(view, i, states[i]) for i in shown]
        for info in infos:
            if info.duplicate_group is not None and info.status != UNCHANGED:
                info.duplicate_group.evidence = self._evidence(view, info.id, info.duplicate_group, known)
        return Added(run_id, infos)

    def _keep(self, view: View) -> _Kept:
        """What the feed keeps to place a post on ``view`` (built here once per reading
        of the state or change of means: a pass over every item)."""
        if self._kept is None:
            assert view.live == len(view.ids), "the view is built on before a post grows it"
            stored, items = view.stored, view.items
            centred = center_by_language(view.vectors, [it.lang for it in items], means=means_by_lang(view.means))
            table = ItemTable(items, centred, self.clusterer.stories, view.features)
            live = [stored.rows[i] for i in view.ids]
            stories, dups, events = (
                Groups({r.id: gid for r in live if (gid := getattr(r, kind))}, make_id, number)
                for kind, make_id, number in (
                    ("story", story_id, stored.next_story),
                    ("dup", dup_id, stored.next_dup),
                    ("event", event_id, stored.next_event),
                )
            )
            self._kept = _Kept(table, (stories, dups, events), Counter(it.lang for it in items))
        return self._kept

    def _place_kept(
        self, kept: _Kept, tonight: Tonight, delta: Diff, before: int, means: Means, known: dict[str, np.ndarray]
    ) -> Placement:
        """The post's new and changed items placed by the night's placement
        (:func:`~clusterer.nightly.assign.place_among`) on the kept table, groups and
        neighbour index: the post's rows changed in the table (a changed item's in
        place, the new ones appended, centred as a night centres them), the changed
        items out of their groups as a night has them, and what the post changes
        tracked, so that rows are built for that only. ``before``: the live items
        before the post, the table's rows; ``known``: sentence vectors embedded with the
        post's texts (:func:`_embed_ahead`)."""
        table, groups, index = kept.table, kept.groups, kept.index
        if index is None or delta.changed:  # the kept index holds a changed item's old vector
            stored = np.ones(len(table), dtype=bool)
            stored[[table.pos[i] for i in delta.changed]] = False
            index = NeighbourIndex(table.x.shape[1] if table.x.size else None, exact_max=EXACT_UP_TO)
            index.add([i for i, s in zip(table.ids, stored) if s], table.x[stored])
        mean_of = means_by_lang(means)
        items, features, vectors = tonight.items, tonight.features, tonight.vectors
        for i in delta.changed:
            k = table.pos[i]
            table.set(k, items[k], center_by_language(vectors[[k]], [items[k].lang], means=mean_of)[0], features[k])
        n = len(items)
        langs = [it.lang for it in items[before:n]]
        table.append(items[before:n], center_by_language(vectors[before:n], langs, means=mean_of), features[before:n])
        for g in groups:
            g.begin()
            for i in delta.changed:
                g.discard(i)
        fresh = np.zeros(n, dtype=bool)
        fresh[[table.pos[i] for i in delta.fresh]] = True
        clusterer = self.clusterer
        placement = place_among(
            table,
            fresh,
            *groups,
            duplicates=clusterer.duplicates,
            stories=clusterer.stories,
            candidates=self.nightly.candidates,
            aligner=clusterer.aligner(self._specifics, known),
            index=index,
        )
        if delta.changed:
            kept.index = None
        else:
            index.add(table.ids[before:n], table.x[before:n])
            kept.index = index
        return placement

    def _evidence(
        self, view: View, item_id: str, group: DuplicateGroupInfo, known: dict[str, np.ndarray]
    ) -> dict | None:
        """The pair evidence of ``item_id`` and its group's canonical item (for the
        canonical one, its closest other member), as the placement judges pairs."""
        others = [m for m in group.members if m != item_id]
        if not others:
            return None
        ids = [item_id, *others]
        rows = [view.pos[i] for i in ids]
        langs = [view.items[k].lang for k in rows]
        centred = center_by_language(view.raw[rows], langs, means=means_by_lang(view.means))
        other = 1
        if group.canonical != item_id:
            other = ids.index(group.canonical)
        elif len(others) > 1:
            other = 1 + int(np.argmax(centred[1:] @ centred[0]))
        pair = [0, other]
        judge = PairJudge(
            [view.features[rows[k]] for k in pair],
            [langs[k] for k in pair],
            self.clusterer.duplicates,
            vectors=centred[pair],
            aligner=self.clusterer.aligner(self._specifics, known),
        )
        evidence = judge.evidence(np.array([0]), np.array([1]))[0]
        return evidence.to_dict([item_id, ids[other]])

    # -- reading -----------------------------------------------------------------
    def ready(self) -> bool:
        return self._view is not None

    @property
    def run(self) -> int | None:
        """The last run the feed's memory holds (None before it has read the state)."""
        return self._view.run if self._view is not None else None

    def item(self, item_id: str) -> ItemInfo | None:
        """Where a live item is (None: unknown or deleted)."""
        with self._guard:
            view = self._need_view()
            return self._info(view, item_id) if view.row(item_id) is not None else None

    def story(self, story_id: str) -> StoryInfo | None:
        """A story by id, with its members, events and duplicate groups (None: unknown)."""
        with self._guard:
            view = self._need_view()
            row = view.stored.stories.get(story_id)
            if row is None:
                return None
            info = self._story(view, story_id)
            if row.status != "live":
                return info
            members = view.rows_of(story_id)
            info.members = [self._info(view, r.id) for r in members]
            events = sorted({r.event for r in members if r.event})
            for eid in events:
                first, last = date_span(r.date for r in view.rows_of(eid))
                info.events.append(EventInfo(eid, [r.id for r in view.rows_of(eid)], first, last))
            info.events.sort(key=lambda e: (day_number(e.first_date) is None, day_number(e.first_date) or 0.0, e.id))
            for did in sorted({r.dup for r in members if r.dup}):
                group = self._group(view, did)
                if group is not None:
                    info.duplicate_groups.append(group)
            return info

    def stories(self, since: str | None = None, limit: int = 100) -> list[StoryInfo]:
        """Live stories without their members, those with the latest item first: all,
        or those with an item dated ``since`` (an ISO 8601 date or datetime) or later."""
        start = day_number(since) if since else None
        if since and start is None:
            raise ValueError(f"since={since!r} is not an ISO 8601 date (2026-12-07, or a date and time)")
        with self._guard:
            self._need_view()
            chosen = [s for s in self._summaries.values() if start is None or (s.last is not None and s.last >= start)]
        return [replace(s.info) for s in heapq.nsmallest(limit, chosen, key=lambda s: s.order)]

    def _summarise(self, view: View, summaries: dict[str, _Summary], sids: Iterable[str]) -> None:
        """Make again the summaries of stories ``sids`` (other ids are passed over), and
        drop those of stories no longer live."""
        stories = view.stored.stories
        for sid in sids:
            row = stories.get(sid)
            if row is None:
                continue
            if row.status != "live" or sid not in view.members:
                summaries.pop(sid, None)
                continue
            info = self._story(view, sid)
            last = day_number(info.last_date)
            summaries[sid] = _Summary(info, last, (-(last if last is not None else float("-inf")), sid))

    def result(self) -> ClusterResult:
        """The state as the story browser shows it (see :func:`~clusterer.nightly.snapshot.state_result`)."""
        with self._guard:
            view = self._need_view()
            rows, vectors = view.live_rows(), view.vectors.copy()
            stories, dups, means, model = dict(view.stored.stories), dict(view.stored.dups), view.means, view.model
        return snapshot(rows, vectors, means, stories, dups, model)

    def _need_view(self) -> View:
        if self._view is None:
            raise StateError(f"{self.state_path} has not been read yet")
        return self._view

    def _story(self, view: View, sid: str) -> StoryInfo:
        row = view.stored.stories[sid]
        members = view.rows_of(sid)
        first, last = date_span(r.date for r in members)
        articles = sum(r.kind == ARTICLE for r in members)
        return StoryInfo(
            id=sid,
            title=row.extra,
            created_run=row.created_run,
            status=row.status,
            merged_into=row.merged_into,
            languages=sorted({r.lang or "?" for r in members}),
            first_date=first,
            last_date=last,
            articles=articles,
            teasers=len(members) - articles,
        )

    def _group(self, view: View, did: str) -> DuplicateGroupInfo | None:
        members = [r.id for r in view.rows_of(did)]
        if not members:
            return None
        row = view.stored.dups.get(did)
        canonical = row.extra if row is not None and row.extra in members else members[0]
        return DuplicateGroupInfo(did, canonical, members)

    def _info(self, view: View, item_id: str, state: str | None = None) -> ItemInfo:
        r = view.stored.rows[item_id]
        story = view.stored.stories.get(r.story) if r.story else None
        return ItemInfo(
            id=r.id,
            doc=r.doc,
            kind=r.kind,
            lang=r.lang,
            title=r.title,
            date=r.date,
            url=r.url,
            story=r.story,
            story_title=story.extra if story is not None else None,
            event=r.event,
            duplicate_group=self._group(view, r.dup) if r.dup else None,
            first_seen=r.first_seen,
            last_seen=r.last_seen,
            status=state,
        )


def _embed_ahead(
    embedder: Embedder, todo: dict[str, str], features: Sequence[TextFeatures]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The vectors of ``todo``'s texts, and, for a post of :data:`AHEAD_UP_TO` texts or
    fewer, those of their sentences (``features``: theirs), embedded in one call.

    The duplicate test aligns a new item's sentences with its neighbours' whenever one
    is within the alignment's low cosine bar, which a news item's nearest nearly always
    is. Asked for after the placement's search, they were a second call, which for a
    post of one text ran on one thread (the engine runs a call's batches side by side,
    a window whole on one thread); in the text's call they make a batch beside it."""
    texts = list(todo.values())
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), {}
    ahead: list[str] = []
    if len(texts) <= AHEAD_UP_TO:
        ahead = list(dict.fromkeys(s for f in features for s in unpack(f.sentences)))
    vectors = embedder.embed(texts + ahead)
    return vectors[: len(texts)], dict(zip(ahead, vectors[len(texts) :]))


def _admit(records: Sequence[Record | dict]) -> list[Record]:
    """The records as a night admits its corpus's: CorpusError for none, a repeated
    id or one holding the teasers' mark (a post is refused whole, not in part)."""
    out = [to_record(r) for r in records]
    if not out:
        raise CorpusError("no record given")
    seen: set[str] = set()
    for record in out:
        if TEASER_MARK in record.id:
            raise CorpusError(
                f"record id {record.id!r} contains {TEASER_MARK!r}, which names the teasers split off a page"
            )
        if record.id in seen:
            raise CorpusError(f"record id {record.id!r} is given twice")
        seen.add(record.id)
    return out


def _items_of(doc: str, live: dict[str, int]) -> list[str]:
    """The live items of record ``doc``: its article and teasers (numbered from 1)."""
    out = [doc] if doc in live else []
    k = 1
    while teaser_id(doc, k) in live:
        out.append(teaser_id(doc, k))
        k += 1
    return out


def _written_only(changes: Changes, stored: Stored, posted: set[str]) -> None:
    """Keep of a run's ``changes`` the rows that differ from the ``stored`` ones: a
    stored item not ``posted`` keeps its ``last_seen`` (it was not seen tonight)."""
    rows = stored.rows
    for row in changes.items:
        prev = rows.get(row.id)
        if prev is not None and row.id not in posted:
            row.last_seen = prev.last_seen
    changes.items = [row for row in changes.items if rows.get(row.id) != row]
    changes.stories = [g for g in changes.stories if stored.stories.get(g.id) != g]
    changes.dup_groups = [g for g in changes.dup_groups if stored.dups.get(g.id) != g]
    changes.events = [g for g in changes.events if stored.events.get(g.id) != g]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
