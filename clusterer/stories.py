"""Stories: articles grouped by average-linkage clustering, teasers attached after.

Similarity between two articles is the cosine of their language-centred
vectors, damped by a Gaussian on the gap between their dates when both have
one (Miranda et al. 2018 use the same shape of time feature). Clusters are cut
where the average similarity between two groups falls below ``threshold``.
Full articles cover more ground than one-sentence summaries, and two reports
of one story written days apart share less of it: between two texts of
``long_chars`` or more the cut is ``long_threshold`` instead (between
``short_chars`` and ``long_chars`` it moves in proportion; see
:func:`length_scale`).
Stories are founded by articles only: a teaser joins the story it is clearly
closest to, or is noise. A group smaller than ``min_articles`` is noise too.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from .neighbours import knn_between

_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


@dataclass(frozen=True)
class StoryParams:
    threshold: float = 0.30  # average centred cosine that keeps a story together
    long_threshold: float | None = 0.25  # ... between two full articles (None: as short texts)
    short_chars: int = 400  # texts this short or shorter: ``threshold``
    long_chars: int = 1500  # texts this long or longer: ``long_threshold``
    time_scale_days: float | None = 30.0  # sigma of the date-gap Gaussian; None: ignore dates
    time_floor: float = 0.0  # the damping never goes below this factor
    min_articles: int = 2  # fewer articles than this: noise, not a story
    teaser_threshold: float = 0.45  # a teaser's mean similarity to a story's articles
    teaser_margin: float = 0.10  # ... and its lead over the next story


NO_DATE_YEARS = (1, 9999)


def day_number(date: str | None) -> float | None:
    """Days since 1970 for an ISO date (``2018``, ``2018-12``, ``2018-12-11``, or a datetime).

    A month alone is read as its 15th day, a year alone as 1 July. The years 1
    and 9999 are the ends of the calendar that software writes for "no date"
    (.NET's ``DateTime.MinValue`` and ``MaxValue``): they give None, as no date.
    """
    if not date:
        return None
    text = date.strip()
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.year in NO_DATE_YEARS:
            return None
        if when.tzinfo is not None:
            try:
                when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            except OverflowError:  # the year 1 or 9999 shifted out of range: keep the local time
                when = when.replace(tzinfo=None)
        return (when - _dt.datetime(1970, 1, 1)).total_seconds() / 86400.0
    except ValueError:
        pass
    m = _DATE.match(text)
    if not m:
        return None
    year = int(m.group(1))
    if year in NO_DATE_YEARS:
        return None
    month = int(m.group(2)) if m.group(2) else 7
    day = int(m.group(3)) if m.group(3) else (15 if m.group(2) else 1)
    try:
        return (_dt.date(year, month, day) - _dt.date(1970, 1, 1)).days + 0.0
    except ValueError:
        return None


def length_scale(chars: Sequence[int], params: StoryParams) -> np.ndarray:
    """A factor per article: story similarities are ``cos * s_i * s_j``, cut at
    ``threshold``, which cuts a pair at the geometric mean of the two texts' own
    thresholds (``threshold`` up to ``short_chars``, ``long_threshold`` from
    ``long_chars``, linear in between). All ones where ``long_threshold`` is None."""
    length = np.asarray(chars, dtype=np.float64)
    if params.long_threshold is None or not len(length):
        return np.ones(len(length), dtype=np.float32)
    span = max(params.long_chars - params.short_chars, 1)
    f = np.clip((length - params.short_chars) / span, 0.0, 1.0)
    own = params.threshold + f * (params.long_threshold - params.threshold)
    return np.sqrt(params.threshold / own).astype(np.float32)


def time_weights(days: Sequence[float | None], params: StoryParams) -> np.ndarray | None:
    """Pairwise damping factors from dates, 1 where either date is unknown."""
    if params.time_scale_days is None:
        return None
    t = np.array([np.nan if d is None else d for d in days], dtype=np.float64)
    if np.isnan(t).all():
        return None
    gap = np.abs(t[:, None] - t[None, :])
    w = np.exp(-(gap**2) / (2.0 * params.time_scale_days**2))
    w = params.time_floor + (1.0 - params.time_floor) * w
    w[np.isnan(w)] = 1.0
    return w


def similarity_matrix(vectors: np.ndarray, days: Sequence[float | None], params: StoryParams) -> np.ndarray:
    sims = vectors @ vectors.T
    w = time_weights(days, params)
    if w is not None:
        sims = sims * w
    return sims


def average_linkage(sims: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels (0..k-1, by first member) cutting average linkage at ``threshold``."""
    n = sims.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    dist = np.clip(1.0 - sims, 0.0, None)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    raw = fcluster(tree, t=1.0 - threshold, criterion="distance")
    return _relabel(raw)


def _relabel(raw: Sequence[int] | np.ndarray) -> np.ndarray:
    """Renumber labels by first appearance, so the result does not depend on the library's order."""
    mapping: dict[int, int] = {}
    out = np.empty(len(raw), dtype=np.int64)
    for i, lab in enumerate(raw):
        out[i] = mapping.setdefault(lab, len(mapping))
    return out


def merge_groups(labels: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Put the members of each group (e.g. a duplicate group) in one cluster."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return _relabel(labels)
    parent = np.arange(int(labels.max()) + 1)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for g in groups:
        first = find(int(labels[g[0]]))
        for i in g[1:]:
            other = find(int(labels[i]))
            if other != first:
                parent[max(first, other)] = min(first, other)
                first = min(first, other)
    return _relabel([find(int(lab)) for lab in labels])


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
