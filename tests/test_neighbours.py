"""Nearest neighbours: exact against brute force, hnsw recall, padding, the index."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clusterer.errors import StateError
from clusterer.neighbours import (
    EXACT_MAX_ITEMS,
    HnswParams,
    NeighbourIndex,
    knn,
    knn_between,
    knn_with_queries,
    top_k,
)


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def blobs(n, dim=384, seed=0, per_blob=6, noise=0.15):
    """Many small Gaussian blobs (stories) around a few topics, plus noise items,
    with a shared offset like real sentence embeddings have."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((max(1, n // 400), dim)))
    n_blobs = max(1, n // per_blob)
    centres = unit(
        topics[rng.integers(0, len(topics), n_blobs)] + 0.8 * rng.standard_normal((n_blobs, dim)) / np.sqrt(dim)
    )
    x = centres[rng.integers(0, n_blobs, n)] + 0.5 * rng.standard_normal((n, dim)) / np.sqrt(dim)
    stray = rng.random(n) < noise
    x[stray] = topics[rng.integers(0, len(topics), stray.sum())] + 1.2 * rng.standard_normal(
        (stray.sum(), dim)
    ) / np.sqrt(dim)
    offset = unit(rng.standard_normal((1, dim)))
    return unit(unit(x) + offset)


def brute_force(x, k):
    sims = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def recall(found, truth):
    hits = sum(len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth))
    return hits / truth.size


# ------------------------------------------------------------------ exact


@pytest.mark.parametrize("n,dim,k", [(50, 8, 5), (300, 32, 10), (257, 16, 30)])
def test_exact_matches_brute_force(n, dim, k):
    x = unit(np.random.default_rng(n).standard_normal((n, dim)))
    idx, sims = knn(x, k, method="exact")
    want_idx, want_sims = brute_force(x, k)
    assert idx.shape == (n, k) and idx.dtype == np.int64
    assert sims.shape == (n, k) and sims.dtype == np.float32
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    assert not (idx == np.arange(n)[:, None]).any()
    assert (np.diff(sims, axis=1) <= 0).all()


def test_exact_blocks_do_not_change_the_answer():
    from clusterer.neighbours import _exact

    x = unit(np.random.default_rng(3).standard_normal((101, 12)))
    whole = _exact(x, x, 7, self_offset=0)
    for chunk in (1, 10, 33):
        parts = _exact(x, x, 7, self_offset=0, chunk=chunk)
        np.testing.assert_array_equal(parts[0], whole[0])
        np.testing.assert_allclose(parts[1], whole[1], atol=1e-6)


def test_ties_go_to_the_lower_index():
    # rows 1..5 are the same vector: every tie must be broken by index
    base = unit(np.random.default_rng(0).standard_normal((1, 6)))
    other = unit(np.random.default_rng(1).standard_normal((3, 6)))
    x = np.vstack([other[:1], np.repeat(base, 5, axis=0), other[1:]])
    idx, sims = knn(x, 3, method="exact")
    assert idx[1].tolist() == [2, 3, 4]
    assert idx[3].tolist() == [1, 2, 4]
    assert idx[5].tolist() == [1, 2, 3]
    np.testing.assert_allclose(sims[1], 1.0, atol=1e-6)


