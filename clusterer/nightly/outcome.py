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
    dissolved, and the counts."""
    rows, fresh = stored.rows, diff.fresh
    old_story, old_dup = stored.story_of, stored.dup_of
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
    # items: tonight's, those kept unread, the deleted ones
    for it in tonight.items:
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
            ItemChange(i, r.kind, r.lang, previous_story=old_story.get(i), previous_duplicate_group=old_dup.get(i))
        )
    # groups: membership now, canonical items, fates of ids that lost their members
    live_items = {it.id: it for it in tonight.items}
    live_items.update((i, _as_item(rows[i])) for i in diff.kept)
    order = list(live_items)
    pos = {i: k for k, i in enumerate(order)}
    seq = [live_items[i] for i in order]
    s_members: dict[str, list[str]] = {}
    for i, s in placement.story.items():
        s_members.setdefault(s, []).append(i)
    d_members: dict[str, list[str]] = {}
    for i, d in placement.dup.items():
        d_members.setdefault(d, []).append(i)
    for sid, members in sorted(s_members.items()):
        if sid in stored.stories:
            row = copy.copy(stored.stories[sid])
            row.status, row.merged_into = "live", None
        else:
            row = GroupRow(sid, report.run, extra=story_title(seq, [pos[i] for i in members]))
            report.stories_created.append(GroupInfo(sid, sorted(members), title=row.extra))
        changes.stories.append(row)
    changes.stories.extend(_retired(stored.stories, s_members, report.stories_merged, report.stories_dissolved))
    e_members: dict[str, list[str]] = {}
    for i, e in placement.event.items():
        e_members.setdefault(e, []).append(i)
    for eid, members in sorted(e_members.items()):
        story = placement.story.get(min(members))
        if eid in stored.events:
            row = copy.copy(stored.events[eid])
            row.status, row.merged_into, row.extra = "live", None, story
        else:
            row = GroupRow(eid, report.run, extra=story)
            report.events_created.append(GroupInfo(eid, sorted(members), story=story))
        changes.events.append(row)
    changes.events.extend(_retired(stored.events, e_members, report.events_merged, report.events_dissolved))
    for did, members in sorted(d_members.items()):
        canonical = seq[canonical_member(seq, [pos[i] for i in members])].id
        if did in stored.dups:
            row = copy.copy(stored.dups[did])
            row.status, row.merged_into, row.extra = "live", None, canonical
        else:
            row = GroupRow(did, report.run, extra=canonical)
            report.duplicate_groups_created.append(GroupInfo(did, sorted(members), canonical=canonical))
        changes.dup_groups.append(row)
        for i in sorted(members):
            if i != canonical and (i in fresh or old_dup.get(i) != did):
                report.new_duplicates.append(NewDuplicate(i, did, canonical))
    changes.dup_groups.extend(
        _retired(stored.dups, d_members, report.duplicate_groups_merged, report.duplicate_groups_dissolved)
    )
    # tonight's items: new, changed, and stored noise now in a story
    for i in diff.new:
        it = live_items[i]
        report.new_items.append(ItemChange(i, it.kind, it.lang, placement.story.get(i), placement.dup.get(i)))
    for i in diff.changed:
        it = live_items[i]
        report.changed_items.append(
            ItemChange(
                i, it.kind, it.lang, placement.story.get(i), placement.dup.get(i), old_story.get(i), old_dup.get(i)
            )
        )
    for it in tonight.items:
        if it.id not in fresh and it.id in old_story and not old_story[it.id] and placement.story.get(it.id):
            report.noise_placed.append(
                ItemChange(it.id, it.kind, it.lang, placement.story[it.id], placement.dup.get(it.id))
            )
    report.counts.update(
        stories=len(s_members),
        events=len(e_members),
        duplicate_groups=len(d_members),
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
    """The duplicate features and openings of tonight's items ``ids``, as the state
    stores them (:attr:`~clusterer.nightly.state.Changes.features`)."""
    return {
        i: (tonight.features[k], tonight.items[k].meta.get("snippet") or "")
        for i in ids
        if (k := tonight.position.get(i)) is not None
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
