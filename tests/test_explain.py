"""`cluster explain` and the per-language-pair recall of `cluster eval`."""

import json

from click.testing import CliRunner

from clusterer.cli import main
from clusterer.evaluation.metrics import recall_by_languages

RESULT = {
    "items": [
        {"id": "a", "kind": "article", "lang": "en", "story": "s1", "event": "e1", "duplicate_group": "d1"},
        {"id": "b", "kind": "article", "lang": "ru", "story": "s1", "event": "e1", "duplicate_group": "d1"},
        {"id": "c", "kind": "article", "lang": "ru", "story": "s1", "event": "e1", "duplicate_group": "d1"},
        {"id": "d", "kind": "article", "lang": "fr", "story": "s1", "event": "e2", "duplicate_group": None},
    ],
    "duplicate_groups": [
        {
            "id": "d1",
            "members": ["a", "b", "c"],
            "evidence": [
                {
                    "a": "a",
                    "b": "b",
                    "same_language": False,
                    "cosine": 0.61,
                    "overlap": 0.0,
                    "containment": 0.0,
                    "aligned_sentences": 11,
                    "aligned_share": 1.0,
                },
                {"a": "b", "b": "c", "same_language": True, "cosine": 0.9, "overlap": 0.7, "containment": 0.95},
            ],
        }
    ],
}


def _explain(tmp_path, *ids, data=RESULT):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"metrics": {}, "result": data}))  # as `cluster eval --out` writes it
    return CliRunner().invoke(main, ["explain", str(path), *ids])


def test_explain_prints_the_evidence_of_a_pair(tmp_path):
    out = _explain(tmp_path, "b", "a")
    assert out.exit_code == 0
    assert "sentences aligned, in order: 11" in out.output and "different languages" in out.output


def test_explain_a_pair_joined_through_others_and_a_pair_apart(tmp_path):
    out = _explain(tmp_path, "a", "c")
    assert out.exit_code == 0 and "joined through other members" in out.output and "b ~ c" in out.output
    out = _explain(tmp_path, "a", "d")
    assert out.exit_code == 0 and "Not one duplicate group" in out.output


def test_explain_says_whether_the_pair_shares_a_story_and_an_event(tmp_path):
    out = _explain(tmp_path, "a", "b")
    assert "a: article, language en, story s1, event e1, duplicate group d1" in out.output
    assert "One story (s1), one event (e1): the same occurrence." in out.output
    out = _explain(tmp_path, "a", "d")
    assert "One story (s1), two of its events (e1, e2)." in out.output


def test_explain_unknown_item_is_one_line_error(tmp_path):
    out = _explain(tmp_path, "a", "zz")
    assert out.exit_code == 1 and "no item 'zz'" in out.output and "Traceback" not in out.output


def test_recall_by_languages_counts_gold_pairs_found():
    gold = {"a": "g", "b": "g", "c": "g", "d": None}
    pred = {"a": "d1", "b": "d1", "c": None, "d": None}
    langs = {"a": "en", "b": "ru", "c": "ja", "d": "fr"}
    assert recall_by_languages(gold, pred, langs) == {"en/ru": [1, 1], "en/ja": [0, 1], "ja/ru": [0, 1]}
