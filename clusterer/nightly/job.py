"""The nightly job: cluster a growing corpus incrementally, with stable ids.

``Nightly(state_path, clusterer).update(corpus)`` reads the whole corpus,
compares it with the state (:mod:`clusterer.nightly.state`), embeds only new or
changed items (changed = the content hash of the embedded text differs),
places them into the stored duplicate groups and stories
(:mod:`clusterer.nightly.placement`), and writes the state in one transaction. The
first run on an empty state, and ``rebuild``, are full batch runs
(:meth:`Clusterer.analyse` on the stored vectors plus the new ones) whose
clusters get ids by maximum overlap with the stored ones. What a run changed
is a :class:`~clusterer.nightly.changes.ChangeReport`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..debias import Prior, center_by_language, language_means
from ..embed.cache import text_key
from ..errors import StateError, is_damaged_database, is_disk_full
from ..pipeline import Clusterer
from ..records import Item, Skipped, embedding_text
from ..result import (
    ClusterResult,
    build_result,
    canonical_member,
    story_title,
    truncated_pages,
    unrecognised_languages,
)
from .changes import ChangeReport, GroupInfo, ItemChange, Merge, NewDuplicate
from .placement import Assignment, Groups, Placer, dup_id, map_by_overlap, story_id
from .snapshot import state_result
from .state import OVERALL, Changes, GroupRow, RunRecord, State, StateLock, StoredItem, lang_key, means_by_lang

__all__ = ["Nightly", "ChangeReport"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _as_item(row: StoredItem) -> Item:
    return Item(
        id=row.id, doc=row.doc, kind=row.kind, text="", title=row.title, lang=row.lang, date=row.date, url=row.url
    )


# ----------------------------------------------------------------- the job


class Nightly:
    """Incremental clustering of a corpus that grows night after night.

    >>> report = Nightly("state.sqlite", Clusterer()).update("corpus/")   # doctest: +SKIP
    >>> print(report.summary())                                         # doctest: +SKIP

    ``candidates`` is how many stored nearest neighbours of a new item are
    looked at to find the stories it may join.
    """

    def __init__(self, state_path: str | Path, clusterer: Clusterer | None = None, candidates: int = 30):
        self.state_path = Path(state_path)
        self.clusterer = clusterer if clusterer is not None else Clusterer()
        self.candidates = candidates

    def update(self, corpus: str | Path, rebuild: bool = False) -> ChangeReport:
        """Bring the state up to date with ``corpus``; raise StateError if another
        run holds the state, or the state was built with another model."""
        with StateLock(self.state_path), State(self.state_path) as state:
            try:
                return self._run(state, corpus, rebuild)
            except sqlite3.DatabaseError as exc:  # the run's one transaction is rolled back
                raise StateError(_state_failure(self.state_path, exc)) from None

    def rebuild(self, corpus: str | Path) -> ChangeReport:
        """Re-cluster everything (stored vectors, new items embedded), keeping ids by overlap."""
        return self.update(corpus, rebuild=True)

    def result(self) -> ClusterResult:
        """The state as it stands, as a :class:`ClusterResult` (what the story browser
        shows; see :func:`clusterer.nightly.snapshot.state_result`). Read under the lock, so
        never halfway through a run: StateError while one holds it."""
        if not self.state_path.exists():
            raise StateError(f"no state at {self.state_path}")
        with StateLock(self.state_path), State(self.state_path) as state:
            try:
                return state_result(state)
            except sqlite3.DatabaseError as exc:
                raise StateError(_state_failure(self.state_path, exc)) from None

    # -- one run ---------------------------------------------------------------
    def _run(self, state: State, corpus, rebuild: bool) -> ChangeReport:
        t0 = time.perf_counter()
        started = _now()
        clusterer = self.clusterer
        embedder = clusterer._embedder()  # the one Embedder of this clusterer (counts encodings)
        model = embedder.encoder.name
        state.check_model(model)
        run_id = state.next_run_id()
        prior = clusterer.prior()  # embedded before counting, so `embedded` counts corpus items only
        full = rebuild or state.is_empty()
        kind = "rebuild" if rebuild else ("batch" if full else "update")
        report = ChangeReport(
            run=run_id, kind=kind, state=str(self.state_path), corpus=str(corpus), model=model, started=started
        )

        records, skipped = clusterer.read(corpus)
        items = clusterer.split(records)
        report.skipped = [asdict(s) for s in skipped]
        report.truncated = truncated_pages(items)
        report.unrecognised_lang = unrecognised_languages(items)
        rows = state.items()
        hashes = {it.id: text_key(model, embedding_text(it)) for it in items}
        by_id = {it.id: it for it in items}
        new = [it.id for it in items if it.id not in rows or rows[it.id].deleted]
        changed = [
            it.id for it in items if it.id in rows and not rows[it.id].deleted and rows[it.id].hash != hashes[it.id]
        ]
        missing = [r for r in rows.values() if not r.deleted and r.id not in by_id]
        unsure = _unsure_of_deletion(skipped, state.skipped_in_runs(r.last_seen for r in missing))
        deleted = sorted(r.id for r in missing if not unsure(r))
        kept_rows = sorted(r.id for r in missing if unsure(r))
        fresh = set(new) | set(changed)
        report.timings["read"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        encoded_before = embedder.encoded
        stored_ids = [it.id for it in items if it.id not in fresh]
        raw: dict[str, np.ndarray] = {}
        if stored_ids:
            raw.update(zip(stored_ids, state.vectors(stored_ids)))
        fresh_items = [it for it in items if it.id in fresh]
        if full:  # a text whose vector the state holds (a republication) is not embedded again
            known = {hashes[i]: v for i, v in raw.items()}
            raw.update((it.id, known[hashes[it.id]]) for it in fresh_items if hashes[it.id] in known)
        todo = [it for it in fresh_items if it.id not in raw]
        if todo:
            raw.update(zip((it.id for it in todo), clusterer.embed(todo)))
        report.timings["embed"] = time.perf_counter() - t1
        embedded = embedder.encoded - encoded_before

        t2 = time.perf_counter()
        old_story = {i: r.story for i, r in rows.items() if not r.deleted}
        old_dup = {i: r.dup for i, r in rows.items() if not r.deleted}
        stories, dups = state.stories(), state.dup_groups()
        next_story, next_dup = state.counters()
        if full:
            vectors = np.stack([raw[it.id] for it in items]) if items else np.zeros((0, 0), dtype=np.float32)
            analysis = clusterer.analyse(items, vectors=vectors)
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
            centred = center_by_language(mat, langs, means=means_by_lang(means))
            assign = Assignment(
                story={i: s for i in live if i not in fresh and (s := old_story.get(i))},
                dup={i: d for i in live if i not in fresh and (d := old_dup.get(i))},
            )
            placer = Placer(
                [by_id[i] for i in live],
                centred,
                [i in fresh for i in live],
                clusterer.duplicates,
                clusterer.stories,
                self.candidates,
                aligner=clusterer.aligner(),
            )
            story_groups = Groups(assign.story, story_id, next_story)
            dup_groups = Groups(assign.dup, dup_id, next_dup)
            placer.place(story_groups, dup_groups)
            next_story, next_dup = story_groups.next_number, dup_groups.next_number
            report.stories_merged = story_groups.merge_list()
            report.duplicate_groups_merged = dup_groups.merge_list()
        report.timings["place"] = time.perf_counter() - t2

        # assignments of items kept because their file was unreadable tonight
        for i in kept_rows:
            if story := rows[i].story:
                assign.story.setdefault(i, story)
            if dup := rows[i].dup:
                assign.dup.setdefault(i, dup)
        changes = self._changes(
            run_id,
            kind,
            started,
            model,
            rows,
            items,
            by_id,
            hashes,
            fresh,
            deleted,
            raw,
            assign,
            stories,
            dups,
            means,
            next_story,
            next_dup,
            report,
            old_story,
            old_dup,
            new,
            changed,
            kept_rows,
        )
        report.counts.update(
            items=len(items),
            new=len(new),
            changed=len(changed),
            deleted=len(deleted),
            unchanged=len(items) - len(fresh),
            embedded=embedded,
            skipped=len(skipped),
            kept_unread=len(kept_rows),
        )
        report.kept_unread = kept_rows
        report.timings["total"] = time.perf_counter() - t0
        report.finished = _now()
        changes.run.finished = report.finished
        changes.run.counts = dict(report.counts)
        changes.run.report = report.to_dict()
        state.commit(model, changes)
        return report

    # -- language means ---------------------------------------------------------
    def _batch_means(self, items: Sequence[Item], raw, prior) -> dict[str, tuple[int, np.ndarray]]:
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

    def _update_means(self, stored, items: Sequence[Item], raw, prior) -> dict[str, tuple[int, np.ndarray]]:
        """Stored means, plus a mean for every language seen for the first time, and a
        fresh mean for a language whose count has doubled since its mean was taken
        (its items are then re-centred; their ids stay), by :func:`language_means`
        shrunk toward the same prior as the batch run: the clusterer's, or without
        one the stored corpus mean."""
        means = dict(stored)
        if OVERALL not in means and items:
            mat = np.stack([raw[it.id] for it in items])
            means[OVERALL] = (len(items), mat.mean(axis=0).astype(np.float32))
        if prior is None and OVERALL in means:
            prior = Prior(overall=means[OVERALL][1])
        by_lang: dict[str | None, list[str]] = {}
        for it in items:
            by_lang.setdefault(it.lang, []).append(it.id)
        for lang, ids in by_lang.items():
            key = lang_key(lang)
            if key in means and len(ids) < 2 * means[key][0]:
                continue
            mat = np.stack([raw[i] for i in ids])
            vec = language_means(mat, [lang] * len(ids), shrink=self.clusterer.language_shrink, prior=prior)[lang]
            means[key] = (len(ids), vec.astype(np.float32))
        return means

    # -- what to write ------------------------------------------------------------
    def _changes(
        self,
        run_id,
        kind,
        started,
        model,
        rows,
        items,
        by_id,
        hashes,
        fresh,
        deleted,
        raw,
        assign: Assignment,
        stories,
        dups,
        means,
        next_story,
        next_dup,
        report: ChangeReport,
        old_story,
        old_dup,
        new,
        changed,
        kept_rows,
    ) -> Changes:
        changes = Changes(
            run=RunRecord(run_id, kind, started, started), means=means, next_story=next_story, next_dup=next_dup
        )
        for it in items:
            prev = rows.get(it.id)
            first = prev.first_seen if prev is not None else run_id
            changes.items.append(
                StoredItem(
                    id=it.id,
                    doc=it.doc,
                    kind=it.kind,
                    lang=it.lang,
                    title=it.title,
                    date=it.date,
                    url=it.url,
                    hash=hashes[it.id],
                    first_seen=first,
                    last_seen=run_id,
                    deleted=False,
                    story=assign.story.get(it.id),
                    dup=assign.dup.get(it.id),
                    source=it.source,
                )
            )
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
            report.deleted_items.append(
                ItemChange(i, r.kind, r.lang, previous_story=old_story.get(i), previous_duplicate_group=old_dup.get(i))
            )
        # groups: membership now, canonical items, fates of ids that lost their members
        live_items = {it.id: it for it in items}
        live_items.update((i, _as_item(rows[i])) for i in kept_rows)
        order = list(live_items)
        pos = {i: k for k, i in enumerate(order)}
        seq = [live_items[i] for i in order]
        s_members: dict[str, list[str]] = {}
        for i, s in assign.story.items():
            s_members.setdefault(s, []).append(i)
        d_members: dict[str, list[str]] = {}
        for i, d in assign.dup.items():
            d_members.setdefault(d, []).append(i)
        for sid, members in sorted(s_members.items()):
            if sid in stories:
                row = copy.copy(stories[sid])
                row.status, row.merged_into = "live", None
            else:
                row = GroupRow(sid, run_id, extra=story_title(seq, [pos[i] for i in members]))
                report.stories_created.append(GroupInfo(sid, sorted(members), title=row.extra))
            changes.stories.append(row)
        changes.stories.extend(_retired(stories, s_members, report.stories_merged, report.stories_dissolved))
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
        changes.dup_groups.extend(
            _retired(dups, d_members, report.duplicate_groups_merged, report.duplicate_groups_dissolved)
        )
        for ids, out in ((new, report.new_items), (changed, report.changed_items)):
            for i in ids:
                it = by_id[i]
                out.append(
                    ItemChange(
                        i,
                        it.kind,
                        it.lang,
                        assign.story.get(i),
                        assign.dup.get(i),
                        old_story.get(i) if out is report.changed_items else None,
                        old_dup.get(i) if out is report.changed_items else None,
                    )
                )
        for it in items:  # stored items that were noise and are in a story now
            if it.id not in fresh and it.id in old_story and not old_story[it.id] and assign.story.get(it.id):
                report.noise_placed.append(
                    ItemChange(it.id, it.kind, it.lang, assign.story[it.id], assign.dup.get(it.id))
                )
        report.counts.update(stories=len(s_members), duplicate_groups=len(d_members))
        return changes


def _unsure_of_deletion(skipped: Sequence[Skipped], then: dict[int, list[dict]]):
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


def _retired(rows: dict[str, GroupRow], live, merges: Sequence[Merge], dissolved: list[str]) -> list[GroupRow]:
    """Rows of the ids that were live and hold no member now: merged into another id
    (per ``merges``), or dissolved (their ids appended to ``dissolved``)."""
    into = {m: mg.into for mg in merges for m in mg.merged}
    out = []
    for gid, row in rows.items():
        if row.status == "live" and gid not in live:
            row = copy.copy(row)
            if gid in into:
                row.status, row.merged_into = "merged", into[gid]
            else:
                row.status = "dissolved"
                dissolved.append(gid)
            out.append(row)
    return out


def _state_failure(path: Path, exc: sqlite3.DatabaseError) -> str:
    """One line for a state that could not be read or written, and what to do."""
    text = str(exc)
    if is_disk_full(exc):
        return (
            f"no room left to write the state {path} ({text}); nothing of tonight's run was written: "
            "free some space and run again"
        )
    if is_damaged_database(exc):
        return (
            f"the state {path} is damaged ({text}); restore it from a backup, or move it away "
            "to start again from an empty state"
        )
    return f"the state {path} could not be read or written ({text}); nothing of tonight's run was written"
