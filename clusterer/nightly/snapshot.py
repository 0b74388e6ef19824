"""The nightly state as it stands, as a :class:`~clusterer.result.ClusterResult`:
what the story browser shows after a run (``cluster update --html``).

Everything comes from the state, so every id agrees with the run's change
report: the live items (deleted ones are left out; items kept because their
file could not be read are in), their stories and duplicate groups, the story
titles and canonical items the run stored, and the map of a batch run
(:func:`~clusterer.pipeline.map_coordinates`) over the stored raw vectors,
centred by the stored language means as the nightly job centres them. The
state keeps no texts and no pair evidence: items have no ``snippet``, and
duplicate groups no ``evidence``.
"""

from __future__ import annotations

import numpy as np

from ..debias import center_by_language
from ..labels import label
from ..records import ARTICLE, date_span, reading_order
from ..result import ClusterResult, DuplicateGroup, Event, ItemResult, Story, map_coordinates
from .state import GroupRow, State, StoredItem, means_by_lang


def state_result(state: State) -> ClusterResult:
    """The live items of ``state`` with their stories and duplicate groups (ids as
    stored, items by id), and each item's place on the story map."""
    rows = [r for r in state.items().values() if not r.deleted]
    vectors = state.vectors([r.id for r in rows])
    return snapshot(rows, vectors, state.means(), state.stories(), state.dup_groups(), state.model)


def snapshot(
    rows: list[StoredItem],
    vectors: np.ndarray,
    means: dict[str, tuple[int, np.ndarray]],
    titles: dict[str, GroupRow],
    dup_groups: dict[str, GroupRow],
    model: str | None,
) -> ClusterResult:
    """:func:`state_result` of state rows held elsewhere (``cluster serve`` holds them in
    memory): the live ``rows`` and their raw ``vectors`` (a row each), the stored
    language means, story and duplicate-group rows, and the model's name."""
    centred = center_by_language(vectors, [r.lang for r in rows], means=means_by_lang(means))
    xy = map_coordinates(centred)
    items = [
        ItemResult(
            id=r.id,
            doc=r.doc,
            kind=r.kind,
            lang=r.lang,
            title=r.title,
            date=r.date,
            url=r.url,
            story=r.story,
            duplicate_group=r.dup,
            event=r.event,
            x=float(xy[k, 0]),
            y=float(xy[k, 1]),
        )
        for k, r in enumerate(rows)
    ]
    stories = []
    for sid, members in _by_group(rows, "story").items():
        articles = sum(r.kind == ARTICLE for r in members)
        stories.append(
            Story(
                id=sid,
                title=titles[sid].extra if sid in titles else None,
                members=[r.id for r in members],
                languages=_languages(members),
                articles=articles,
                teasers=len(members) - articles,
            )
        )
    canonical = {gid: row.extra for gid, row in dup_groups.items()}
    story_of = {r.id: r.story for r in rows}
    groups = []
    for gid, members in _by_group(rows, "dup").items():
        ids = [r.id for r in members]
        stored = canonical.get(gid)
        keep = stored if stored is not None and stored in ids else ids[0]
        groups.append(
            DuplicateGroup(id=gid, members=ids, canonical=keep, languages=_languages(members), story=story_of[keep])
        )
    events = _events(rows, stories)
    result = ClusterResult(items=items, stories=stories, duplicate_groups=groups, model=model or "", events=events)
    return label(result, story_titles=False)  # keywords, the events' titles; stories keep their stored titles


def _events(rows: list[StoredItem], stories: list[Story]) -> list[Event]:
    """The events as stored, each story's in time order (first date, undated last,
    then id), their ids filled in each story's ``events``."""
    story_of = {s.id: s for s in stories}
    out = []
    for eid, members in _by_group(rows, "event").items():
        first, last = date_span(r.date for r in members)
        out.append(
            Event(
                id=eid,
                story=members[0].story or "",
                title=None,
                members=[r.id for r in members],
                languages=_languages(members),
                first_date=first,
                last_date=last,
            )
        )
    out.sort(key=lambda e: (e.story, *reading_order(e.first_date, e.id)))
    for e in out:
        if e.story in story_of:
            story_of[e.story].events.append(e.id)
    return out


def _by_group(rows: list[StoredItem], column: str) -> dict[str, list[StoredItem]]:
    """The rows of each story or duplicate group (``column``), groups by id."""
    out: dict[str, list[StoredItem]] = {}
    for r in rows:
        gid = getattr(r, column)
        if gid:
            out.setdefault(gid, []).append(r)
    return dict(sorted(out.items()))


def _languages(rows: list[StoredItem]) -> list[str]:
    return sorted({r.lang or "?" for r in rows})
