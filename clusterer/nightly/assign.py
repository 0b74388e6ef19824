"""Where tonight's items go: a story, an event and a duplicate group per item, and
the ids merged and split on the way (a :class:`Placement`).

Two ways, over plain data (no model, no state): :func:`assign_batch` gives the
clusters of a full batch run (the first night, a rebuild) the stored ids they
overlap most (:func:`~clusterer.nightly.placement.map_by_overlap`);
:func:`assign_incremental` keeps every unchanged item where it was and places
the new and changed ones among them (:class:`~clusterer.nightly.placement.Placer`).
Both keep the items kept unread where they were. The language means a night
centres with, and stores, come from here too: :func:`batch_means` (those the
batch run used) and :func:`update_means` (the stored ones, refreshed where a
language is new or has doubled).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..align import Aligner
from ..debias import Prior, language_means
from ..duplicates import DuplicateParams, TextFeatures
from ..neighbours import NeighbourIndex
from ..neighbours.saved import ShardSearch
from ..records import Item
from ..stories.similarity import StoryParams
from .changes import Merge, Split
from .diff import Stored
from .placement import Groups, Placer, dup_id, event_id, map_by_overlap, story_id
from .state import OVERALL, StoredItem, lang_key
from .table import ItemTable

Means = dict[str, tuple[int, np.ndarray]]  # by lang_key (and OVERALL): (items, mean), as the state keeps them


@dataclass
class Placement:
    """Story, event and duplicate group per item id (absent: none), the next free id
    numbers, and the ids merged (several into one) and split (one into several)."""

    story: dict[str, str]
    dup: dict[str, str]
    next_story: int
    next_dup: int
    stories_merged: list[Merge] = field(default_factory=list)
    stories_split: list[Split] = field(default_factory=list)
    dups_merged: list[Merge] = field(default_factory=list)
    dups_split: list[Split] = field(default_factory=list)
    event: dict[str, str] = field(default_factory=dict)
    next_event: int = 1
    events_merged: list[Merge] = field(default_factory=list)
    events_split: list[Split] = field(default_factory=list)
    touched: Touched | None = None  # where the groups were kept from a run before: what this one changed


@dataclass
class Touched:
    """What a placement on groups kept between runs changed (see :meth:`Groups.begin`):
    the items whose story, event or duplicate group changed, the ids of the stories,
    events and groups whose members did (with their members now, empty when none),
    and how many of each hold members."""

    items: set[str]
    stories: dict[str, set[str]]
    dups: dict[str, set[str]]
    events: dict[str, set[str]]
    counts: tuple[int, int, int]  # stories, duplicate groups, events holding members


def assign_batch(
    stored: Stored,
    stories: Sequence[Sequence[str]],
    dups: Sequence[Sequence[str]],
    kept: Sequence[StoredItem] = (),
    events: Sequence[Sequence[str]] = (),
) -> Placement:
    """Ids for the stories, duplicate groups and events of a batch run (lists of item
    ids, in the result's order): each stored id goes to the cluster holding most of
    its live members, other clusters get new numbers. ``kept`` rows keep their ids."""
    s_ids, next_story, s_merges, s_splits = map_by_overlap(stored.story_of, stories, stored.next_story, story_id)
    d_ids, next_dup, d_merges, d_splits = map_by_overlap(stored.dup_of, dups, stored.next_dup, dup_id)
    e_ids, next_event, e_merges, e_splits = map_by_overlap(stored.event_of, events, stored.next_event, event_id)
    out = Placement(
        {}, {}, next_story, next_dup, s_merges, s_splits, d_merges, d_splits, {}, next_event, e_merges, e_splits
    )
    for sid, members in zip(s_ids, stories):
        out.story.update(dict.fromkeys(members, sid))
    for did, members in zip(d_ids, dups):
        out.dup.update(dict.fromkeys(members, did))
    for eid, members in zip(e_ids, events):
        out.event.update(dict.fromkeys(members, eid))
    return _keep(out, kept)


def assign_incremental(
    stored: Stored,
    items: Sequence[Item],
    features: Sequence[TextFeatures | None],
    centred: np.ndarray,
    fresh: Sequence[bool],
    kept: Sequence[StoredItem] = (),
    *,
    duplicates: DuplicateParams,
    stories: StoryParams,
    candidates: int,
    aligner: Aligner | None = None,
    index: NeighbourIndex | ShardSearch | None = None,
    chars: Sequence[int] | None = None,
    fetch: Callable[[Sequence[str]], Mapping[str, TextFeatures]] | None = None,
) -> Placement:
    """Tonight's ``items`` (with their duplicate ``features`` and ``centred`` vectors;
    ``fresh``: new or changed) placed among the stored ones: an unchanged item keeps
    its story and group, a fresh one joins, bridges or founds them (see
    :class:`~clusterer.nightly.placement.Placer`, which takes ``index`` where the
    caller keeps one over the stored items). An item whose features are None has
    them from ``fetch`` when the placement reaches it, and its length from ``chars``
    (see :class:`~clusterer.nightly.table.ItemTable`). ``kept`` rows keep their ids."""
    story = {it.id: s for it, new in zip(items, fresh) if not new and (s := stored.story_of.get(it.id))}
    dup = {it.id: d for it, new in zip(items, fresh) if not new and (d := stored.dup_of.get(it.id))}
    event = {it.id: e for it, new in zip(items, fresh) if not new and (e := stored.event_of.get(it.id))}
    placement = place_among(
        ItemTable(items, centred, stories, features, chars, fetch),
        fresh,
        Groups(story, story_id, stored.next_story),
        Groups(dup, dup_id, stored.next_dup),
        Groups(event, event_id, stored.next_event),
        duplicates=duplicates,
        stories=stories,
        candidates=candidates,
        aligner=aligner,
        index=index,
    )
    return _keep(placement, kept)


def place_among(
    table: ItemTable,
    fresh: Sequence[bool] | np.ndarray,
    story_groups: Groups,
    dup_groups: Groups,
    event_groups: Groups,
    *,
    duplicates: DuplicateParams,
    stories: StoryParams,
    candidates: int,
    aligner: Aligner | None = None,
    index: NeighbourIndex | ShardSearch | None = None,
) -> Placement:
    """The items of ``table`` flagged ``fresh`` placed among the others, whose
    stories, duplicate groups and events the three :class:`Groups` hold (and are
    changed to hold tonight's): :func:`assign_incremental`'s placement, for a
    caller that keeps the table and the groups between runs. Groups kept so
    (:meth:`Groups.begin` called before) give a placement that says what it
    changed (:attr:`Placement.touched`)."""
    placer = Placer(table, fresh, duplicates, stories, candidates, aligner=aligner, index=index)
    placer.place(story_groups, dup_groups, event_groups)
    out = Placement(
        story_groups.of,
        dup_groups.of,
        story_groups.next_number,
        dup_groups.next_number,
        stories_merged=story_groups.merge_list(),
        dups_merged=dup_groups.merge_list(),
        event=event_groups.of,
        next_event=event_groups.next_number,
        events_merged=event_groups.merge_list(),
    )
    s_changed, d_changed, e_changed = story_groups.changed, dup_groups.changed, event_groups.changed
    s_moved, d_moved, e_moved = story_groups.moved, dup_groups.moved, event_groups.moved
    if s_changed is not None and d_changed is not None and e_changed is not None:
        # an event's row names its story: the events of items whose story changed too
        e_changed = e_changed | {e for i in s_moved or () if (e := event_groups.of.get(i)) is not None}
        out.touched = Touched(
            set().union(s_moved or (), d_moved or (), e_moved or ()),
            {gid: story_groups.members.get(gid, set()) for gid in s_changed},
            {gid: dup_groups.members.get(gid, set()) for gid in d_changed},
            {gid: event_groups.members.get(gid, set()) for gid in e_changed},
            (story_groups.count(), dup_groups.count(), event_groups.count()),
        )
    return out


def _keep(placement: Placement, kept: Sequence[StoredItem]) -> Placement:
    """Rows kept because their file could not be read tonight stay where they were."""
    for row in kept:
        if row.story:
            placement.story.setdefault(row.id, row.story)
        if row.dup:
            placement.dup.setdefault(row.id, row.dup)
        if row.event:
            placement.event.setdefault(row.id, row.event)
    return placement


# -- language means ----------------------------------------------------------------
def batch_means(langs: Sequence[str | None], vectors: np.ndarray, used: Mapping[str | None, np.ndarray]) -> Means:
    """The means a batch run centred with (``used``, per language, see
    :attr:`~clusterer.pipeline.Analysis.language_means`) as the state keeps them,
    with their items' counts, and the corpus mean of the raw ``vectors``."""
    if not len(langs):
        return {}
    counts = Counter(langs)
    out = {lang_key(lang): (counts[lang], vec.astype(np.float32)) for lang, vec in used.items()}
    out[OVERALL] = (len(langs), vectors.mean(axis=0).astype(np.float32))
    return out


def update_means(
    stored: Means, langs: Sequence[str | None], vectors: np.ndarray, shrink: float, prior: Prior | None
) -> Means:
    """Stored means, plus a mean for every language seen for the first time, and a
    fresh mean for a language whose count has doubled since its mean was taken
    (its items are then re-centred; their ids stay), by :func:`language_means`
    shrunk toward the same prior as the batch run: the clusterer's, or without
    one the stored corpus mean. ``vectors``: the raw vectors, a row per item of ``langs``."""
    means = dict(stored)
    if OVERALL not in means and len(langs):
        means[OVERALL] = (len(langs), vectors.mean(axis=0).astype(np.float32))
    if prior is None and OVERALL in means:
        prior = Prior(overall=means[OVERALL][1])
    rows_of: dict[str | None, list[int]] = {}
    for k, lang in enumerate(langs):
        rows_of.setdefault(lang, []).append(k)
    stale = set(stale_means(stored, {lang: len(rows) for lang, rows in rows_of.items()}))
    for lang, rows in rows_of.items():
        if lang not in stale:
            continue
        vec = language_means(vectors[rows], [lang] * len(rows), shrink=shrink, prior=prior)[lang]
        means[lang_key(lang)] = (len(rows), vec.astype(np.float32))
    return means


def stale_means(stored: Means, counts: Mapping[str | None, int]) -> list[str | None]:
    """The languages (``counts``: items per language tonight) whose mean
    :func:`update_means` takes afresh: seen for the first time, or doubled since
    their mean was taken. None of them, and a corpus mean stored: the stored means
    stand as they are."""
    return [
        lang for lang, n in counts.items() if n and ((key := lang_key(lang)) not in stored or n >= 2 * stored[key][0])
    ]
