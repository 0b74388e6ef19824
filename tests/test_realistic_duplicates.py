"""Duplicates that only the sentence alignment can tell, on pages written for these
tests (tests/data/realistic/duplicates.jsonl, the project's own words, made-up
events): Chinese and Japanese translations a third the length of their sources,
statements and briefs of two or three sentences, short copies of long dispatches
in another language, two agencies' reports of one event, and official reports
written to one template for other guests or another month. Run once through the
CLI with the bundled model; each test is one kind."""

import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterer.cli import main

DATA = Path(__file__).parent / "data" / "realistic" / "duplicates.jsonl"
# the same kinds on other made-up events, written after the rules were chosen
HELD_OUT = Path(__file__).parent / "data" / "realistic" / "duplicates_validation.jsonl"


def _run(path, tmp_path, model_cache):
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, [str(path), "--out", str(out), "--cache-dir", str(model_cache), "-q"])
    assert result.exit_code == 0, result.output
    found = {it["id"]: it["duplicate_group"] for it in json.loads(out.read_text(encoding="utf-8"))["items"]}
    gold: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["dup"]:
            gold[record["dup"]].append(record["id"])
    return found, gold


@pytest.fixture(scope="module")
def pages(tmp_path_factory, model_cache):
    return _run(DATA, tmp_path_factory.mktemp("dups"), model_cache)


def test_held_out_pages_every_article_found_and_one_false_pair(tmp_path, model_cache):
    found, gold = _run(HELD_OUT, tmp_path, model_cache)
    for ids in gold.values():
        assert _one_article(found, *ids), ids
    labelled = {i for ids in gold.values() for i in ids}
    wrong = sorted(i for i, g in found.items() if g is not None and i not in labelled)
    # known limit: two foreign-ministry statements on two matters in Spanish and Italian,
    # built from the same stock phrases, align sentence by sentence (no names or figures to tell)
    assert wrong == ["short-mfa-es", "short-mfa-it"]


def _one_article(found, *ids):
    return found[ids[0]] is not None and all(found[i] == found[ids[0]] for i in ids)


def _apart(found, a, b):
    return found[a] is None or found[a] != found[b]


def _gold_pairs(gold, prefix):
    return [ids for ids in gold.values() if ids[0].startswith(prefix)]


@pytest.mark.parametrize("prefix", ["zh-", "ja-"])
def test_chinese_and_japanese_translations_are_one_article_with_their_source(pages, prefix):
    found, gold = pages
    for ids in _gold_pairs(gold, prefix):
        assert _one_article(found, *ids), ids
    assert _apart(found, "zh-museum-en", "zh-museum-zh-local")  # a Chinese outlet's own report


def test_statements_and_briefs_of_two_sentences_are_one_article_across_languages(pages):
    found, gold = pages
    for ids in _gold_pairs(gold, "short-"):
        assert _one_article(found, *ids), ids
    # stock phrases of a foreign ministry on two matters; two fires in two textile plants
    assert _apart(found, "short-ministry-es", "short-ministry-it")
    assert _apart(found, "short-fire-en", "short-fire-de")


def test_a_short_copy_in_another_language_is_one_article_with_the_long_dispatch(pages):
    found, gold = pages
    for ids in _gold_pairs(gold, "part-"):
        assert _one_article(found, *ids), ids
    assert _apart(found, "part-river-en", "part-river-es")


def test_two_agencies_reports_of_one_event_are_two_articles(pages):
    found, _ = pages
    assert _apart(found, "agency-hospital-a-en", "agency-hospital-b-en")
    assert _apart(found, "agency-factory-it", "agency-factory-de")
    # one mission's launch, landing and return: the landing report and its translation only
    assert _one_article(found, "agency-corvina-landing-en", "agency-corvina-landing-es")
    for other in ("agency-corvina-launch-en", "agency-corvina-return-es"):
        assert _apart(found, "agency-corvina-landing-en", other)
    groups = defaultdict(set)
    for item, group in found.items():
        if group is not None:
            groups[group].add(item)
    for members in groups.values():  # no agency page is grouped with a page of another kind
        kinds = {m.split("-")[0] for m in members}
        assert len(kinds) == 1, members


@pytest.mark.xfail(
    strict=True,
    reason="known limit: two agencies' reports of one closing ceremony in English and French give "
    "the same results in the same order, and six of eight sentences align as a translation's would",
)
def test_two_agencies_in_two_languages_on_one_ceremony_are_two_articles(pages):
    found, _ = pages
    assert _apart(found, "agency-chess-en", "agency-chess-fr")


def test_reports_written_to_one_template_are_two_articles(pages):
    found, gold = pages
    for ids in _gold_pairs(gold, "template-"):
        assert _one_article(found, *ids), ids
    # welcome ceremonies of two state visits, a year apart, in English and French
    for a in ("template-visit1-en", "template-visit1-fr"):
        for b in ("template-visit2-en", "template-visit2-fr"):
            assert _apart(found, a, b)
    # one office's releases for March and April
    assert _apart(found, "template-stats-mar-en", "template-stats-apr-en")
    assert _apart(found, "template-stats-mar-es", "template-stats-apr-en")
