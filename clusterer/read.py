"""Reading a corpus: a folder (recursive) or a single file, into Records.

Supported inputs:

* ``.txt`` / ``.md``: one raw page per file; the record id is the path relative
  to the corpus folder (posix separators), or the file name for a single file.
* ``.jsonl``: one record per line with ``id`` and ``text`` (optional ``title``,
  ``lang``, ``date``, ``url``; other keys are ignored).
* ``.html`` / ``.htm``: main text and metadata extracted with trafilatura.

Inputs that cannot be used are reported as :class:`~clusterer.records.Skipped`
entries with a human reason, files of other types too (``data.csv``: not
read); hidden files and folders, and README files inside a folder, are ignored.
A missing path, or one holding no usable input at all, raises
:class:`~clusterer.errors.CorpusError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from .errors import CorpusError
from .records import TEASER_MARK, Record, Skipped

TEXT_SUFFIXES = frozenset({".txt", ".md"})
JSONL_SUFFIXES = frozenset({".jsonl"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | HTML_SUFFIXES
OPTIONAL_FIELDS = ("title", "lang", "date", "url")

PathLike = Union[str, "os.PathLike[str]"]
SkipCallback = Callable[[Skipped], None]


class _Unusable(Exception):
    """Internal: a whole file cannot be used; the message is the reason."""


def check_output_path(corpus: PathLike, out: PathLike, what: str = "output") -> None:
    """Refuse, before any work, an output file that is one of the corpus's inputs
    (the corpus file itself, or a file the reader would read under the corpus
    folder: writing there destroys or changes the data), a folder, or a path whose
    folder does not exist or cannot be written in. Raises CorpusError naming the path."""
    root = Path(corpus).resolve()
    target = Path(out).resolve()
    if target == root or (root.is_dir() and root in target.parents and target.suffix.lower() in SUPPORTED_SUFFIXES):
        raise CorpusError(
            f"the {what} path {out} is an input of the corpus {corpus}: "
            "writing it would overwrite or change the corpus; choose a path outside it"
        )
    if target.is_dir():
        raise CorpusError(f"the {what} path {out} is a folder; give a file name")
    if not target.parent.is_dir():
        raise CorpusError(f"the {what} path {out}: folder {target.parent} does not exist")
    try:  # a folder one cannot write in (read-only, /proc) fails now, not after the work
        with tempfile.TemporaryFile(dir=target.parent):
            pass
    except OSError as exc:
        raise CorpusError(f"the {what} path {out}: cannot write in {target.parent} ({exc.strerror})") from None


def read_corpus(path: PathLike, on_skip: SkipCallback | None = None) -> tuple[list[Record], list[Skipped]]:
    """Read every usable record under ``path``.

    Returns the records in deterministic order (sorted relative paths, JSONL
    in line order) and the inputs that were skipped. ``on_skip`` is called
    with each :class:`Skipped` as soon as it is found.
    """
    skipped: list[Skipped] = []
    records = list(iter_records(path, skipped, on_skip=on_skip))
    return records, skipped


def count_records(path: PathLike) -> int:
    """About how many records ``path`` holds, without parsing them: its files, a
    JSONL file counted by its lines. For progress; 0 when the path is unusable."""
    root = Path(path)
    try:
        files = [(root.name, root)] if root.is_file() else _list_files(root, lambda entry: None)
    except OSError:
        return 0
    total = 0
    for _, file in files:
        if file.suffix.lower() not in JSONL_SUFFIXES:
            total += 1
            continue
        try:
            with file.open("rb") as fh:
                last = b"\n"
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    total += chunk.count(b"\n")
                    last = chunk[-1:]
                total += last != b"\n"
        except OSError:
            continue
    return total


def iter_records(path: PathLike, skipped: list, on_skip: SkipCallback | None = None) -> Iterator[Record]:
    """Yield the records under ``path`` one at a time.

    Skipped inputs are appended to ``skipped`` (and passed to ``on_skip``) as
    they are met. The path is checked at once (``CorpusError`` if missing or
    of an unsupported type); ``CorpusError`` is also raised at the end of
    the iteration if no record at all could be read.
    """
    return _iter(Path(path), iter_inputs(path), skipped, on_skip)


def iter_inputs(path: PathLike) -> Iterator[RawInput | Skipped]:
    """The corpus's inputs in reading order, as bytes, not yet parsed (see
    :func:`parse_input`), with, in their place, the inputs that cannot be read
    at all (the files a folder holds that are not read come first). The path is
    checked at once: ``CorpusError`` if missing or of an unsupported type."""
    root = Path(path)
    if not root.exists():
        raise CorpusError(f"corpus path not found: {root}")
    if root.is_file():
        if root.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise CorpusError(
                f"unsupported corpus file type {root.suffix or '(none)'!r}: {root} "
                f"(expected one of {', '.join(sorted(SUPPORTED_SUFFIXES))})"
            )
        files = [(root.name, root)]
    elif root.is_dir():
        files = None
    else:
        raise CorpusError(f"corpus path is neither a file nor a folder: {root}")
    return _inputs(root, files)


@dataclass
class RawInput:
    """One record's bytes as read from the corpus: a page file's content
    (``line`` None), or one non-blank JSONL line (its number; a first line's
    byte-order mark removed). Reading is I/O only and :func:`parse_input` does
    the rest, so that the two can run in different processes (the Ray executor
    reads on the driver and parses on the cluster)."""

    path: str  # relative to the corpus folder
    data: bytes
    line: int | None = None


def parse_input(raw: RawInput) -> Record | Skipped:
    """The record an input holds, or why it cannot be used."""
    if raw.line is not None:
        try:
            return _record_from_json_line(raw.data)
        except _Unusable as exc:
            return Skipped(
                raw.path,
                str(exc),
                line=raw.line,
                record=_id_in_damaged_line(raw.data),
                digest=hashlib.blake2b(raw.data.rstrip(b"\r\n"), digest_size=8).hexdigest(),
            )
    try:
        text = _decode(raw.data)
        if not text.strip():
            raise _Unusable("empty file (no text)")
        if Path(raw.path).suffix.lower() in HTML_SUFFIXES:
            return _record_from_html(raw.path, text)
        return Record(id=raw.path, text=text)
    except _Unusable as exc:
        return Skipped(raw.path, str(exc))


class Admission:
    """The checks a record needs the whole corpus for, made in reading order: an
    id may not contain ``TEASER_MARK``, and a repeated id is skipped (the first is
    kept). An admitted record's ``source`` is set to its file."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}  # record id -> where it was first seen
        self.count = 0

    def check(self, record: Record, rel: str, line_no: int | None) -> Skipped | None:
        """None if ``record`` (read from ``rel``, at ``line_no`` for JSONL) is admitted, else why not."""
        if TEASER_MARK in record.id:
            return Skipped(
                rel,
                f"id {record.id!r} contains {TEASER_MARK!r}, which names the teasers split off a page",
                line=line_no,
                unread=False,
            )
        first = self.seen.get(record.id)
        if first is not None:
            return Skipped(
                rel, f"duplicate id {record.id!r} (first seen in {first}); kept the first", line=line_no, unread=False
            )
        self.seen[record.id] = rel if line_no is None else f"{rel}:{line_no}"
        record.source = rel
        self.count += 1
        return None

    def finish(self, root: PathLike, skipped: list[Skipped]) -> None:
        """``CorpusError`` if no record was admitted."""
        if self.count == 0:
            n = len(skipped)
            first = next((s for s in skipped if s.unread), skipped[0]) if n else None
            detail = f"; {n} input(s) skipped, first: {first}" if n else ""
            raise CorpusError(f"no usable document found in {root}{detail}")


