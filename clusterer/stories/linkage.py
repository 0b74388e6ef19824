"""Average-linkage clustering over a sparse similarity graph, never n x n: the
articles' linkage into events and the events' into stories
(:func:`clusterer.stories.threads.link_stories`).

:func:`average_linkage` needs the dense similarity matrix,
O(n^2) memory (20k items are gigabytes). Here the input is a sparse symmetric
graph, normally the kNN graph built by :func:`knn_graph`, and the similarity of
two clusters A and B is

    (sum of the edge similarities between A and B) / (|A| * |B|)

so a pair without an edge counts as similarity 0. Centred cosines of unrelated
texts are about 0, which makes this a close, slightly conservative version of
exact average linkage. Greedy: always merge the pair with the highest average,
stop when it is below ``threshold``. The result is *exactly* average linkage on
the dense matrix that holds the edge similarities and 0 elsewhere (what scipy
would give on that matrix, ties aside), so with a complete graph it is exact
average linkage.

Missing = 0 is too conservative for big stories: with k neighbours each, a
cluster of m items has about k*m of its m*m/2 pairs as edges, so its average
falls like k/m (on the ITN set, stories of up to 200 articles, k=20 gives
B-cubed F1 0.87 against the exact labels). Passing ``exact=VectorSimilarity(...)``
fills every missing pair with its true similarity instead, computed block by
block from the vectors when two clusters meet: merges still happen only
between clusters joined by an edge, but their averages are the exact ones
(on ITN, k=20 then gives the exact path's labels, identically).

How it stays fast (nothing here approximates beyond the rule for missing pairs):

* Two clusters can only merge if some edge between them reaches ``threshold``
  (an average of numbers below it, zeros included, is below it; needs
  ``threshold > 0``). So every cluster lies inside one connected component of
  the graph of *strong* edges (>= threshold), and the components are clustered
  independently, each with the edges (strong and weak) inside it. With
  ``exact`` the split is kept as a rule (a cluster never spans two components;
  inside a dense component any two clusters may merge, in the heap only
  clusters joined by an edge).
* A component of 2 nodes is one cluster (its edge is strong). Components of up
  to ``dense_max`` nodes go to scipy's average linkage on a small dense matrix
  (zeros for missing edges). Larger ones use a heap with lazy invalidation over
  per-cluster neighbour dicts merged small-into-large: when A absorbs B, pairs
  with B's neighbours get fresh heap entries; pairs with A's other neighbours
  only lose similarity (A grew), so their old entries are upper bounds, checked
  and re-queued when popped. With ``exact``, every pair of the merged cluster
  gets its exact sum (one matrix product per merge) and a fresh entry.

Results are deterministic and independent of the order of the input edges:
edges are put in canonical order (i < j, sorted) first, and a pair given more
than once keeps its largest similarity.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform

from .similarity import StoryParams, cross_similarity, damping, day_array

__all__ = [
    "DENSE_MAX",
    "EdgeList",
    "VectorSimilarity",
    "average_linkage",
    "knn_graph",
    "merge_groups",
    "sparse_average_linkage",
    "subgraph",
]

DENSE_MAX = 1500
"""Components up to this many nodes are clustered by scipy on a dense matrix
(at most ``DENSE_MAX**2`` float64, 18 MB); larger ones by the sparse heap."""


class EdgeList(NamedTuple):
    """An undirected similarity graph: one row per pair, ``rows < cols``, sorted."""

    rows: np.ndarray  # int64
    cols: np.ndarray  # int64
    sims: np.ndarray  # float64


# --------------------------------------------------------------------------- graph


def _canonical(n: int, rows, cols, sims) -> EdgeList:
    """Edges as ``i < j``, sorted by (i, j), self loops dropped, a repeated pair
    keeping its largest similarity."""
    r = np.asarray(rows, dtype=np.int64).ravel()
    c = np.asarray(cols, dtype=np.int64).ravel()
    s = np.asarray(sims, dtype=np.float64).ravel()
    if not (len(r) == len(c) == len(s)):
        raise ValueError(f"rows, cols and sims differ in length ({len(r)}, {len(c)}, {len(s)})")
    if len(r) and (min(r.min(), c.min()) < 0 or max(r.max(), c.max()) >= n):
        raise ValueError(f"edge endpoints must be in 0..{n - 1}")
    if not np.isfinite(s).all():
        raise ValueError("edge similarities contain NaN or infinite values")
    keep = r != c
    i = np.minimum(r[keep], c[keep])
    j = np.maximum(r[keep], c[keep])
    s = s[keep]
    key = i * n + j
    order = np.lexsort((-s, key))  # by pair, largest similarity first
    key, s = key[order], s[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, s = key[first], s[first]
    return EdgeList(key // n, key % n, s)


def knn_graph(nbr_idx: np.ndarray, nbr_sim: np.ndarray, days: Sequence[float | None], params: StoryParams) -> EdgeList:
    """The symmetric story graph from :func:`clusterer.neighbours.knn` output.

    Row ``i`` of ``nbr_idx``/``nbr_sim`` holds the neighbours of item ``i``;
    padding (index -1, similarity -inf) is dropped. Each pair appears once
    (``i < j``) whichever side found it; its similarity is multiplied by the
    date-gap factor, :func:`clusterer.stories.similarity.damping` of the two dates
    (1 when either is unknown or ``params.time_scale_days`` is None).
    ``days`` has one entry per row (None or NaN: no date).
    """
    idx = np.asarray(nbr_idx)
    sim = np.asarray(nbr_sim)
    if idx.ndim != 2 or idx.shape != sim.shape:
        raise ValueError(f"nbr_idx and nbr_sim must be 2-D of one shape, got {idx.shape} and {sim.shape}")
    n, k = idx.shape
    if len(days) != n:
        raise ValueError(f"{len(days)} days for {n} rows of neighbours")
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = idx.astype(np.int64).ravel()
    sims = sim.astype(np.float64).ravel()
    real = (cols >= 0) & np.isfinite(sims)
    graph = _canonical(n, rows[real], cols[real], sims[real])
    if params.time_scale_days is None or n == 0:
        return graph
    t = day_array(days)
    if np.isnan(t).all():
        return graph
    return EdgeList(graph.rows, graph.cols, graph.sims * damping(np.abs(t[graph.rows] - t[graph.cols]), params))


def subgraph(graph: EdgeList, nodes) -> EdgeList:
    """The edges between ``nodes`` (increasing item indices, e.g. the articles),
    renumbered to positions in ``nodes``: one kNN over all items can serve both
    duplicate detection and the stories of the articles."""
    nodes = np.asarray(nodes, dtype=np.int64)
    if len(nodes) and (np.diff(nodes) <= 0).any():
        raise ValueError("nodes must be increasing item indices")
    top = int(max(graph.rows.max(initial=-1), graph.cols.max(initial=-1), nodes.max(initial=-1))) + 1
    pos = np.full(top, -1, dtype=np.int64)
    pos[nodes] = np.arange(len(nodes))
    r, c = pos[graph.rows], pos[graph.cols]
    keep = (r >= 0) & (c >= 0)
    return EdgeList(r[keep], c[keep], graph.sims[keep])


def scaled_rows(vectors: np.ndarray, scale: np.ndarray | None, idx) -> np.ndarray:
    """Rows ``idx`` of ``vectors`` times their ``scale`` factors (the rows as they are
    without a ``scale``): each number is the product the whole ``vectors * scale[:, None]``
    would hold, which is never made (a copy of every article's vector, issue 25)."""
    return vectors[idx] if scale is None else vectors[idx] * scale[idx][:, None]


class VectorSimilarity:
    """Exact story similarities from the vectors and dates, block by block:
    the same numbers as :func:`clusterer.stories.similarity.similarity_matrix`, for the
    rows and columns asked only. Lets :func:`sparse_average_linkage` use the
    true similarity of pairs that have no edge instead of 0."""

    def __init__(
        self,
        vectors: np.ndarray,
        days: Sequence[float | None],
        params: StoryParams,
        scale: np.ndarray | None = None,
    ):
        self.vectors = np.asarray(vectors)
        if self.vectors.ndim != 2 or len(self.vectors) != len(days):
            raise ValueError(f"{len(days)} days for vectors of shape {self.vectors.shape}")
        self.days = day_array(days)
        self.params = params
        self.scale = scale

    def block(self, rows, cols) -> np.ndarray:
        """Similarities of ``rows`` x ``cols`` (arrays of item indices), float64:
        :func:`~clusterer.stories.similarity.cross_similarity` of those rows."""
        a, b = scaled_rows(self.vectors, self.scale, rows), scaled_rows(self.vectors, self.scale, cols)
        sims = cross_similarity(a, self.days[rows], b, self.days[cols], self.params)
        return sims.astype(np.float64, copy=False)

    def cross_sums(self, members, groups) -> list:
        """For each group of items, the sum of its similarities to ``members``."""
        if not groups:
            return []
        cols = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups])
        starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
        totals = self.block(np.asarray(members, dtype=np.int64), cols).sum(axis=0)
        return np.add.reduceat(totals, starts).tolist()


