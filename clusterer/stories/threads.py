"""Stories as threads of events.

An *event* is one occurrence (a meeting, a landing, a funeral, a verdict), reported
within days: the articles' average linkage with the date-gap width
``StoryParams.time_scale_days`` (:func:`link_stories`).
A *story* is a thread of events over weeks, months or years: a hospital stay, a death,
a funeral and a successor's election; a fire and the reopening of the building five
years later. What carries a thread across such gaps is who and what the events are
about, not their dates, and two threads of one kind (two state visits by different
leaders) differ in exactly that. So the similarity of two events A and B is

    T(A, B) = S(A, B) * min(1, prior(gap) + thread_names * N(A, B))

* ``S``: the average similarity of their articles (centred, length-scaled vectors, as
  the articles' linkage uses them), which is the dot product of the events' centroids;
* ``prior``: time as a weak prior, a Gaussian of the gap between the events' median
  dates (``thread_time_scale_days``) lifted to ``thread_time_floor`` (1 where a date
  is unknown): :func:`~clusterer.stories.similarity.gaussian_prior`;
* ``N``: the names they share (:func:`clusterer.entities.names` of their articles,
  pooled per event: names in Latin letters, transliterations of other scripts), as an
  overlap coefficient weighted by inverse event frequency, so that a name every event
  gives counts for little.

Shared names can lift the time prior back to 1, never above: they do not make two
events alike, they only stop the gap between them from cutting the thread. Events
are joined by average linkage on ``T`` (each event one unit) over the graph of each
event's nearest events, with the exact ``T`` of pairs without an edge
(:class:`EventSimilarity`), cut at ``thread_threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.sparse import csr_matrix

from ..neighbours import knn
from .linkage import VectorSimilarity, _relabel, knn_graph, merge_groups, scaled_rows, sparse_average_linkage
from .similarity import StoryParams, day_array, gaussian_prior, length_scale

__all__ = ["EventSimilarity", "Linked", "link_stories", "thread_events"]

_EDGE_BLOCK = 65_536  # edges scored at a time


def _name_matrix(name_sets: Sequence[frozenset[str]]) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
    """The events' names as a binary sparse matrix (events x names, names in sorted
    order), each name's weight (inverse event frequency, ``log(1 + E / df)``: a name every
    event gives still counts, for little, so that two events alone can share names)
    and each event's total weight."""
    vocab = {name: k for k, name in enumerate(sorted({n for s in name_sets for n in s}))}
    indptr = np.zeros(len(name_sets) + 1, dtype=np.int64)
    cols: list[int] = []
    for e, s in enumerate(name_sets):
        cols.extend(sorted(vocab[n] for n in s))
        indptr[e + 1] = len(cols)
    data = np.ones(len(cols), dtype=np.float64)
    matrix = csr_matrix((data, np.asarray(cols, dtype=np.int64), indptr), shape=(len(name_sets), len(vocab)))
    df = np.bincount(matrix.indices, minlength=len(vocab)).astype(np.float64)
    idf = np.log1p(len(name_sets) / np.maximum(df, 1.0))
    return matrix, idf, np.asarray(matrix @ idf).ravel()


