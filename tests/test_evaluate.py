"""Tests for clusterer.evaluation (gold loaders, metrics, report) and scripts/convert_eval.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import shared_path

from clusterer.errors import CorpusError
from clusterer.evaluation.gold import count_languages, distinct_texts, load_gold, load_pairs
from clusterer.evaluation.metrics import PRF, EvalReport, bcubed, evaluate, pair_scores_report, pairwise
from clusterer.records import ARTICLE, TEASER

REPO = Path(__file__).resolve().parents[1]

# The running example: gold a, b, c in X; d, e in Y; f is noise.
GOLD = {"a": "X", "b": "X", "c": "X", "d": "Y", "e": "Y", "f": None}


def approx(*values):
    return pytest.approx(values)


# ------------------------------------------------------------------- B-cubed


def test_bcubed_mixed_prediction_with_noise():
    # pred: {a, b} in 1; {c, d, e, f} in 2 (the noise item f is put in a cluster).
    # item  pred cluster  gold cluster  overlap  precision  recall
    # a     {a,b}         {a,b,c}       2        2/2        2/3
    # b     {a,b}         {a,b,c}       2        2/2        2/3
    # c     {c,d,e,f}     {a,b,c}       1        1/4        1/3
    # d     {c,d,e,f}     {d,e}         2        2/4        2/2
    # e     {c,d,e,f}     {d,e}         2        2/4        2/2
    # f     {c,d,e,f}     {f}           1        1/4        1/1
    # P = (1 + 1 + 1/4 + 1/2 + 1/2 + 1/4) / 6 = 3.5/6 = 7/12
    # R = (2/3 + 2/3 + 1/3 + 1 + 1 + 1) / 6 = (14/3)/6 = 7/9
    # F1 = 2 (7/12)(7/9) / (7/12 + 7/9) = (98/108) / (49/36) = 2/3
    pred = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 2, "f": 2}
    assert bcubed(GOLD, pred) == approx(7 / 12, 7 / 9, 2 / 3)


def test_bcubed_perfect_prediction_with_other_label_names():
    pred = {"a": "s1", "b": "s1", "c": "s1", "d": "s2", "e": "s2", "f": None}
    assert bcubed(GOLD, pred) == approx(1.0, 1.0, 1.0)


def test_bcubed_all_in_one():
    # One predicted cluster of 6. Recall is 1 for everyone.
    # Precision: a, b, c: 3/6; d, e: 2/6; f: 1/6 -> (3/2 + 2/3 + 1/6) / 6 = (7/3)/6 = 7/18
    # F1 = 2 (7/18) / (7/18 + 1) = (14/18) / (25/18) = 14/25
    pred = dict.fromkeys(GOLD, "Z")
    assert bcubed(GOLD, pred) == approx(7 / 18, 1.0, 14 / 25)


def test_bcubed_all_singletons_none_or_missing():
    # Precision is 1 for everyone. Recall: a, b, c: 1/3; d, e: 1/2; f: 1
    # R = (1 + 1 + 1) / 6 = 1/2; F1 = 2 * 1 * 1/2 / (3/2) = 2/3
    expected = approx(1.0, 0.5, 2 / 3)
    assert bcubed(GOLD, dict.fromkeys(GOLD)) == expected
    assert bcubed(GOLD, {}) == expected  # missing items are singletons
    # items only in the prediction are ignored
    assert bcubed(GOLD, {"zz": "X", "yy": "X"}) == expected


def test_noise_items_are_not_one_cluster():
    gold = {"a": None, "b": None}
    # Both sides all-noise: each item is a singleton on both sides.
    assert bcubed(gold, {"a": None, "b": None}) == approx(1.0, 1.0, 1.0)
    assert pairwise(gold, {"a": None, "b": None}) == approx(1.0, 1.0, 1.0)
    # Predicting the two noise items together: precision 1/2 each, recall 1.
    assert bcubed(gold, {"a": 1, "b": 1}) == approx(0.5, 1.0, 2 / 3)
    # Pairwise: 1 predicted pair, 0 true -> P 0; no gold pairs -> R 1.0; F1 0.
    assert pairwise(gold, {"a": 1, "b": 1}) == approx(0.0, 1.0, 0.0)


def test_empty_gold_is_an_error():
    with pytest.raises(ValueError):
        bcubed({}, {})
    with pytest.raises(ValueError):
        pairwise({}, {"a": 1})


# ------------------------------------------------------------------- pairwise


def test_pairwise_mixed_prediction_with_noise():
    # Same prediction as the B-cubed case: {a, b} in 1; {c, d, e, f} in 2.
    # Gold pairs: C(3,2) + C(2,2) = 3 + 1 = 4.  Predicted pairs: C(2,2) + C(4,2) = 1 + 6 = 7.
    # TP cells: (X,1) = {a,b} -> 1 pair; (X,2) = {c} -> 0; (Y,2) = {d,e} -> 1; f alone -> 0.
    # TP = 2; P = 2/7; R = 2/4 = 1/2; F1 = 2 (2/7)(1/2) / (2/7 + 1/2) = (2/7) / (11/14) = 4/11
    pred = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 2, "f": 2}
    assert pairwise(GOLD, pred) == approx(2 / 7, 1 / 2, 4 / 11)


def test_pairwise_perfect_all_in_one_and_singletons():
    perfect = {"a": 7, "b": 7, "c": 7, "d": 8, "e": 8}  # f missing = singleton, as in gold
    assert pairwise(GOLD, perfect) == approx(1.0, 1.0, 1.0)
    # All in one: 15 predicted pairs, all 4 gold pairs found.
    # P = 4/15, R = 1, F1 = 2 (4/15) / (19/15) = 8/19
    assert pairwise(GOLD, dict.fromkeys(GOLD, "Z")) == approx(4 / 15, 1.0, 8 / 19)
    # All singletons: no predicted pairs -> P = 1.0 by convention; R = 0; F1 = 0.
    assert pairwise(GOLD, {}) == approx(1.0, 0.0, 0.0)


# ------------------------------------------------------------------ pair report


def test_pair_scores_report_pearson_and_auc():
    # sim = [0, 1, 2, 3], gold = [1, 2, 4, 3]
    # deviations: sim -1.5 -0.5 0.5 1.5; gold -1.5 -0.5 1.5 0.5
    # sum of products = 2.25 + 0.25 + 0.75 + 0.75 = 4; sums of squares 5 and 5 -> r = 4/5
    # positives (gold <= 1.5): index 0 (sim 0); negatives (>= 3.5): index 2 (sim 2) -> AUC 0
    report = pair_scores_report([0, 1, 2, 3], [1, 2, 4, 3])
    assert report.pearson_similarity == pytest.approx(0.8)
    assert report.pearson == pytest.approx(-0.8)
    assert report.auc == pytest.approx(0.0)
    assert (report.n_pairs, report.n_positive, report.n_negative) == (4, 1, 1)


def test_pair_scores_report_auc_three_quarters():
    # positives: sims 0.9, 0.8 (gold 1, 1.5); negatives: sims 0.1, 0.85 (gold 4, 3.5);
    # gold 2.5 is left out. Of the 4 (pos, neg) pairs the positive wins 3: AUC = 3/4.
    report = pair_scores_report([0.9, 0.8, 0.5, 0.1, 0.85], [1, 1.5, 2.5, 4, 3.5])
    assert report.auc == pytest.approx(0.75)
    assert (report.n_positive, report.n_negative) == (2, 2)
    assert report.pearson_similarity < 0 < report.pearson
    assert report.to_dict()["n_pairs"] == 5


def test_pair_scores_report_degenerate_inputs():
    report = pair_scores_report([0.5, 0.5, 0.5], [1, 2, 3])
    assert report.pearson is None and report.pearson_similarity is None
    assert report.auc is None  # no negative class
    with pytest.raises(ValueError):
        pair_scores_report([0.1, 0.2], [1.0])


# -------------------------------------------------------------------- loaders


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_gold_reads_records_story_and_dup(tmp_path):
    path = _write(
        tmp_path / "g.jsonl",
        [
            json.dumps({"id": "1", "text": "t1", "lang": "en", "story": "s", "dup": "d"}),
            "",
            json.dumps({"id": "2", "text": "t2", "lang": "fr", "title": "T", "story": "s"}),
            json.dumps({"id": "3", "text": "t3", "story": None, "dup": None}),
        ],
    )
    records, story, dup = load_gold(path)
    assert [r.id for r in records] == ["1", "2", "3"]
    assert records[1].title == "T" and records[1].lang == "fr"
    assert story == {"1": "s", "2": "s", "3": None}
    assert dup == {"1": "d", "2": None, "3": None}
    assert count_languages(records) == 2


def test_load_gold_without_dup_field_has_no_dup_labels(tmp_path):
    path = _write(tmp_path / "g.jsonl", [json.dumps({"id": "1", "text": "t", "story": "s"})])
    assert load_gold(path)[2] == {}


def test_load_gold_reports_bad_lines_with_numbers(tmp_path):
    path = _write(
        tmp_path / "bad.jsonl",
        [
            json.dumps({"id": "1", "text": "t", "story": "s"}),
            '{"id": "2", "text": ',  # line 2: bad JSON
            json.dumps({"id": "3", "text": "t"}),  # line 3: no story
            json.dumps({"id": "1", "text": "t", "story": "s"}),  # line 4: repeated id
            json.dumps({"id": "5", "text": "t", "story": 5}),  # line 5: story not a string
        ],
    )
    with pytest.raises(CorpusError) as info:
        load_gold(path)
    message = str(info.value)
    assert str(path) in message and "4 bad line(s)" in message
    for needle in (
        "line 2: bad JSON",
        "line 3: 'story' is missing",
        "line 4: id '1' repeats",
        "line 5: 'story' must be a string",
    ):
        assert needle in message


def test_load_gold_missing_or_empty_file(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_gold(tmp_path / "nope.jsonl")
    with pytest.raises(CorpusError, match="no gold records"):
        load_gold(_write(tmp_path / "empty.jsonl", [""]))


def test_load_pairs_and_distinct_texts(tmp_path):
    rows = [
        {"id1": "a", "id2": "b", "lang1": "en", "lang2": "en", "text1": "A", "text2": "B", "score": 1.0},
        {"id1": "a", "id2": "c", "lang1": "en", "lang2": "de", "text1": "A", "text2": "C", "score": 4},
        {"id1": "b", "id2": "c", "lang1": "en", "lang2": "de", "text1": "B", "text2": "C2", "score": 2.5},
    ]
    pairs = load_pairs(_write(tmp_path / "p.jsonl", [json.dumps(r) for r in rows]))
    assert [p.score for p in pairs] == [1.0, 4.0, 2.5]
    texts, first, second = distinct_texts(pairs)
    # deduplicated by text, not by id: article c has two texts
    assert texts == ["A", "B", "C", "C2"]
    assert first.tolist() == [0, 0, 1] and second.tolist() == [1, 2, 3]
    bad = _write(tmp_path / "bad.jsonl", [json.dumps(dict(rows[0], score=5)), "nope"])
    with pytest.raises(CorpusError, match=r"line 1: 'score' 5 is outside 1\.\.4.*line 2: bad JSON"):
        load_pairs(bad)


# --------------------------------------------------------------------- evaluate


def _item(item_id, story, dup=None, kind=ARTICLE):
    return SimpleNamespace(id=item_id, story=story, duplicate_group=dup, kind=kind)


def test_evaluate_ignores_teasers_and_counts_extras():
    gold_dup = {"a": "g1", "b": "g1", "c": None, "d": None, "e": None, "f": None}
    results = [
        _item("a", 1, "x"),
        _item("b", 1, "x"),
        _item("c", 1),
        _item("d", 2),
        _item("e", 2),
        _item("f", None),
        _item("a#teaser-0", 1, kind=TEASER),
        _item("a#teaser-1", 2, kind=TEASER),  # teasers: ignored
        _item("stray", 3),  # not in gold: ignored, counted
        SimpleNamespace(id="stray-2", story=None, duplicate_group=None),  # no kind: an article, counted
        _item("a-related-1", 3, kind=TEASER),  # a teaser is told by its kind, not its id
    ]
    report = evaluate(
        results, GOLD, gold_dup, dataset="toy", n_languages=2, wall_seconds=1.25, command="clusterer run toy"
    )
    assert report.story == PRF(1.0, 1.0, 1.0)
    assert report.story_pairwise == PRF(1.0, 1.0, 1.0)
    assert report.dup == PRF(1.0, 1.0, 1.0)
    assert (report.n_items, report.n_gold_stories, report.n_pred_stories) == (6, 2, 2)
    assert (report.n_missing, report.n_extra) == (0, 2)
    data = report.to_dict()
    assert data["story"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert data["dataset"] == "toy" and data["wall_seconds"] == 1.25
    json.dumps(data)  # serialisable as it is
    row = report.format_table_row()
    assert row == (
        "| toy | 6 | 2 | 1.000 / 1.000 / 1.000 | n/a | 1.000 / 1.000 / 1.000 | 1.2 s | `clusterer run toy` |"
    )
    assert row.count("|") == EvalReport.table_header().splitlines()[0].count("|")


def test_evaluate_missing_items_and_no_dup_gold():
    report = evaluate([_item("a", "Z")], GOLD, {})
    assert report.dup is None
    assert report.n_missing == 5
    # a alone in a predicted cluster; everything else missing = singletons: as all-singletons
    assert (report.story.precision, report.story.recall) == approx(1.0, 0.5)
    assert "| n/a |" in report.format_table_row()


def test_evaluate_rejects_conflicting_duplicate_ids():
    with pytest.raises(ValueError, match="twice"):
        evaluate([_item("a", 1), _item("a", 2)], GOLD)


# -------------------------------------------------------------- real eval data


def _shared_eval() -> Path:
    return shared_path("eval").parent


def _converter():
    spec = importlib.util.spec_from_file_location("convert_eval", REPO / "scripts" / "convert_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_on_shared_data(tmp_path, capsys):
    shared = _shared_eval()
    converter = _converter()
    assert converter.main(["--shared", str(shared), "--out", str(tmp_path / "one")]) == 0
    assert "itn.jsonl: items 2666, stories 267, languages 54" in capsys.readouterr().out

    records, story, dup = load_gold(tmp_path / "one" / "itn.jsonl")
    assert len(records) == 2666
    assert len(set(story.values())) == 267 and None not in story.values()
    assert count_languages(records) == 54
    lang = {r.id: r.lang for r in records}
    members: dict[str, list[str]] = {}
    for item, group in dup.items():
        if group is not None:
            members.setdefault(group, []).append(item)
    # the rule (same story, same lang, difflib ratio >= 0.8, union-find) makes 672 groups
    assert len(members) == 672 and sum(map(len, members.values())) == 1763
    for ids in members.values():
        assert len(ids) >= 2
        assert len({story[i] for i in ids}) == 1 and len({lang[i] for i in ids}) == 1

    en = load_pairs(tmp_path / "one" / "semeval_en.jsonl")
    ml = load_pairs(tmp_path / "one" / "semeval_ml.jsonl")
    assert (len(en), len(ml)) == (354, 1102)
    assert {(p.lang1, p.lang2) for p in en} == {("en", "en")}

    # deterministic: a second run writes the same bytes
    converter.main(["--shared", str(shared), "--out", str(tmp_path / "two")])
    for name in ("itn.jsonl", "semeval_en.jsonl", "semeval_ml.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_converter_reports_missing_source(tmp_path, capsys):
    assert _converter().main(["--shared", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "not found" in capsys.readouterr().err