@pytest.mark.parametrize("method", ["exact", "hnsw", "auto"])
def test_padding_when_too_few_rows(method):
    one = unit([[1.0, 0.0, 0.0]])
    idx, sims = knn(one, 3, method=method)
    assert idx.tolist() == [[-1, -1, -1]]
    assert np.isneginf(sims).all()

    two = unit([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    idx, sims = knn(two, 3, method=method)
    assert idx.tolist() == [[1, -1, -1], [0, -1, -1]]
    np.testing.assert_allclose(sims[:, 0], 0.6, atol=1e-6)
    assert np.isneginf(sims[:, 1:]).all()


def test_empty_input_and_k_zero():
    idx, sims = knn(np.zeros((0, 4), dtype=np.float32), 5)
    assert idx.shape == (0, 5) and sims.shape == (0, 5)
    idx, sims = knn(unit(np.eye(3)), 0)
    assert idx.shape == (3, 0)


def test_bad_input_is_refused():
    x = unit(np.eye(3))
    with pytest.raises(ValueError, match="method"):
        knn(x, 2, method="faiss")
    with pytest.raises(ValueError, match="k must"):
        knn(x, -1)
    with pytest.raises(ValueError, match="2-D"):
        knn(np.ones(3, dtype=np.float32), 1)
    with pytest.raises(ValueError, match="normalised"):
        knn(np.ones((3, 3), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="NaN"):
        knn(np.full((2, 2), np.nan, dtype=np.float32), 1)


def test_smaller_k_is_a_prefix_of_larger_k():
    x = blobs(400, dim=32, seed=5)
    big = knn(x, 20, method="exact")
    small = knn(x, 7, method="exact")
    np.testing.assert_array_equal(big[0][:, :7], small[0])


def test_an_exact_index_query_with_smaller_k_is_a_prefix_of_one_with_larger_k():
    x = blobs(300, dim=16, seed=7)
    x[100:120] = x[99]  # ties at every cut-off
    index = NeighbourIndex(exact_max=300)
    index.add(ids_for(300), x)
    assert index.exact
    for queries in (x[95:105], x[95:96]):  # a block of queries, and one alone
        big_ids, big_sims = index.query(queries, 30)
        small_ids, small_sims = index.query(queries, 8)
        assert [row[:8] for row in big_ids] == small_ids
        np.testing.assert_array_equal(big_sims[:, :8], small_sims)
    index.add(["one-more"], x[:1])
    assert not index.exact  # past exact_max: a graph's answers for two k may differ


# ------------------------------------------------------------------ hnsw


@pytest.fixture(scope="module")
def blobs5k():
    return blobs(5000, seed=11)


@pytest.fixture(scope="module")
def truth5k(blobs5k):
    return knn(blobs5k, 20, method="exact")


@pytest.mark.parametrize("fp16", [True, False])
@pytest.mark.parametrize("k", [10, 20])
def test_hnsw_recall_on_clustered_blobs(blobs5k, truth5k, k, fp16):
    idx, sims = knn(blobs5k, k, method="hnsw", params=HnswParams(fp16=fp16))
    assert recall(idx, truth5k[0][:, :k]) >= 0.95
    # similarities are exact float32 dot products (not those of the graphs' fp16
    # copies, which differ by ~1e-3), sorted, self excluded
    got = np.einsum("id,ijd->ij", blobs5k, blobs5k[idx])
    np.testing.assert_allclose(sims, got, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 0).all()
    assert not (idx == np.arange(len(idx))[:, None]).any()


def test_hnsw_is_deterministic(blobs5k):
    x = blobs5k[:2000]
    first = knn(x, 15, method="hnsw")
    second = knn(x, 15, method="hnsw", threads=1)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


_CHILD = """
import hashlib, sys
import numpy as np
from clusterer.neighbours import HnswParams, knn
x = np.load(sys.argv[1])
params = HnswParams(shard_size=int(sys.argv[3]))
idx, sims = knn(x, 12, method="hnsw", params=params, threads=int(sys.argv[2]))
print(hashlib.sha256(idx.tobytes() + sims.tobytes()).hexdigest())
"""


@pytest.mark.parametrize("shard_size", [700, 0])
def test_hnsw_gives_the_same_answer_in_fresh_processes(blobs5k, tmp_path, shard_size):
    # run to run, not just call to call: graphs, level draws and searches are
    # seeded, whatever the number of threads (faiss's OpenMP ones included); one
    # graph (shard_size 0) is built by every thread, and faiss builds it alike
    x = blobs5k if shard_size == 0 else blobs5k[:2000]
    np.save(tmp_path / "x.npy", x)
    root = Path(__file__).resolve().parents[1]
    runs = {
        subprocess.run(
            [sys.executable, "-c", _CHILD, str(tmp_path / "x.npy"), str(threads), str(shard_size)],
            check=True,
            capture_output=True,
            text=True,
            cwd=root,
        ).stdout.strip()
        for threads in (1, 2, 2)
    }
    idx, sims = knn(x, 12, method="hnsw", params=HnswParams(shard_size=shard_size), threads=2)
    assert runs == {hashlib.sha256(idx.tobytes() + sims.tobytes()).hexdigest()}


def test_hnsw_leaves_the_callers_openmp_threads_alone(blobs5k):
    import faiss

    before = faiss.omp_get_max_threads()
    knn(blobs5k[:1000], 5, method="hnsw", threads=1)
    knn(blobs5k[:1000], 5, method="hnsw", params=HnswParams(shard_size=300), threads=3)
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize("k", [10, 20])
def test_default_params_keep_recall_above_097(k):
    # a guard on the settings and the backend: the default HNSW settings must
    # keep recall@k >= 0.97 on clustered 384-d data, in one graph and in shards;
    # the data is hard enough that weak settings fall below the bar
    x = blobs(3000, seed=23, noise=0.4)
    truth = knn(x, k, method="exact")[0]
    assert recall(knn(x, k, method="hnsw")[0], truth) >= 0.97
    assert recall(knn(x, k, method="hnsw", params=HnswParams(shard_size=1000))[0], truth) >= 0.97
    weak = HnswParams(m=8, ef_construction=16, ef_search=2)  # ~0.75-0.8 here; the defaults ~0.997
    assert recall(knn(x, k, method="hnsw", params=weak)[0], truth) < 0.97


def test_shards_keep_recall_and_ignore_thread_count(blobs5k):
    x = blobs5k[:2500]
    params = HnswParams(shard_size=600)  # 5 shards, the last one short
    one = knn(x, 20, method="hnsw", params=params, threads=1)
    two = knn(x, 20, method="hnsw", params=params, threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    assert recall(one[0], knn(x, 20, method="exact")[0]) >= 0.95


def test_auto_is_exact_at_small_sizes(blobs5k, truth5k):
    assert len(blobs5k) <= EXACT_MAX_ITEMS
    idx, _ = knn(blobs5k[:500], 10)
    np.testing.assert_array_equal(idx, knn(blobs5k[:500], 10, method="exact")[0])


def test_knn_between_matches_brute_force(blobs5k):
    q, b = blobs5k[:300], blobs5k[300:1300]
    idx, sims = knn_between(q, b, 12, method="exact")
    full = q.astype(np.float64) @ b.astype(np.float64).T
    want = np.argsort(-full, axis=1, kind="stable")[:, :12]
    np.testing.assert_allclose(sims, np.take_along_axis(full, want, axis=1), atol=1e-5)
    assert (idx == want).mean() > 0.99  # float32 vs float64 may swap near-ties
    approx, _ = knn_between(q, b, 12, method="hnsw")
    assert recall(approx, want) >= 0.95
    idx, sims = knn_between(q[:2], b[:3], 5)
    assert (idx[:, 3:] == -1).all() and np.isneginf(sims[:, 3:]).all()


@pytest.mark.parametrize("method", ["exact", "hnsw"])
def test_knn_with_queries_equals_the_two_searches(blobs5k, method):
    base, queries = blobs5k[:3000], blobs5k[3000:3400]
    (idx, sims), (q_idx, q_sims) = knn_with_queries(base, 15, queries, 30, method=method)
    want_idx, want_sims = knn(base, 15, method=method)
    want_q_idx, want_q_sims = knn_between(queries, base, 30, method=method)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(sims, want_sims)
    np.testing.assert_array_equal(q_idx, want_q_idx)
    np.testing.assert_array_equal(q_sims, want_q_sims)
    (_, _), (none_idx, _) = knn_with_queries(base, 15, queries[:0], 30, method=method)
    assert none_idx.shape == (0, 30)


def test_knn_with_queries_builds_one_graph(blobs5k, monkeypatch):
    import clusterer.neighbours as nb

    built = []
    real = nb._ShardedGraph._build
    monkeypatch.setattr(nb._ShardedGraph, "_build", lambda self, rows, *a: built.append(1) or real(self, rows, *a))
    knn_with_queries(blobs5k[:2000], 10, blobs5k[2000:2100], 30, method="hnsw")
    assert len(built) == 1


# ------------------------------------------------------------------ index


def ids_for(n, start=0):
    return [f"item-{i}" for i in range(start, start + n)]


@pytest.mark.parametrize("exact_max", [EXACT_MAX_ITEMS, 100])
def test_index_query_finds_the_nearest(blobs5k, exact_max):
    x = blobs5k[:1000]
    index = NeighbourIndex(exact_max=exact_max)
    index.add(ids_for(600), x[:600])
    index.add(ids_for(400, 600), x[600:])
    assert len(index) == 1000 and "item-5" in index
    got_ids, sims = index.query(x[:50], 10)
    assert sims.shape == (50, 10)
    assert all(row[0] == f"item-{i}" for i, row in enumerate(got_ids))  # itself
    want = knn_between(x[:50], x, 10, method="exact")[0]
    want_ids = [[f"item-{j}" for j in row] for row in want]
    hits = sum(len(set(g) & set(w)) for g, w in zip(got_ids, want_ids))
    assert hits / 500 >= 0.95


def test_index_pads_by_truncating_when_small():
    index = NeighbourIndex()
    ids, sims = index.query(unit([[1.0, 0.0]]), 3)
    assert ids == [[]] and sims.shape == (1, 0)
    index.add(["a", "b"], unit([[1.0, 0.0], [0.0, 1.0]]))
    ids, sims = index.query(unit([[0.8, 0.6]]), 5)
    assert ids == [["a", "b"]]
    np.testing.assert_allclose(sims, [[0.8, 0.6]], atol=1e-6)


def test_index_results_do_not_depend_on_batching_or_saving(blobs5k, tmp_path):
    x, q = blobs5k[:1500], blobs5k[1500:1700]
    params = HnswParams(shard_size=500)  # adds below fill and open shards
    one = NeighbourIndex(exact_max=10, params=params, threads=1)
    one.add(ids_for(1500), x)
    expected = one.query(q, 12)

    batched = NeighbourIndex(exact_max=10, params=params, threads=2)
    batched.add(ids_for(700), x[:700])
    batched.query(q, 3)  # builds the graph early; later adds insert into it
    batched.save(tmp_path / "idx.npz")
    reloaded = NeighbourIndex.load(tmp_path / "idx.npz")
    reloaded.add(ids_for(800, 700), x[700:])
    got = reloaded.query(q, 12)
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])


def test_index_adds_after_a_query_rebuild_only_the_open_shard(blobs5k, monkeypatch):
    import clusterer.neighbours as nb

    x, q = blobs5k[:1500], blobs5k[1500:1600]
    params = HnswParams(shard_size=500)
    whole = NeighbourIndex(exact_max=10, params=params)
    whole.add(ids_for(1500), x)
    expected = whole.query(q, 10)

    built = []
    real = nb._ShardedGraph._build
    monkeypatch.setattr(
        nb._ShardedGraph, "_build", lambda self, rows, *a: built.append(len(rows)) or real(self, rows, *a)
    )
    grown = NeighbourIndex(exact_max=10, params=params)
    grown.add(ids_for(700), x[:700])
    grown.query(q, 5)
    assert sorted(built) == [200, 500]  # shards are built in parallel
    grown.add(ids_for(300, 700), x[700:1000])
    grown.add(ids_for(100, 1000), x[1000:1100])  # two adds, one rebuild at the next query
    grown.query(q, 5)
    assert sorted(built[2:]) == [100, 500]  # shard 0 kept, shard 1 rebuilt, shard 2 new
    grown.add(ids_for(400, 1100), x[1100:])
    got = grown.query(q, 10)
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])


