"""Sparse average linkage against scipy's exact average linkage on small data."""

import numpy as np
import pytest

from clusterer.neighbours import knn
from clusterer.stories.linkage import (
    EdgeList,
    VectorSimilarity,
    _dense_component,
    average_linkage,
    knn_graph,
    merge_groups,
    sparse_average_linkage,
    subgraph,
)
from clusterer.stories.similarity import (
    StoryParams,
    cross_similarity,
    damping,
    day_array,
    length_scale,
    similarity_matrix,
)
from clusterer.stories.threads import link_stories, thread_events


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
    params = StoryParams(time_scale_days=30.0)  # clusters spread over weeks, each joined by its kNN edges
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


def test_knn_graph_drops_padding_dedups_and_damps_by_the_date_gap():
    x, days, _ = clustered(n=6, seed=2)
    params = StoryParams(time_scale_days=20.0, time_floor=0.1)
    idx, sims = knn(x, 8)  # k > n - 1: padded with -1 / -inf
    assert (idx == -1).any()
    graph = knn_graph(idx, sims, days, params)
    assert isinstance(graph, EdgeList)
    assert len(graph.sims) == 15 and (graph.rows < graph.cols).all()
    keys = graph.rows * 6 + graph.cols
    assert (np.diff(keys) > 0).all()
    t = day_array(days)
    w = damping(np.abs(t[:, None] - t[None, :]), params)
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


# -- one rule, one place: the shared pieces equal the code they replaced -------


def _old_damping(t: np.ndarray, rows, cols, params: StoryParams) -> np.ndarray:
    """The date-gap factor as knn_graph, VectorSimilarity and stories.time_weights each wrote it."""
    gap = np.abs(t[rows] - t[cols])
    w = np.exp(-(gap**2) / (2.0 * params.time_scale_days**2))
    w = params.time_floor + (1.0 - params.time_floor) * w
    w[np.isnan(w)] = 1.0
    return w


@pytest.mark.parametrize("floor", [0.0, 0.3])
@pytest.mark.parametrize("scale", [30.0, 2.5])
def test_damping_is_the_old_formula(floor, scale):
    params = StoryParams(time_scale_days=scale, time_floor=floor)
    _, days, _ = clustered(n=40, seed=3)
    t = day_array(days)
    rows, cols = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    got = damping(np.abs(t[rows] - t[cols]), params)
    assert np.array_equal(got, _old_damping(t, rows, cols, params))  # bit for bit, NaN gaps -> 1
    assert float(damping(np.float64(np.nan), params)) == 1.0 and float(damping(0.0, params)) == 1.0
    assert float(damping(scale, params)) == pytest.approx(floor + (1 - floor) * np.exp(-0.5))
    assert (damping(np.array([0.0, 500.0, np.nan]), StoryParams(time_scale_days=None)) == 1.0).all()


def test_cross_similarity_vector_similarity_and_the_matrix_agree():
    x, days, _ = clustered(n=50, seed=5)
    params = StoryParams(time_floor=0.1)
    a, b = np.arange(0, 50, 3), np.arange(1, 50, 2)
    full = similarity_matrix(x, days, params)
    block = cross_similarity(x[a], [days[i] for i in a], x[b], [days[i] for i in b], params)
    assert np.array_equal(block, full[np.ix_(a, b)])
    vs = VectorSimilarity(x, days, params).block(a, b)
    assert vs.dtype == np.float64 and np.array_equal(vs, block)
    # the old VectorSimilarity.block: float64 products, damped in place
    old = (x[a] @ x[b].T).astype(np.float64) * _old_damping(day_array(days), a[:, None], b[None, :], params)
    assert np.array_equal(vs, old)
    # nothing to damp: the dot products as they are (float32 for float32 vectors)
    undated = cross_similarity(x[a], [None] * len(a), x[b], [None] * len(b), params)
    assert undated.dtype == np.float32 and np.array_equal(undated, x[a] @ x[b].T)
    assert np.array_equal(similarity_matrix(x, days, StoryParams(time_scale_days=None)), x @ x.T)


def _old_merge_groups(labels, groups):
    """merge_groups as it was: a union-find over the labels."""
    labels = np.asarray(labels)
    parent = np.arange(int(labels.max()) + 1)

    def find(x):
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
    _, first_at, inverse = np.unique([find(int(lab)) for lab in labels], return_index=True, return_inverse=True)
    rank = np.empty(len(first_at), dtype=np.int64)
    rank[np.argsort(first_at, kind="stable")] = np.arange(len(first_at))
    return rank[inverse.ravel()]


