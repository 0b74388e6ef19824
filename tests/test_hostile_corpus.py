"""The hostile corpus (tests/data/hostile, see its README) through `cluster` and
over three nights of `cluster update`, with the real default model: every bad
input is skipped or read with its reason, nothing stops a run, nothing is lost,
and the state is checked after each night."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterer.cli import main
from clusterer.nightly.state import SCHEMA_VERSION, State

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile_nights import HUGE_CHARS, corpus_for  # noqa: E402
from state_checks import integrity  # noqa: E402

CTL_ID = "ctl\u0007id\nsecond line"

READ_EVERY_NIGHT = {
    "harbour-de",
    "harbour-es",
    "harbour_en.txt",
    "harbour_fr.html",
    "tram-fr",
    "chess-fr",
    CTL_ID,
    "utf16.txt",
    "huge.txt",
    "new\nline.txt",
}
SKIPPED_EVERY_NIGHT = {
    ("pipe.txt", None),
    ("bad\\xffname.txt", None),
    ("binary.md", None),
    ("empty.txt", None),
    ("wire.jsonl", 3),
    ("wire.jsonl", 4),
    ("wire.jsonl", 5),
    ("wire.jsonl", 6),
    ("wire.jsonl", 7),
    ("wire.jsonl", 9),
}


def skipped_set(rows) -> set:
    return {(s["path"], s["line"]) for s in rows}


@pytest.fixture(scope="module")
def nights(tmp_path_factory, model_cache):
    """`cluster` on night 1, then `cluster update` on nights 1-3, one state file."""
    tmp = tmp_path_factory.mktemp("hostile")
    state = tmp / "state.sqlite"
    out = {}
    corpus = corpus_for(1, tmp)
    result = CliRunner().invoke(
        main, [str(corpus), "--out", str(tmp / "batch.json"), "--cache-dir", str(model_cache), "-q"]
    )
    out["batch"] = (result, json.loads((tmp / "batch.json").read_text(encoding="utf-8")))
    for night in (1, 2, 3):
        corpus = corpus if night == 1 else corpus_for(night, tmp)
        report = tmp / f"report{night}.json"
        result = CliRunner().invoke(
            main,
            [
                "update",
                str(corpus),
                "--state",
                str(state),
                "--report",
                str(report),
                "--cache-dir",
                str(model_cache),
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        with State(state) as st:
            rows, runs = st.items(), st.runs()
        check = integrity(state)
        out[night] = (result, json.loads(report.read_text(encoding="utf-8")), rows, runs, check)
    return out


def test_the_batch_run_reads_what_it_can_and_says_what_it_skipped(nights):
    result, data = nights["batch"]
    assert result.exit_code == 0, result.output
    ids = {it["id"] for it in data["items"] if it["kind"] == "article"}
    assert ids == READ_EVERY_NIGHT | {"tram-de", "chess-es"}
    assert skipped_set(data["skipped"]) == SKIPPED_EVERY_NIGHT | {("latin1.txt", None)}
    assert data["truncated"] == [{"id": "huge.txt", "chars": HUGE_CHARS}]
    assert {(u["id"], u["given"]) for u in data["unrecognised_lang"]} == {("tram-de", "FRENCH"), (CTL_ID, "xx")}
    langs = {it["id"]: it["lang"] for it in data["items"]}
    assert langs["tram-de"] == "de" and langs["harbour-de"] == "de" and langs["chess-fr"] == "fr"
    # the same harbour article in English (a page with a date line and a byline) and French (HTML)
    group = {it["id"]: it["duplicate_group"] for it in data["items"]}
    assert group["harbour_en.txt"] is not None and group["harbour_en.txt"] == group["harbour_fr.html"]
    teasers = [it for it in data["items"] if it["kind"] == "teaser"]
    assert len(teasers) == 2 and all(t["story"] is None for t in teasers)


def test_the_printed_summary_keeps_one_line_per_entry(nights):
    result, _ = nights["batch"]
    lines = result.output.splitlines()
    assert "  ctl\\x07id\\nsecond line: lang 'xx' -> en" in lines
    assert "  bad\\xffname.txt: file name is not valid UTF-8 (rename the file to read it)" in lines
    assert "second line" not in [line.strip() for line in lines] and "\x07" not in result.output
    assert "Traceback" not in result.output


def test_night_one_stores_what_the_batch_run_found(nights):
    _, report, rows, runs, check = nights[1]
    _, batch = nights["batch"]
    assert check == "ok" and [r.status for r in runs] == ["ok"]
    assert {i for i, r in rows.items() if not r.deleted} == {it["id"] for it in batch["items"]}
    assert skipped_set(report["skipped"]) == skipped_set(batch["skipped"])
    assert report["truncated"] == batch["truncated"]
    assert rows["harbour-de"].source == "wire.jsonl" and rows["harbour_fr.html#teaser-1"].source == "harbour_fr.html"


def test_night_two_keeps_the_half_written_record(nights):
    _, report, rows, runs, check = nights[2]
    _, _, rows1, _, _ = nights[1]
    assert check == "ok" and [r.status for r in runs] == ["ok", "ok"]
    assert report["kept_unread"] == ["chess-es"] and report["deleted_items"] == []
    assert ("wire.jsonl", 14) in skipped_set(report["skipped"])
    assert not rows["chess-es"].deleted
    assert (rows["chess-es"].story, rows["chess-es"].dup) == (rows1["chess-es"].story, rows1["chess-es"].dup)
    assert sorted(ch["id"] for ch in report["new_items"]) == ["harbour-en-2", "harbour-vi"]
    assert rows["harbour-vi"].story == rows1["harbour_en.txt"].story  # the Vietnamese version joins the story


def test_night_three_deletes_the_removed_record_and_reads_the_mended_file(nights):
    _, report, rows, runs, check = nights[3]
    _, _, rows2, _, _ = nights[2]
    assert check == "ok" and [r.status for r in runs] == ["ok", "ok", "ok"]
    assert [ch["id"] for ch in report["deleted_items"]] == ["tram-de"] and rows["tram-de"].deleted
    assert report["kept_unread"] == [] and not rows["chess-es"].deleted
    assert [ch["id"] for ch in report["new_items"]] == ["latin1.txt"]
    assert skipped_set(report["skipped"]) == SKIPPED_EVERY_NIGHT
    live = {i for i, r in rows.items() if not r.deleted}
    assert READ_EVERY_NIGHT | {"chess-es", "harbour-vi", "harbour-en-2", "latin1.txt"} <= live
    # ids are stable: every item kept its story from night 2 unless it was deleted
    assert all(
        rows[i].story == rows2[i].story
        for i in live
        if i in rows2 and i != "latin1.txt" and rows2[i].story is not None and rows[i].story is not None
    )
    assert rows["harbour_en.txt"].story == rows2["harbour_en.txt"].story is not None


def test_no_id_in_the_state_is_unwritable(nights):
    _, _, rows, _, _ = nights[3]
    for item_id in rows:
        item_id.encode("utf-8")  # a lone surrogate from a bad file name would raise here
    assert CTL_ID in rows


def test_the_state_file_is_a_plain_sqlite_file_afterwards(nights):
    _, report, _, _, _ = nights[3]
    db = sqlite3.connect(report["state"])
    try:
        assert db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
        assert db.execute("SELECT COUNT(*) FROM runs WHERE status = 'ok'").fetchone() == (3,)
    finally:
        db.close()
