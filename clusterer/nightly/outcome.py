"""What a night writes and reports: from tonight's items, the diff against the
state and the placement, the rows for the state's one transaction
(:class:`~clusterer.nightly.state.Changes`) and the
:class:`~clusterer.nightly.changes.ChangeReport` of what changed. Plain data in,
plain data out; nothing here reads or writes the state.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from ..duplicates import TextFeatures
from ..records import Item
from ..result import canonical_member, story_title
from .assign import Means, Placement
from .changes import ChangeReport, GroupInfo, ItemChange, Merge, NewDuplicate
from .diff import Diff, Stored
from .state import Changes, GroupRow, RunRecord, StoredItem
from .tonight import Tonight


def build_outcome(
    report: ChangeReport, stored: Stored, tonight: Tonight, diff: Diff, placement: Placement, means: Means
) -> Changes:
    """The state's rows after tonight, and ``report`` filled in (its header, the
    skipped inputs and the timings are the caller's): items new, changed, deleted,
    kept or placed from noise, new duplicates, groups created, merged, split and
    dissolved, and the counts. Where the placement says what it changed
    (:attr:`Placement.touched`, groups kept between runs), rows are built for those
    items and groups only (with the new, changed and deleted items): the others are
    as stored."""
    rows, fresh, touched = stored.rows, diff.fresh, placement.touched
    report.stories_merged, report.stories_split = placement.stories_merged, placement.stories_split
    report.duplicate_groups_merged, report.duplicate_groups_split = placement.dups_merged, placement.dups_split
    report.events_merged, report.events_split = placement.events_merged, placement.events_split
    changes = Changes(
        run=RunRecord(report.run, report.kind, report.started, report.started),
        means=means,
        next_story=placement.next_story,
        next_dup=placement.next_dup,
        next_event=placement.next_event,
    )
    position = tonight.position
    if touched is None:
        tonight_items = tonight.items
        s_members, d_members, e_members = (
            _by_group(placement.story),
            _by_group(placement.dup),
            _by_group(placement.event),
        )
        s_rows, d_rows, e_rows = stored.stories, stored.dups, stored.events
        counts = (len(s_members), len(d_members), len(e_members))
    else:
        ids = sorted((touched.items | fresh) & position.keys(), key=position.__getitem__)
        tonight_items = [tonight.items[position[i]] for i in ids]
        s_members, d_members, e_members = (
            {g: list(m) for g, m in changed.items() if m} for changed in (touched.stories, touched.dups, touched.events)
        )
        s_rows, d_rows, e_rows = (
            {g: table[g] for g in sorted(changed) if g in table}
            for table, changed in (
                (stored.stories, touched.stories),
                (stored.dups, touched.dups),
                (stored.events, touched.events),
            )
        )
        counts = touched.counts
    # items: tonight's, those kept unread, the deleted ones
    for it in tonight_items:
        prev = rows.get(it.id)
        changes.items.append(
            StoredItem(
                id=it.id,
                doc=it.doc,
                kind=it.kind,
                lang=it.lang,
                title=it.title,
                date=it.date,
                url=it.url,
                hash=tonight.hashes[it.id],
                first_seen=prev.first_seen if prev is not None else report.run,
                last_seen=report.run,
                deleted=False,
                story=placement.story.get(it.id),
                dup=placement.dup.get(it.id),
                source=it.source,
                event=placement.event.get(it.id),
            )
        )
        if it.id in fresh:  # new or changed: its vector is new
            changes.vectors[it.id] = tonight.vector(it.id)
    for i in diff.kept:
        r = copy.copy(rows[i])
        r.story, r.dup, r.event = placement.story.get(i), placement.dup.get(i), placement.event.get(i)
        changes.items.append(r)
    for i in diff.deleted:
        r = copy.copy(rows[i])
        r.deleted, r.story, r.dup, r.event = True, None, None, None
        changes.items.append(r)
        report.deleted_items.append(
            ItemChange(
                i, r.kind, r.lang, previous_story=_was(rows, i, "story"), previous_duplicate_group=_was(rows, i, "dup")
            )
        )

    # groups: membership now, canonical items, fates of ids that lost their members
    def item(i: str) -> Item:
        k = position.get(i)
        return tonight.items[k] if k is not None else _as_item(rows[i])

    for sid, members in sorted(s_members.items()):
        if sid in stored.stories:
            row = copy.copy(stored.stories[sid])
            row.status, row.merged_into = "live", None
        else:
            seq = [item(i) for i in members]
            row = GroupRow(sid, report.run, extra=story_title(seq, range(len(seq))))
            report.stories_created.append(GroupInfo(sid, sorted(members), title=row.extra))
        changes.stories.append(row)
    changes.stories.extend(_retired(s_rows, s_members, report.stories_merged, report.stories_dissolved))
    for eid, members in sorted(e_members.items()):
        story = placement.story.get(min(members))
        if eid in stored.events:
            row = copy.copy(stored.events[eid])
            row.status, row.merged_into, row.extra = "live", None, story
        else:
            row = GroupRow(eid, report.run, extra=story)
            report.events_created.append(GroupInfo(eid, sorted(members), story=story))
        changes.events.append(row)
    changes.events.extend(_retired(e_rows, e_members, report.events_merged, report.events_dissolved))
    for did, members in sorted(d_members.items()):
        seq = [item(i) for i in members]
        canonical = seq[canonical_member(seq, range(len(seq)))].id
        if did in stored.dups:
            row = copy.copy(stored.dups[did])
            row.status, row.merged_into, row.extra = "live", None, canonical
        else:
            row = GroupRow(did, report.run, extra=canonical)
            report.duplicate_groups_created.append(GroupInfo(did, sorted(members), canonical=canonical))
        changes.dup_groups.append(row)
        for i in sorted(members):
            if i != canonical and (i in fresh or _was(rows, i, "dup") != did):
                report.new_duplicates.append(NewDuplicate(i, did, canonical))
    changes.dup_groups.extend(
        _retired(d_rows, d_members, report.duplicate_groups_merged, report.duplicate_groups_dissolved)
    )
    # tonight's items: new, changed, and stored noise now in a story
    for i in diff.new:
        it = item(i)
        report.new_items.append(ItemChange(i, it.kind, it.lang, placement.story.get(i), placement.dup.get(i)))
    for i in diff.changed:
        it = item(i)
        report.changed_items.append(
            ItemChange(
                i,
                it.kind,
                it.lang,
                placement.story.get(i),
                placement.dup.get(i),
                _was(rows, i, "story"),
                _was(rows, i, "dup"),
            )
        )
    for it in tonight_items:
        prev = rows.get(it.id)
        now = placement.story.get(it.id)
        if now and it.id not in fresh and prev is not None and not prev.deleted and not prev.story:
            report.noise_placed.append(ItemChange(it.id, it.kind, it.lang, now, placement.dup.get(it.id)))
    report.counts.update(
        stories=counts[0],
        events=counts[2],
        duplicate_groups=counts[1],
        items=len(tonight.items),
        new=len(diff.new),
        changed=len(diff.changed),
        deleted=len(diff.deleted),
        unchanged=len(tonight.items) - len(fresh),
        embedded=tonight.embedded,
        skipped=len(tonight.skipped),
        kept_unread=len(diff.kept),
    )
    report.kept_unread = list(diff.kept)
    return changes


def features_to_store(tonight: Tonight, ids: Iterable[str]) -> dict[str, tuple[TextFeatures, str]]:
    """The duplicate features and openings of tonight's items ``ids`` read with their
    features, as the state stores them (:attr:`~clusterer.nightly.state.Changes.features`)."""
    return {
        i: (f, tonight.items[k].meta.get("snippet") or "")
        for i in ids
        if (k := tonight.position.get(i)) is not None and (f := tonight.features[k]) is not None
    }


def seal(report: ChangeReport, changes: Changes, finished: str) -> None:
    """The run's end: its time, counts and report go into the run's record."""
    report.finished = changes.run.finished = finished
    changes.run.counts = dict(report.counts)
    changes.run.report = report.to_dict()


def _as_item(row: StoredItem) -> Item:
    """A stored row as an item without text (for titles and canonical items)."""
    return Item(
        id=row.id, doc=row.doc, kind=row.kind, text="", title=row.title, lang=row.lang, date=row.date, url=row.url
    )


def _by_group(of: dict[str, str]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for i, gid in of.items():
        members.setdefault(gid, []).append(i)
    return members


def _was(rows: dict[str, StoredItem], item_id: str, kind: str) -> str | None:
    """The story, event or duplicate group (``kind``) a live stored item was in (None: none, or not stored)."""
    row = rows.get(item_id)
    return getattr(row, kind) if row is not None and not row.deleted else None


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
