"""Placing a night's new items among the stored ones, with stable ids.

:class:`Placer` scores each new or changed item against its stored nearest
neighbours only (a :class:`~clusterer.neighbours.NeighbourIndex` over the
stored items), so a night costs (new items) x (neighbours, story sizes), not
the square of the archive. Every rule is the batch pipeline's: pairs are judged
by :meth:`PairEvidence.is_duplicate` on evidence from
:func:`~clusterer.duplicates.find_duplicates` over neighbour lists merged by
:func:`~clusterer.neighbours.top_k`; a new article joins the stored event whose
articles it is closest to on average (:func:`~clusterer.stories.similarity.cross_similarity`,
average linkage one step at a time) and so its story; the new articles left over
form events and stories by the batch run's own linkage,
:func:`~clusterer.stories.threads.link_stories`, and each such story continues
the stored story its events thread to (:class:`~clusterer.stories.threads.EventSimilarity`);
teasers are placed by :func:`~clusterer.stories.teasers.attach_teasers`.

:class:`Groups` keeps the story, event or duplicate-group ids while a night changes
them (new ids from a counter, merges keep the larger group's id), and
:func:`map_by_overlap` gives the clusters of a full run the stored ids they
overlap most. Nothing here reads or writes the state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..align import Aligner
from ..duplicates import DuplicateParams, TextFeatures, find_duplicates
from ..neighbours import NeighbourIndex, knn, knn_between, top_k
from ..neighbours.saved import ShardSearch
from ..records import Item
from ..stories.similarity import StoryParams, cross_similarity
from ..stories.teasers import attach_teasers
from ..stories.threads import EventSimilarity, event_summaries, link_stories
from .changes import Merge, Split
from .table import ItemTable

STORY_PREFIX, DUP_PREFIX, EVENT_PREFIX = "S", "D", "E"


def story_id(number: int) -> str:
    return f"{STORY_PREFIX}{number:06d}"


def dup_id(number: int) -> str:
    return f"{DUP_PREFIX}{number:06d}"


def event_id(number: int) -> str:
    return f"{EVENT_PREFIX}{number:06d}"


def id_number(gid: str) -> int:
    """The number of a story, event or duplicate-group id (``S000012`` -> 12)."""
    return int(gid[1:])


def map_by_overlap(
    old_of: dict[str, str | None], groups: Sequence[Sequence[str]], next_number: int, make_id
) -> tuple[list[str], int, list[Merge], list[Split]]:
    """Ids for ``groups`` (lists of item ids): each old id goes to the new group
    that holds most of its members (ties: the older id, then the group given first),
    one old id per group; other groups get fresh numbers from ``next_number``.

    Returns the ids, the next free number, merges (a group holding members of
    several old ids) and splits (an old id whose members now sit in several groups).
    """
    overlap: Counter = Counter()
    for g, members in enumerate(groups):
        for m in members:
            if old_of.get(m):
                overlap[(old_of[m], g)] += 1
    ids: list[str | None] = [None] * len(groups)
    taken = set()
    for (old, g), _ in sorted(overlap.items(), key=lambda kv: (-kv[1], id_number(kv[0][0]), kv[0][1])):
        if ids[g] is None and old not in taken:
            ids[g] = old
            taken.add(old)
    for g in range(len(groups)):
        if ids[g] is None:
            ids[g] = make_id(next_number)
            next_number += 1
    given: list[str] = [str(i) for i in ids]  # every group has an id now
    merges: list[Merge] = []
    splits: list[Split] = []
    spread: dict[str, set] = {}
    for old, g in overlap:
        spread.setdefault(old, set()).add(given[g])
    for g in range(len(groups)):
        olds = sorted({old for (old, gg) in overlap if gg == g and old != given[g]}, key=id_number)
        if olds:
            merges.append(Merge(into=given[g], merged=olds))
    for old, into in sorted(spread.items(), key=lambda kv: id_number(kv[0])):
        if len(into) > 1:
            splits.append(Split(source=old, into=sorted(into, key=id_number)))
    return given, next_number, merges, splits


class Groups:
    """Ids of one kind (stories, events or duplicate groups) while a night changes them.

    ``merge`` keeps the id with most members (ties: the older id) and records
    which ids went where; ``new`` draws the next number from the counter.
    """

    def __init__(self, of: dict[str, str], make_id, next_number: int):
        self.of = of
        self.make_id = make_id
        self.next_number = next_number
        self.members: dict[str, set] = {}
        for item, gid in of.items():
            self.members.setdefault(gid, set()).add(item)
        self.merged: dict[str, list[str]] = {}
        self.into: dict[str, str] = {}
        # the items put in ``of`` since it was given (or since begin), in ``of``'s order
        self.late: dict[str, None] = {}
        # since begin: the ids whose members changed and the items whose id did (None: not tracked)
        self.changed: set[str] | None = None
        self.moved: set[str] | None = None

    def begin(self) -> None:
        """Start a run on groups kept from the last one (a feed keeps them between
        posts): what the run changes is tracked from here (:attr:`changed`,
        :attr:`moved`), so that the checks at its end and the rows it writes look at
        those only. Empty groups and the last run's merges are forgotten, as groups
        built afresh from ``of`` would have none."""
        for gid in [g for g in self.changed or () if not self.members.get(g, True)]:
            del self.members[gid]
        self.merged, self.into, self.late = {}, {}, {}
        self.changed, self.moved = set(), set()

    def _touch(self, item: str, *gids: str) -> None:
        if self.changed is not None and self.moved is not None:
            self.changed.update(gids)
            self.moved.add(item)

    def find(self, gid: str) -> str:
        """The id ``gid`` lives on as (itself unless merged tonight)."""
        while gid in self.into:
            gid = self.into[gid]
        return gid

    def new(self, items) -> str:
        gid = self.make_id(self.next_number)
        self.next_number += 1
        self.members[gid] = set()
        if self.changed is not None:
            self.changed.add(gid)
        self.add(items, gid)
        return gid

    def add(self, items, gid: str) -> None:
        for item in items:
            old = self.of.get(item)
            if old is None:
                self.late[item] = None
            elif old != gid:
                self.members[old].discard(item)
            self.of[item] = gid
            self.members[gid].add(item)
            if old != gid:
                self._touch(item, gid, *([old] if old is not None else []))

    def merge(self, gids) -> str:
        gids = sorted({self.find(g) for g in gids}, key=lambda g: (-len(self.members[g]), id_number(g)))
        survivor = gids[0]
        for loser in gids[1:]:
            moved = self.members.pop(loser)
            self.of.update(dict.fromkeys(moved, survivor))
            for item in moved:
                self._touch(item, survivor, loser)
            self.members[survivor].update(moved)
            self.merged.setdefault(survivor, []).extend([loser] + self.merged.pop(loser, []))
            self.into[loser] = survivor
        return survivor

    def drop(self, gid: str) -> None:
        for item in self.members.pop(gid, ()):
            self.of.pop(item, None)
            self.late.pop(item, None)
            self._touch(item, gid)

    def discard(self, item: str) -> None:
        """``item`` leaves its group; a group left empty goes."""
        gid = self.of.pop(item, None)
        self.late.pop(item, None)
        if gid is not None:
            self.members[gid].discard(item)
            if not self.members[gid]:
                del self.members[gid]
            self._touch(item, gid)

    def count(self) -> int:
        """How many groups hold members."""
        return sum(1 for m in self.members.values() if m)

    def merge_list(self) -> list[Merge]:
        return [
            Merge(into, sorted(losers, key=id_number))
            for into, losers in sorted(self.merged.items(), key=lambda kv: id_number(kv[0]))
            if into in self.members
        ]


class Placer:
    """Places the fresh items among stored ones (both given as centred vectors).

    Stored items are searched through a :class:`NeighbourIndex`, so a night's
    cost grows with (new items) x (neighbours, story sizes), not with the
    square of the archive. ``story_neighbours`` is the batch run's
    (:class:`~clusterer.pipeline.Clusterer`'s) neighbours per article in the
    story graph; ``features`` the items' duplicate features where the caller has
    them (else they are computed from the texts). ``index``, where given, is a
    :class:`NeighbourIndex` holding exactly the stored (not fresh) items, in order,
    as ``centred`` has them: a caller that keeps one between runs saves building it.
    """

    def __init__(
        self,
        table: ItemTable,
        fresh: Sequence[bool] | np.ndarray,
        dparams: DuplicateParams,
        sparams: StoryParams,
        candidates: int,
        aligner: Aligner | None = None,
        story_neighbours: int = 20,
        index: NeighbourIndex | ShardSearch | None = None,
    ):
        self.table = table
        self.items, self.ids, self.pos = table.items, table.ids, table.pos
        self.chars, self.days, self.article = table.chars, table.days, table.article
        self.x = table.x
        self.aligner = aligner
        self.fresh = np.asarray(fresh, dtype=bool)
        if len(self.fresh) != len(table):
            raise ValueError(f"{len(self.fresh)} fresh flags for {len(table)} items")
        self.dp, self.sp, self.candidates = dparams, sparams, candidates
        self.story_neighbours = story_neighbours
        self.stored = np.flatnonzero(~self.fresh)
        self._fresh_found: tuple[dict[int, int], list[list[str]], np.ndarray] | None = None  # see _stored_nbrs
        if index is not None:
            self.index = index
        else:
            self.index = NeighbourIndex(self.x.shape[1] if self.x.size else None)
            if len(self.stored):
                self.index.add([self.ids[s] for s in self.stored], self.x[self.stored])

    @classmethod
    def of(
        cls,
        items: Sequence[Item],
        centred: np.ndarray,
        fresh: Sequence[bool],
        dparams: DuplicateParams,
        sparams: StoryParams,
        candidates: int,
        aligner: Aligner | None = None,
        story_neighbours: int = 20,
        features: Sequence[TextFeatures] | None = None,
        index: NeighbourIndex | ShardSearch | None = None,
    ) -> Placer:
        """A placer over ``items`` and their ``centred`` vectors (a table built here)."""
        table = ItemTable(items, centred, sparams, features)
        return cls(table, fresh, dparams, sparams, candidates, aligner, story_neighbours, index)

    def _stored_nbrs(self, rows: Sequence[int] | np.ndarray, k: int) -> tuple[list[list[int]], np.ndarray]:
        """The ``k`` nearest stored items of ``rows`` (positions) and their similarities.
        The new items' are searched once, with the largest k asked of them (for the
        duplicates, the stories, the teasers), where the index searches exactly: the
        first k of those are then what a search with k gives."""
        if not len(rows) or not len(self.index) or k == 0:
            return [[] for _ in rows], np.zeros((len(rows), 0), np.float32)
        rows = [int(r) for r in rows]
        if self.index.exact and k <= max(self.dp.neighbours, self.candidates) and self.fresh[rows].all():
            if self._fresh_found is None:
                fresh = np.flatnonzero(self.fresh)
                ids, sims = self.index.query(self.x[fresh], max(self.dp.neighbours, self.candidates))
                self._fresh_found = ({int(g): r for r, g in enumerate(fresh)}, ids, sims)
            at, found, sims = self._fresh_found
            picked = [at[r] for r in rows]
            return [[self.pos[i] for i in found[p][:k]] for p in picked], sims[picked, :k]
        ids, sims = self.index.query(self.x[rows], k)
        return [[self.pos[i] for i in row] for row in ids], sims

    def _stored_table(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_stored_nbrs` as arrays of positions and similarities (-1 / -inf: none)."""
        nbrs, sims = self._stored_nbrs(rows, k)
        idx = np.full(sims.shape, -1, dtype=np.int64)
        for r, row in enumerate(nbrs):
            idx[r, : len(row)] = row
        return idx, sims

    def _neighbours(self, fresh: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` nearest live items (positions, -1 padding) of each new item and of
        each stored item among those, as one search over all would give them: stored
        ones through the index, new ones by a search among the new, merged by
        :func:`~clusterer.neighbours.top_k`. Returns the rows' positions (the new
        items, then the stored ones they reach), and their neighbours and similarities."""

        def merged(rows: np.ndarray, stored: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray], own):
            new_idx = np.where(new[0] >= 0, fresh[np.maximum(new[0], 0)], -1)
            return top_k(np.hstack([stored[0], new_idx]), np.hstack([stored[1], new[1]]), k, own)

        f_idx, f_sim = merged(
            fresh, self._stored_table(fresh, k), knn(self.x[fresh], min(k, max(len(fresh) - 1, 1))), None
        )
        touched = np.array(sorted({int(j) for j in f_idx.ravel() if j >= 0 and not self.fresh[j]}), dtype=np.int64)
        if not len(touched):
            return fresh, f_idx, f_sim
        # a stored row finds itself in the index: one more, then left out
        t_idx, t_sim = merged(
            touched, self._stored_table(touched, k + 1), knn_between(self.x[touched], self.x[fresh], k), touched
        )
        return np.concatenate([fresh, touched]), np.vstack([f_idx, t_idx]), np.vstack([f_sim, t_sim])

    def place(self, stories: Groups, dups: Groups, events: Groups | None = None) -> None:
        events = events if events is not None else Groups({}, event_id, 1)
        fresh = np.flatnonzero(self.fresh)
        if len(fresh):
            self._duplicates(fresh, dups)
            self._stories(fresh, stories, dups, events)
        # groups kept from a run before (Groups.begin) met these rules then: only
        # those the run changed are looked at
        for gid in [g for g in _looked_at(dups) if len(dups.members[g]) < 2]:
            dups.drop(gid)
        for gid in [
            g
            for g in _looked_at(stories)
            if sum(self.article[self.pos[i]] for i in stories.members[g]) < self.sp.min_articles
        ]:
            stories.drop(gid)
        # an item in no story, and a teaser, has no event
        maybe = events.of if events.moved is None or stories.moved is None else events.moved | stories.moved
        for item in [i for i in maybe if i in events.of and (i not in stories.of or not self.article[self.pos[i]])]:
            events.discard(item)

    # -- duplicates -----------------------------------------------------------
    def _duplicates(self, fresh: np.ndarray, dups: Groups) -> None:
        k = max(self.dp.neighbours, 1)
        # rows for new items and the stored items they touch; their other neighbours
        # are in the local universe too (without rows), so evidence that looks at
        # neighbour lists (e.g. best match per language) sees the true lists
        with_rows, idx, sims = self._neighbours(fresh, k)
        outer = sorted(set(idx[idx >= 0].tolist()) - set(with_rows.tolist()))
        local = with_rows.tolist() + outer
        at = np.full(len(self.items), -1, dtype=np.int64)
        at[local] = np.arange(len(local))
        nbr_idx = np.full((len(local), k), -1, dtype=np.int64)
        nbr_sim = np.full((len(local), k), -np.inf, dtype=np.float32)
        nbr_idx[: len(with_rows)] = np.where(idx >= 0, at[np.maximum(idx, 0)], -1)
        nbr_sim[: len(with_rows)] = sims
        features = self.table.features_of(local)
        langs = [self.items[g].lang for g in local]
        # pairs that bring a new item in found groups; stored pairs were judged on their night
        groups, _ = find_duplicates(
            nbr_idx,
            nbr_sim,
            features,
            langs,
            [bool(self.article[g]) for g in local],
            self.dp,
            with_evidence=False,
            vectors=self.x[local],
            aligner=self.aligner,
            founding=lambda i, j: bool(self.fresh[local[i]] or self.fresh[local[j]]),
        )
        comps = [[self.ids[local[p]] for p in g] for g in groups]
        for comp in sorted(comps, key=min):
            olds = {dups.of[i] for i in comp if i in dups.of}
            gid = dups.merge(olds) if olds else dups.new([])
            dups.add(comp, gid)

    # -- stories and events ----------------------------------------------------
    def _articles(self, stories: Groups, gid: str) -> list[int]:
        return sorted(self.pos[i] for i in stories.members[gid] if self.article[self.pos[i]])

    def _stories(self, fresh: np.ndarray, stories: Groups, dups: Groups, events: Groups) -> None:
        """Tonight's articles placed as the batch run places them, event first
        (:func:`~clusterer.stories.threads.link_stories`): each joins the stored event
        whose articles it is closest to on average, with the events' date width, where
        that reaches the cut, and so that event's story; a duplicate group holds
        together in one story and one event; the rest, with the unassigned stored
        articles next to them, form events and stories by the batch run's linkage, and
        each story so formed continues the stored story its events thread to
        (:meth:`_threads`). Then the teasers."""
        sp = self.sp
        arts = [int(g) for g in fresh if self.article[g]]
        nbrs, _ = self._stored_nbrs(arts, self.candidates)
        for r, g in enumerate(arts):
            best: tuple[float, str] | None = None
            for e in sorted({events.of[self.ids[j]] for j in nbrs[r] if self.ids[j] in events.of}, key=id_number):
                rows = [self.pos[i] for i in sorted(events.members[e])]
                days = [self.days[k] for k in rows]
                v = float(cross_similarity(self.table.xs([g]), [self.days[g]], self.table.xs(rows), days, sp).mean())
                if v >= sp.threshold and (best is None or v > best[0]):
                    best = (v, e)
            if best is not None:
                item = self.ids[g]
                anchor = min(i for i in events.members[best[1]] if i in stories.of)
                events.add([item], best[1])
                stories.add([item], stories.of[anchor])
        # a duplicate group lives in one story and one event (as merge_groups does in the batch)
        for gid in sorted({dups.of[self.ids[g]] for g in arts if self.ids[g] in dups.of}, key=id_number):
            members = sorted(dups.members[gid])
            found = {stories.of[i] for i in members if i in stories.of}
            if found:
                stories.add(members, stories.merge(found))
                held = {events.of[i] for i in members if i in events.of}
                events.add(members, events.merge(held) if held else events.new([]))
        new = self._new_stories([g for g in arts if self.ids[g] not in stories.of], nbrs, arts, stories, dups, events)
        self._threads(new, nbrs, arts, stories, events)
        self._teasers([int(g) for g in fresh if not self.article[g]], stories)
        # stored teasers that were noise, next to tonight's articles: their story may
        # have formed or grown tonight, so they get the same chance as new teasers
        self._teasers(
            sorted(
                {
                    j
                    for row in nbrs
                    for j in row
                    if not self.article[j] and not self.fresh[j] and self.ids[j] not in stories.of
                }
            ),
            stories,
        )

    def _new_stories(self, loose: list[int], nbrs, arts, stories: Groups, dups: Groups, events: Groups) -> list[str]:
        """The batch run's linkage (:func:`~clusterer.stories.threads.link_stories` over
        the same neighbour search) among the unplaced new articles and the unassigned
        stored articles next to them; a cluster with a new article and enough articles
        is a story, with the events the linkage gave it. Returns the new stories' ids."""
        if not loose:
            return []
        near = {g: r for r, g in enumerate(arts)}
        gathered = set(loose)
        for g in loose:
            gathered.update(j for j in nbrs[near[g]] if self.article[j] and self.ids[j] not in stories.of)
        for g in list(gathered):
            gid = dups.of.get(self.ids[g])
            if gid:
                gathered.update(self.pos[i] for i in dups.members[gid] if i not in stories.of)
        pool = sorted(gathered)
        at = {g: p for p, g in enumerate(pool)}
        groups: dict[str, list[int]] = {}
        for g in pool:
            gid = dups.of.get(self.ids[g])
            if gid:
                groups.setdefault(gid, []).append(at[g])
        x = self.x[pool]
        nbr_idx, nbr_sim = knn(x, max(self.dp.neighbours, self.story_neighbours, 1))  # k as the batch run's
        linked = link_stories(
            x,
            [self.chars[g] for g in pool],
            [self.days[g] for g in pool],
            nbr_idx,
            nbr_sim,
            self.sp,
            [v for v in groups.values() if len(v) > 1],
            [f.names for f in self.table.features_of(pool)],
        )
        clusters: dict[int, list[int]] = {}
        event_of = {}
        for g, lab, ev in zip(pool, linked.stories, linked.events):
            clusters.setdefault(int(lab), []).append(g)
            event_of[g] = int(ev)
        found = [c for c in clusters.values() if len(c) >= self.sp.min_articles and any(self.fresh[g] for g in c)]
        new = []
        for c in sorted(found, key=lambda c: (-len(c), min(self.ids[g] for g in c))):
            new.append(stories.new([self.ids[g] for g in c]))
            parts: dict[int, list[str]] = {}
            for g in c:
                parts.setdefault(event_of[g], []).append(self.ids[g])
            for members in sorted(parts.values(), key=min):
                events.new(members)
        return new

    def _threads(self, new: list[str], nbrs, arts, stories: Groups, events: Groups) -> None:
        """Each story formed tonight continues the stored story next to it whose events
        its own events thread to, as the batch run's threads join events: the average
        of :class:`~clusterer.stories.threads.EventSimilarity` over the two stories'
        events reaches ``thread_threshold`` (the highest such story; names weighted
        over the events compared). A stored story's articles without an event (a state
        from before events, until its rebuild) count as one event."""
        if not new:
            return
        near = {g: r for r, g in enumerate(arts)}
        fresh_ids = set(new)
        candidates: dict[str, list[str]] = {}
        for sid in new:
            found: set[str] = set()
            for i in stories.members[sid]:
                r = near.get(self.pos[i])
                if r is not None:
                    found.update(stories.of[self.ids[j]] for j in nbrs[r] if self.ids[j] in stories.of)
            candidates[sid] = sorted(found - fresh_ids, key=id_number)
        involved = sorted(set(new).union(*candidates.values()), key=id_number)
        if len(involved) == len(new):
            return
        rows: list[int] = []
        labels: list[int] = []
        events_of: dict[str, list[int]] = {}  # story -> its events' numbers in the summaries
        for sid in involved:
            parts: dict[str, list[int]] = {}
            for i in sorted(stories.members[sid]):
                if self.article[self.pos[i]]:
                    parts.setdefault(events.of.get(i, ""), []).append(self.pos[i])
            for members in parts.values():
                number = labels[-1] + 1 if labels else 0
                events_of.setdefault(sid, []).append(number)
                rows.extend(members)
                labels.extend([number] * len(members))
        centroids, median, pooled = event_summaries(
            self.table.xs(rows),
            [self.days[r] for r in rows],
            [f.names for f in self.table.features_of(rows)],
            np.array(labels),
        )
        sim = EventSimilarity(centroids, list(median), pooled, self.sp)
        for sid in new:
            best: tuple[float, str] | None = None
            for other in candidates[sid]:
                v = float(sim.block(events_of[sid], events_of[other]).mean())
                if v >= self.sp.thread_threshold and (best is None or v > best[0]):
                    best = (v, other)
            if best is not None:
                stories.merge([stories.find(sid), stories.find(best[1])])

    def _teasers(self, teasers: list[int], stories: Groups) -> None:
        """Each new teaser joins the story it is clearly closest to (attach_teasers), among
        the stories of its nearest items; teasers never found stories."""
        if not teasers or not stories.members:
            return
        nbrs, _ = self._stored_nbrs(teasers, self.candidates)
        placed = [self.pos[i] for i in stories.late if self.fresh[self.pos[i]]]  # in stories.of's order
        for r, t in enumerate(teasers):
            near = list(nbrs[r])
            if placed:
                sims = self.x[placed] @ self.x[t]
                near += [placed[p] for p in np.argsort(-sims, kind="stable")[: self.candidates]]
            cand = sorted({stories.of[self.ids[j]] for j in near if self.ids[j] in stories.of}, key=id_number)
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


def _looked_at(groups: Groups) -> list[str]:
    """The ids of ``groups`` whose members the run changed (all where not tracked) and that hold members still."""
    if groups.changed is None:
        return list(groups.members)
    return sorted(g for g in groups.changed if g in groups.members)
