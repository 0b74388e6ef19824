"""Single bad inputs never stop a run nor destroy data (issue 10, first defects)."""
import os

import pytest
from click.testing import CliRunner

from clusterer.cli import main
from clusterer.read import read_corpus
from clusterer.stories import day_number


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


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
def test_extreme_dates_with_an_offset_are_read_not_fatal(date):
    assert day_number(date) is not None


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
    (tmp_path / "r.jsonl").write_text('{"id": "metro_vi.txt#teaser-1", "text": "Another text."}\n'
                                      '{"id": "b", "text": "Storm hits."}\n', encoding="utf-8")
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
