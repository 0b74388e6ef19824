"""Progress: the pipeline names its steps and counts the corpus's records; the
terminal renderer prints tqdm bars on a terminal and plain lines in a log."""

import io
from pathlib import Path

from clusterer import progress as progress_module
from clusterer.pipeline import Clusterer
from clusterer.progress import TerminalProgress

CORPUS = Path(__file__).resolve().parents[1] / "examples" / "corpus"


def test_the_pipeline_counts_records_and_names_its_steps(fake_encoder):
    calls = []
    Clusterer(
        encoder=fake_encoder,
        cache_dir=None,
        read_batch=2,
        progress=lambda step, done, total: calls.append((step, done, total)),
    ).run(CORPUS)
    embedding = [(d, t) for s, d, t in calls if s == "embedding"]
    assert embedding[0] == (0, 6) and embedding[-1] == (6, 6)  # records, not the reference texts
    assert [d for d, _ in embedding] == sorted(d for d, _ in embedding)  # never backwards
    steps = list(dict.fromkeys(s for s, _, _ in calls))
    assert steps == ["embedding", "reference texts", "neighbours", "duplicates", "stories", "teasers"]
    assert ("reference texts", 192, 192) in calls


class _Log(io.StringIO):
    def isatty(self):
        return False


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_in_a_log_with_rate_and_time_left(monkeypatch):
    clock = iter([0.0, 0.0, 12.0, 13.0, 20.0, 30.0, 30.0, 31.0])
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    out = _Log()
    show = TerminalProgress(stream=out)
    show("embedding", 0, 100)
    show("embedding", 0, 100)  # said already
    show("embedding", 40, 100)  # 12 s in: a line with the rate and the time left
    show("embedding", 45, 100)  # 1 s later: too soon for another line
    show("embedding", 100, 100)
    show("embedding", 100, 100)  # the end, said already
    show("duplicates", 0, 1)
    show("duplicates", 1, 1)
    assert out.getvalue().splitlines() == [
        "embedding: 0/100 records",
        "embedding: 40/100 records, 3.3/s, about 18 s left",
        "embedding: 100/100 records in 20 s",
        "duplicates…",
        "duplicates: done in 1.0 s",
    ]


def test_a_bar_on_a_terminal_and_nothing_when_quiet():
    out = _Terminal()
    show = TerminalProgress(stream=out)
    for done in (0, 500, 2666):
        show("embedding", done, 2666)
    show("embedding", 2666, 2666)  # the end again: no second bar
    text = out.getvalue()
    assert "embedding" in text and "2666/2666" in text and "records" in text
    assert text.count("2666/2666") == 1
    show("reference texts", 0, 0)  # all cached: nothing shown
    show("duplicates", 0, 1)  # a step without a count: lines, not a bar
    show("duplicates", 1, 1)
    tail = out.getvalue()[len(text) :]
    assert "reference texts" not in tail and "duplicates…\n" in tail and "duplicates: done in" in tail
    quiet = _Terminal()
    TerminalProgress(quiet=True, stream=quiet)("embedding", 1, 2)
    assert quiet.getvalue() == ""
