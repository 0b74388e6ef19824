"""`cluster dedup`: the corpus written back with each duplicate group reduced to its
canonical record; removed records name it; JSONL records keep every key."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterer.cli import main
from clusterer.errors import CorpusError
from clusterer.output.dedup import dedup, dedup_corpus
from clusterer.pipeline import Clusterer
from clusterer.read import read_corpus
from clusterer.records import Record
from clusterer.report import count

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile_nights import corpus_for  # noqa: E402
from small_corpus import PAGE_FR, RECORDS, TEASERS_FR, write_small_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "corpus"
PAGE_KEYS = ["id", "text", "title", "lang", "date", "url"]


@pytest.fixture
def fake_cli(monkeypatch, fake_encoder):
    import clusterer.cli as cli

    monkeypatch.setattr(cli, "make_clusterer", lambda *a, **kw: Clusterer(encoder=fake_encoder, cache_dir=None))
    return fake_encoder


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_dedup(corpus: Path, tmp_path: Path, *options) -> tuple[dict, list, list]:
    """The result of `cluster`, then `cluster dedup`'s kept and removed lines."""
    run = invoke(corpus, "--out", tmp_path / "result.json", "-q")
    assert run.exit_code == 0, run.output
    kept, removed = tmp_path / "kept.jsonl", tmp_path / "removed.jsonl"
    out = invoke("dedup", corpus, "--out", kept, "--removed", removed, "-q", *options)
    assert out.exit_code == 0, out.output
    data = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    kept_lines, removed_lines = read_jsonl(kept), read_jsonl(removed)
    skipped = f"; {count(len(data['skipped']), 'input')} skipped (run cluster PATH for why)" if data["skipped"] else ""
    assert out.output.strip() == (
        f"Kept {count(len(kept_lines), 'record')}, removed "
        f"{count(len(removed_lines), 'duplicate')} "
        f"({count(len(data['duplicate_groups']), 'duplicate group')}){skipped}; "
        f"wrote {kept} and {removed}"
    )
    return data, kept_lines, removed_lines


def check_one_record_per_group(result: dict, kept: list, removed: list) -> None:
    records = {it["doc"] for it in result["items"]}
    canonical = {m: g["canonical"] for g in result["duplicate_groups"] for m in g["members"]}
    kept_ids = [r["id"] for r in kept]
    assert sorted(kept_ids + [r["id"] for r in removed]) == sorted(records)  # each record once
    assert set(kept_ids) == {r for r in records if canonical.get(r, r) == r}
    for g in result["duplicate_groups"]:
        assert [m for m in g["members"] if m in kept_ids] == [g["canonical"]]
    for r in removed:
        group = next(g for g in result["duplicate_groups"] if r["id"] in g["members"])
        assert r["duplicate_of"] == group["canonical"] != r["id"] and r["duplicate_group"] == group["id"]
        assert r["evidence"] and all(r["id"] in (e["a"], e["b"]) for e in r["evidence"])
        assert all(e in group["evidence"] for e in r["evidence"])


def test_dedup_keeps_one_record_per_duplicate_group_and_every_other(tmp_path, fake_cli):
    corpus = write_small_corpus(tmp_path)
    result, kept, removed = run_dedup(corpus, tmp_path)
    check_one_record_per_group(result, kept, removed)
    assert [r["id"] for r in kept] == ["page_fr.txt", "antwerp-wire", "jazz"]  # corpus order
    assert sorted((r["id"], r["duplicate_of"]) for r in removed) == [
        ("antwerp-mirror", "antwerp-wire"),
        ("page_fr_copy.md", "page_fr.txt"),
    ]
    original = {r["id"]: r for r in RECORDS}
    by_id = {r["id"]: r for r in kept + removed}
    assert by_id["antwerp-wire"] == original["antwerp-wire"]  # every key, nested values too
    assert list(by_id["jazz"]) == list(original["jazz"]) and by_id["jazz"] == original["jazz"]
    mirror = dict(by_id["antwerp-mirror"])
    assert {mirror.pop(k) is not None for k in ("duplicate_of", "duplicate_group", "evidence")} == {True}
    assert mirror == original["antwerp-mirror"]
    page = by_id["page_fr.txt"]
    assert list(page) == PAGE_KEYS and page["text"] == PAGE_FR + TEASERS_FR
    assert page["lang"] == "fr" and page["title"] == "Grève des dockers : le port d'Anvers paralysé"
    assert list(by_id["page_fr_copy.md"])[:6] == PAGE_KEYS