class EventSimilarity(VectorSimilarity):
    """The thread similarity ``T`` of events (see the module docstring), block by block,
    for :func:`~clusterer.stories.linkage.sparse_average_linkage`'s exact averages.

    ``centroids``: the mean of each event's centred, length-scaled article vectors;
    ``days``: each event's median day (None or NaN: unknown); ``names``: each event's
    names (the union of its articles')."""

    def __init__(
        self,
        centroids: np.ndarray,
        days: Sequence[float | None],
        names: Sequence[frozenset[str]],
        params: StoryParams,
    ):
        super().__init__(centroids, days, params)
        if len(names) != len(self.vectors):
            raise ValueError(f"{len(names)} name sets for {len(self.vectors)} events")
        self.names, self.idf, self.weight = _name_matrix(names)

    def _factor(self, sims: np.ndarray, gap: np.ndarray, inter: np.ndarray, smaller: np.ndarray) -> np.ndarray:
        p = self.params
        shared = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
        prior = gaussian_prior(gap, p.thread_time_scale_days, p.thread_time_floor)
        return sims * np.minimum(prior + p.thread_names * shared, 1.0)

    def block(self, rows, cols) -> np.ndarray:
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        sims = (self.vectors[rows] @ self.vectors[cols].T).astype(np.float64)
        gap = np.abs(self.days[rows][:, None] - self.days[cols][None, :])
        inter = (self.names[rows].multiply(self.idf) @ self.names[cols].T).toarray()
        smaller = np.minimum(self.weight[rows][:, None], self.weight[cols][None, :])
        return self._factor(sims, gap, inter, smaller)

    def pairs(self, rows, cols) -> np.ndarray:
        """``T`` of each pair ``(rows[i], cols[i])``."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        out = np.empty(len(rows), dtype=np.float64)
        for lo in range(0, len(rows), _EDGE_BLOCK):
            r, c = rows[lo : lo + _EDGE_BLOCK], cols[lo : lo + _EDGE_BLOCK]
            sims = np.einsum("ij,ij->i", self.vectors[r], self.vectors[c]).astype(np.float64)
            inter = np.asarray(self.names[r].multiply(self.names[c]) @ self.idf).ravel()
            smaller = np.minimum(self.weight[r], self.weight[c])
            out[lo : lo + _EDGE_BLOCK] = self._factor(sims, np.abs(self.days[r] - self.days[c]), inter, smaller)
        return out


def event_summaries(
    vectors: np.ndarray,
    days: Sequence[float | None],
    names: Sequence[frozenset[str]],
    events: np.ndarray,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[frozenset[str]]]:
    """Per event (labels 0..E-1 in ``events``): the centroid of its articles' vectors
    (times their ``scale`` where given, a block of rows at a time), its median day
    (NaN where none of them has a date) and the union of their names."""
    events = np.asarray(events, dtype=np.int64)
    count = int(events.max()) + 1 if len(events) else 0
    centroids = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    for lo in range(0, len(events), _EDGE_BLOCK):  # in row order, so the sums are those of one call
        block = np.arange(lo, min(lo + _EDGE_BLOCK, len(events)))
        np.add.at(centroids, events[block], scaled_rows(vectors, scale, block))
    centroids /= np.maximum(np.bincount(events, minlength=count), 1)[:, None]
    t = day_array(days)
    order = np.argsort(events, kind="stable")
    bounds = np.searchsorted(events[order], np.arange(count + 1))
    median = np.full(count, np.nan)
    pooled: list[frozenset[str]] = []
    for e in range(count):
        members = order[bounds[e] : bounds[e + 1]]
        known = t[members][np.isfinite(t[members])]
        if len(known):
            median[e] = float(np.median(known))
        pooled.append(frozenset().union(*(names[i] for i in members)))
    return centroids.astype(np.float32), median, pooled


def thread_events(
    vectors: np.ndarray,
    days: Sequence[float | None],
    names: Sequence[frozenset[str]],
    events: np.ndarray,
    params: StoryParams,
    neighbours: int = 20,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """The story label (0..k-1, by first event) of each event: events joined into
    threads by average linkage on :class:`EventSimilarity` (module docstring).

    ``vectors``, ``days``, ``names``: the articles' centred, length-scaled vectors
    (or centred vectors and their length ``scale``), day numbers and names;
    ``events``: each article's event label (0..E-1)."""
    centroids, median, pooled = event_summaries(vectors, days, names, events, scale)
    count = len(centroids)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    exact = EventSimilarity(centroids, list(median), pooled, params)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    unit = np.divide(centroids, norms, out=np.zeros_like(centroids), where=norms > 0)
    unit[norms[:, 0] == 0, 0] = 1.0  # a centroid of no direction: any unit row, its similarities are 0
    nbr_idx, _ = knn(unit, min(neighbours, max(count - 1, 1)))
    no_dates = StoryParams(time_scale_days=None)
    graph = knn_graph(nbr_idx, np.zeros(nbr_idx.shape, dtype=np.float32), [None] * count, no_dates)
    sims = exact.pairs(graph.rows, graph.cols)
    return sparse_average_linkage(count, graph.rows, graph.cols, sims, params.thread_threshold, exact=exact)


class Linked(NamedTuple):
    """Labels per article: its story (0..k-1, by first member) and its event (0..m-1,
    by first member); every event lies inside one story."""

    stories: np.ndarray
    events: np.ndarray


def link_stories(
    vectors: np.ndarray,
    chars: Sequence[int],
    days: Sequence[float | None],
    nbr_idx: np.ndarray,
    nbr_sim: np.ndarray,
    params: StoryParams,
    groups: Sequence[Sequence[int]] = (),
    names: Sequence[frozenset[str]] | None = None,
) -> Linked:
    """Events and stories of articles: the one rule, for the batch run and for the
    new stories of a night.

    ``vectors``: the articles' centred vectors; ``chars``: their texts' lengths
    (:func:`~clusterer.stories.similarity.length_scale`); ``days``: their day
    numbers; ``nbr_idx``/``nbr_sim``: their neighbours among themselves
    (:func:`clusterer.neighbours.knn` on ``vectors``); ``groups``: item indices that
    must share an event (duplicate groups); ``names``: each article's names
    (:func:`clusterer.entities.names`; None: none known).

    Events: average linkage over the length-scaled kNN graph damped by the date gap
    (``time_scale_days``), with the exact similarity of pairs without an edge
    (:class:`~clusterer.stories.linkage.VectorSimilarity`), then the groups merged.
    Stories: the events joined into threads (:func:`thread_events`). Labels of
    stories smaller than ``params.min_articles`` are returned too: the caller
    decides what is noise."""
    n = len(vectors)
    scale = length_scale(chars, params)
    story_sim = nbr_sim * scale[:, None] * np.where(nbr_idx >= 0, scale[np.maximum(nbr_idx, 0)], 1.0)
    graph = knn_graph(nbr_idx, story_sim, days, params)
    exact = VectorSimilarity(vectors, days, params, scale=scale)  # length-scaled rows as needed
    events = merge_groups(sparse_average_linkage(n, *graph, params.threshold, exact=exact), groups)
    if names is None:
        names = [frozenset()] * n
    elif len(names) != n:
        raise ValueError(f"{len(names)} name sets for {n} articles")
    threads = thread_events(vectors, days, names, events, params, scale=scale)
    return Linked(_relabel(threads[events]), events)
