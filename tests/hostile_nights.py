"""The hostile corpus night by night (tests/data/hostile, see its README), for
the tests and for scripts/fault_campaign.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "hostile"
NIGHTS = 3
HUGE_CHARS = 250_000


def corpus_for(night: int, root: Path) -> Path:
    """The corpus on ``night`` under ``root``: the nightN folders laid over one
    another, plus the inputs git should not hold (a named pipe, a file name that is
    not UTF-8, a newline in a file name, a page of 250,000 characters)."""
    corpus = Path(root) / f"night{night}"
    for n in range(1, night + 1):
        shutil.copytree(DATA / f"night{n}", corpus, dirs_exist_ok=True)
    if not (corpus / "pipe.txt").exists():
        os.mkfifo(corpus / "pipe.txt")
    (corpus / os.fsdecode(b"bad\xffname.txt")).write_text("Storm hits the harbour.", encoding="utf-8")
    (corpus / "new\nline.txt").write_text(
        "A short page whose file name holds a newline, about ferries in the port.", encoding="utf-8"
    )
    sentence = "The port of Rotterdam handles more cargo than any other port in Europe. "
    (corpus / "huge.txt").write_text((sentence * (HUGE_CHARS // len(sentence) + 1))[:HUGE_CHARS], encoding="utf-8")
    return corpus
