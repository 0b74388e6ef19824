"""Placing a night's new items among the stored ones, with stable ids.

:class:`Placer` scores each new or changed item against its stored nearest
neighbours only (a :class:`~clusterer.neighbours.NeighbourIndex` over the
stored items), so a night costs (new items) x (neighbours, story sizes), not
the square of the archive. Every rule is the batch pipeline's: pairs are judged
by :meth:`PairEvidence.is_duplicate` on evidence from
:func:`~clusterer.duplicates.find_duplicates`; stories use
:class:`~clusterer.stories.similarity.StoryParams`, the damped similarity, average
linkage, :func:`~clusterer.stories.similarity.merge_groups` and
:func:`~clusterer.stories.similarity.attach_teasers`.

:class:`Groups` keeps the story or duplicate-group ids while a night changes
them (new ids from a counter, merges keep the larger group's id), and
:func:`map_by_overlap` gives the clusters of a full run the stored ids they
overlap most. Nothing here reads or writes the state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..align import Aligner
from ..duplicates import DuplicateParams, TextFeatures, find_duplicates
from ..neighbours import NeighbourIndex, knn
from ..records import ARTICLE, Item, day_number, embedding_text
from ..stories.linkage import average_linkage, merge_groups
from ..stories.similarity import StoryParams, length_scale, similarity_matrix, time_weights
from ..stories.teasers import attach_teasers
from .changes import Merge, Split

STORY_PREFIX, DUP_PREFIX = "S", "D"


def story_id(number: int) -> str:
    return f"{STORY_PREFIX}{number:06d}"


def dup_id(number: int) -> str:
    return f"{DUP_PREFIX}{number:06d}"


def id_number(gid: str) -> int:
    """The number of a story or duplicate-group id (``S000012`` -> 12)."""
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


@dataclass
class Assignment:
    """Story and duplicate group per item id (absent: none)."""

    story: dict[str, str]
    dup: dict[str, str]


class Groups:
    """Ids of one kind (stories or duplicate groups) while a night changes them.

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
        gids = sorted({self.find(g) for g in gids}, key=lambda g: (-len(self.members[g]), id_number(g)))
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

    def merge_list(self) -> list[Merge]:
        return [
            Merge(into, sorted(losers, key=id_number))
            for into, losers in sorted(self.merged.items(), key=lambda kv: id_number(kv[0]))
            if into in self.members
        ]


def cross_similarity(a: np.ndarray, days_a, b: np.ndarray, days_b, params: StoryParams) -> np.ndarray:
    """The block rows ``a`` x columns ``b`` of :func:`similarity_matrix` over ``a + b``."""
    sims = a @ b.T
    w = time_weights(list(days_a) + list(days_b), params)
    if w is not None:
        sims = sims * w[: len(a), len(a) :]
    return sims