def test_drop_teasers_keeps_only_the_article_text(tmp_path, fake_cli):
    corpus = write_small_corpus(tmp_path)
    _, kept, removed = run_dedup(corpus, tmp_path, "--drop-teasers")
    by_id = {r["id"]: r for r in kept + removed}
    for page in ("page_fr.txt", "page_fr_copy.md"):
        text = by_id[page]["text"]
        assert "Les dockers du port d'Anvers ont entamé lundi matin" in text
        assert "Voir plus" not in text and "Boulangerie" not in text and "orages" not in text
    assert by_id["antwerp-wire"]["text"] == RECORDS[1]["text"]  # no teasers: the text as it was
    assert by_id["antwerp-wire"]["tags"] == [] and by_id["antwerp-wire"]["rank"] == 1


def test_dedup_on_the_example_corpus(tmp_path, fake_cli):
    result, kept, removed = run_dedup(EXAMPLES, tmp_path)
    check_one_record_per_group(result, kept, removed)
    assert [(r["id"], r["duplicate_of"]) for r in removed] == [("storm_fr.txt", "storm_en.txt")]
    jazz = json.loads((EXAMPLES / "records.jsonl").read_text(encoding="utf-8"))
    assert next(r for r in kept if r["id"] == "jazz-fr") == jazz
    assert next(r for r in kept if r["id"] == "storm_en.txt")["text"] == (EXAMPLES / "storm_en.txt").read_text(
        encoding="utf-8"
    )


def test_dedup_writes_back_every_record_of_the_hostile_corpus(tmp_path, fake_encoder):
    corpus = corpus_for(1, tmp_path)
    with Clusterer(encoder=fake_encoder, cache_dir=None) as clusterer:
        result = clusterer.run(corpus)
    counts = dedup_corpus(result, corpus, tmp_path / "kept.jsonl", tmp_path / "removed.jsonl")
    kept, removed = read_jsonl(tmp_path / "kept.jsonl"), read_jsonl(tmp_path / "removed.jsonl")
    assert (counts.kept, counts.removed) == (len(kept), len(removed))
    check_one_record_per_group(result.to_dict(), kept, removed)
    originals = {}
    for line in (corpus / "wire.jsonl").read_text(encoding="utf-8-sig").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            originals.setdefault(obj["id"], obj)
    for r in kept:
        if r["id"] in originals:
            assert r == originals[r["id"]]  # control characters, odd dates and lang tags unchanged


def test_dedup_from_python_and_records_in_memory(fake_encoder):
    records = [
        Record(id="a", text=RECORDS[1]["text"], lang="en", date="2026-02-05"),
        Record(id="b", text="Antwerp (Reuters) - " + RECORDS[1]["text"], lang="en", date="2026-02-01"),
        Record(id="c", text=RECORDS[2]["text"], lang="fr"),
    ]
    with Clusterer(encoder=fake_encoder, cache_dir=None) as clusterer:
        result = clusterer.run(records)
    entries = list(dedup(result, records))
    assert [(e.kept, e.record["id"]) for e in entries] == [(False, "a"), (True, "b"), (True, "c")]
    assert entries[0].record["duplicate_of"] == "b" and list(entries[1].record) == PAGE_KEYS


def test_a_corpus_changed_since_the_run_is_an_error(tmp_path, fake_encoder):
    corpus = write_small_corpus(tmp_path)
    with Clusterer(encoder=fake_encoder, cache_dir=None) as clusterer:
        result = clusterer.run(corpus)
    records, _ = read_corpus(corpus)
    (corpus / "wire.jsonl").write_text(json.dumps({"id": "jazz", "text": "changed"}) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="changed since the run"):
        list(dedup(result, records, corpus))
    (corpus / "new.txt").write_text("A page that came after the run.", encoding="utf-8")
    with pytest.raises(CorpusError, match="not in the result"):
        dedup_corpus(result, corpus, tmp_path / "kept.jsonl")
    assert not (tmp_path / "kept.jsonl").exists()


def one_line_error(run) -> str:
    assert run.exit_code == 1, run.output
    lines = run.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in run.output, run.output
    return lines[0]


def test_bad_output_paths_are_one_line_errors_before_any_work(tmp_path, monkeypatch):
    import clusterer.cli as cli

    corpus = write_small_corpus(tmp_path)
    calls = []
    monkeypatch.setattr(cli, "make_clusterer", lambda *a, **kw: calls.append(1))
    kept = tmp_path / "kept.jsonl"
    assert "input of the corpus" in one_line_error(invoke("dedup", corpus, "--out", corpus / "kept.jsonl"))
    assert "input of the corpus" in one_line_error(
        invoke("dedup", corpus, "--out", kept, "--removed", corpus / "wire.jsonl")
    )
    assert "same file" in one_line_error(invoke("dedup", corpus, "--out", kept, "--removed", kept))
    assert "is a folder" in one_line_error(invoke("dedup", corpus, "--out", tmp_path))
    assert "does not exist" in one_line_error(invoke("dedup", corpus, "--out", tmp_path / "no" / "k.jsonl"))
    assert calls == [] and not kept.exists()
    assert (corpus / "wire.jsonl").read_text(encoding="utf-8").startswith('{"id": "antwerp-mirror"')
