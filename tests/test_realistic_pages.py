"""Pages as scrapers deliver them (tests/data/realistic, written for these tests),
through the CLI and the real bundled model: a dispatch republished with other
chrome and cut short, its translation into another script, separate reports of
the same event in other languages, pages that open with a date and a byline."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterer.cli import main

DATA = Path(__file__).parent / "data" / "realistic" / "pages"
DISPATCH = ["grid_daily.txt", "grid_portal.txt", "grid_ru.txt", "grid_wire.txt"]
GRID = sorted(DISPATCH + ["grid_fr.txt", "grid_it.txt", "grid_vi.txt"])
PARADE = ["parade_fr.txt", "parade_vi.txt"]


@pytest.fixture(scope="module")
def realistic(tmp_path_factory, model_cache):
    out = tmp_path_factory.mktemp("realistic") / "r.json"
    result = CliRunner().invoke(main, [str(DATA), "--out", str(out), "--cache-dir", str(model_cache), "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    return data, {it["id"]: it for it in data["items"]}


def _group_of(items, item_id):
    return items[item_id]["duplicate_group"]


def test_dispatch_republished_and_translated_is_one_group(realistic):
    _, items = realistic
    group = _group_of(items, "grid_wire.txt")
    assert group is not None
    assert all(_group_of(items, page) == group for page in DISPATCH)


def test_separate_reports_of_the_event_are_not_duplicates(realistic):
    _, items = realistic
    group = _group_of(items, "grid_wire.txt")
    for page in ("grid_fr.txt", "grid_vi.txt"):
        assert _group_of(items, page) != group or group is None
    # two reports of one parade that share most names and figures: not one article
    assert _group_of(items, "parade_fr.txt") is None and _group_of(items, "parade_vi.txt") is None


def test_italian_report_with_the_same_facts_is_not_a_duplicate(realistic):
    _, items = realistic
    assert _group_of(items, "grid_it.txt") != _group_of(items, "grid_wire.txt")


def test_stories_hold_together_and_the_unrelated_page_is_noise(realistic):
    data, items = realistic
    stories = [s for s in data["stories"] if s["articles"] >= 2]
    assert [sorted(m for m in s["members"] if "#" not in m) for s in stories] == [GRID, PARADE]
    assert items["football_de.txt"]["story"] is None


def test_evidence_says_why_pages_are_one_article(realistic):
    data, _ = realistic
    [group] = [g for g in data["duplicate_groups"] if "grid_wire.txt" in g["members"]]
    by_pair = {(e["a"], e["b"]): e for e in group["evidence"]}
    translated = by_pair.get(("grid_ru.txt", "grid_wire.txt"))
    assert translated is not None and translated["aligned_sentences"] >= 8
    republished = [e for e in group["evidence"] if e["same_language"]]
    assert republished and all(e["containment"] >= 0.5 for e in republished)


def test_titles_and_dates_come_from_the_article_not_the_chrome(realistic):
    data, items = realistic
    assert items["grid_vi.txt"]["title"].startswith("Kenya và Tanzania")
    assert items["grid_wire.txt"]["title"] == "Kenya and Tanzania sign deal to link power grids"
    assert items["grid_daily.txt"]["title"] == "Power line to tie Kenyan and Tanzanian grids together"
    assert items["grid_vi.txt"]["date"] == items["grid_ru.txt"]["date"] == "2025-05-26"
    assert items["football_de.txt"]["date"] == "2025-05-18"
    for story in data["stories"]:
        assert not any(ch.isdigit() for ch in story["title"][:10]), story["title"]


def test_nightly_places_a_translation_that_arrives_later(tmp_path, model_cache):
    """Night 1 holds the dispatch and its republications; night 2 brings the Russian
    translation, which the nightly job aligns against the stored pages and puts in
    their duplicate group, as a batch run over the same corpus does."""
    import shutil

    from clusterer.nightly.job import Nightly
    from clusterer.pipeline import Clusterer

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for page in DISPATCH + ["grid_fr.txt", "football_de.txt"]:
        if page != "grid_ru.txt":
            shutil.copy(DATA / page, corpus / page)
    state = tmp_path / "state.sqlite"
    with Clusterer(cache_dir=model_cache) as clusterer:
        Nightly(state, clusterer).update(corpus)
        shutil.copy(DATA / "grid_ru.txt", corpus / "grid_ru.txt")
        report = Nightly(state, clusterer).update(corpus).to_dict()
        batch = clusterer.run(corpus)
    joined = {d["id"]: d for d in report["new_duplicates"]}
    assert joined["grid_ru.txt"]["canonical"] in DISPATCH  # joined the stored dispatch's group
    assert not report["duplicate_groups_created"]
    stored = {it.id: it.duplicate_group for it in batch.items}
    assert stored["grid_ru.txt"] == stored["grid_wire.txt"] is not None
