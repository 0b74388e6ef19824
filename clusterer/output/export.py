"""Writing a result out: one JSON file, or four tables (``items``, ``stories``,
``events``, ``duplicate_groups``) as CSV or Parquet files in one folder.

The tables are built from a :class:`~clusterer.result.ClusterResult` alone, so a
saved result (``load_result``) exports as the run that made it would have. Each
file is written atomically; the folder is checked before any work, and one that
holds files this module did not write is refused.

    >>> from clusterer.output.export import write_output     # doctest: +SKIP
    >>> write_output(result, "tables/", "parquet")      # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write
from ..errors import OutputError
from ..read import check_output_path
from ..records import date_span
from ..result import ClusterResult

FORMATS = ("json", "csv", "parquet")
TABLE_FORMATS = ("csv", "parquet")
TABLES = ("items", "stories", "events", "duplicate_groups")
PYARROW_MISSING = "--format parquet needs pyarrow: pip install 'clusterer[parquet]'"

# column kinds: "string", "int", "bool", and "strings" (a list column in Parquet,
# joined by "," in CSV)
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "items": (
        ("id", "string"),
        ("doc", "string"),
        ("kind", "string"),
        ("lang", "string"),
        ("date", "string"),
        ("url", "string"),
        ("title", "string"),
        ("story", "string"),
        ("event", "string"),
        ("duplicate_group", "string"),
        ("canonical", "bool"),
    ),
    "stories": (
        ("id", "string"),
        ("title", "string"),
        ("languages", "string"),
        ("articles", "int"),
        ("teasers", "int"),
        ("size", "int"),
        ("first_date", "string"),
        ("last_date", "string"),
    ),
    "events": (
        ("id", "string"),
        ("story", "string"),
        ("title", "string"),
        ("languages", "strings"),
        ("size", "int"),
        ("first_date", "string"),
        ("last_date", "string"),
        ("keywords", "strings"),
        ("members", "strings"),
    ),
    "duplicate_groups": (
        ("id", "string"),
        ("canonical", "string"),
        ("size", "int"),
        ("languages", "strings"),
        ("story", "string"),
        ("members", "strings"),
    ),
}

_OWN_FILE = re.compile(rf"^(?:{'|'.join(TABLES)})\.(?:{'|'.join(TABLE_FORMATS)})(?:\..+\.tmp)?$")


@dataclass
class Table:
    """One table: its name, its columns (name, kind) and its rows (dicts by column)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    rows: list[dict]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def tables(result: ClusterResult) -> list[Table]:
    """The four tables of ``result``: items, stories, events, duplicate groups."""
    return [
        Table("items", COLUMNS["items"], item_rows(result)),
        Table("stories", COLUMNS["stories"], story_rows(result)),
        Table("events", COLUMNS["events"], event_rows(result)),
        Table("duplicate_groups", COLUMNS["duplicate_groups"], duplicate_group_rows(result)),
    ]


def item_rows(result: ClusterResult) -> list[dict]:
    """One row per item; ``canonical`` is true for the member of its duplicate group
    to keep (false for the other members and for items in no group)."""
    canonical = {g.canonical for g in result.duplicate_groups}
    return [
        {
            "id": it.id,
            "doc": it.doc,
            "kind": it.kind,
            "lang": it.lang,
            "date": it.date,
            "url": it.url,
            "title": it.title,
            "story": it.story,
            "event": it.event,
            "duplicate_group": it.duplicate_group,
            "canonical": it.duplicate_group is not None and it.id in canonical,
        }
        for it in result.items
    ]


def story_rows(result: ClusterResult) -> list[dict]:
    """One row per story; ``first_date``/``last_date`` are the earliest and latest
    of its members' dates, as given (None where no member has one)."""
    date_of = {it.id: it.date for it in result.items}
    rows = []
    for story in result.stories:
        first, last = date_span(date_of.get(m) for m in story.members)
        rows.append(
            {
                "id": story.id,
                "title": story.title,
                "languages": ",".join(story.languages),
                "articles": story.articles,
                "teasers": story.teasers,
                "size": story.size,
                "first_date": first,
                "last_date": last,
            }
        )
    return rows


