"""The acceptance case, through the CLI and the real bundled model (see ../shared/seeds/README.md)."""

import json

import pytest
from click.testing import CliRunner

from clusterer.cli import main

ARTICLES = [
    "000_f3b3e693c4e01450.txt",
    "001_01e4eb2627025de6.txt",
    "002_9cf367e4308b91ca.txt",
    "003_87a623c1ce95cb42.txt",
    "004_68dd66d7231c2937.txt",
]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory, model_cache):
    from conftest import shared_path

    seeds = shared_path("seeds")
    tmp = tmp_path_factory.mktemp("seeds")
    out = tmp / "r.json"
    args = [str(seeds), "--out", str(out), "--cache-dir", str(model_cache), "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text(encoding="utf-8")), result.output


def test_one_duplicate_group_across_languages(seeds_run):
    data, _ = seeds_run
    assert [g["members"] for g in data["duplicate_groups"]] == [[ARTICLES[0], ARTICLES[3]]]
    assert sorted(data["duplicate_groups"][0]["languages"]) == ["fr", "vi"]


def test_one_story_of_the_five_articles(seeds_run):
    data, _ = seeds_run
    assert len(data["stories"]) == 1
    assert data["stories"][0]["members"] == ARTICLES


def test_the_thirteen_teasers_are_noise(seeds_run):
    data, _ = seeds_run
    teasers = [it for it in data["items"] if it["kind"] == "teaser"]
    assert len(teasers) == 13
    assert sum(t["doc"] == ARTICLES[2] for t in teasers) == 7
    assert sum(t["doc"] == ARTICLES[4] for t in teasers) == 6
    assert all(t["story"] is None for t in teasers)
    assert sorted(data["noise"]) == sorted(t["id"] for t in teasers)


def test_items_carry_paths_and_languages(seeds_run):
    data, output = seeds_run
    articles = {it["id"]: it for it in data["items"] if it["kind"] == "article"}
    assert sorted(articles) == ARTICLES
    assert all(a["doc"] == a["id"] for a in articles.values())
    assert articles[ARTICLES[3]]["lang"] == "vi"
    assert {articles[a]["lang"] for a in ARTICLES if a != ARTICLES[3]} == {"fr"}
    assert "1 story, 1 duplicate group, 13 noise" in output


@pytest.mark.model
def test_one_and_two_threads_give_the_same_vectors_and_result(tmp_path):
    """The default PyTorch engine on one thread and on two, each with an empty cache:
    the same vectors, bit for bit, and so the same result."""
    from conftest import shared_path

    from clusterer.embed.e5_torch import E5TorchEncoder
    from clusterer.pipeline import Clusterer

    seeds = shared_path("seeds")
    runs = []
    for threads in (1, 2):
        encoder = E5TorchEncoder(num_threads=threads)
        with Clusterer(encoder=encoder, cache_dir=tmp_path / f"cache{threads}") as clusterer:
            result = clusterer.run(str(seeds))
        runs.append(result.to_dict())
    one, two = runs
    assert one["items"] == two["items"]  # stories, groups, events and map coordinates of every item
    assert one["stories"] == two["stories"] and one["duplicate_groups"] == two["duplicate_groups"]
