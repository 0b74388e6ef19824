"""Single bad inputs never stop a run nor destroy data (issue 10, first defects)."""

import os

import pytest
from click.testing import CliRunner

from clusterer.cli import main
from clusterer.read import read_corpus
from clusterer.records import day_number


def test_file_name_not_utf8_is_skipped_with_its_reason(tmp_path):
    (tmp_path / "good.txt").write_text("Flood in Valdoria after heavy rain.", encoding="utf-8")
    try:
        with open(os.path.join(os.fsencode(tmp_path), b"bad\xffname.txt"), "wb") as fh:
            fh.write(b"Storm hits Brittany.")
    except OSError:
        pytest.skip("this file system refuses a file name that is not UTF-8")
    records, skipped = read_corpus(tmp_path)
    assert [r.id for r in records] == ["good.txt"]
    assert [s.path for s in skipped] == ["bad\\xffname.txt"] and "not valid UTF-8" in skipped[0].reason
    str(skipped[0]).encode("utf-8")  # printable and storable


@pytest.mark.parametrize(
    "date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "0001-01-01", "9999-12-31T23:59:59Z", "0001"]
)
def test_the_ends_of_the_calendar_mean_no_date_and_are_not_fatal(date):
    assert day_number(date) is None  # what .NET and others write for "no date"
    assert day_number("0002-01-01T00:00:00+01:00") is not None  # an early date still reads