class Placer:
    """Places the fresh items among stored ones (both given as centred vectors).

    Stored items are searched through a :class:`NeighbourIndex`, so a night's
    cost grows with (new items) x (neighbours, story sizes), not with the
    square of the archive.
    """

    def __init__(
        self,
        items: Sequence[Item],
        centred: np.ndarray,
        fresh: Sequence[bool],
        dparams: DuplicateParams,
        sparams: StoryParams,
        candidates: int,
        aligner: Aligner | None = None,
    ):
        self.items = list(items)
        self.aligner = aligner
        self.ids = [it.id for it in self.items]
        self.pos = {i: k for k, i in enumerate(self.ids)}
        self.x = centred
        # the vectors story similarities are taken from (length-scaled, see length_scale)
        self.xs = centred * length_scale([len(embedding_text(it)) for it in self.items], sparams)[:, None]
        self.fresh = np.array(fresh, dtype=bool)
        self.article = np.array([it.kind == ARTICLE for it in self.items], dtype=bool)
        self.days = [day_number(it.date) for it in self.items]
        self.dp, self.sp, self.candidates = dparams, sparams, candidates
        self.stored = np.flatnonzero(~self.fresh)
        self.index = NeighbourIndex(centred.shape[1] if centred.size else None)
        if len(self.stored):
            self.index.add([self.ids[s] for s in self.stored], centred[self.stored])

    def _stored_nbrs(self, rows: Sequence[int] | np.ndarray, k: int) -> tuple[list[list[int]], np.ndarray]:
        if not len(rows) or not len(self.index) or k == 0:
            return [[] for _ in rows], np.zeros((len(rows), 0), np.float32)
        ids, sims = self.index.query(self.x[list(rows)], k)
        return [[self.pos[i] for i in row] for row in ids], sims

    def place(self, stories: Groups, dups: Groups) -> None:
        fresh = np.flatnonzero(self.fresh)
        if len(fresh):
            self._duplicates(fresh, dups)
            self._stories(fresh, stories, dups)
        for gid in [g for g, m in dups.members.items() if len(m) < 2]:
            dups.drop(gid)
        for gid in [
            g for g, m in stories.members.items() if sum(self.article[self.pos[i]] for i in m) < self.sp.min_articles
        ]:
            stories.drop(gid)

    # -- duplicates -----------------------------------------------------------
    def _duplicates(self, fresh: np.ndarray, dups: Groups) -> None:
        k = max(self.dp.neighbours, 1)
        rows: dict[int, list[tuple[float, int]]] = {}
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
        features = [TextFeatures.of(embedding_text(self.items[g]), self.items[g].lang, self.dp) for g in local]
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

    # -- stories ---------------------------------------------------------------
    def _mean_sims(self, rows: Sequence[int], members: Sequence[int]) -> np.ndarray:
        sims = cross_similarity(
            self.xs[list(rows)],
            [self.days[r] for r in rows],
            self.xs[list(members)],
            [self.days[m] for m in members],
            self.sp,
        )
        return sims.mean(axis=1)

    def _articles(self, stories: Groups, gid: str) -> list[int]:
        return sorted(self.pos[i] for i in stories.members[gid] if self.article[self.pos[i]])

    def _stories(self, fresh: np.ndarray, stories: Groups, dups: Groups) -> None:
        sp = self.sp
        arts = [int(g) for g in fresh if self.article[g]]
        nbrs, _ = self._stored_nbrs(arts, self.candidates)
        cands: dict[str, list[int]] = {}
        for r, g in enumerate(arts):
            for s in {stories.of[self.ids[j]] for j in nbrs[r] if self.ids[j] in stories.of}:
                cands.setdefault(s, []).append(g)
        score: dict[int, dict[str, float]] = {g: {} for g in arts}
        for s in sorted(cands, key=id_number):
            for g, v in zip(cands[s], self._mean_sims(cands[s], self._articles(stories, s))):
                score[g][s] = float(v)
        choice = {}
        for g in arts:
            ok = [(v, s) for s, v in score[g].items() if v >= sp.threshold]
            if ok:
                choice[g] = min(ok, key=lambda t: (-t[0], id_number(t[1])))[1]
        for g, s in sorted(choice.items()):
            stories.add([self.ids[g]], stories.find(s))
        # a duplicate group lives in one story (as merge_groups does in the batch)
        for gid in sorted({dups.of[self.ids[g]] for g in arts if self.ids[g] in dups.of}, key=id_number):
            members = sorted(dups.members[gid])
            found = {stories.of[i] for i in members if i in stories.of}
            if found:
                stories.add(members, stories.merge(found))
        # a new article that clearly belongs to two stories bridges them (average linkage)
        for g in sorted(choice):
            for other, v in sorted(score[g].items(), key=lambda kv: id_number(kv[0])):
                a, b = stories.of[self.ids[g]], stories.find(other)
                if a == b or v < sp.threshold:
                    continue
                a_arts, b_arts = self._articles(stories, a), self._articles(stories, b)
                if self._mean_sims(a_arts, b_arts).mean() >= sp.threshold:
                    stories.merge([a, b])
        self._new_stories([g for g in arts if self.ids[g] not in stories.of], nbrs, arts, stories, dups)
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

    def _new_stories(self, loose: list[int], nbrs, arts, stories: Groups, dups: Groups) -> None:
        """Average linkage among the unplaced new articles and the unassigned stored
        articles next to them; a cluster with a new article and enough articles is a story."""
        if not loose:
            return
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
        sims = similarity_matrix(self.xs[pool], [self.days[g] for g in pool], self.sp)
        labels = average_linkage(sims, self.sp.threshold)
        groups: dict[str, list[int]] = {}
        for g in pool:
            gid = dups.of.get(self.ids[g])
            if gid:
                groups.setdefault(gid, []).append(at[g])
        labels = merge_groups(labels, [v for v in groups.values() if len(v) > 1])
        clusters: dict[int, list[int]] = {}
        for g, lab in zip(pool, labels):
            clusters.setdefault(int(lab), []).append(g)
        found = [c for c in clusters.values() if len(c) >= self.sp.min_articles and any(self.fresh[g] for g in c)]
        for c in sorted(found, key=lambda c: (-len(c), min(self.ids[g] for g in c))):
            stories.new([self.ids[g] for g in c])

    def _teasers(self, teasers: list[int], stories: Groups) -> None:
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
