"""A deduplicated corpus: the input records with each duplicate group reduced to
its canonical member.

:func:`dedup` walks the records a result was made from, in their order, and says
for each whether it is kept (in no duplicate group, or the group's canonical
member) or removed (another member; the line then names the record it duplicates
and the evidence that joined them). A record read from JSONL comes back as its
original JSON object, every key kept; a page as ``{id, text, title, lang, date,
url}`` with what the run found for it. With ``drop_teasers`` the text is the
article only: the teasers split off the page, and the page chrome, removed.

    >>> result = Clusterer().run("corpus/")                               # doctest: +SKIP
    >>> dedup_corpus(result, "corpus/", "kept.jsonl", "removed.jsonl")   # doctest: +SKIP
    DedupCounts(kept=5, removed=1)
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from ..atomic import atomic_write
from ..errors import CorpusError, OutputError
from ..read import JSONL_SUFFIXES, check_output_path, iter_records
from ..records import Record
from ..result import ClusterResult
from ..segment import segment


class Entry(NamedTuple):
    """One output line: ``kept`` or not, and the JSON object to write."""

    kept: bool
    record: dict


class DedupCounts(NamedTuple):
    kept: int
    removed: int


def dedup(result: ClusterResult, records: Iterable[Record], corpus=None, drop_teasers: bool = False) -> Iterator[Entry]:
    """One :class:`Entry` per record of ``records`` (those ``result`` was made from),
    in their order. ``corpus`` is the folder or file the records were read from:
    a record whose ``source`` is a JSONL file there comes back as the JSON object of
    its line. A removed record gets ``duplicate_of`` (the canonical id),
    ``duplicate_group`` and ``evidence`` (the group's pairs that involve it).
    ``CorpusError`` for a record the result does not hold (the corpus changed)."""
    items = {it.id: it for it in result.items}
    group_of = {m: g for g in result.duplicate_groups for m in g.members}
    sources = _JsonlSources(corpus)
    try:
        for record in records:
            item = items.get(record.id)
            if item is None:
                raise CorpusError(f"record {record.id!r} is not in the result; was the corpus changed since the run?")
            obj = sources.original(record)
            if obj is None:
                obj = {
                    "id": record.id,
                    "text": record.text,
                    "title": item.title,
                    "lang": item.lang,
                    "date": item.date,
                    "url": item.url,
                }
            if drop_teasers:
                obj["text"] = segment(record)[0].text
            group = group_of.get(record.id)
            if group is None or group.canonical == record.id:
                yield Entry(True, obj)
                continue
            obj["duplicate_of"] = group.canonical
            obj["duplicate_group"] = group.id
            obj["evidence"] = [e for e in group.evidence if record.id in (e.get("a"), e.get("b"))]
            yield Entry(False, obj)
    finally:
        sources.close()


def write_dedup(entries: Iterable[Entry], kept_path, removed_path=None) -> DedupCounts:
    """Write the kept records to ``kept_path`` and, if given, the removed ones to
    ``removed_path``, as JSONL (UTF-8), each file atomically."""
    counts = [0, 0]

    def write(kept_fh, removed_fh=None):
        for entry in entries:
            counts[0 if entry.kept else 1] += 1
            fh = kept_fh if entry.kept else removed_fh
            if fh is not None:
                fh.write(_json_line(entry.record))

    if removed_path is None:
        atomic_write(kept_path, write)
    else:
        atomic_write(kept_path, lambda kept_fh: atomic_write(removed_path, lambda fh: write(kept_fh, fh)))
    return DedupCounts(*counts)


def dedup_corpus(
    result: ClusterResult, corpus, kept_path, removed_path=None, drop_teasers: bool = False
) -> DedupCounts:
    """Read ``corpus`` again (the folder or file ``result`` was made from) and write
    its deduplicated records: see :func:`dedup` and :func:`write_dedup`."""
    records = iter_records(corpus, [])
    return write_dedup(dedup(result, records, corpus, drop_teasers), kept_path, removed_path)


def check_dedup_paths(corpus, kept_path, removed_path=None) -> None:
    """Refuse, before any work, output paths that are corpus inputs, folders, in
    no existing folder, or one and the same file."""
    check_output_path(corpus, kept_path)
    if removed_path is not None:
        check_output_path(corpus, removed_path, "removed")
        if Path(kept_path).resolve() == Path(removed_path).resolve():
            raise OutputError(f"--out and --removed are the same file ({kept_path}); give two paths")


def _json_line(obj: dict) -> str:
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape: keep it escaped
        line = json.dumps(obj)
    return line + "\n"


class _JsonlSources:
    """The original JSON objects of the records read from JSONL files, found by
    reading each file again alongside the records (which come in line order)."""

    def __init__(self, corpus):
        self.corpus = Path(corpus) if corpus is not None else None
        self._path: Path | None = None
        self._lines: Generator[dict, None, None] | None = None

    def original(self, record: Record) -> dict | None:
        """The JSON object ``record`` was read from, or None when it came from a page."""
        if self.corpus is None or record.source is None or Path(record.source).suffix.lower() not in JSONL_SUFFIXES:
            return None
        path = self.corpus if self.corpus.is_file() else self.corpus / record.source
        if path != self._path:
            self.close()
            self._path = path
        for _ in range(2):  # from where the last record was found, then once from the top
            if self._lines is None:
                self._lines = _objects(path)
            for obj in self._lines:
                if obj.get("id") == record.id and obj.get("text") == record.text:
                    return obj
            self._lines = None
        raise CorpusError(f"record {record.id!r} is no longer in {path}; was the file changed since the run?")

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()
        self._lines = None


def _objects(path: Path) -> Generator[dict, None, None]:
    """The JSON objects of a JSONL file, line by line, as the reader sees them."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - opened apart, so only opening errors are mapped
    except OSError as exc:
        raise CorpusError(f"cannot read {path} again: {exc.strerror or exc}") from None
    with fh:
        for line_no, raw in enumerate(fh, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                obj = json.loads(raw.decode("utf-8"))
            except ValueError:  # not UTF-8, not JSON: a line the reader skipped too
                continue
            if isinstance(obj, dict):
                yield obj
