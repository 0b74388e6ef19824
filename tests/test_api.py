"""The Python API: the public names, ``Clusterer.from_embeddings`` for vectors
computed already, and methods that leave what they are given as it was."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder, topical
from test_pipeline import PAGE, corpus

import clusterer
from clusterer import Clusterer, ClustererError, Item, Record
from clusterer.errors import CorpusError
from clusterer.records import ARTICLE, TEASER

ROOT = Path(__file__).resolve().parents[1]


def plain_records() -> list[Record]:
    """The pipeline tests' corpus without its page: records that are one article each."""
    return [r for r in corpus() if r.id != "nigeria-page"]


def test_the_public_names_are_there_and_the_errors_are_the_projects():
    for name in clusterer.__all__:
        assert getattr(clusterer, name) is not None, name
    wanted = {"Clusterer", "Nightly", "ChangeReport", "ClusterResult", "load_result", "write_output", "write_html"}
    wanted |= {"dedup", "Record", "Item", "StoryParams", "DuplicateParams", "load_settings", "Encoder"}
    wanted |= {"default_encoder", "ClustererError", "CorpusError", "ModelError", "StateError", "OutputError"}
    assert wanted <= set(clusterer.__all__)
    errors = [getattr(clusterer, name) for name in clusterer.__all__ if name.endswith(("Error", "Locked"))]
    assert len(errors) >= 7 and all(issubclass(e, ClustererError) for e in errors)
    assert len(clusterer.__all__) == len(set(clusterer.__all__))


def test_from_embeddings_finds_what_run_finds_on_the_same_vectors():
    records = plain_records()
    with Clusterer(encoder=topical(), cache_dir=None) as c:
        ran = c.run(records)
        vectors = c.embed(c.split(records)) * 3.0  # any length: rows are normalised
        got = c.from_embeddings(records, vectors)
    assert [s.members for s in got.stories] == [s.members for s in ran.stories] == [["quake-1", "quake-2", "quake-3"]]
    assert [g.members for g in got.duplicate_groups] == [g.members for g in ran.duplicate_groups]
    assert [(it.id, it.story, it.duplicate_group, it.lang) for it in got.items] == [
        (it.id, it.story, it.duplicate_group, it.lang) for it in ran.items
    ]
    assert got.model == "fake/topic" and got.skipped == [] and set(got.timings) == {"analyse", "align", "total"}


def test_from_embeddings_takes_each_record_as_one_article():
    page = {"id": "page", "text": PAGE, "title": "Nigeria votes", "date": "2023-02-25"}  # no lang: identified
    other = {"id": "other", "text": "Voters in Nigeria chose a president.", "lang": "en"}
    enc = FakeEncoder()
    vectors = enc.encode([page["text"], other["text"]])
    with Clusterer(encoder=enc, cache_dir=None, max_chars=300) as c:
        result = c.from_embeddings([page, other], vectors)
    assert [(it.id, it.doc, it.kind) for it in result.items] == [("page", "page", ARTICLE), ("other", "other", ARTICLE)]
    assert result.items[0].lang == "en" and result.items[0].title == "Nigeria votes"
    assert result.truncated == [{"id": "page", "chars": len(PAGE)}]  # its text cut at max_chars, as run cuts


TWO = [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]