def _iter(
    root: Path,
    inputs: Iterator[RawInput | Skipped],
    skipped: list,
    on_skip: SkipCallback | None,
) -> Iterator[Record]:
    def skip(entry: Skipped) -> None:
        skipped.append(entry)
        if on_skip is not None:
            on_skip(entry)

    admission = Admission()
    for raw in inputs:
        parsed = raw if isinstance(raw, Skipped) else parse_input(raw)
        if isinstance(parsed, Skipped):
            skip(parsed)
            continue
        assert isinstance(raw, RawInput)
        refused = admission.check(parsed, raw.path, raw.line)
        if refused is not None:
            skip(refused)
            continue
        yield parsed
    admission.finish(root, skipped)


def _inputs(root: Path, files: list[tuple[str, Path]] | None) -> Iterator[RawInput | Skipped]:
    if files is None:
        listed: list[Skipped] = []
        files = _list_files(root, listed.append)
        yield from listed
    for rel, file in files:
        if file.suffix.lower() in JSONL_SUFFIXES:
            yield from _jsonl_lines(rel, file)
            continue
        try:
            yield RawInput(rel, _read_bytes(file))
        except _Unusable as exc:
            yield Skipped(rel, str(exc))


def _list_files(root: Path, skip: SkipCallback) -> list[tuple[str, Path]]:
    """Supported, non-hidden files under ``root`` as (relative posix path, path).
    A file whose path is not valid UTF-8 is reported (its id could not be written
    to a result, a report or the nightly state) and left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or Path(name).stem.lower() == "readme":
                continue  # hidden; a folder's README documents the corpus, it is not a page
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            shown = os.fsencode(rel).decode("utf-8", "backslashreplace")  # printable, storable
            suffix = Path(name).suffix.lower()
            if suffix not in SUPPORTED_SUFFIXES:
                skip(
                    Skipped(
                        shown,
                        f"not read: {suffix or 'no'} file type (clusterer reads "
                        f"{' '.join(sorted(SUPPORTED_SUFFIXES))})",
                        unread=False,
                    )
                )
                continue
            if not full.is_file():  # a named pipe, a socket or a device would block or never end
                skip(Skipped(shown, "not a regular file"))
                continue
            if shown != rel:
                skip(Skipped(shown, "file name is not valid UTF-8 (rename the file to read it)"))
                continue
            found.append((rel, full))
    found.sort(key=lambda pair: pair[0])
    return found


def _read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except PermissionError:
        raise _Unusable("cannot read file: permission denied") from None
    except OSError as exc:
        raise _Unusable(f"cannot read file: {exc.strerror or exc}") from None


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its byte-order mark
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _Unusable("not valid UTF-16 despite its byte-order mark") from None
    if b"\x00" in data:
        raise _Unusable("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Unusable(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-encode the file as UTF-8"
        ) from None


def _jsonl_lines(rel: str, file: Path) -> Iterator[RawInput | Skipped]:
    """The non-blank lines of a JSONL file; in their place, why it cannot be used."""
    try:
        handle = file.open("rb")
    except PermissionError:
        yield Skipped(rel, "cannot read file: permission denied")
        return
    except OSError as exc:
        yield Skipped(rel, f"cannot read file: {exc.strerror or exc}")
        return
    any_content = False
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            any_content = True
            yield RawInput(rel, raw, line_no)
    if not any_content:
        yield Skipped(rel, "empty file (no JSON lines)")


_ID_FIELD = re.compile(r'"id"\s*:\s*("(?:[^"\\]|\\.)*")')


def _id_in_damaged_line(raw: bytes) -> str | None:
    """The record id a line that is no usable record still shows, if any: its
    ``"id"`` string, whole (a line cut inside its id shows none)."""
    found = _ID_FIELD.search(raw.decode("utf-8", "replace"))
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    return value if isinstance(value, str) and value.strip() else None


def _record_from_json_line(raw: bytes) -> Record:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unusable("line is not valid UTF-8") from None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _Unusable(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    try:
        return record_from_object(obj)
    except ValueError as exc:
        raise _Unusable(str(exc)) from None


def record_from_object(obj) -> Record:
    """A JSONL record (one parsed JSON object) as a :class:`Record`: string ``id`` and
    ``text`` required, the optional fields kept where they are non-empty strings,
    other fields ignored. ValueError, saying what is wrong, for anything else."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "text"):
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"missing or empty string field {key!r}")
    extra = {}
    for key in OPTIONAL_FIELDS:
        value = obj.get(key)
        extra[key] = value.strip() if isinstance(value, str) and value.strip() else None
    return Record(id=obj["id"], text=obj["text"], **extra)


def _record_from_html(rel: str, html: str) -> Record:
    try:
        import trafilatura
    except ImportError as exc:  # pragma: no cover - dependency declared in setup.cfg
        raise _Unusable(f"HTML support needs trafilatura ({exc})") from None
    doc = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
    )
    doc = doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})
    text = doc.get("text") or ""
    if not text.strip():
        raise _Unusable("no main text found in HTML page")
    # trafilatura puts one paragraph per line: make paragraphs explicit.
    paragraphs = [line.strip() for line in text.splitlines() if line.strip()]
    return Record(
        id=rel,
        text="\n\n".join(paragraphs),
        title=_clean(doc.get("title")),
        date=_clean(doc.get("date")),
        url=_clean(doc.get("url")),
    )


def _clean(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
