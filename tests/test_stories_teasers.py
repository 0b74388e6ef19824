"""attach_teasers with the articles nearest each teaser given by the caller."""

import numpy as np

from clusterer.neighbours import knn_between
from clusterer.stories.similarity import StoryParams
from clusterer.stories.teasers import attach_teasers


def test_given_neighbours_give_the_same_answer_without_a_search(monkeypatch):
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((5, 16))
    arts = np.repeat(centres, 6, axis=0) + 0.3 * rng.standard_normal((30, 16))
    arts /= np.linalg.norm(arts, axis=1, keepdims=True)
    labels = np.repeat(np.arange(5), 6)
    teasers = centres[rng.integers(0, 5, 12)] + 0.4 * rng.standard_normal((12, 16))
    teasers /= np.linalg.norm(teasers, axis=1, keepdims=True)
    kept = [0, 1, 2, 4]
    want = attach_teasers(teasers, arts, labels, kept, StoryParams(), neighbours=10)
    nearest = knn_between(teasers, arts, 10)

    def no_search(*a, **kw):
        raise AssertionError("searched although the neighbours were given")

    monkeypatch.setattr("clusterer.stories.teasers.knn_between", no_search)
    got = attach_teasers(teasers, arts, labels, kept, StoryParams(), neighbours=10, nearest=nearest)
    assert got == want
    assert any(lab is not None for lab in got)