@pytest.mark.parametrize(
    ("records", "vectors", "error", "match"),
    [
        (TWO, np.ones((3, 4)), ValueError, "3 vectors for 2 records"),
        ([{"id": "a", "text": "x"}], np.ones(4), ValueError, "2-D array"),
        ([{"id": "a", "text": "x"}], np.ones((1, 0)), ValueError, "2-D array"),
        ([{"id": "a", "text": "x"}], [[1.0, 2.0], [3.0]], ValueError, "2-D array of numbers"),
        (TWO, [[1, 0], [np.nan, 1]], ValueError, "'b' .row 1. holds NaN"),
        (TWO, [[0, 0], [0, 1]], ValueError, "'a' .row 0. is all zeros"),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], np.ones((2, 4)), CorpusError, "duplicate record id 'a'"),
        ([{"id": "a#teaser-1", "text": "x"}], np.ones((1, 4)), CorpusError, "names the teasers"),
        ([{"id": "a"}], np.ones((1, 4)), CorpusError, "string 'id' and 'text'"),
        ([("a", "x")], np.ones((1, 4)), CorpusError, "cannot use tuple as a record"),
        ([], np.zeros((0, 4)), CorpusError, "no record given"),
        ("corpus/", np.ones((1, 4)), TypeError, "not a path"),
    ],
)
def test_from_embeddings_says_what_does_not_fit(records, vectors, error, match):
    with Clusterer(encoder=FakeEncoder(), cache_dir=None, use_prior=False) as c, pytest.raises(error, match=match):
        c.from_embeddings(records, vectors)


def test_from_embeddings_refuses_vectors_of_another_model():
    records = [{"id": "a", "text": "Storm hits Brittany.", "lang": "en"}]
    with Clusterer(encoder=FakeEncoder(dim=256), cache_dir=None) as c, pytest.raises(ValueError, match="8 dimensions"):
        c.from_embeddings(records, np.ones((1, 8)))


def test_the_public_methods_leave_what_they_are_given_unchanged():
    records = corpus() + [
        Record("long", "Storm Elin hits the coast of Brittany again. " * 200, date="2026-01-15"),  # cut, lang found
        Record("teasers", PAGE, title="Nigeria votes", source="feed.jsonl"),
    ]
    as_dicts = [{"id": "d1", "text": "Storm Elin hits Brittany.", "lang": "en"}, {"id": "d2", "text": PAGE}]
    before, dicts_before = copy.deepcopy(records), copy.deepcopy(as_dicts)
    with Clusterer(encoder=topical(), cache_dir=None, max_chars=2_000) as c:
        c.run(records)
        c.run(as_dicts)
        items = c.split(records)
        assert {it.kind for it in items} == {ARTICLE, TEASER}
        items_before = copy.deepcopy(items)
        vectors = c.embed(items)
        vectors_before = vectors.copy()
        c.analyse(items)
        c.analyse(items, vectors=vectors)
        assert items == items_before and all(isinstance(it, Item) for it in items)
        assert np.array_equal(vectors, vectors_before)
        plain = plain_records()
        plain_before = copy.deepcopy(plain)
        raw = c.embed(c.split(plain)) * 2.0
        raw_before = raw.copy()
        c.from_embeddings(plain, raw)
        c.from_embeddings(as_dicts, topical().encode([d["text"] for d in as_dicts]))
        assert plain == plain_before and np.array_equal(raw, raw_before)
    assert records == before and as_dicts == dicts_before


API_PAGE = ROOT / "docs" / "python-api.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def python_api_example() -> str:
    [code] = [block for block in python_blocks(API_PAGE) if "from_embeddings(" in block]
    return code


def test_the_docs_example_of_from_embeddings_runs(tmp_path, monkeypatch):
    """The docs' example, with the fake encoder in place of the default model."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(clusterer, "default_encoder", lambda *a, **kw: FakeEncoder())
    namespace: dict = {}
    exec(compile(python_api_example(), str(API_PAGE), "exec"), namespace)
    result = namespace["result"]
    assert [it.id for it in result.items] == [r["id"] for r in namespace["records"]]
    assert result.model == "fake/bow-256"


def test_the_docs_example_of_from_embeddings_with_the_model(tmp_path, monkeypatch, model_cache):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "embeddings_cache").symlink_to(model_cache)
    namespace: dict = {}
    exec(compile(python_api_example(), str(API_PAGE), "exec"), namespace)
    result = namespace["result"]
    assert [s.members for s in result.stories] == [["storm-en", "storm-fr"]]
    assert result.noise == ["jazz"]