def event_rows(result: ClusterResult) -> list[dict]:
    """One row per event (by story, in time order), its languages, keywords and
    members as lists."""
    return [
        {
            "id": e.id,
            "story": e.story,
            "title": e.title,
            "languages": list(e.languages),
            "size": len(e.members),
            "first_date": e.first_date,
            "last_date": e.last_date,
            "keywords": list(e.keywords),
            "members": list(e.members),
        }
        for e in result.events
    ]


def duplicate_group_rows(result: ClusterResult) -> list[dict]:
    """One row per duplicate group, its members and languages as lists."""
    return [
        {
            "id": g.id,
            "canonical": g.canonical,
            "size": len(g.members),
            "languages": list(g.languages),
            "story": g.story,
            "members": list(g.members),
        }
        for g in result.duplicate_groups
    ]


# -- checking where to write ----------------------------------------------------


def check_output(source, out, fmt: str = "json") -> None:
    """Refuse, before any work, an output ``out`` that cannot take format ``fmt``:
    for ``json`` what :func:`~clusterer.read.check_output_path` refuses; for a table
    format, a file, a folder holding files not written here, a folder whose parent
    does not exist, and, for ``parquet``, a missing pyarrow. ``source`` is the
    corpus (or the result file) the output is made from. Raises a ClustererError."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "json":
        check_output_path(source, out)
        return
    if fmt == "parquet":
        _pyarrow()
    dest = Path(out)
    if dest.exists() and not dest.is_dir():
        raise OutputError(
            f"the output folder {out} is a file: --format {fmt} writes four tables "
            "into a folder; give a new or empty folder"
        )
    if dest.is_dir():
        foreign = sorted(p.name for p in dest.iterdir() if not _OWN_FILE.match(p.name))
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            raise OutputError(
                f"the output folder {out} holds files not written by cluster "
                f"({foreign[0]}{more}); give a new or empty folder"
            )
        for path in table_paths(dest, fmt):
            check_output_path(source, path)
    else:
        check_output_path(source, dest)  # not a corpus input; its parent exists and takes files


def table_paths(dest, fmt: str) -> list[Path]:
    """The files ``fmt`` writes in folder ``dest``, one per table."""
    return [Path(dest) / f"{name}.{fmt}" for name in TABLES]


# -- writing ------------------------------------------------------------------


def write_output(result: ClusterResult, out, fmt: str = "json") -> list[Path]:
    """Write ``result`` to ``out`` as ``fmt``: a JSON file, or the four tables as
    CSV or Parquet files in folder ``out`` (created if missing). Returns the files
    written. Check ``out`` first with :func:`check_output`."""
    if fmt == "json":
        from ..report import write_json

        write_json(result, out)
        return [Path(out)]
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        _pyarrow()
    write = write_parquet if fmt == "parquet" else write_csv
    Path(out).mkdir(exist_ok=True)
    paths = table_paths(out, fmt)
    for table, path in zip(tables(result), paths):
        write(table, path)
    return paths


def write_csv(table: Table, path) -> None:
    """``table`` as CSV (UTF-8, a header row; lists joined by ",", None empty,
    booleans ``true``/``false``), written atomically."""

    def write(fh):
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="backslashreplace", newline="")
        writer = csv.writer(text)
        writer.writerow(table.column_names)
        for row in table.rows:
            writer.writerow([_csv_cell(row[name], kind) for name, kind in table.columns])
        text.flush()
        text.detach()

    atomic_write(path, write, binary=True)


def write_parquet(table: Table, path) -> None:
    """``table`` as a Parquet file with typed columns (lists as list columns),
    written atomically. Needs pyarrow."""
    pa, pq = _pyarrow()
    types = {"string": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "strings": pa.list_(pa.string())}
    schema = pa.schema([(name, types[kind]) for name, kind in table.columns])
    data = pa.Table.from_pydict(
        {name: [_clean(row[name]) for row in table.rows] for name, _ in table.columns}, schema=schema
    )
    atomic_write(path, lambda fh: pq.write_table(data, fh), binary=True)


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise OutputError(PYARROW_MISSING) from None
    return pyarrow, pyarrow.parquet


def _csv_cell(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "strings":
        return ",".join(value)
    return str(value)


def _clean(value):
    """A value Parquet can store: a string with a lone surrogate (from a JSON
    ``\\ud800`` escape) gets it escaped."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    elif isinstance(value, list):
        return [_clean(v) for v in value]
    return value