def test_index_save_load_round_trip(tmp_path):
    x = blobs(300, dim=16, seed=2)
    index = NeighbourIndex(exact_max=50, params=HnswParams(m=8, ef_construction=40, seed=7))
    index.add(ids_for(300), x)
    path = tmp_path / "state" / "neighbours.npz"
    path.parent.mkdir()
    index.save(path)
    index.save(path)  # overwriting is fine
    assert [p.name for p in path.parent.iterdir()] == ["neighbours.npz"]  # no temp left
    back = NeighbourIndex.load(path)
    assert len(back) == 300 and back.ids == index.ids and back.dim == 16
    assert back.exact_max == 50 and back.params == index.params
    np.testing.assert_array_equal(back.vectors, index.vectors)
    assert back.query(x[:20], 5)[0] == index.query(x[:20], 5)[0]


def test_an_index_keeps_its_storage_and_one_saved_before_it_was_stored_loads(tmp_path):
    x = blobs(300, dim=16, seed=2)
    flat = NeighbourIndex(exact_max=50, params=HnswParams(m=8, fp16=False))
    flat.add(ids_for(300), x)
    flat.save(tmp_path / "flat.npz")
    assert NeighbourIndex.load(tmp_path / "flat.npz").params.fp16 is False
    with np.load(tmp_path / "flat.npz") as data:  # as the version without the setting wrote it
        older = {name: data[name] for name in data.files}
    older["params"] = older["params"][:5]
    np.savez(tmp_path / "older.npz", **older)
    back = NeighbourIndex.load(tmp_path / "older.npz")
    assert back.params == HnswParams(m=8) and back.ids == flat.ids
    assert back.query(x[:20], 5)[0][0][0] == flat.ids[0]