def test_out_path_inside_the_corpus_is_refused_before_any_work(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    data = '{"id": "a", "text": "Storm hits Brittany."}\n'
    (corpus / "records.jsonl").write_text(data, encoding="utf-8")
    for args in (["--out", str(corpus / "records.jsonl")], ["--out", str(corpus / "sub" / "new.txt")]):
        result = CliRunner().invoke(main, [str(corpus), *args, "--cache-dir", str(tmp_path / "c")])
        assert result.exit_code == 1 and "is an input of the corpus" in result.output
    result = CliRunner().invoke(main, [str(corpus / "records.jsonl"), "--out", str(corpus / "records.jsonl")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    result = CliRunner().invoke(main, [str(corpus), "--out", str(tmp_path / "no" / "r.json")])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = CliRunner().invoke(main, ["update", str(corpus), "--state", str(corpus / "s.jsonl")])
    assert result.exit_code == 1 and "is an input of the corpus" in result.output
    assert (corpus / "records.jsonl").read_text(encoding="utf-8") == data  # nothing overwritten
    assert not (tmp_path / "c").exists()  # refused before any work


def test_a_record_id_shaped_like_a_teaser_id_is_refused(tmp_path):
    from clusterer.errors import CorpusError
    from clusterer.pipeline import Clusterer

    (tmp_path / "metro_vi.txt").write_text("Tàu điện chạy.\n\nXem thêm\n\nTin khác về giao thông", encoding="utf-8")
    (tmp_path / "r.jsonl").write_text(
        '{"id": "metro_vi.txt#teaser-1", "text": "Another text."}\n{"id": "b", "text": "Storm hits."}\n',
        encoding="utf-8",
    )
    records, skipped = read_corpus(tmp_path)
    assert [r.id for r in records] == ["metro_vi.txt", "b"]
    assert skipped[0].line == 1 and "#teaser-" in skipped[0].reason
    with pytest.raises(CorpusError, match="teaser"):
        list(Clusterer.stream([{"id": "x#teaser-2", "text": "t"}], []))


def test_a_named_pipe_in_the_corpus_is_skipped_not_read(tmp_path):
    (tmp_path / "good.txt").write_text("Flood in Valdoria after heavy rain.", encoding="utf-8")
    os.mkfifo(tmp_path / "p.txt")  # reading it would block forever
    records, skipped = read_corpus(tmp_path)
    assert [r.id for r in records] == ["good.txt"]
    assert [(s.path, s.reason) for s in skipped] == [("p.txt", "not a regular file")]


def test_unwritable_output_is_one_line_before_any_work(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Storm hits Brittany.", encoding="utf-8")
    result = CliRunner().invoke(main, [str(corpus), "--out", "/proc/x.json", "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 1 and "cannot write in /proc" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "c").exists()


def test_result_files_get_the_usual_mode(tmp_path):
    from clusterer.atomic import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "r.json", lambda fh: fh.write("{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_ctrl_c_exits_130(monkeypatch, tmp_path):
    import clusterer.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "make_clusterer", interrupted)
    (tmp_path / "a.txt").write_text("Storm hits Brittany.", encoding="utf-8")
    result = CliRunner().invoke(main, [str(tmp_path)])
    assert result.exit_code == 130 and "Interrupted" in result.output


def test_utf16_with_a_bom_is_read(tmp_path):
    text = "Bão Elin đổ bộ vào Bretagne, hàng nghìn người sơ tán."
    (tmp_path / "le.txt").write_bytes(text.encode("utf-16"))  # little-endian with a BOM
    (tmp_path / "be.txt").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    records, skipped = read_corpus(tmp_path)
    assert skipped == [] and [r.text for r in records] == [text, text]


def test_given_languages_are_normalised_and_nonsense_reidentified():
    from clusterer.language import LanguageIdentifier
    from clusterer.records import ARTICLE, Item

    text = "Le gouvernement a présenté mercredi un nouveau plan pour le climat."
    items = [
        Item(id=str(k), doc=str(k), kind=ARTICLE, text=text, lang=lang)
        for k, lang in enumerate(["fr-FR", "FR", "fr", "FRENCH", "??", None])
    ]
    LanguageIdentifier().fill(items)
    assert [it.lang for it in items] == ["fr"] * 6


def test_a_newline_in_a_file_name_stays_on_one_summary_line():
    from clusterer.report import summary
    from clusterer.result import ClusterResult, DuplicateGroup, ItemResult, Story

    bad, good = "bad\nname.txt", "good.txt"
    items = [
        ItemResult(id=i, doc=i, kind="article", lang="en", title=None, story="s1", duplicate_group="d1")
        for i in (bad, good)
    ]
    result = ClusterResult(
        items=items,
        stories=[Story("s1", "A\ntitle", [bad, good], ["en"], 2)],
        duplicate_groups=[DuplicateGroup("d1", [bad, good], bad, ["en"], "s1")],
    )
    lines = summary(result).splitlines()
    assert "      - bad\\nname.txt [en]  (duplicate group d1)" in lines
    assert "  [s1] A\\ntitle" in lines
    assert not any(line.startswith("name.txt") or line == "title" for line in lines)


def test_a_huge_record_is_cut_at_max_chars_and_reported():
    from fakes import FakeEncoder

    from clusterer.pipeline import Clusterer
    from clusterer.report import summary

    enc = FakeEncoder()
    huge = "Storm Elin hits the coast of Brittany again. " * 20_000  # 920,000 characters
    with Clusterer(encoder=enc, cache_dir=None, use_prior=False, max_chars=5_000) as clusterer:
        result = clusterer.run([{"id": "huge", "text": huge}, {"id": "b", "text": "Storm hits Brittany."}])
    assert result.truncated == [{"id": "huge", "chars": len(huge)}]
    assert max(map(len, enc.texts)) <= 5_000  # what is embedded stays bounded
    assert "Cut short 1 page (" in summary(result) and result.to_dict()["truncated"] == result.truncated
    with pytest.raises(ValueError, match="max_chars"):
        Clusterer(max_chars=0)


def test_eval_out_cannot_overwrite_its_gold(tmp_path):
    gold = tmp_path / "gold.jsonl"
    data = '{"id": "a", "text": "Storm hits.", "story": null}\n'
    gold.write_text(data, encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", str(gold), "--out", str(gold)])
    assert result.exit_code == 1 and "is an input of the corpus" in result.output
    assert gold.read_text(encoding="utf-8") == data


# --- the nightly job and inputs it cannot read tonight (defect 8) -------------


def _nightly(tmp_path):
    from fakes import bilingual

    from clusterer.nightly.job import Nightly
    from clusterer.pipeline import Clusterer

    return Nightly(tmp_path / "state.sqlite", Clusterer(encoder=bilingual(), cache_dir=None))


_FEED = [
    {
        "id": "flood-1",
        "lang": "en",
        "text": "Heavy rain pushed the river Lenz above its banks in Valdoria; "
        "the authorities ordered the evacuation of eleven villages and moved 4200 people to schools.",
    },
    {
        "id": "flood-2",
        "lang": "fr",
        "text": "Des pluies abondantes ont fait monter le fleuve Lenz; les autorites "
        "ont ordonne l'evacuation de onze villages et 4200 personnes sont dans des ecoles.",
    },
    {
        "id": "strike-1",
        "lang": "en",
        "text": "Workers at the Brenport factory went on strike on Monday over "
        "wages; the union said the strike would last three days.",
    },
]


def _write_feed(path, records, tail=""):
    import json

    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + tail, encoding="utf-8")


def _rows(tmp_path):
    from clusterer.nightly.state import State

    with State(tmp_path / "state.sqlite") as st:
        return st.items()


def test_a_half_written_jsonl_line_is_not_a_deletion(tmp_path):
    import json

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "feed.jsonl"
    _write_feed(feed, _FEED)
    (corpus / "other.jsonl").write_text(
        json.dumps({"id": "chess", "text": "The chess final ended in a draw."}) + "\n", encoding="utf-8"
    )
    _nightly(tmp_path).update(corpus)
    before = _rows(tmp_path)

    # a writer is appending: flood-2's line is cut in the middle when the job runs
    line = json.dumps(_FEED[1], ensure_ascii=False)
    _write_feed(feed, [_FEED[0], _FEED[2]], tail=line[: len(line) // 2])
    (corpus / "other.jsonl").unlink()  # a real deletion, in a file read in full (gone)
    report = _nightly(tmp_path).update(corpus)
    rows = _rows(tmp_path)
    assert report.kept_unread == ["flood-2"] and report.counts["kept_unread"] == 1
    assert [d.id for d in report.deleted_items] == ["chess"]
    assert not rows["flood-2"].deleted and rows["chess"].deleted
    assert (rows["flood-2"].story, rows["flood-2"].dup) == (before["flood-2"].story, before["flood-2"].dup)
    assert "Kept, not deleted" in report.summary() and "feed.jsonl:3" in report.summary()

    # the line is complete the next night: nothing new, nothing deleted
    _write_feed(feed, _FEED)
    report = _nightly(tmp_path).update(corpus)
    assert report.counts["new"] == 0 and report.counts["deleted"] == 0 and report.kept_unread == []

    # removed for real, in a file read in full: deleted
    _write_feed(feed, [_FEED[0], _FEED[2]])
    report = _nightly(tmp_path).update(corpus)
    assert [d.id for d in report.deleted_items] == ["flood-2"]


def test_a_refused_line_does_not_hold_back_deletions(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "feed.jsonl"
    _write_feed(feed, _FEED)
    _nightly(tmp_path).update(corpus)
    # strike-1 removed; a line repeating an id is read and refused, it hides no record
    _write_feed(feed, [_FEED[0], _FEED[1], dict(_FEED[0], text="Another text under a repeated id.")])
    report = _nightly(tmp_path).update(corpus)
    assert [d.id for d in report.deleted_items] == ["strike-1"] and report.kept_unread == []


def test_a_schema_1_state_is_upgraded_and_careful_until_rows_know_their_file(tmp_path):
    import json
    import sqlite3

    from clusterer.nightly.state import SCHEMA_VERSION

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "feed.jsonl"
    _write_feed(feed, _FEED)
    _nightly(tmp_path).update(corpus)
    db = sqlite3.connect(tmp_path / "state.sqlite")  # back to schema 1, as an older version wrote it
    db.execute("ALTER TABLE items DROP COLUMN source")
    db.execute("ALTER TABLE items DROP COLUMN event")  # schema 3's
    db.execute("DROP TABLE events")
    db.execute("UPDATE meta SET v = '1' WHERE k = 'schema'")
    db.commit()
    db.close()

    line = json.dumps(_FEED[2])
    _write_feed(feed, _FEED[:2], tail=line[:20])  # strike-1's line half-written
    report = _nightly(tmp_path).update(corpus)
    rows = _rows(tmp_path)
    assert report.kept_unread == ["strike-1"] and not rows["strike-1"].deleted
    assert rows["flood-1"].source == "feed.jsonl" and rows["strike-1"].source is None
    db = sqlite3.connect(tmp_path / "state.sqlite")
    assert db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()[0] == str(SCHEMA_VERSION)
    db.close()


def test_an_unknown_language_code_is_reported_and_reidentified(tmp_path):
    import json

    from fakes import bilingual

    from clusterer.pipeline import Clusterer
    from clusterer.report import summary

    records = [dict(_FEED[0], lang="xx"), dict(_FEED[1], lang="FRENCH"), dict(_FEED[2], lang="en-GB")]
    (tmp_path / "feed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = Clusterer(encoder=bilingual(), cache_dir=None).run(tmp_path)
    assert [it.lang for it in result.items] == ["en", "fr", "en"]
    assert result.unrecognised_lang == [
        {"id": "flood-1", "given": "xx", "lang": "en"},
        {"id": "flood-2", "given": "FRENCH", "lang": "fr"},
    ]
    assert "  flood-1: lang 'xx' -> en" in summary(result).splitlines()
    assert result.to_dict()["unrecognised_lang"] == result.unrecognised_lang


def test_a_cache_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Storm Elin hits Brittany.", encoding="utf-8")
    result = CliRunner().invoke(main, [str(corpus), "--cache-dir", str(tmp_path / "file" / "cache"), "-q"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot create the embeddings cache folder")
    assert "Traceback" not in result.output and result.output.count("\n") == 1


def test_new_damage_that_shows_no_id_holds_back_deletions_old_damage_does_not(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    feed = corpus / "feed.jsonl"
    garbage = "this line was never JSON"
    _write_feed(feed, _FEED, tail=garbage + "\n")  # old damage, there from the first night
    _nightly(tmp_path).update(corpus)
    # strike-1's line garbled past recognition (no id shows): it may be any record of the file
    _write_feed(feed, _FEED[:2], tail=garbage + "\n" + '{"i\u00e9\x01 garbled\n')
    report = _nightly(tmp_path).update(corpus)
    assert report.kept_unread == ["strike-1"] and report.deleted_items == []
    report = _nightly(tmp_path).update(corpus)  # still garbled the next night: still kept
    assert report.kept_unread == ["strike-1"]
    # the garbled line removed; the old damage, seen the night strike-1 was last read, hides nothing
    _write_feed(feed, _FEED[:2], tail=garbage + "\n")
    report = _nightly(tmp_path).update(corpus)
    assert [d.id for d in report.deleted_items] == ["strike-1"] and report.kept_unread == []
