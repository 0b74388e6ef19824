"""Sparse average linkage against scipy's exact average linkage on small data."""

import numpy as np
import pytest

from clusterer.neighbours import knn
from clusterer.stories.linkage import (
    EdgeList,
    VectorSimilarity,
    average_linkage,
    knn_graph,
    sparse_average_linkage,
    subgraph,
)
from clusterer.stories.similarity import StoryParams, similarity_matrix, time_weights


def clustered(n=90, dim=16, centres=6, noise=0.6, seed=0, orthogonal=False):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim))
    if orthogonal:  # well separated: centres at right angles
        c = np.linalg.qr(c.T)[0].T * np.sqrt(dim)
    truth = rng.integers(0, centres, n)
    x = c[truth] + noise * rng.standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    days = [None if i % 17 == 0 else float(d) for i, d in enumerate(rng.uniform(0, 90, n))]
    return x.astype(np.float32), days, truth


def same_partition(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.6])
@pytest.mark.parametrize("dense_max", [0, 10_000])
def test_complete_graph_equals_exact_average_linkage(seed, threshold, dense_max):
    x, days, _ = clustered(seed=seed)
    params = StoryParams(threshold=threshold)
    exact = average_linkage(similarity_matrix(x, days, params), threshold)
    idx, sims = knn(x, len(x) - 1)
    graph = knn_graph(idx, sims, days, params)
    assert len(graph.sims) == len(x) * (len(x) - 1) // 2
    got = sparse_average_linkage(len(x), *graph, threshold, dense_max=dense_max)
    assert same_partition(got, exact)
    with_exact = sparse_average_linkage(
        len(x), *graph, threshold, dense_max=dense_max, exact=VectorSimilarity(x, days, params)
    )
    assert same_partition(with_exact, exact)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dense_max", [0, 10_000])
def test_sparse_graph_is_average_linkage_with_zeros_for_missing_pairs(seed, dense_max):
    x, days, _ = clustered(seed=seed)
    params = StoryParams()
    idx, sims = knn(x, 6)
    graph = knn_graph(idx, sims, days, params)
    dense = np.zeros((len(x), len(x)))
    dense[graph.rows, graph.cols] = graph.sims
    dense[graph.cols, graph.rows] = graph.sims
    expected = average_linkage(dense, params.threshold)
    got = sparse_average_linkage(len(x), *graph, params.threshold, dense_max=dense_max)
    assert same_partition(got, expected)


def planted(truth):
    _, first = np.unique(truth, return_index=True)
    relabel = {t: r for r, t in enumerate(truth[np.sort(first)])}
    return [relabel[t] for t in truth]


@pytest.mark.parametrize("dense_max", [0, 10_000])
def test_sparse_graph_finds_well_separated_clusters(dense_max):
    # clusters of ~6, k = 8: every pair inside a cluster is an edge
    x, _, truth = clustered(n=60, dim=64, centres=10, noise=0.15, seed=3, orthogonal=True)
    idx, sims = knn(x, 8)
    graph = knn_graph(idx, sims, [None] * len(x), StoryParams())
    got = sparse_average_linkage(len(x), *graph, 0.3, dense_max=dense_max)
    assert same_partition(got, planted(truth))


@pytest.mark.parametrize("dense_max", [0, 10_000])
def test_big_clusters_split_with_zeros_but_not_with_exact_fill(dense_max):
    # clusters of ~24, k = 8: most pairs inside a cluster have no edge
    x, _, truth = clustered(n=120, dim=64, centres=5, noise=0.15, seed=3, orthogonal=True)
    days = [None] * len(x)
    idx, sims = knn(x, 8)
    graph = knn_graph(idx, sims, days, StoryParams())
    zero = sparse_average_linkage(len(x), *graph, 0.3, dense_max=dense_max)
    assert zero.max() + 1 > 5  # the conservative side of missing = 0
    for lab in range(zero.max() + 1):  # ... but it never mixes clusters
        assert len(set(truth[zero == lab])) == 1
    exact = sparse_average_linkage(
        len(x), *graph, 0.3, dense_max=dense_max, exact=VectorSimilarity(x, days, StoryParams())
    )
    assert same_partition(exact, planted(truth))


@pytest.mark.parametrize("dense_max", [0, 10_000])
def test_exact_fill_on_sparse_graph_matches_exact_path(dense_max):
    x, days, _ = clustered(n=150, centres=4, noise=0.5, seed=5)
    params = StoryParams()
    expected = average_linkage(similarity_matrix(x, days, params), params.threshold)
    idx, sims = knn(x, 10)
    graph = knn_graph(idx, sims, days, params)
    got = sparse_average_linkage(
        len(x), *graph, params.threshold, dense_max=dense_max, exact=VectorSimilarity(x, days, params)
    )
    assert same_partition(got, expected)
    zero = sparse_average_linkage(len(x), *graph, params.threshold, dense_max=dense_max)
    assert zero.max() >= got.max()  # missing pairs as 0: never fewer clusters here


