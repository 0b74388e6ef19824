"""Teasers join stories: a teaser (a "related articles" blurb split off a page)
never founds a story; it joins the one it is clearly closest to, or is noise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..neighbours import knn_between
from .similarity import StoryParams


def attach_teasers(
    teaser_vecs: np.ndarray,
    article_vecs: np.ndarray,
    article_labels: np.ndarray,
    story_labels: Sequence[int],
    params: StoryParams,
    neighbours: int = 30,
    nearest: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[int | None]:
    """For each teaser, the story label it joins, or None (noise).

    A teaser's similarity to a story is its mean similarity to the story's
    articles, from its ``neighbours`` nearest articles (an article further away
    counts as 0, as in the sparse linkage), so the cost does not grow with
    teasers x articles. ``nearest`` is that search's answer when the caller
    already has it, ``knn_between(teaser_vecs, article_vecs, neighbours)`` (e.g.
    from an index over the articles it built anyway): the search is then skipped."""
    n = len(teaser_vecs)
    if n == 0:
        return []
    if not len(story_labels):
        return [None] * n
    kept = set(int(lab) for lab in story_labels)
    sizes = np.bincount(article_labels)
    if nearest is None:
        nearest = knn_between(teaser_vecs, article_vecs, min(neighbours, len(article_vecs)))
    idx, sims = nearest
    out: list[int | None] = []
    for row_idx, row_sim in zip(idx, sims):
        totals: dict[int, float] = {}
        for j, s in zip(row_idx, row_sim):
            if j < 0:
                continue
            lab = int(article_labels[j])
            if lab in kept:
                totals[lab] = totals.get(lab, 0.0) + float(s)
        ranked = sorted(((t / sizes[lab], lab) for lab, t in totals.items()), key=lambda x: (-x[0], x[1]))
        best, label = ranked[0] if ranked else (-1.0, None)
        second = ranked[1][0] if len(ranked) > 1 else 0.0
        if label is not None and best >= params.teaser_threshold and best - second >= params.teaser_margin:
            out.append(label)
        else:
            out.append(None)
    return out