@pytest.mark.parametrize("seed", range(5))
def test_merge_groups_equals_the_old_union_find(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 40, 120)
    groups = [list(rng.choice(120, size=int(rng.integers(2, 5)), replace=False)) for _ in range(25)]
    assert np.array_equal(merge_groups(labels, groups), _old_merge_groups(labels, groups))
    assert np.array_equal(merge_groups(labels, []), _old_merge_groups(labels, []))
    assert list(merge_groups(np.zeros(0, dtype=np.int64), [])) == []


@pytest.mark.parametrize("seed", range(3))
def test_dense_components_are_average_linkage_on_the_edges(seed):
    """The sparse linkage's dense path is average_linkage itself: zeros for missing pairs."""
    x, days, _ = clustered(n=60, seed=seed)
    params = StoryParams()
    idx, sims = knn(x, 5)
    graph = knn_graph(idx, sims, days, params)
    dense = np.zeros((len(x), len(x)))
    dense[graph.rows, graph.cols] = graph.sims
    dense[graph.cols, graph.rows] = graph.sims
    part = _dense_component(len(x), graph.rows, graph.cols, graph.sims, params.threshold)
    labels = average_linkage(dense, params.threshold)
    assert np.array_equal(part, np.unique(labels, return_index=True)[1][labels])


@pytest.mark.parametrize("seed", range(3))
def test_link_stories_is_the_batch_rule(seed):
    """link_stories: events = length scale, kNN graph damped by the date gap,
    sparse linkage with exact similarities, groups merged; stories = those events
    threaded (thread_events), so that every event lies in one story."""
    x, days, _ = clustered(n=120, seed=seed)
    rng = np.random.default_rng(seed)
    chars = rng.integers(50, 3000, len(x)).tolist()
    params = StoryParams()
    idx, sims = knn(x, 20)
    groups = [[0, 7], [3, 50, 90]]
    scale = length_scale(chars, params)
    story_sim = sims * scale[:, None] * np.where(idx >= 0, scale[np.maximum(idx, 0)], 1.0)
    graph = knn_graph(idx, story_sim, days, params)
    events = merge_groups(
        sparse_average_linkage(
            len(x), *graph, params.threshold, exact=VectorSimilarity(x * scale[:, None], days, params)
        ),
        groups,
    )
    names = [frozenset({f"n{i % 7}"}) for i in range(len(x))]
    linked = link_stories(x, chars, days, idx, sims, params, groups, names)
    assert np.array_equal(linked.events, events)
    threads = thread_events(x * scale[:, None], days, names, events, params)
    stories = threads[events]
    # the same partition, labelled by first member
    pairs = {(int(a), int(b)) for a, b in zip(stories, linked.stories)}
    assert len(pairs) == len(set(stories.tolist())) == len(set(linked.stories.tolist()))
    for e in set(events.tolist()):
        assert len(set(linked.stories[events == e].tolist())) == 1


def test_length_scaled_rows_made_as_needed_are_those_of_the_product(monkeypatch):
    # link_stories no longer holds every article's length-scaled vector (issue 25):
    # rows and event centroids made from (vectors, scale) block by block must be the
    # numbers the product gave, bit for bit
    import clusterer.stories.threads as threads_mod
    from clusterer.stories.threads import event_summaries

    monkeypatch.setattr(threads_mod, "_EDGE_BLOCK", 7)
    x, days, _ = clustered(n=60, seed=4)
    scale = length_scale(np.random.default_rng(4).integers(50, 3000, len(x)).tolist(), StoryParams())
    product = x * scale[:, None]
    a, b = np.array([3, 0, 59, 3]), np.arange(10, 40)
    on_demand = VectorSimilarity(x, days, StoryParams(), scale=scale).block(a, b)
    assert on_demand.tobytes() == VectorSimilarity(product, days, StoryParams()).block(a, b).tobytes()
    events = np.random.default_rng(5).integers(0, 9, len(x))
    names = [frozenset()] * len(x)
    apart = event_summaries(x, days, names, events, scale)
    sums = np.zeros((9, x.shape[1]), dtype=np.float64)  # the sums of one call over all rows
    np.add.at(sums, events, product)
    whole = (sums / np.maximum(np.bincount(events, minlength=9), 1)[:, None]).astype(np.float32)
    assert apart[0].tobytes() == whole.tobytes()
