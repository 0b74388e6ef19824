"""Labelled data for the evaluation: story/duplicate gold and SemEval pairs.

Gold format (JSONL, one object per line): the input record fields (``id``,
``text``, optional ``title``, ``lang``, ``date``, ``url``), ``story`` (string,
or null for noise, i.e. an item that belongs to no story) and optional ``dup``
(duplicate group id, or null for an item that is nobody's duplicate) and optional
``event`` (the event inside its story, or null; :func:`load_events`).

Pairs gold format (JSONL): ``{"id1", "id2", "lang1", "lang2", "text1",
"text2", "score"}`` where ``score`` is the SemEval-2022 Task 8 Overall
(1 = very similar ... 4 = very dissimilar).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorpusError
from ..records import Record

__all__ = ["GoldPair", "count_languages", "distinct_texts", "load_events", "load_gold", "load_pairs"]

Label = Hashable | None

_RECORD_FIELDS = ("title", "lang", "date", "url")
_MAX_PROBLEMS = 5


def _read_jsonl(path: Path) -> Iterable[tuple[int, object, str | None]]:
    """Yield (line number, parsed object or None, error or None); skip blank lines."""
    if not path.is_file():
        raise CorpusError(f"{path}: gold file not found")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield number, None, f"bad JSON ({exc.msg} at column {exc.colno})"


def _raise_problems(path: Path, problems: list[str], total: int) -> None:
    shown = "; ".join(problems[:_MAX_PROBLEMS])
    more = f" (and {total - _MAX_PROBLEMS} more)" if total > _MAX_PROBLEMS else ""
    raise CorpusError(f"{path}: {total} bad line(s): {shown}{more}")


def _parse_lines(path: Path, parse) -> list:
    """``parse(obj)`` for every JSON object line; a line that is not an object, or
    that ``parse`` rejects with ValueError, is a problem, and any problem raises
    CorpusError listing the first few with their line numbers."""
    values: list = []
    problems: list[str] = []
    n_bad = 0
    for number, obj, error in _read_jsonl(path):
        try:
            if error:
                raise ValueError(error)
            if not isinstance(obj, dict):
                raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
            values.append(parse(obj))
        except ValueError as exc:
            n_bad += 1
            if len(problems) < _MAX_PROBLEMS:
                problems.append(f"line {number}: {exc}")
    if n_bad:
        _raise_problems(path, problems, n_bad)
    return values


def _optional_str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string or null, got {type(value).__name__}")
    return value


def load_gold(
    path: str | Path,
) -> tuple[list[Record], dict[str, str | None], dict[str, str | None]]:
    """Read a gold JSONL file: records, story label per id, dup group per id.

    ``story`` is required on every line (null = noise). ``dup`` is optional; if
    no line has a ``dup`` key the gold has no duplicate labels and the third
    dict is empty (``evaluate`` then reports no dup scores). Otherwise a
    missing ``dup`` means null.

    Raises CorpusError naming the file, the number of bad lines and the first
    few ``line N: reason`` problems (bad JSON, missing id/text/story, wrong
    types, repeated ids), or when the file is missing or holds no records.
    """
    path = Path(path)
    seen: set[str] = set()
    has_dup = False

    def parse(obj: dict) -> tuple[Record, str | None, str | None]:
        nonlocal has_dup
        rid, text = obj.get("id"), obj.get("text")
        if not isinstance(rid, str) or not rid:
            raise ValueError("'id' must be a non-empty string")
        if rid in seen:
            raise ValueError(f"id {rid!r} repeats an earlier line")
        if not isinstance(text, str):
            raise ValueError("'text' must be a string")
        if "story" not in obj:
            raise ValueError("'story' is missing (use null for noise)")
        label = _optional_str(obj, "story")
        group = _optional_str(obj, "dup")
        extra = {key: _optional_str(obj, key) for key in _RECORD_FIELDS}
        seen.add(rid)
        has_dup = has_dup or "dup" in obj
        return Record(id=rid, text=text, **extra), label, group

    rows = _parse_lines(path, parse)
    if not rows:
        raise CorpusError(f"{path}: no gold records")
    records = [r for r, _, _ in rows]
    story = {r.id: label for r, label, _ in rows}
    dup = {r.id: group for r, _, group in rows}
    return records, story, dup if has_dup else {}


def load_events(path: str | Path) -> dict[str, str | None]:
    """The event label per id of a gold file (read after :func:`load_gold` has
    checked it); empty where no line has an ``event`` key."""
    rows = _parse_lines(Path(path), lambda obj: (obj.get("id"), "event" in obj, _optional_str(obj, "event")))
    if not any(has for _, has, _ in rows):
        return {}
    return {rid: label for rid, _, label in rows}


@dataclass(frozen=True)
class GoldPair:
    """One SemEval pair: two articles and the gold Overall (1 similar .. 4 dissimilar)."""

    id1: str
    id2: str
    lang1: str | None
    lang2: str | None
    text1: str
    text2: str
    score: float


def load_pairs(path: str | Path) -> list[GoldPair]:
    """Read a pairs gold JSONL file; CorpusError lists the first bad lines."""
    path = Path(path)

    def parse(obj: dict) -> GoldPair:
        for key in ("id1", "id2", "text1", "text2"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise ValueError(f"'{key}' must be a non-empty string")
        score = obj.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise ValueError("'score' must be a number")
        if not 1.0 <= score <= 4.0:
            raise ValueError(f"'score' {score} is outside 1..4")
        return GoldPair(
            id1=obj["id1"],
            id2=obj["id2"],
            lang1=_optional_str(obj, "lang1"),
            lang2=_optional_str(obj, "lang2"),
            text1=obj["text1"],
            text2=obj["text2"],
            score=float(score),
        )

    pairs = _parse_lines(path, parse)
    if not pairs:
        raise CorpusError(f"{path}: no gold pairs")
    return pairs


def distinct_texts(pairs: Sequence[GoldPair]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The distinct texts of ``pairs`` and, per pair, the index of each side.

    Texts are deduplicated by their exact string, not by article id: in the
    multilingual SemEval set a few ids carry two different texts. Embed the
    returned list once, then ``sim = (v[i1] * v[i2]).sum(1)`` for unit vectors.
    """
    index: dict[str, int] = {}
    first = [index.setdefault(p.text1, len(index)) for p in pairs]
    second = [index.setdefault(p.text2, len(index)) for p in pairs]
    return list(index), np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)


def count_languages(records: Iterable[Record]) -> int:
    """Number of distinct non-null ``lang`` values."""
    return len({r.lang for r in records if r.lang})
