"""The nightly job: cluster a growing corpus incrementally, with stable ids.

``Nightly(state_path, clusterer).update(corpus)`` reads the whole corpus,
compares it with the state (:mod:`clusterer.state`), embeds only new or
changed items (changed = the content hash of the embedded text differs),
places them into the stored duplicate groups and stories, and writes the
state in one transaction. The first run on an empty state, and ``rebuild``,
are full batch runs (:meth:`Clusterer.analyse`) whose clusters get ids by
maximum overlap with the stored ones.

Every rule comes from the shared modules: pairs are judged by
:meth:`PairEvidence.is_duplicate` on evidence from
:func:`~clusterer.duplicates.find_duplicates`; stories use
:class:`~clusterer.stories.StoryParams`, the damped similarity, average
linkage and :func:`~clusterer.stories.attach_teasers`. Only the glue that
scores new items against stored neighbours lives here (:mod:`nightly_place`).
"""
from __future__ import annotations

import copy
import json
import datetime as _dt
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .cache import text_key
from .debias import center_by_language, language_means
from .duplicates import DuplicateParams, TextFeatures, find_duplicates
from .neighbours import NeighbourIndex, knn
from .pipeline import Clusterer, build_result, canonical_member, embedding_text
from .records import ARTICLE, Item
from .state import OVERALL, Changes, GroupRow, RunRecord, State, StateLock, StoredItem, lang_key
from .stories import (StoryParams, attach_teasers, average_linkage, day_number, merge_groups,
                      similarity_matrix, time_weights)

STORY_PREFIX, DUP_PREFIX = "S", "D"


def story_id(number: int) -> str:
    return f"{STORY_PREFIX}{number:06d}"


def dup_id(number: int) -> str:
    return f"{DUP_PREFIX}{number:06d}"


# ----------------------------------------------------------------- the report

@dataclass
class ItemChange:
    id: str
    kind: str
    lang: Optional[str]
    story: Optional[str] = None
    duplicate_group: Optional[str] = None
    previous_story: Optional[str] = None
    previous_duplicate_group: Optional[str] = None


@dataclass
class NewDuplicate:
    id: str
    group: str
    canonical: str


@dataclass
class GroupInfo:
    id: str
    members: List[str]
    canonical: Optional[str] = None   # duplicate groups
    title: Optional[str] = None       # stories


@dataclass
class Merge:
    into: str
    merged: List[str]


@dataclass
class Split:
    source: str
    into: List[str]


@dataclass
class ChangeReport:
    """What one run changed. ``to_dict()`` is the JSON report; ``summary()`` the text."""

    run: int
    kind: str                      # batch | update | rebuild
    state: str
    corpus: str
    model: str
    started: str = ""
    finished: str = ""
    counts: Dict[str, int] = field(default_factory=dict)
    new_items: List[ItemChange] = field(default_factory=list)
    changed_items: List[ItemChange] = field(default_factory=list)
    deleted_items: List[ItemChange] = field(default_factory=list)
    new_duplicates: List[NewDuplicate] = field(default_factory=list)
    duplicate_groups_created: List[GroupInfo] = field(default_factory=list)
    duplicate_groups_merged: List[Merge] = field(default_factory=list)
    duplicate_groups_split: List[Split] = field(default_factory=list)
    duplicate_groups_dissolved: List[str] = field(default_factory=list)
    stories_created: List[GroupInfo] = field(default_factory=list)
    stories_merged: List[Merge] = field(default_factory=list)
    stories_split: List[Split] = field(default_factory=list)
    stories_dissolved: List[str] = field(default_factory=list)
    skipped: List[dict] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return data

    def summary(self) -> str:
        c = self.counts
        lines = [f"run {self.run} ({self.kind}) on {self.state}: {c.get('items', 0)} items; "
                 f"{c.get('new', 0)} new, {c.get('changed', 0)} changed, {c.get('deleted', 0)} deleted, "
                 f"{c.get('unchanged', 0)} unchanged; {c.get('embedded', 0)} embedded; "
                 f"{c.get('stories', 0)} stories, {c.get('duplicate_groups', 0)} duplicate groups"]

        def section(title, rows):
            if rows:
                lines.append(f"{title} ({len(rows)})")
                lines.extend("  " + r for r in rows[:50])
                if len(rows) > 50:
                    lines.append(f"  … and {len(rows) - 50} more")

        def where(ch: ItemChange) -> str:
            return f"story {ch.story or '-'}, dup {ch.duplicate_group or '-'}"
        section("New items", [f"{ch.id} [{ch.lang or '?'}, {ch.kind}]: {where(ch)}" for ch in self.new_items])
        section("Changed items", [f"{ch.id}: {where(ch)} (was story {ch.previous_story or '-'}, "
                                  f"dup {ch.previous_duplicate_group or '-'})" for ch in self.changed_items])
        section("Deleted items", [f"{ch.id} (was story {ch.previous_story or '-'}, "
                                  f"dup {ch.previous_duplicate_group or '-'})" for ch in self.deleted_items])
        section("New duplicates", [f"{d.id} -> {d.canonical} ({d.group})" for d in self.new_duplicates])
        section("Duplicate groups created", [f"{g.id}: {', '.join(g.members)} (keep {g.canonical})"
                                             for g in self.duplicate_groups_created])
        section("Duplicate groups merged", [f"{', '.join(m.merged)} -> {m.into}"
                                            for m in self.duplicate_groups_merged])
        section("Duplicate groups split", [f"{s.source} -> {', '.join(s.into)}"
                                           for s in self.duplicate_groups_split])
        section("Duplicate groups dissolved", list(self.duplicate_groups_dissolved))
        section("Stories created", [f"{s.id}: {s.title or '(untitled)'} ({len(s.members)} items)"
                                    for s in self.stories_created])
        section("Stories merged", [f"{', '.join(m.merged)} -> {m.into}" for m in self.stories_merged])
        section("Stories split", [f"{s.source} -> {', '.join(s.into)}" for s in self.stories_split])
        section("Stories dissolved", list(self.stories_dissolved))
        section("Skipped", [f"{s['path']}{':' + str(s['line']) if s.get('line') else ''}: {s['reason']}"
                            for s in self.skipped])
        return "\n".join(lines)


