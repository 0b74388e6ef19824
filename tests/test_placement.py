"""The nightly Placer on synthetic vectors: its new stories are the batch run's
linkage, its neighbour lists one search over all live items."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from clusterer.duplicates import DuplicateParams
from clusterer.neighbours import knn
from clusterer.nightly.placement import Groups, Placer, dup_id, story_id
from clusterer.records import ARTICLE, Item, day_number, embedding_text
from clusterer.stories.similarity import StoryParams
from clusterer.stories.threads import link_stories


def corpus(n: int = 150, dim: int = 48, topics: int = 5, noise: float = 0.9, seed: int = 0):
    """Articles with distinct random wording (no duplicates), lengths from a line
    to a page, dates over two months, and vectors around a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim))
    truth = rng.integers(0, topics, n)
    x = centres[truth] + noise * rng.standard_normal((n, dim))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    start = dt.date(2024, 1, 1)
    items = []
    for i in range(n):
        words = " ".join(f"w{v}" for v in rng.integers(0, 10**9, int(rng.integers(8, 300))))
        date = (start + dt.timedelta(days=int(truth[i]) * 9 + int(rng.integers(0, 20)))).isoformat()
        items.append(Item(id=f"a{i:03d}", doc=f"a{i:03d}", kind=ARTICLE, text=words, lang="en", date=date))
    return items, x


def batch_stories(items, x, params: StoryParams, dparams: DuplicateParams) -> set:
    """The batch run's stories over ``items`` (no duplicates among them)."""
    idx, sims = knn(x, max(dparams.neighbours, 20))
    chars = [len(embedding_text(it)) for it in items]
    labels = link_stories(x, chars, [day_number(it.date) for it in items], idx, sims, params).stories
    members: dict = {}
    for it, lab in zip(items, labels):
        members.setdefault(int(lab), set()).add(it.id)
    return {frozenset(m) for m in members.values() if len(m) >= params.min_articles}


@pytest.mark.parametrize("seed", range(3))
def test_new_stories_are_the_batch_linkage(seed):
    items, x = corpus(seed=seed)
    params, dparams = StoryParams(), DuplicateParams()
    stories, dups = Groups({}, story_id, 1), Groups({}, dup_id, 1)
    Placer.of(items, x, [True] * len(items), dparams, params, candidates=30).place(stories, dups)
    assert not dups.members
    got = {frozenset(m) for m in stories.members.values()}
    expected = batch_stories(items, x, params, dparams)
    assert len(expected) >= 3 and max(len(s) for s in expected) > 21  # more than one kNN row: a sparse graph
    assert got == expected


def test_new_stories_leave_placed_articles_alone():
    """Articles of tonight that join a stored story are not pooled again: the rest
    form the stories the batch linkage gives them."""
    items, x = corpus(n=120, seed=7)
    params, dparams = StoryParams(), DuplicateParams()
    stored = np.zeros(len(items), dtype=bool)
    stored[::2] = True  # every other article is stored, all noise so far
    stories, dups = Groups({}, story_id, 1), Groups({}, dup_id, 1)
    Placer.of(items, x, ~stored, dparams, params, candidates=30).place(stories, dups)
    for members in stories.members.values():
        assert any(not stored[int(i[1:])] for i in members)  # every story has a new article
    assert stories.next_number - 1 == len(stories.members)  # new ids only, none merged


@pytest.mark.parametrize("seed", range(3))
def test_neighbour_lists_are_one_search_over_all_live_items(seed):
    items, x = corpus(n=200, seed=seed)
    rng = np.random.default_rng(seed)
    fresh = rng.random(len(items)) < 0.3
    placer = Placer.of(items, x, fresh, DuplicateParams(), StoryParams(), candidates=30)
    k = 10
    rows, idx, sims = placer._neighbours(np.flatnonzero(fresh), k)
    want_idx, want_sims = knn(x, k)
    assert np.array_equal(rows[: fresh.sum()], np.flatnonzero(fresh))
    touched = sorted({int(j) for j in want_idx[fresh].ravel() if not fresh[j]})
    assert rows[fresh.sum() :].tolist() == touched
    assert np.array_equal(idx, want_idx[rows])
    assert np.allclose(sims, want_sims[rows], atol=1e-6)


def test_new_stories_follow_the_neighbour_graph_as_the_batch_run_does():
    """Two tight groups of ten at cosine 0.5 from each other, on one day: the
    articles' linkage with five neighbours an item sees no edge between them and
    keeps two events; the events' own neighbour graph joins them into one story
    (their centroids are 0.5 alike, above the thread cut). Tonight's new articles
    get the batch run's answer, computed here with the same neighbour count."""
    rng = np.random.default_rng(1)
    u, v = np.linalg.qr(rng.standard_normal((16, 2)))[0].T
    centres = [u, 0.5 * u + np.sqrt(0.75) * v]
    x = np.stack([centres[i // 10] + 0.05 * rng.standard_normal(16) for i in range(20)])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    items = [
        Item(
            id=f"a{i:02d}", doc=f"a{i:02d}", kind=ARTICLE, text=f"report {i} " + "x" * 40, lang="en", date="2024-03-01"
        )
        for i in range(20)
    ]
    params, dparams = StoryParams(), DuplicateParams(neighbours=5)
    assert (x[:10] @ x[10:].T).mean() > params.threshold  # one story by the dense rule
    stories, dups = Groups({}, story_id, 1), Groups({}, dup_id, 1)
    Placer.of(items, x, [True] * 20, dparams, params, candidates=30, story_neighbours=5).place(stories, dups)
    got = sorted(sorted(m) for m in stories.members.values())
    idx, sims = knn(x, 5)
    linked = link_stories(
        x, [len(embedding_text(it)) for it in items], [day_number(it.date) for it in items], idx, sims, params
    )
    assert len(set(linked.events[:10])) == 1 and len(set(linked.events[10:])) == 1
    assert linked.events[0] != linked.events[10]  # two events ...
    assert got == [[f"a{i:02d}" for i in range(20)]] and len(set(linked.stories)) == 1  # ... one story
