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
Those are the rules of an *event* (``time_scale_days`` of 3: one occurrence,
reported within days); stories are threads of events (:mod:`clusterer.stories.threads`).
Stories are founded by articles only: a teaser joins the story it is clearly
closest to, or is noise. A group smaller than ``min_articles`` is noise too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StoryParams:
    threshold: float = 0.30  # average centred cosine that keeps a story together
    long_threshold: float | None = 0.25  # ... between two full articles (None: as short texts)
    short_chars: int = 400  # texts this short or shorter: ``threshold``
    long_chars: int = 1500  # texts this long or longer: ``long_threshold``
    time_scale_days: float | None = 3.0  # sigma of the date-gap Gaussian between two articles (events: one
    # occurrence, reported within days); None: ignore dates
    time_floor: float = 0.0  # the damping never goes below this factor
    min_articles: int = 2  # fewer articles than this: noise, not a story
    teaser_threshold: float = 0.45  # a teaser's mean similarity to a story's articles
    teaser_margin: float = 0.10  # ... and its lead over the next story
    # stories as threads of events (clusterer.stories.threads): two events' average article similarity,
    # times a weak time prior (a Gaussian of ``thread_time_scale_days`` lifted to ``thread_time_floor``)
    # raised by the names they share (``thread_names`` x their weighted overlap), cut at ``thread_threshold``
    thread_threshold: float = 0.32
    thread_time_scale_days: float | None = 60.0
    thread_time_floor: float = 0.10
    thread_names: float = 2.0


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


def day_array(days: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """Day numbers as float64, NaN where a date is unknown (None or NaN given)."""
    if isinstance(days, np.ndarray) and days.dtype.kind == "f":
        return days.astype(np.float64, copy=False)
    return np.array([np.nan if d is None else d for d in days], dtype=np.float64)


def damping(gap_days: np.ndarray, params: StoryParams) -> np.ndarray:
    """The date-gap factor of story similarities, for an array of gaps in days:
    a Gaussian of width ``time_scale_days`` lifted to ``time_floor``, 1 where
    the gap is NaN (either date unknown) or ``time_scale_days`` is None.

    The one place this rule is written: :func:`cross_similarity` (and so the
    dense matrices), the kNN graph and :class:`~clusterer.stories.linkage.VectorSimilarity`
    all apply it."""
    return gaussian_prior(gap_days, params.time_scale_days, params.time_floor)


def gaussian_prior(gap_days: np.ndarray, scale: float | None, floor: float) -> np.ndarray:
    """A Gaussian of width ``scale`` days over date gaps, lifted to ``floor``; 1 where
    the gap is NaN (a date unknown) or ``scale`` is None. The shape of every time
    rule: the articles' :func:`damping` and the story threads' prior
    (:mod:`clusterer.stories.threads`)."""
    gap = np.asarray(gap_days, dtype=np.float64)
    if scale is None:
        return np.ones_like(gap)
    w = np.asarray(floor + (1.0 - floor) * np.exp(-(gap**2) / (2.0 * scale**2)))
    w[np.isnan(w)] = 1.0
    return w


def cross_similarity(
    a: np.ndarray, days_a: Sequence[float | None], b: np.ndarray, days_b: Sequence[float | None], params: StoryParams
) -> np.ndarray:
    """Story similarities of the rows of ``a`` to the rows of ``b`` (vectors as
    given, e.g. centred and length-scaled): dot products, damped by the date gap.

    Undamped (the dot products' own float32) when there is nothing to damp: no
    time scale, or no date on either side. The block rows ``a`` x columns ``b``
    of :func:`similarity_matrix` over ``a + b``."""
    sims = a @ b.T
    if params.time_scale_days is None:
        return sims
    ta, tb = day_array(days_a), day_array(days_b)
    if np.isnan(ta).all() and np.isnan(tb).all():
        return sims
    return sims * damping(np.abs(ta[:, None] - tb[None, :]), params)


def similarity_matrix(vectors: np.ndarray, days: Sequence[float | None], params: StoryParams) -> np.ndarray:
    """Story similarities of every pair of ``vectors`` (n x n: for small sets and tests)."""
    return cross_similarity(vectors, days, vectors, days, params)
