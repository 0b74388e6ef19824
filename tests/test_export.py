"""`cluster PATH --out DEST --format csv|parquet` and `cluster report --out`: three
tables in a folder, the same rows in CSV, in Parquet read by pandas and by DuckDB,
and what the docs (docs/input-output.md) say about reading them back."""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterer.cli import main
from clusterer.pipeline import Clusterer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_corpus import write_small_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "corpus"
TABLES = ("items", "stories", "events", "duplicate_groups")
COLUMNS = {
    "items": ["id", "doc", "kind", "lang", "date", "url", "title", "story", "event", "duplicate_group", "canonical"],
    "stories": ["id", "title", "languages", "articles", "teasers", "size", "first_date", "last_date"],
    "events": ["id", "story", "title", "languages", "size", "first_date", "last_date", "keywords", "members"],
    "duplicate_groups": ["id", "canonical", "size", "languages", "story", "members"],
}


@pytest.fixture
def fake_cli(monkeypatch, fake_encoder):
    """The CLI with the deterministic fake encoder in place of the model."""
    import clusterer.cli as cli

    monkeypatch.setattr(cli, "make_clusterer", lambda *a, **kw: Clusterer(encoder=fake_encoder, cache_dir=None))
    return fake_encoder


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def expected_tables(result: dict) -> dict:
    """The rows each table should hold, worked out from the result JSON alone."""
    canonical = {g["canonical"] for g in result["duplicate_groups"]}
    dates = {it["id"]: it["date"] for it in result["items"]}
    items = [
        {
            "id": it["id"],
            "doc": it["doc"],
            "kind": it["kind"],
            "lang": it["lang"],
            "date": it["date"],
            "url": it["url"],
            "title": it["title"],
            "story": it["story"],
            "event": it["event"],
            "duplicate_group": it["duplicate_group"],
            "canonical": it["id"] in canonical,
        }
        for it in result["items"]
    ]
    stories = []
    for s in result["stories"]:
        given = sorted(d for d in (dates[m] for m in s["members"]) if d)  # one ISO format here
        stories.append(
            {
                "id": s["id"],
                "title": s["title"],
                "languages": ",".join(s["languages"]),
                "articles": s["articles"],
                "teasers": s["teasers"],
                "size": len(s["members"]),
                "first_date": given[0] if given else None,
                "last_date": given[-1] if given else None,
            }
        )
    groups = [
        {
            "id": g["id"],
            "canonical": g["canonical"],
            "size": len(g["members"]),
            "languages": g["languages"],
            "story": g["story"],
            "members": g["members"],
        }
        for g in result["duplicate_groups"]
    ]
    events = [
        {
            "id": e["id"],
            "story": e["story"],
            "title": e["title"],
            "languages": e["languages"],
            "size": len(e["members"]),
            "first_date": e["first_date"],
            "last_date": e["last_date"],
            "keywords": e["keywords"],
            "members": e["members"],
        }
        for e in result["events"]
    ]
    return {"items": items, "stories": stories, "events": events, "duplicate_groups": groups}


