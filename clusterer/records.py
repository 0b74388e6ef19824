"""The data that flows through the pipeline: input records, items, skipped inputs."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

ARTICLE = "article"
TEASER = "teaser"
TEASER_MARK = "#teaser-"  # teaser ids are <doc>#teaser-<k>; record ids may not contain it


def teaser_id(doc: str, k: int) -> str:
    """The id of the k-th teaser (from 1) split off record ``doc``."""
    return f"{doc}{TEASER_MARK}{k}"


@dataclass
class Record:
    """One input document as read from the corpus, before segmentation.

    ``id`` is the record's own id (JSONL) or the file's path relative to the
    corpus folder (``.txt``/``.md``/``.html``). ``source`` is the corpus file
    it was read from (relative path; None for records given in memory).
    """

    id: str
    text: str
    title: str | None = None
    lang: str | None = None
    date: str | None = None  # ISO 8601 date or datetime, as given or found
    url: str | None = None
    source: str | None = None


@dataclass
class Item:
    """One unit that is embedded and clustered: an article or a teaser.

    ``doc`` is the id of the record the item came from; for an article it is
    the same as ``id``, for a teaser ``id`` is ``<doc>#teaser-<k>``. ``source``
    is the record's corpus file.
    """

    id: str
    doc: str
    kind: str
    text: str
    title: str | None = None
    lang: str | None = None
    date: str | None = None
    url: str | None = None
    meta: dict = field(default_factory=dict)
    source: str | None = None


@dataclass
class Skipped:
    """An input that could not be used, with the reason (and line, for JSONL).

    ``unread`` is True when what the input holds could not be read (a damaged
    file or line): the nightly job then cannot tell whether a record of it was
    deleted, and keeps the stored ones. It is False for a record that was read
    and refused (a repeated id, a reserved id). For a damaged JSONL line,
    ``record`` is the id it still shows (``"id": "…"`` found in it) and
    ``digest`` a hash of its bytes, so that a later run can tell old damage,
    which hides no record, from new.
    """

    path: str
    reason: str
    line: int | None = None
    unread: bool = True
    record: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


def embedding_text(item: Item) -> str:
    """What is embedded for an item: its title (when the text does not start
    with it) followed by its text."""
    text = item.text.strip()
    title = (item.title or "").strip()
    if title and not text.startswith(title):
        return f"{title}\n{text}"
    return text or title


_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")
NO_DATE_YEARS = (1, 9999)


def day_number(date: str | None) -> float | None:
    """Days since 1970 for an ISO date (``2018``, ``2018-12``, ``2018-12-11``, or a datetime).

    A month alone is read as its 15th day, a year alone as 1 July. The years 1
    and 9999 are the ends of the calendar that software writes for "no date"
    (.NET's ``DateTime.MinValue`` and ``MaxValue``): they give None, as no date.
    """
    if not date:
        return None
    text = date.strip()
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.year in NO_DATE_YEARS:
            return None
        if when.tzinfo is not None:
            try:
                when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            except OverflowError:  # the year 1 or 9999 shifted out of range: keep the local time
                when = when.replace(tzinfo=None)
        return (when - _dt.datetime(1970, 1, 1)).total_seconds() / 86400.0
    except ValueError:
        pass
    m = _DATE.match(text)
    if not m:
        return None
    year = int(m.group(1))
    if year in NO_DATE_YEARS:
        return None
    month = int(m.group(2)) if m.group(2) else 7
    day = int(m.group(3)) if m.group(3) else (15 if m.group(2) else 1)
    try:
        return (_dt.date(year, month, day) - _dt.date(1970, 1, 1)).days + 0.0
    except ValueError:
        return None


def reading_order(date: str | None, item_id: str) -> tuple[bool, float, str]:
    """The order a reader meets items in: by date (undated after dated), then by id.
    The one rule behind a group's canonical member, a story's or event's title and
    the order of a story's events."""
    day = day_number(date)
    return (day is None, day if day is not None else 0.0, item_id)


def date_span(dates: Iterable[str | None]) -> tuple[str | None, str | None]:
    """The earliest and the latest of ``dates``, as given (None, None where none is a date)."""
    dated = sorted((day, date) for date in dates if (day := day_number(date)) is not None)
    return (dated[0][1], dated[-1][1]) if dated else (None, None)