@pytest.mark.parametrize("dense_max", [0, 10_000])
@pytest.mark.parametrize("with_exact", [False, True])
def test_independent_of_edge_order_direction_and_repeats(dense_max, with_exact):
    x, days, _ = clustered(seed=1)
    params = StoryParams()
    idx, sims = knn(x, 7)
    graph = knn_graph(idx, sims, days, params)
    kw = {"dense_max": dense_max, "exact": VectorSimilarity(x, days, params) if with_exact else None}
    base = sparse_average_linkage(len(x), *graph, params.threshold, **kw)
    rng = np.random.default_rng(0)
    for _ in range(3):
        order = rng.permutation(len(graph.sims))
        flip = rng.random(len(order)) < 0.5
        r, c, s = graph.rows[order], graph.cols[order], graph.sims[order]
        r, c = np.where(flip, c, r), np.where(flip, r, c)
        # both directions, and a weaker duplicate that must lose to the real edge
        rr = np.concatenate([r, c, r[:20]])
        cc = np.concatenate([c, r, c[:20]])
        ss = np.concatenate([s, s, s[:20] - 0.5])
        got = sparse_average_linkage(len(x), rr, cc, ss, params.threshold, **kw)
        assert same_partition(got, base)


def test_threshold_behaviour():
    # 0-1: 0.5; 1-2: 0.5; 0-2 missing: {0,1} merges, then {0,1}-2 averages 0.25
    rows, cols, sims = [0, 1], [1, 2], [0.5, 0.5]
    assert list(sparse_average_linkage(3, rows, cols, sims, 0.25)) == [0, 0, 0]
    assert list(sparse_average_linkage(3, rows, cols, sims, 0.26)) == [0, 0, 1]
    assert list(sparse_average_linkage(3, rows, cols, sims, 0.5)) == [0, 0, 1]
    assert list(sparse_average_linkage(3, rows, cols, sims, 0.51)) == [0, 1, 2]
    with pytest.raises(ValueError):
        sparse_average_linkage(3, rows, cols, sims, 0.0)


def test_labels_by_first_appearance_and_edge_cases():
    got = sparse_average_linkage(5, [4, 1], [2, 3], [0.9, 0.9], 0.3, dense_max=0)
    assert list(got) == [0, 1, 2, 1, 2] and got.dtype == np.int64
    assert list(sparse_average_linkage(0, [], [], [], 0.3)) == []
    assert list(sparse_average_linkage(1, [], [], [], 0.3)) == [0]
    assert list(sparse_average_linkage(3, [], [], [], 0.3)) == [0, 1, 2]
    assert list(sparse_average_linkage(2, [0, 1], [0, 1], [1.0, 1.0], 0.3)) == [0, 1]  # self loops
    with pytest.raises(ValueError):
        sparse_average_linkage(2, [0], [2], [0.5], 0.3)
    with pytest.raises(ValueError):
        sparse_average_linkage(2, [0], [1], [np.nan], 0.3)
    vs = VectorSimilarity(np.eye(3, dtype=np.float32), [None] * 3, StoryParams())
    with pytest.raises(ValueError):
        sparse_average_linkage(2, [0], [1], [0.5], 0.3, exact=vs)


def test_knn_graph_drops_padding_dedups_and_damps_like_time_weights():
    x, days, _ = clustered(n=6, seed=2)
    params = StoryParams(time_scale_days=20.0, time_floor=0.1)
    idx, sims = knn(x, 8)  # k > n - 1: padded with -1 / -inf
    assert (idx == -1).any()
    graph = knn_graph(idx, sims, days, params)
    assert isinstance(graph, EdgeList)
    assert len(graph.sims) == 15 and (graph.rows < graph.cols).all()
    keys = graph.rows * 6 + graph.cols
    assert (np.diff(keys) > 0).all()
    w = time_weights(days, params)
    dots = np.einsum("ij,ij->i", x[graph.rows], x[graph.cols])
    np.testing.assert_allclose(graph.sims, dots * w[graph.rows, graph.cols], rtol=1e-5)
    undated = knn_graph(idx, sims, [None] * 6, params)
    np.testing.assert_allclose(undated.sims, dots, rtol=1e-5)
    no_time = knn_graph(idx, sims, days, StoryParams(time_scale_days=None))
    np.testing.assert_allclose(no_time.sims, dots, rtol=1e-5)
    empty = knn_graph(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3)), [], params)
    assert len(empty.rows) == 0
    with pytest.raises(ValueError):
        knn_graph(idx, sims, days[:3], params)


def test_subgraph_keeps_edges_between_chosen_nodes_renumbered():
    graph = EdgeList(np.array([0, 0, 1, 2]), np.array([1, 3, 3, 3]), np.array([0.1, 0.2, 0.3, 0.4]))
    sub = subgraph(graph, [1, 3])
    assert sub.rows.tolist() == [0] and sub.cols.tolist() == [1] and sub.sims.tolist() == [0.3]
    assert len(subgraph(graph, []).rows) == 0
    with pytest.raises(ValueError):
        subgraph(graph, [3, 1])