def as_csv(rows: list) -> list:
    def cell(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return ",".join(v)
        return str(v)

    return [{k: cell(v) for k, v in row.items()} for row in rows]


def read_csv(path: Path) -> tuple[list, list]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def plain(value):
    """A value pandas gives, as Python gives it (lists, None, int, bool)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def read_pandas(path: Path) -> tuple[list, list]:
    import pandas as pd

    frame = pd.read_parquet(path)
    return list(frame.columns), [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def read_duckdb(path: Path) -> tuple[list, list]:
    import duckdb

    rel = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
    return rel.columns, [dict(zip(rel.columns, row)) for row in rel.fetchall()]


@pytest.fixture
def small(tmp_path, fake_cli):
    """The small corpus clustered once to JSON: (corpus, result path, result)."""
    corpus = write_small_corpus(tmp_path)
    run = invoke(corpus, "--out", tmp_path / "result.json", "-q")
    assert run.exit_code == 0, run.output
    return corpus, tmp_path / "result.json", json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))


def test_the_small_corpus_has_what_the_tables_must_show(small):
    _, _, result = small
    groups = {g["id"]: g for g in result["duplicate_groups"]}
    assert sorted((g["members"], g["canonical"]) for g in groups.values()) == [
        (["antwerp-mirror", "antwerp-wire"], "antwerp-wire"),  # the earlier date, not the first id
        (["page_fr.txt", "page_fr_copy.md"], "page_fr.txt"),
    ]
    assert sum(it["kind"] == "teaser" for it in result["items"]) == 3


def test_csv_tables_hold_the_result_rows(small, tmp_path):
    corpus, _, result = small
    dest = tmp_path / "tables"
    run = invoke(corpus, "--out", dest, "--format", "csv", "-q")
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    expected = expected_tables(result)
    for table in TABLES:
        header, rows = read_csv(dest / f"{table}.csv")
        assert header == COLUMNS[table]
        assert rows == as_csv(expected[table]), table
    _, stories = read_csv(dest / "stories.csv")
    antwerp = [s for s in stories if "antwerp-wire" in groups_members(result, s["id"])]
    assert [(s["first_date"], s["last_date"], s["languages"]) for s in antwerp] == [("2026-02-02", "2026-02-03", "en")]


def groups_members(result: dict, story: str) -> list:
    return [m for s in result["stories"] if s["id"] == story for m in s["members"]]


@pytest.mark.parametrize("which", ["small", "examples"])
def test_parquet_reads_back_the_same_with_pandas_and_duckdb(which, small, tmp_path):
    corpus, result_path, result = small
    if which == "examples":
        corpus, result_path = EXAMPLES, tmp_path / "examples.json"
        assert invoke(corpus, "--out", result_path, "-q").exit_code == 0
        result = json.loads(result_path.read_text(encoding="utf-8"))
    run = invoke(corpus, "--out", tmp_path / "pq", "--format", "parquet", "-q")
    assert run.exit_code == 0, run.output
    again = invoke("report", result_path, "--out", tmp_path / "again", "--format", "parquet")
    assert again.exit_code == 0, again.output
    expected = expected_tables(result)
    assert expected["duplicate_groups"], "the corpus must have a duplicate group to export"
    for table in TABLES:
        for dest in (tmp_path / "pq", tmp_path / "again"):
            columns, by_pandas = read_pandas(dest / f"{table}.parquet")
            duck_columns, by_duckdb = read_duckdb(dest / f"{table}.parquet")
            assert columns == duck_columns == COLUMNS[table]
            assert by_pandas == by_duckdb == expected[table], (table, dest.name)


def test_canonical_flags_match_the_duplicate_groups(small, tmp_path):
    _, result_path, result = small
    assert invoke("report", result_path, "--out", tmp_path / "t", "--format", "csv").exit_code == 0
    _, items = read_csv(tmp_path / "t" / "items.csv")
    _, groups = read_csv(tmp_path / "t" / "duplicate_groups.csv")
    flagged = {it["id"] for it in items if it["canonical"] == "true"}
    assert flagged == {g["canonical"] for g in groups} == {g["canonical"] for g in result["duplicate_groups"]}
    assert {it["canonical"] for it in items} == {"true", "false"}
    for g in groups:
        members = g["members"].split(",")
        assert g["canonical"] in members and int(g["size"]) == len(members)
        assert {it["id"] for it in items if it["duplicate_group"] == g["id"]} == set(members)


DOCS_PAGE = ROOT / "docs" / "input-output.md"


def docs_section() -> str:
    """The docs' section on tables, to the next section of its level or the page's end."""
    text = DOCS_PAGE.read_text(encoding="utf-8")
    start = text.index("## Tables (CSV, Parquet) and a deduplicated corpus")
    end = text.find("\n## ", start)
    return text[start : end if end >= 0 else len(text)]


def test_the_docs_read_the_parquet_back_as_they_say(tmp_path, fake_cli, monkeypatch):
    section = docs_section()
    commands = [
        line
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
        for line in block.splitlines()
        if line.startswith("cluster ")
    ]
    snippets = re.findall(r"```python\n(.*?)```", section, re.S)
    assert commands and len(snippets) == 2
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for command in commands:
        run = invoke(*shlex.split(command)[1:], "-q")
        assert run.exit_code == 0, run.output
    namespace: dict = {}
    for code in snippets:
        exec(compile(code, str(DOCS_PAGE), "exec"), namespace)
    assert sorted(namespace["kept"].id) == [
        "jazz-fr",
        "metro_en.txt",
        "metro_vi.txt",
        "metro_vi.txt#teaser-1",
        "metro_vi.txt#teaser-2",
        "storm_de.txt",
        "storm_en.txt",
    ]
    assert namespace["groups"] == [("d1", "storm_en.txt", "storm_en.txt"), ("d1", "storm_en.txt", "storm_fr.txt")]


def one_line_error(run) -> str:
    assert run.exit_code == 1, run.output
    lines = run.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in run.output, run.output
    return lines[0]


def test_bad_destinations_are_refused_in_one_line_before_any_work(small, tmp_path, monkeypatch):
    corpus, result_path, _ = small
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("keep me", encoding="utf-8")
    import clusterer.cli as cli

    calls = []
    monkeypatch.setattr(cli, "make_clusterer", lambda *a, **kw: calls.append(1))
    assert "is a file" in one_line_error(invoke(corpus, "--out", tmp_path / "a_file", "--format", "csv", "-q"))
    message = one_line_error(invoke(corpus, "--out", tmp_path / "theirs", "--format", "parquet", "-q"))
    assert "notes.txt" in message and "not written by cluster" in message
    assert "does not exist" in one_line_error(invoke(corpus, "--out", tmp_path / "no" / "t", "--format", "csv"))
    assert "is a folder" in one_line_error(invoke(corpus, "--out", tmp_path / "theirs", "-q"))  # JSON
    assert "not written by cluster" in one_line_error(
        invoke("report", result_path, "--out", tmp_path / "theirs", "--format", "csv")
    )
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert (
        one_line_error(invoke(corpus, "--out", tmp_path / "new", "--format", "parquet", "-q"))
        == "Error: --format parquet needs pyarrow: pip install 'clusterer[parquet]'"
    )
    assert calls == [] and not (tmp_path / "new").exists()
    assert (tmp_path / "theirs" / "notes.txt").read_text(encoding="utf-8") == "keep me"
    usage = invoke(corpus, "--format", "csv")
    assert usage.exit_code == 2 and "--format csv needs --out" in usage.output


def test_a_folder_of_our_own_tables_is_written_again(small, tmp_path):
    corpus, result_path, _ = small
    dest = tmp_path / "t"
    assert invoke("report", result_path, "--out", dest, "--format", "csv").exit_code == 0
    (dest / "items.csv").write_text("stale", encoding="utf-8")
    (dest / "items.csv.abc123.tmp").write_text("left by a killed run", encoding="utf-8")
    again = invoke(corpus, "--out", dest, "--format", "csv", "-q")
    assert again.exit_code == 0, again.output
    assert read_csv(dest / "items.csv")[0] == COLUMNS["items"]
