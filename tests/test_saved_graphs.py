"""The neighbour graphs a night keeps between nights (clusterer.neighbours.saved)."""

from __future__ import annotations

import numpy as np
from test_neighbours import blobs

from clusterer.neighbours import HnswParams, NeighbourIndex, _exact
from clusterer.neighbours.saved import SUFFIX, SavedGraphs, ShardSearch

PARAMS = HnswParams(m=8, ef_construction=40, ef_search=48, shard_size=400)


def setup(n=2000, dim=32):
    x = blobs(n, dim=dim, seed=3)
    ids = [f"item-{k}" for k in range(n)]
    fresh = np.zeros(n, dtype=bool)
    fresh[::97] = True  # tonight's new and changed items: not searched
    rows = np.flatnonzero(~fresh)
    places = 10 + 3 * rows  # the state's row numbers: gaps, and not the rows' order in x
    places[:50] = places[:50][::-1]
    return ids, x, rows, places, x[fresh]


def answers(index, q, k=10):
    got, sims = index.query(q, k)
    return got, sims.tolist()


def test_graphs_loaded_answer_as_graphs_built(tmp_path):
    ids, x, rows, places, q = setup()
    first = SavedGraphs(tmp_path / "g", PARAMS, exact_max=100)
    built = first.index(ids, x, rows, places)
    assert isinstance(built, ShardSearch) and len(built) == len(rows)
    shards = len(np.unique(places // PARAMS.shard_size))
    assert (first.built, first.loaded) == (shards, 0)
    assert len(list((tmp_path / "g").glob(f"*{SUFFIX}"))) == shards

    again = SavedGraphs(tmp_path / "g", PARAMS, exact_max=100)
    loaded = again.index(ids, x, rows, places)
    assert (again.built, again.loaded) == (0, shards)
    assert answers(loaded, q) == answers(built, q)

    # against the exact answer: recall of the 10 nearest stored items
    exact, _ = _exact(q, x[rows], 10, None)
    truth = [{ids[rows[j]] for j in row} for row in exact]
    found = loaded.query(q, 10)[0]
    assert np.mean([len(t & set(f)) / 10 for t, f in zip(truth, found)]) >= 0.95


def test_a_row_no_longer_searched_stays_in_its_graph_and_out_of_every_answer(tmp_path):
    ids, x, rows, places, q = setup()
    SavedGraphs(tmp_path / "g", PARAMS, exact_max=100).index(ids, x, rows, places)
    gone = np.argsort(places)[[500, 1300]]  # two items deleted from the middle of the state
    keep = ~np.isin(np.arange(len(rows)), gone)
    absent = ([ids[rows[g]] for g in gone], x[rows[gone]], places[gone])
    graphs = SavedGraphs(tmp_path / "g", PARAMS, exact_max=100)
    got = graphs.index(ids, x, rows[keep], places[keep], absent)
    shards = len(np.unique(places // PARAMS.shard_size))
    assert (graphs.built, graphs.loaded) == (0, shards) and len(got) == len(rows) - 2
    # as a build of the same rows, searched and not, in another folder answers
    afresh = SavedGraphs(tmp_path / "other", PARAMS, exact_max=100)
    assert answers(got, q) == answers(afresh.index(ids, x, rows[keep], places[keep], absent), q)
    assert afresh.built == shards
    near_gone = got.query(x[rows[gone]], 20)[0]
    assert not {ids[rows[g]] for g in gone} & {i for row in near_gone for i in row}
    exact, _ = _exact(x[rows[gone]], x[rows[keep]], 10, None)
    truth = [{ids[rows[keep][j]] for j in row} for row in exact]
    assert np.mean([len(t & set(f[:10])) / 10 for t, f in zip(truth, near_gone)]) >= 0.9


def test_a_shard_whose_rows_changed_is_built_again_and_the_rest_loaded(tmp_path):
    ids, x, rows, places, q = setup()
    SavedGraphs(tmp_path / "g", PARAMS, exact_max=100).index(ids, x, rows, places)
    gone = np.argsort(places)[500]  # a row no longer in the state (a changed item written anew)
    keep = np.arange(len(rows)) != gone
    graphs = SavedGraphs(tmp_path / "g", PARAMS, exact_max=100)
    got = graphs.index(ids, x, rows[keep], places[keep])
    shards = len(np.unique(places // PARAMS.shard_size))
    assert (graphs.built, graphs.loaded) == (1, shards - 1)
    afresh = SavedGraphs(tmp_path / "other", PARAMS, exact_max=100).index(ids, x, rows[keep], places[keep])
    assert answers(got, q) == answers(afresh, q)
    # the graph built for the shard as it was is removed
    assert len(list((tmp_path / "g").glob(f"*{SUFFIX}"))) == shards


def test_a_damaged_graph_file_is_built_again(tmp_path):
    ids, x, rows, places, q = setup(900)
    expected = answers(SavedGraphs(tmp_path / "g", PARAMS, exact_max=100).index(ids, x, rows, places), q)
    victim = sorted((tmp_path / "g").glob(f"*{SUFFIX}"))[1]
    victim.write_bytes(victim.read_bytes()[:100])
    graphs = SavedGraphs(tmp_path / "g", PARAMS, exact_max=100)
    assert answers(graphs.index(ids, x, rows, places), q) == expected
    assert graphs.built == 1
    assert SavedGraphs(tmp_path / "g", PARAMS, exact_max=100).index(ids, x, rows, places) is not None


def test_few_stored_items_are_searched_exactly_without_files(tmp_path):
    ids, x, rows, places, q = setup(300)
    graphs = SavedGraphs(tmp_path / "g", PARAMS, exact_max=1000)
    index = graphs.index(ids, x, rows, places)
    assert isinstance(index, NeighbourIndex) and index.exact
    plain = NeighbourIndex(exact_max=1000)
    plain.add([ids[r] for r in rows], x[rows])
    assert answers(index, q) == answers(plain, q)
    assert not (tmp_path / "g").exists()
