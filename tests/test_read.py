"""Reading a corpus: formats, skipped inputs, order, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clusterer.errors import CorpusError
from clusterer.read import iter_records, read_corpus

DATA = Path(__file__).parent / "data" / "corpus"


@pytest.fixture(scope="module")
def corpus():
    return read_corpus(DATA)


def test_ids_in_deterministic_order(corpus):
    records, _ = corpus
    assert [r.id for r in records] == [
        "en_flood.txt",
        "fr_sommet.txt",
        "page.html",
        "j1",
        "j4",
        "sub/vi_hop_tac.md",
    ]


def test_hidden_files_and_readme_are_ignored_other_types_reported(corpus):
    records, skipped = corpus
    names = {r.id for r in records} | {s.path for s in skipped}
    assert not any(n.startswith(".") or "/." in n for n in names)
    assert "README.md" not in names
    other = next(s for s in skipped if s.path == "notes.csv")
    assert "file type" in other.reason and not other.unread  # reported; it hides no record


def test_unusable_files_are_skipped_with_reasons(corpus):
    _, skipped = corpus
    by_path = {s.path: s.reason for s in skipped if s.line is None and s.unread}
    assert set(by_path) == {"empty.txt", "image.txt", "latin1.txt"}
    assert "empty" in by_path["empty.txt"]
    assert "binary" in by_path["image.txt"]
    assert "UTF-8" in by_path["latin1.txt"]


def test_jsonl_bad_lines_and_duplicates(corpus):
    records, skipped = corpus
    lines = {s.line: s.reason for s in skipped if s.path == "records.jsonl"}
    assert set(lines) == {2, 3, 4, 7}
    assert "invalid JSON" in lines[2]
    assert "object" in lines[3]
    assert "'text'" in lines[4]
    assert "duplicate id 'j1'" in lines[7]
    j1 = next(r for r in records if r.id == "j1")
    assert j1.text.startswith("The central bank")  # the first one is kept
    assert (j1.title, j1.lang, j1.date, j1.url) == (
        "Central bank holds rates",
        "en",
        "2022-03-02",
        "https://example.com/j1",
    )
    assert next(r for r in records if r.id == "j4").lang == "de-CH"


def test_html_main_text_and_metadata(corpus):
    records, _ = corpus
    page = next(r for r in records if r.id == "page.html")
    assert page.title == "Port strike ends after two weeks"
    assert page.date == "2023-05-14"
    assert page.url == "https://news.example.org/2023/05/port-strike-ends.html"
    assert "Dock workers" in page.text and "\n\n" in page.text
    assert "Copyright" not in page.text and "Home" not in page.text


def test_text_file_is_raw(corpus):
    records, _ = corpus
    en = records[0]
    assert en.text.startswith(" date 2021-07") and en.title is None


def test_single_file_id_is_its_name():
    records, skipped = read_corpus(DATA / "sub" / "vi_hop_tac.md")
    assert [r.id for r in records] == ["vi_hop_tac.md"] and skipped == []


def test_single_jsonl_file():
    records, skipped = read_corpus(str(DATA / "records.jsonl"))
    assert [r.id for r in records] == ["j1", "j4"] and len(skipped) == 4


def test_iter_records_streams_and_reports_skips():
    skipped, seen = [], []
    it = iter_records(DATA, skipped, on_skip=seen.append)
    first = next(it)
    assert first.id == "en_flood.txt"
    rest = list(it)
    assert len(rest) == 5 and len(skipped) == 8 and seen == skipped


def test_on_skip_callback():
    got = []
    _, skipped = read_corpus(DATA, on_skip=got.append)
    assert got == skipped


def test_missing_path_raises():
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(DATA / "nope")


def test_missing_path_raises_before_iteration():
    with pytest.raises(CorpusError):
        iter_records(DATA / "nope", [])


def test_unsupported_single_file_raises():
    with pytest.raises(CorpusError, match="unsupported"):
        read_corpus(DATA / "notes.csv")


def test_folder_without_usable_file_raises(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(CorpusError, match="no usable document.*empty"):
        read_corpus(tmp_path)


def test_empty_folder_raises(tmp_path):
    with pytest.raises(CorpusError, match="no usable document"):
        read_corpus(tmp_path)


def test_utf8_bom_is_accepted(tmp_path):
    (tmp_path / "a.txt").write_bytes("\ufeffBonjour le monde".encode("utf-8"))
    (tmp_path / "b.jsonl").write_bytes(b'\xef\xbb\xbf{"id": "x", "text": "hello"}\n')
    records, skipped = read_corpus(tmp_path)
    assert [r.text for r in records] == ["Bonjour le monde", "hello"] and not skipped


def test_duplicate_id_between_file_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("page text")
    (tmp_path / "b.jsonl").write_text('{"id": "a.txt", "text": "other"}\n')
    records, skipped = read_corpus(tmp_path)
    assert [r.id for r in records] == ["a.txt"]
    assert skipped[0].line == 1 and "duplicate" in skipped[0].reason


def test_html_without_text_is_skipped(tmp_path):
    (tmp_path / "a.txt").write_text("page text")
    (tmp_path / "b.html").write_text(
        "<html><head><title>t</title></head><body><script>var a = 1;</script></body></html>"
    )
    _, skipped = read_corpus(tmp_path)
    assert [s.path for s in skipped] == ["b.html"] and "no main text" in skipped[0].reason


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="permissions are not enforced for root or on this OS"
)
def test_unreadable_file_is_skipped(tmp_path):
    (tmp_path / "a.txt").write_text("page text")
    locked = tmp_path / "b.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        _, skipped = read_corpus(tmp_path)
    finally:
        locked.chmod(0o600)
    assert [s.path for s in skipped] == ["b.txt"] and "permission" in skipped[0].reason


def test_files_of_other_types_are_reported_not_silently_ignored(tmp_path):
    (tmp_path / "a.txt").write_text("Storm Elin hits Brittany.", encoding="utf-8")
    (tmp_path / "data.csv").write_text("id,text\n1,x\n", encoding="utf-8")
    (tmp_path / ".hidden.csv").write_text("x", encoding="utf-8")
    (tmp_path / "README.md").write_text("What this corpus is.", encoding="utf-8")
    records, skipped = read_corpus(tmp_path)
    assert [r.id for r in records] == ["a.txt"]
    assert [(s.path, s.unread) for s in skipped] == [("data.csv", False)]
    assert "file type" in skipped[0].reason and ".jsonl" in skipped[0].reason