# --------------------------------------------------------------------------- linkage


def sparse_average_linkage(
    n: int, rows, cols, sims, threshold: float, *, dense_max: int = DENSE_MAX, exact: VectorSimilarity | None = None
) -> np.ndarray:
    """Cluster labels (int64, 0..k-1 by first member) of ``n`` nodes.

    ``rows``, ``cols``, ``sims``: the edges of an undirected graph (either or both
    directions of a pair; a repeated pair keeps its largest similarity), e.g. a
    :class:`EdgeList` from :func:`knn_graph`. Average linkage with missing edges
    counted as 0, cut where the best average similarity is below ``threshold``
    (> 0). ``dense_max``: components up to this size go to scipy (0: never).

    ``exact``: the true similarities of the ``n`` items. Then a missing pair is
    not 0 but its true similarity: components up to ``dense_max`` get exact
    average linkage on their dense matrix, larger ones the heap with exact
    cluster averages computed block by block, merging only clusters joined by
    an edge. Clusters still never span two components of the strong-edge graph.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    threshold = float(threshold)
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0 (missing edges count as 0), got {threshold}")
    if exact is not None and len(exact.vectors) != n:
        raise ValueError(f"exact similarities cover {len(exact.vectors)} items, the graph {n}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    g = _canonical(n, rows, cols, sims)
    strong = g.sims >= threshold
    adj = coo_matrix(
        (np.ones(int(strong.sum()), dtype=np.int8), (g.rows[strong], g.cols[strong])), shape=(n, n)
    ).tocsr()
    _, comp = connected_components(adj, directed=False)
    root = np.arange(n, dtype=np.int64)  # a cluster is named by one of its nodes

    inside = comp[g.rows] == comp[g.cols]
    er, ec, es = g.rows[inside], g.cols[inside], g.sims[inside]
    sizes = np.bincount(comp)
    # Nodes and edges grouped by component, in canonical order within each.
    node_order = np.argsort(comp, kind="stable")
    node_start = np.concatenate(([0], np.cumsum(sizes)))
    edge_order = np.argsort(comp[er], kind="stable")
    er, ec, es = er[edge_order], ec[edge_order], es[edge_order]
    edge_start = np.concatenate(([0], np.cumsum(np.bincount(comp[er], minlength=len(sizes)))))
    local = np.empty(n, dtype=np.int64)
    local[node_order] = np.arange(n) - np.repeat(node_start[:-1], sizes)

    pairs = np.flatnonzero(sizes == 2)
    if len(pairs):  # two nodes joined by a strong edge
        members = node_order[node_start[pairs][:, None] + np.arange(2)]
        root[members[:, 1]] = members[:, 0]
    for c in np.flatnonzero(sizes > 2):
        nodes = node_order[node_start[c] : node_start[c + 1]]
        lo, hi = edge_start[c], edge_start[c + 1]
        li, lj, ls = local[er[lo:hi]], local[ec[lo:hi]], es[lo:hi]
        if len(nodes) <= dense_max:
            dense = None if exact is None else exact.block(nodes, nodes)
            part = _dense_component(len(nodes), li, lj, ls, threshold, dense)
        else:
            part = _heap_component(
                len(nodes), li.tolist(), lj.tolist(), ls.tolist(), threshold, None if exact is None else (exact, nodes)
            )
        root[nodes] = nodes[part]
    return _relabel(root)


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


def merge_groups(labels: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Put the members of each group (e.g. a duplicate group) in one cluster: the
    clusters joined through groups are the connected components of the graph on
    labels (0..k-1) with an edge from each group's first member's label to each
    other member's. Labels 0..k-1 again, by first member."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return _relabel(labels)
    a = np.array([labels[g[0]] for g in groups for _ in g[1:]], dtype=np.int64)
    b = np.array([labels[i] for g in groups for i in g[1:]], dtype=np.int64)
    k = int(labels.max()) + 1
    _, comp = connected_components(coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(k, k)), directed=False)
    return _relabel(comp[labels])


def _relabel(raw: Sequence[int] | np.ndarray) -> np.ndarray:
    """Renumber labels by first appearance."""
    if len(raw) == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.ravel()]


def _dense_component(m: int, li, lj, ls, threshold: float, dense: np.ndarray | None = None) -> np.ndarray:
    """For each local node, the local index of the first member of its cluster:
    :func:`average_linkage` on ``dense``, or on the edges with 0 for missing pairs."""
    if dense is None:
        dense = np.zeros((m, m), dtype=np.float64)
        dense[li, lj] = ls
        dense[lj, li] = ls
    labels = average_linkage(dense, threshold)
    _, first = np.unique(labels, return_index=True)
    return first[labels]


def _heap_component(m: int, li: list, lj: list, ls: list, threshold: float, exact=None) -> np.ndarray:
    """For each local node, the local index of its cluster's surviving node.

    Greedy average linkage: ``nbr[a][b]`` is the sum of similarities between
    live clusters a and b (edges only, or every pair with ``exact``: a
    ``(VectorSimilarity, global index of each local node)``); the heap holds
    ``(-average, a, b)`` with a < b, each entry at least the pair's current
    average (see the module docstring), re-checked when popped."""
    nbr: list = [dict() for _ in range(m)]  # a slot is None once its cluster is absorbed
    heap = []
    for a, b, s in zip(li, lj, ls):
        nbr[a][b] = s
        nbr[b][a] = s
        if s >= threshold:
            heap.append((-s, a, b))
    heapq.heapify(heap)
    size = [1] * m
    parent = list(range(m))
    members: list | None = None if exact is None else [[int(v)] for v in exact[1]]
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        neg, a, b = pop(heap)
        na = nbr[a]
        if na is None or nbr[b] is None:
            continue
        s = na.get(b)
        if s is None:
            continue
        avg = s / (size[a] * size[b])
        if avg != -neg:  # stale: a or b grew since
            if avg >= threshold:
                push(heap, (-avg, a, b))
            continue
        nb = nbr[b]
        if len(na) < len(nb) or (len(na) == len(nb) and b < a):
            a, b, na, nb = b, a, nb, na  # a keeps its name and absorbs b
        del na[b]
        del nb[a]
        size[a] += size[b]
        sa = size[a]
        parent[b] = a
        nbr[b] = None
        if members is not None:
            _fill_exact(exact[0], members, a, b, na, nb)
        for c, s in nb.items():
            nc = nbr[c]
            del nc[b]
            t = na.get(c)
            t = s if t is None else t + s
            na[c] = t
            nc[a] = t
            avg = t / (sa * size[c])
            if avg >= threshold:
                push(heap, (-avg, a, c) if a < c else (-avg, c, a))
        if members is not None:
            members[a].extend(members[b])
            members[b] = None
            # every pair with a changed and may have grown: queue them all afresh
            for c in na:
                if c not in nb:
                    t = na[c]
                    nbr[c][a] = t
                    avg = t / (sa * size[c])
                    if avg >= threshold:
                        push(heap, (-avg, a, c) if a < c else (-avg, c, a))
    out = np.asarray(parent, dtype=np.int64)
    while True:  # follow parents to the survivor
        nxt = out[out]
        if np.array_equal(nxt, out):
            return out
        out = nxt


def _fill_exact(sim: VectorSimilarity, members: list, a: int, b: int, na: dict, nb: dict) -> None:
    """Before a absorbs b: give each cluster that neighbours only one of them its
    true similarity sum to the other, so that ``na[c] + nb[c]`` is exact for all."""
    only_a = [c for c in na if c not in nb]
    only_b = [c for c in nb if c not in na]
    for c, t in zip(only_a, sim.cross_sums(members[b], [members[c] for c in only_a])):
        na[c] += t
    for c, t in zip(only_b, sim.cross_sums(members[a], [members[c] for c in only_b])):
        nb[c] += t