def test_index_refuses_bad_adds():
    index = NeighbourIndex(dim=2)
    index.add(["a"], unit([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="already"):
        index.add(["a"], unit([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="repeat"):
        index.add(["b", "b"], unit([[0.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="dimension"):
        index.add(["c"], unit([[1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="ids for"):
        index.add(["c", "d"], unit([[1.0, 0.0]]))
    assert len(index) == 1


def test_load_reports_damage_as_state_error(tmp_path):
    with pytest.raises(StateError, match="no neighbour index"):
        NeighbourIndex.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(StateError, match="unreadable"):
        NeighbourIndex.load(bad)


def test_top_k_merges_searches_over_parts_into_the_search_over_all():
    x = blobs(300, dim=32, seed=4)
    q = x[:40]
    a, b = np.arange(0, 300, 2), np.arange(1, 300, 2)  # the base in two parts
    ia, sa = knn_between(q, x[a], 7)
    ib, sb = knn_between(q, x[b], 7)
    idx, sims = top_k(np.hstack([a[ia], b[ib]]), np.hstack([sa, sb]), 7)
    want_idx, want_sims = knn_between(q, x, 7)
    assert np.array_equal(idx, want_idx) and np.allclose(sims, want_sims, atol=1e-6)
    # the query itself left out: knn over the whole base
    own_idx, own_sims = top_k(np.hstack([a[ia], b[ib]]), np.hstack([sa, sb]), 6, own=np.arange(40))
    k_idx, _ = knn(x, 6)
    assert np.array_equal(own_idx, k_idx[:40])
    # ties by index, padding (-1 / -inf) both read and written, to k columns
    got_idx, got_sims = top_k([[5, 2, -1], [-1, -1, 3]], [[0.5, 0.5, 0.9], [0.2, 0.1, 0.4]], 4)
    assert got_idx.tolist() == [[2, 5, -1, -1], [3, -1, -1, -1]]
    assert got_sims[0, :2].tolist() == [0.5, 0.5] and np.isneginf(got_sims[0, 2:]).all()
    with pytest.raises(ValueError):
        top_k([[1, 2]], [[0.5]], 2)