# ----------------------------------------------------------------- helpers

class _KnownVectors:
    """An Embedder stand-in that answers from stored vectors (by content hash)
    and asks the real embedder only for the rest; lets a full run reuse the
    state's vectors through the unchanged :meth:`Clusterer.analyse`."""

    def __init__(self, embedder, known: Dict[str, np.ndarray]):
        self.embedder = embedder
        self.encoder = embedder.encoder
        self.known = known

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(self.encoder.name, t) for t in texts]
        todo = [t for t, k in zip(texts, keys) if k not in self.known]
        if todo:
            got = self.embedder.embed(todo)
            self.known.update(zip((text_key(self.encoder.name, t) for t in todo), got))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self.known[k] for k in keys]).astype(np.float32)

    def close(self) -> None:
        pass


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _number(gid: str) -> int:
    return int(gid[1:])


def _as_item(row: StoredItem) -> Item:
    return Item(id=row.id, doc=row.doc, kind=row.kind, text="", title=row.title, lang=row.lang,
                date=row.date, url=row.url)


def _snippet(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def map_by_overlap(old_of: Dict[str, Optional[str]], groups: Sequence[Sequence[str]],
                   next_number: int, make_id) -> Tuple[List[str], int, List[Merge], List[Split]]:
    """Ids for ``groups`` (lists of item ids): each old id goes to the new group
    that holds most of its members (ties: the older id, then the group given first),
    one old id per group; other groups get fresh numbers from ``next_number``.

    Returns the ids, the next free number, merges (a group holding members of
    several old ids) and splits (an old id whose members now sit in several groups).
    """
    overlap = Counter()
    for g, members in enumerate(groups):
        for m in members:
            if old_of.get(m):
                overlap[(old_of[m], g)] += 1
    ids: List[Optional[str]] = [None] * len(groups)
    taken = set()
    for (old, g), _ in sorted(overlap.items(), key=lambda kv: (-kv[1], _number(kv[0][0]), kv[0][1])):
        if ids[g] is None and old not in taken:
            ids[g] = old
            taken.add(old)
    for g in range(len(groups)):
        if ids[g] is None:
            ids[g] = make_id(next_number)
            next_number += 1
    merges, splits = [], []
    spread: Dict[str, set] = {}
    for (old, g) in overlap:
        spread.setdefault(old, set()).add(ids[g])
    for g, members in enumerate(groups):
        olds = sorted({old for (old, gg) in overlap if gg == g and old != ids[g]}, key=_number)
        if olds:
            merges.append(Merge(into=ids[g], merged=olds))
    for old, into in sorted(spread.items(), key=lambda kv: _number(kv[0])):
        if len(into) > 1:
            splits.append(Split(source=old, into=sorted(into, key=_number)))
    return ids, next_number, merges, splits


# ----------------------------------------------------------------- the job

class Nightly:
    """Incremental clustering of a corpus that grows night after night.

    >>> report = Nightly("state.sqlite", Clusterer()).update("corpus/")   # doctest: +SKIP
    >>> print(report.summary())                                         # doctest: +SKIP

    ``candidates`` is how many stored nearest neighbours of a new item are
    looked at to find the stories it may join.
    """

    def __init__(self, state_path: Union[str, Path], clusterer: Optional[Clusterer] = None,
                 candidates: int = 30):
        self.state_path = Path(state_path)
        self.clusterer = clusterer if clusterer is not None else Clusterer()
        self.candidates = candidates

    def update(self, corpus: Union[str, Path], rebuild: bool = False) -> ChangeReport:
        """Bring the state up to date with ``corpus``; raise StateError if another
        run holds the state, or the state was built with another model."""
        with StateLock(self.state_path):
            with State(self.state_path) as state:
                return self._run(state, corpus, rebuild)

    def rebuild(self, corpus: Union[str, Path]) -> ChangeReport:
        """Re-cluster everything (stored vectors, new items embedded), keeping ids by overlap."""
        return self.update(corpus, rebuild=True)

    # -- one run ---------------------------------------------------------------
    def _run(self, state: State, corpus, rebuild: bool) -> ChangeReport:
        t0 = time.perf_counter()
        started = _now()
        clusterer = self.clusterer
        embedder = clusterer._embedder()  # the one Embedder of this clusterer (counts encodings)
        model = embedder.encoder.name
        state.check_model(model)
        run_id = state.next_run_id()
        prior = self._prior()  # embedded before counting, so `embedded` counts corpus items only
        full = rebuild or state.is_empty()
        kind = "rebuild" if rebuild else ("batch" if full else "update")
        report = ChangeReport(run=run_id, kind=kind, state=str(self.state_path), corpus=str(corpus),
                              model=model, started=started)

        records, skipped = clusterer.read(corpus)
        items = clusterer.split(records)
        report.skipped = [asdict(s) for s in skipped]
        protected = {s.path for s in skipped if s.line is None}  # unreadable tonight: not deleted
        rows = state.items()
        hashes = {it.id: text_key(model, embedding_text(it)) for it in items}
        by_id = {it.id: it for it in items}
        new = [it.id for it in items if it.id not in rows or rows[it.id].deleted]
        changed = [it.id for it in items if it.id in rows and not rows[it.id].deleted
                   and rows[it.id].hash != hashes[it.id]]
        deleted = sorted(r.id for r in rows.values() if not r.deleted and r.id not in by_id
                         and r.doc not in protected)
        kept_rows = [r.id for r in rows.values() if not r.deleted and r.id not in by_id
                     and r.doc in protected]
        fresh = set(new) | set(changed)
        report.timings["read"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        encoded_before = embedder.encoded
        stored_ids = [it.id for it in items if it.id not in fresh]
        raw: Dict[str, np.ndarray] = {}
        if stored_ids:
            raw.update(zip(stored_ids, state.vectors(stored_ids)))
        fresh_items = [it for it in items if it.id in fresh]
        if full:
            known = {hashes[i]: v for i, v in raw.items()}
            worker = copy.copy(clusterer)
            worker.embedder_ = _KnownVectors(embedder, known)
            analysis = worker.analyse(items)
            raw.update((it.id, analysis.vectors[k]) for k, it in enumerate(items))
        elif fresh_items:
            raw.update(zip((it.id for it in fresh_items), clusterer.embed(fresh_items)))
        report.timings["embed"] = time.perf_counter() - t1
        embedded = embedder.encoded - encoded_before

        t2 = time.perf_counter()
        old_story = {i: r.story for i, r in rows.items() if not r.deleted}
        old_dup = {i: r.dup for i, r in rows.items() if not r.deleted}
        stories, dups = state.stories(), state.dup_groups()
        next_story, next_dup = state.counters()
        if full:
            means = self._batch_means(items, raw, prior)
            result = build_result(analysis, skipped, model)
            s_groups = [s.members for s in result.stories]
            d_groups = [g.members for g in result.duplicate_groups]
            s_ids, next_story, s_merges, s_splits = map_by_overlap(old_story, s_groups, next_story, story_id)
            d_ids, next_dup, d_merges, d_splits = map_by_overlap(old_dup, d_groups, next_dup, dup_id)
            assign = Assignment(story={}, dup={})
            for sid, members in zip(s_ids, s_groups):
                assign.story.update(dict.fromkeys(members, sid))
            for did, members in zip(d_ids, d_groups):
                assign.dup.update(dict.fromkeys(members, did))
            report.stories_merged, report.stories_split = s_merges, s_splits
            report.duplicate_groups_merged, report.duplicate_groups_split = d_merges, d_splits
        else:
            means = self._update_means(state.means(), items, raw, prior)
            live = [it.id for it in items]
            langs = [by_id[i].lang for i in live]
            mat = np.stack([raw[i] for i in live]) if live else np.zeros((0, 1), np.float32)
            centred = center_by_language(mat, langs, means={k: v for k, v in _means_by_lang(means).items()})
            assign = Assignment(
                story={i: old_story[i] for i in live if i not in fresh and old_story.get(i)},
                dup={i: old_dup[i] for i in live if i not in fresh and old_dup.get(i)})
            placer = Placer([by_id[i] for i in live], centred, [i in fresh for i in live],
                            clusterer.duplicates, clusterer.stories, self.candidates)
            s_groups = _Groups(assign.story, story_id, next_story)
            d_groups = _Groups(assign.dup, dup_id, next_dup)
            placer.place(s_groups, d_groups)
            next_story, next_dup = s_groups.next_number, d_groups.next_number
            report.stories_merged = s_groups.merge_list()
            report.duplicate_groups_merged = d_groups.merge_list()
        report.timings["place"] = time.perf_counter() - t2

        # assignments of items kept because their file was unreadable tonight
        for i in kept_rows:
            if rows[i].story:
                assign.story.setdefault(i, rows[i].story)
            if rows[i].dup:
                assign.dup.setdefault(i, rows[i].dup)
        changes = self._changes(run_id, kind, started, model, rows, items, by_id, hashes, fresh,
                                deleted, raw, assign, stories, dups, means, next_story, next_dup,
                                report, old_story, old_dup, new, changed, kept_rows)
        report.counts.update(items=len(items), new=len(new), changed=len(changed),
                             deleted=len(deleted), unchanged=len(items) - len(fresh),
                             embedded=embedded, skipped=len(skipped))
        report.timings["total"] = time.perf_counter() - t0
        report.finished = _now()
        changes.run.finished = report.finished
        changes.run.counts = dict(report.counts)
        changes.run.report = report.to_dict()
        state.commit(model, changes)
        return report

    # -- language means ---------------------------------------------------------
    def _prior(self):
        """The prior the clusterer shrinks language means toward, if it has one."""
        prior = getattr(self.clusterer, "prior", None)  # Clusterer.prior() is new; older: none
        return prior() if callable(prior) else None

    def _batch_means(self, items: Sequence[Item], raw, prior) -> Dict[str, Tuple[int, np.ndarray]]:
        """The means :meth:`Clusterer.analyse` centred with (same function, same inputs)."""
        if not items:
            return {}
        mat = np.stack([raw[it.id] for it in items])
        langs = [it.lang for it in items]
        means = language_means(mat, langs, shrink=self.clusterer.language_shrink, prior=prior)
        counts = Counter(langs)
        out = {lang_key(lang): (counts[lang], vec.astype(np.float32)) for lang, vec in means.items()}
        out[OVERALL] = (len(items), mat.mean(axis=0).astype(np.float32))
        return out

    def _update_means(self, stored, items: Sequence[Item], raw, prior) -> Dict[str, Tuple[int, np.ndarray]]:
        """Stored means, plus a mean for every language seen for the first time, and a
        fresh mean for a language whose count has doubled since its mean was taken
        (its items are then re-centred; their ids stay), by :func:`language_means`
        with the clusterer's prior."""
        means = dict(stored)
        by_lang: Dict[Optional[str], List[str]] = {}
        for it in items:
            by_lang.setdefault(it.lang, []).append(it.id)
        for lang, ids in by_lang.items():
            key = lang_key(lang)
            if key in means and len(ids) < 2 * means[key][0]:
                continue
            mat = np.stack([raw[i] for i in ids])
            vec = language_means(mat, [lang] * len(ids), shrink=self.clusterer.language_shrink,
                                 prior=prior)[lang]
            means[key] = (len(ids), vec.astype(np.float32))
        if OVERALL not in means and items:
            mat = np.stack([raw[it.id] for it in items])
            means[OVERALL] = (len(items), mat.mean(axis=0).astype(np.float32))
        return means

    # -- what to write ------------------------------------------------------------
    def _changes(self, run_id, kind, started, model, rows, items, by_id, hashes, fresh, deleted,
                 raw, assign: Assignment, stories, dups, means, next_story, next_dup,
                 report: ChangeReport, old_story, old_dup, new, changed, kept_rows) -> Changes:
        changes = Changes(run=RunRecord(run_id, kind, started, started), means=means,
                          next_story=next_story, next_dup=next_dup)
        for it in items:
            prev = rows.get(it.id)
            first = prev.first_seen if prev is not None else run_id
            changes.items.append(StoredItem(
                id=it.id, doc=it.doc, kind=it.kind, lang=it.lang, title=it.title, date=it.date,
                url=it.url, hash=hashes[it.id], first_seen=first, last_seen=run_id, deleted=False,
                story=assign.story.get(it.id), dup=assign.dup.get(it.id)))
            if it.id in fresh or prev is None or prev.hash != hashes[it.id]:
                changes.vectors[it.id] = raw[it.id]
        for i in kept_rows:
            r = copy.copy(rows[i])
            r.story, r.dup = assign.story.get(i), assign.dup.get(i)
            changes.items.append(r)
        for i in deleted:
            r = copy.copy(rows[i])
            r.deleted, r.story, r.dup = True, None, None
            changes.items.append(r)
            report.deleted_items.append(ItemChange(i, r.kind, r.lang, previous_story=old_story.get(i),
                                                   previous_duplicate_group=old_dup.get(i)))
        # groups: membership now, canonical items, fates of ids that lost their members
        live_items = {it.id: it for it in items}
        live_items.update((i, _as_item(rows[i])) for i in kept_rows)
        order = list(live_items)
        pos = {i: k for k, i in enumerate(order)}
        seq = [live_items[i] for i in order]
        s_members: Dict[str, List[str]] = {}
        for i, s in assign.story.items():
            s_members.setdefault(s, []).append(i)
        d_members: Dict[str, List[str]] = {}
        for i, d in assign.dup.items():
            d_members.setdefault(d, []).append(i)
        merged_story = {m: mg.into for mg in report.stories_merged for m in mg.merged}
        merged_dup = {m: mg.into for mg in report.duplicate_groups_merged for m in mg.merged}
        for sid, members in sorted(s_members.items()):
            arts = [pos[i] for i in members if live_items[i].kind == ARTICLE]
            if sid in stories:
                row = copy.copy(stories[sid])
                row.status, row.merged_into = "live", None
            else:
                src = seq[canonical_member(seq, arts)] if arts else live_items[sorted(members)[0]]
                row = GroupRow(sid, run_id, extra=src.title or _snippet(src.text))
                report.stories_created.append(GroupInfo(sid, sorted(members), title=row.extra))
            changes.stories.append(row)
        for sid, row in stories.items():
            if row.status == "live" and sid not in s_members:
                row = copy.copy(row)
                if sid in merged_story:
                    row.status, row.merged_into = "merged", merged_story[sid]
                else:
                    row.status = "dissolved"
                    report.stories_dissolved.append(sid)
                changes.stories.append(row)
        for did, members in sorted(d_members.items()):
            canonical = seq[canonical_member(seq, [pos[i] for i in members])].id
            if did in dups:
                row = copy.copy(dups[did])
                row.status, row.merged_into, row.extra = "live", None, canonical
            else:
                row = GroupRow(did, run_id, extra=canonical)
                report.duplicate_groups_created.append(GroupInfo(did, sorted(members), canonical=canonical))
            changes.dup_groups.append(row)
            for i in sorted(members):
                if i != canonical and (i in fresh or old_dup.get(i) != did):
                    report.new_duplicates.append(NewDuplicate(i, did, canonical))
        for did, row in dups.items():
            if row.status == "live" and did not in d_members:
                row = copy.copy(row)
                if did in merged_dup:
                    row.status, row.merged_into = "merged", merged_dup[did]
                else:
                    row.status = "dissolved"
                    report.duplicate_groups_dissolved.append(did)
                changes.dup_groups.append(row)
        for ids, out in ((new, report.new_items), (changed, report.changed_items)):
            for i in ids:
                it = by_id[i]
                out.append(ItemChange(i, it.kind, it.lang, assign.story.get(i), assign.dup.get(i),
                                      old_story.get(i) if out is report.changed_items else None,
                                      old_dup.get(i) if out is report.changed_items else None))
        report.counts.update(stories=len(s_members), duplicate_groups=len(d_members))
        return changes


def _means_by_lang(means: Dict[str, Tuple[int, np.ndarray]]) -> dict:
    return {json.loads(k): v for k, (_, v) in means.items() if k != OVERALL}


# ----------------------------------------------------------------- placing new items
# Candidates for pipeline.py / duplicates.py / stories.py: ``cross_similarity``
# (similarity_matrix for two sets) and the scoring in ``Placer`` (new items
# against stored neighbours) would sit better beside the batch rules.

@dataclass
class Assignment:
    """Story and duplicate group per item id (absent: none)."""

    story: Dict[str, str]
    dup: Dict[str, str]


class _Groups:
    """Ids of one kind (stories or duplicate groups) while a night changes them.

    ``merge`` keeps the id with most members (ties: the older id) and records
    which ids went where; ``new`` draws the next number from the counter.
    """

    def __init__(self, of: Dict[str, str], make_id, next_number: int):
        self.of = of
        self.make_id = make_id
        self.next_number = next_number
        self.members: Dict[str, set] = {}
        for item, gid in of.items():
            self.members.setdefault(gid, set()).add(item)
        self.merged: Dict[str, List[str]] = {}
        self.into: Dict[str, str] = {}

    def find(self, gid: str) -> str:
        """The id ``gid`` lives on as (itself unless merged tonight)."""
        while gid in self.into:
            gid = self.into[gid]
        return gid

    def new(self, items) -> str:
        gid = self.make_id(self.next_number)
        self.next_number += 1
        self.members[gid] = set()
        self.add(items, gid)
        return gid

    def add(self, items, gid: str) -> None:
        for item in items:
            old = self.of.get(item)
            if old is not None and old != gid:
                self.members[old].discard(item)
            self.of[item] = gid
            self.members[gid].add(item)

    def merge(self, gids) -> str:
        gids = sorted({self.find(g) for g in gids}, key=lambda g: (-len(self.members[g]), _number(g)))
        survivor = gids[0]
        for loser in gids[1:]:
            moved = self.members.pop(loser)
            self.of.update(dict.fromkeys(moved, survivor))
            self.members[survivor].update(moved)
            self.merged.setdefault(survivor, []).extend([loser] + self.merged.pop(loser, []))
            self.into[loser] = survivor
        return survivor

    def drop(self, gid: str) -> None:
        for item in self.members.pop(gid, ()):
            self.of.pop(item, None)

    def merge_list(self) -> List[Merge]:
        return [Merge(into, sorted(losers, key=_number))
                for into, losers in sorted(self.merged.items(), key=lambda kv: _number(kv[0]))
                if into in self.members]


def cross_similarity(a: np.ndarray, days_a, b: np.ndarray, days_b, params: StoryParams) -> np.ndarray:
    """The block rows ``a`` x columns ``b`` of :func:`similarity_matrix` over ``a + b``."""
    sims = a @ b.T
    w = time_weights(list(days_a) + list(days_b), params)
    if w is not None:
        sims = sims * w[: len(a), len(a):]
    return sims


class Placer:
    """Places the fresh items among stored ones (both given as centred vectors).

    Stored items are searched through a :class:`NeighbourIndex`, so a night's
    cost grows with (new items) x (neighbours, story sizes), not with the
    square of the archive.
    """

    def __init__(self, items: Sequence[Item], centred: np.ndarray, fresh: Sequence[bool],
                 dparams: DuplicateParams, sparams: StoryParams, candidates: int):
        self.items = list(items)
        self.ids = [it.id for it in self.items]
        self.pos = {i: k for k, i in enumerate(self.ids)}
        self.x = centred
        self.fresh = np.array(fresh, dtype=bool)
        self.article = np.array([it.kind == ARTICLE for it in self.items], dtype=bool)
        self.days = [day_number(it.date) for it in self.items]
        self.dp, self.sp, self.candidates = dparams, sparams, candidates
        self.stored = np.flatnonzero(~self.fresh)
        self.index = NeighbourIndex(centred.shape[1] if centred.size else None)
        if len(self.stored):
            self.index.add([self.ids[s] for s in self.stored], centred[self.stored])

    def _stored_nbrs(self, rows: Sequence[int], k: int) -> Tuple[List[List[int]], np.ndarray]:
        if not len(rows) or not len(self.index) or k == 0:
            return [[] for _ in rows], np.zeros((len(rows), 0), np.float32)
        ids, sims = self.index.query(self.x[list(rows)], k)
        return [[self.pos[i] for i in row] for row in ids], sims

    def place(self, stories: _Groups, dups: _Groups) -> None:
        fresh = np.flatnonzero(self.fresh)
        if len(fresh):
            self._duplicates(fresh, dups)
            self._stories(fresh, stories, dups)
        for gid in [g for g, m in dups.members.items() if len(m) < 2]:
            dups.drop(gid)
        for gid in [g for g, m in stories.members.items()
                    if sum(self.article[self.pos[i]] for i in m) < self.sp.min_articles]:
            stories.drop(gid)

    # -- duplicates -----------------------------------------------------------
    def _duplicates(self, fresh: np.ndarray, dups: _Groups) -> None:
        k = max(self.dp.neighbours, 1)
        rows: Dict[int, List[Tuple[float, int]]] = {}
        s_idx, s_sim = self._stored_nbrs(fresh, k)
        f_idx, f_sim = knn(self.x[fresh], min(k, max(len(fresh) - 1, 1)))
        for r, g in enumerate(fresh):
            cand = [(float(v), j) for j, v in zip(s_idx[r], s_sim[r])]
            cand += [(float(v), int(fresh[j])) for j, v in zip(f_idx[r], f_sim[r]) if j >= 0]
            rows[int(g)] = sorted(cand, key=lambda t: (-t[0], t[1]))[:k]
        touched = sorted({j for cand in rows.values() for _, j in cand if not self.fresh[j]})
        t_idx, t_sim = self._stored_nbrs(touched, k + 1)
        for r, g in enumerate(touched):
            cand = [(float(v), j) for j, v in zip(t_idx[r], t_sim[r]) if j != g]
            cand += [(float(v), int(f)) for f, v in zip(fresh, self.x[fresh] @ self.x[g])]
            rows[g] = sorted(cand, key=lambda t: (-t[0], t[1]))[:k]
        # rows for new items and the stored items they touch; their other neighbours
        # are in the local universe too (without rows), so evidence that looks at
        # neighbour lists (e.g. best match per language) sees the true lists
        with_rows = [int(g) for g in fresh] + touched
        outer = sorted({j for g in with_rows for _, j in rows[g]} - set(with_rows))
        local = with_rows + outer
        at = {g: p for p, g in enumerate(local)}
        nbr_idx = np.full((len(local), k), -1, dtype=np.int64)
        nbr_sim = np.full((len(local), k), -np.inf, dtype=np.float32)
        for p, g in enumerate(with_rows):
            for c, (v, j) in enumerate(rows[g]):
                nbr_idx[p, c] = at[j]
                nbr_sim[p, c] = v
        features = [TextFeatures.of(embedding_text(self.items[g])) for g in local]
        langs = [self.items[g].lang for g in local]
        _, evidence = find_duplicates(nbr_idx, nbr_sim, features, langs,
                                      [bool(self.article[g]) for g in local], self.dp)
        parent = {}

        def find(a):
            parent.setdefault(a, a)
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a
        for e in evidence:
            a, b = local[e.i], local[e.j]
            if (self.fresh[a] or self.fresh[b]) and e.is_duplicate(self.dp):
                ra, rb = find(self.ids[a]), find(self.ids[b])
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        comps: Dict[str, List[str]] = {}
        for item in list(parent):
            comps.setdefault(find(item), []).append(item)
        for root in sorted(comps):
            comp = comps[root]
            olds = {dups.of[i] for i in comp if i in dups.of}
            gid = dups.merge(olds) if olds else dups.new([])
            dups.add(comp, gid)

    # -- stories ---------------------------------------------------------------
    def _mean_sims(self, rows: Sequence[int], members: Sequence[int]) -> np.ndarray:
        sims = cross_similarity(self.x[list(rows)], [self.days[r] for r in rows],
                                self.x[list(members)], [self.days[m] for m in members], self.sp)
        return sims.mean(axis=1)

    def _articles(self, stories: _Groups, gid: str) -> List[int]:
        return sorted(self.pos[i] for i in stories.members[gid] if self.article[self.pos[i]])

    def _stories(self, fresh: np.ndarray, stories: _Groups, dups: _Groups) -> None:
        sp = self.sp
        arts = [int(g) for g in fresh if self.article[g]]
        nbrs, _ = self._stored_nbrs(arts, self.candidates)
        cands: Dict[str, List[int]] = {}
        for r, g in enumerate(arts):
            for s in {stories.of[self.ids[j]] for j in nbrs[r] if self.ids[j] in stories.of}:
                cands.setdefault(s, []).append(g)
        score: Dict[int, Dict[str, float]] = {g: {} for g in arts}
        for s in sorted(cands, key=_number):
            for g, v in zip(cands[s], self._mean_sims(cands[s], self._articles(stories, s))):
                score[g][s] = float(v)
        choice = {}
        for g in arts:
            ok = [(v, s) for s, v in score[g].items() if v >= sp.threshold]
            if ok:
                choice[g] = min(ok, key=lambda t: (-t[0], _number(t[1])))[1]
        for g, s in sorted(choice.items()):
            stories.add([self.ids[g]], stories.find(s))
        # a duplicate group lives in one story (as merge_groups does in the batch)
        for gid in sorted({dups.of[self.ids[g]] for g in arts if self.ids[g] in dups.of}, key=_number):
            members = sorted(dups.members[gid])
            found = {stories.of[i] for i in members if i in stories.of}
            if found:
                stories.add(members, stories.merge(found))
        # a new article that clearly belongs to two stories bridges them (average linkage)
        for g, s in sorted(choice.items()):
            for other, v in sorted(score[g].items(), key=lambda kv: _number(kv[0])):
                a, b = stories.of[self.ids[g]], stories.find(other)
                if a == b or v < sp.threshold:
                    continue
                a_arts, b_arts = self._articles(stories, a), self._articles(stories, b)
                if self._mean_sims(a_arts, b_arts).mean() >= sp.threshold:
                    stories.merge([a, b])
        self._new_stories([g for g in arts if self.ids[g] not in stories.of], nbrs, arts, stories, dups)
        self._teasers([int(g) for g in fresh if not self.article[g]], stories)

    def _new_stories(self, loose: List[int], nbrs, arts, stories: _Groups, dups: _Groups) -> None:
        """Average linkage among the unplaced new articles and the unassigned stored
        articles next to them; a cluster with a new article and enough articles is a story."""
        if not loose:
            return
        near = {g: r for r, g in enumerate(arts)}
        pool = set(loose)
        for g in loose:
            pool.update(j for j in nbrs[near[g]] if self.article[j] and self.ids[j] not in stories.of)
        for g in list(pool):
            gid = dups.of.get(self.ids[g])
            if gid:
                pool.update(self.pos[i] for i in dups.members[gid] if i not in stories.of)
        pool = sorted(pool)
        at = {g: p for p, g in enumerate(pool)}
        sims = similarity_matrix(self.x[pool], [self.days[g] for g in pool], self.sp)
        labels = average_linkage(sims, self.sp.threshold)
        groups = {}
        for g in pool:
            gid = dups.of.get(self.ids[g])
            if gid:
                groups.setdefault(gid, []).append(at[g])
        labels = merge_groups(labels, [v for v in groups.values() if len(v) > 1])
        clusters: Dict[int, List[int]] = {}
        for g, lab in zip(pool, labels):
            clusters.setdefault(int(lab), []).append(g)
        found = [c for c in clusters.values()
                 if len(c) >= self.sp.min_articles and any(self.fresh[g] for g in c)]
        for c in sorted(found, key=lambda c: (-len(c), min(self.ids[g] for g in c))):
            stories.new([self.ids[g] for g in c])

    def _teasers(self, teasers: List[int], stories: _Groups) -> None:
        """Each new teaser joins the story it is clearly closest to (attach_teasers), among
        the stories of its nearest items; teasers never found stories."""
        if not teasers or not stories.members:
            return
        nbrs, _ = self._stored_nbrs(teasers, self.candidates)
        placed = [self.pos[i] for i in stories.of if self.fresh[self.pos[i]]]
        for r, t in enumerate(teasers):
            near = list(nbrs[r])
            if placed:
                sims = self.x[placed] @ self.x[t]
                near += [placed[p] for p in np.argsort(-sims, kind="stable")[: self.candidates]]
            cand = sorted({stories.of[self.ids[j]] for j in near if self.ids[j] in stories.of}, key=_number)
            if not cand:
                continue
            members, labels = [], []
            for lab, s in enumerate(cand):
                a = self._articles(stories, s)
                members += a
                labels += [lab] * len(a)
            got = attach_teasers(self.x[[t]], self.x[members], np.array(labels), list(range(len(cand))), self.sp)
            if got[0] is not None:
                stories.add([self.ids[t]], cand[got[0]])
