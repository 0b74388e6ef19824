"""Story and event labels: titles in the reader's language, keywords, and the CLI's
--display-lang on a run and on a saved result."""

import json

import pytest
from click.testing import CliRunner

from clusterer import ClustererError, ClusterResult, Event, ItemResult, Story, label
from clusterer.cli import main
from clusterer.report import write_json


def _item(id_, lang, date, title, snippet, event="e1"):
    return ItemResult(
        id=id_, doc=id_, kind="article", lang=lang, title=title, date=date, story="s1", snippet=snippet, event=event
    )


def quake() -> ClusterResult:
    items = [
        _item("ko", "ko", "2023-02-06", "튀르키예 강진", "튀르키예 남부 Kahramanmaraş 지진으로 사망자가 늘었다."),
        _item("he", "he", "2023-02-07", "רעידת אדמה בטורקיה", "רעידת האדמה ב-Kahramanmaraş הרגה אלפים."),
        _item(
            "en",
            "en-GB",
            "2023-02-08",
            "Rescuers race the cold in Kahramanmaraş",
            "Rescue teams in Kahramanmaraş and Hatay searched the rubble as Turkey mourned.",
        ),
        _item(
            "en2",
            "en",
            "2023-03-20",
            "Donors pledge billions for Turkey",
            "Donors meeting in Brussels pledged billions for Turkey and Hatay after the quake.",
            event="e2",
        ),
    ]
    story = Story(
        id="s1", title="튀르키예 강진", members=[i.id for i in items], languages=["en", "he", "ko"], articles=4
    )
    story.events = ["e1", "e2"]
    events = [
        Event(id="e1", story="s1", title="튀르키예 강진", members=["en", "he", "ko"], languages=["en", "he", "ko"]),
        Event(id="e2", story="s1", title="Donors pledge billions for Turkey", members=["en2"], languages=["en"]),
    ]
    return ClusterResult(items=items, stories=[story], duplicate_groups=[], events=events)


def test_titles_in_the_readers_language_where_an_article_has_one():
    result = quake()
    assert label(result).stories[0].title == "튀르키예 강진"  # the earliest article's headline
    english = label(result, "en")
    assert english.stories[0].title == "Rescuers race the cold in Kahramanmaraş"  # en-GB is en
    assert english.events[0].title == "Rescuers race the cold in Kahramanmaraş"
    assert label(result, "fr").stories[0].title == "튀르키예 강진"  # no French headline: the default
    assert result.stories[0].title == "튀르키예 강진"  # the given result is left as it is


def test_keywords_are_the_names_the_articles_share_rare_ones_first():
    result = label(quake())
    assert result.stories[0].keywords[:2] == ["Kahramanmaraş", "Hatay"]
    assert result.events[1].keywords == ["Brussels", "Hatay", "Turkey"]  # one article: its own names, rare first


def test_a_bad_display_language_is_one_error():
    with pytest.raises(ClustererError, match="no language tag"):
        label(quake(), "xx-not-a-tag")


def test_report_relabels_a_saved_result(tmp_path):
    path = tmp_path / "r.json"
    write_json(quake(), path)
    out = CliRunner().invoke(main, ["report", str(path), "--display-lang", "en"])
    assert out.exit_code == 0, out.output
    assert "[s1] Rescuers race the cold in Kahramanmaraş" in out.output
    assert "keywords: Kahramanmaraş, Hatay" in out.output
    assert "(e2) undated: Donors pledge billions for Turkey" in out.output
    out = CliRunner().invoke(main, ["report", str(path), "--display-lang", "FRENCH"])
    assert out.exit_code == 1 and "no language tag" in out.output and "Traceback" not in out.output
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["stories"][0]["title"] == "튀르키예 강진"  # report does not rewrite the file


def test_run_refuses_a_bad_display_language_before_any_work(tmp_path):
    out = CliRunner().invoke(main, [str(tmp_path), "--display-lang", "??"])
    assert out.exit_code == 1 and "no language tag" in out.output
