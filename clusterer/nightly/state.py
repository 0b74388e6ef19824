"""The nightly job's state: one SQLite file, written once per run.

What it holds (schema version :data:`SCHEMA_VERSION`):

- ``meta``: the encoder name the state was built with, the schema version and
  the id counters (``next_story``, ``next_dup``, ``next_event``); ids are never reused.
- ``items``: every item ever seen (id, doc, kind, lang, title, date, url, the
  content hash of its embedded text, first and last run it was seen in, a
  deleted flag, its story, event and duplicate group, the corpus file it was last
  read from) and its **raw** embedding as a
  float32 BLOB. Vectors live here, not only in the embeddings cache, so the
  state is self-contained: a rebuild needs neither the cache nor the model.
  Centred vectors are not stored; they are the raw vectors minus the stored
  language means, recomputed in a moment at load.
- ``lang_means``: the shrunk language means used for centring, with the item
  count each was computed from, plus the corpus mean of the last full run (the prior
  they are shrunk toward when the clusterer has no reference prior).
- ``stories`` / ``events`` / ``dup_groups``: every id ever given out, with the run
  that created it and what became of it (``live``, ``merged`` into another id, or
  ``dissolved``); a story's title, an event's story, a group's canonical item.
- ``features``: each item's duplicate features
  (:class:`~clusterer.duplicates.TextFeatures`) and opening (its ``snippet``), so
  that items can be placed among the stored ones without their texts
  (``cluster serve``); written with the item's vector, and for any item of a
  night that lacks them (a state from before schema 4).
- ``runs``: the run log (id, kind, started, finished, status, counts, and the
  change report as JSON, so a report lost to a crash can be printed again).

Crash safety: a run reads what it needs, computes, and calls
:meth:`State.commit` once, which writes everything in one SQLite transaction
(rollback journal, ``synchronous=FULL``). A run killed at any point leaves the
file as it was before the run or after it. :class:`StateLock` keeps a second
run from starting while one is under way.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from ..duplicates import TextFeatures
from ..errors import StateError, StateLocked

SCHEMA_VERSION = 4  # 2 added items.source, 3 events, 4 features; an older file is upgraded in place when opened
OVERALL = "*overall*"  # lang_means key of the corpus mean (the prior of language means without a reference prior)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, doc TEXT NOT NULL, kind TEXT NOT NULL, lang TEXT, title TEXT,
    date TEXT, url TEXT, hash TEXT NOT NULL, first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    story TEXT, dup TEXT, vec BLOB NOT NULL, source TEXT, event TEXT);
CREATE INDEX IF NOT EXISTS items_story ON items(story);
CREATE INDEX IF NOT EXISTS items_dup ON items(dup);
CREATE TABLE IF NOT EXISTS lang_means (key TEXT PRIMARY KEY, n INTEGER NOT NULL, vec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY, created_run INTEGER NOT NULL, status TEXT NOT NULL,
    merged_into TEXT, title TEXT);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, created_run INTEGER NOT NULL, status TEXT NOT NULL,
    merged_into TEXT, story TEXT);
CREATE TABLE IF NOT EXISTS dup_groups (
    id TEXT PRIMARY KEY, created_run INTEGER NOT NULL, status TEXT NOT NULL,
    merged_into TEXT, canonical TEXT);
CREATE TABLE IF NOT EXISTS features (id TEXT PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
    status TEXT NOT NULL, counts TEXT, report TEXT);
"""


@dataclass
class StoredItem:
    """One row of ``items`` without its vector."""

    id: str
    doc: str
    kind: str
    lang: str | None
    title: str | None
    date: str | None
    url: str | None
    hash: str
    first_seen: int
    last_seen: int
    deleted: bool = False
    story: str | None = None
    dup: str | None = None
    source: str | None = None  # the corpus file (None in rows written before schema 2)
    event: str | None = None  # an article's event in its story (None before schema 3, until a rebuild)


_ITEM_COLS = (
    "id",
    "doc",
    "kind",
    "lang",
    "title",
    "date",
    "url",
    "hash",
    "first_seen",
    "last_seen",
    "deleted",
    "story",
    "dup",
    "source",
    "event",
)


@dataclass
class GroupRow:
    """A story, event or duplicate group id and its fate. ``extra`` is the story's
    title, the event's story or the group's canonical item."""

    id: str
    created_run: int
    status: str = "live"  # live | merged | dissolved
    merged_into: str | None = None
    extra: str | None = None


@dataclass
class RunRecord:
    id: int
    kind: str  # batch | update | rebuild
    started: str
    finished: str
    status: str = "ok"
    counts: dict = field(default_factory=dict)
    report: dict | None = None


@dataclass
class Changes:
    """Everything one run writes, applied by :meth:`State.commit` in one transaction.

    ``items`` are rows to write (all columns but the vector); ``vectors`` maps the
    ids whose vector is new or changed to it.
    """

    run: RunRecord
    items: list[StoredItem] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    stories: list[GroupRow] = field(default_factory=list)
    dup_groups: list[GroupRow] = field(default_factory=list)
    means: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)
    next_story: int = 1
    next_dup: int = 1
    events: list[GroupRow] = field(default_factory=list)
    next_event: int = 1
    features: dict[str, tuple[TextFeatures, str]] = field(default_factory=dict)  # id -> (features, snippet)


class StateLock:
    """An exclusive, non-blocking lock on ``<state>.lock`` (``fcntl.flock``).

    The kernel drops the lock when the process dies, SIGKILL included, so a
    crashed run never leaves a stale lock behind.
    """

    def __init__(self, state_path: str | Path):
        # the file the path resolves to, so two runs through a symlink share one lock
        self.path = Path(str(Path(state_path).resolve()) + ".lock")
        self._fh: TextIO | None = None

    def acquire(self) -> StateLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")  # noqa: SIM115 - held open while the lock is held
        except OSError as exc:
            raise StateError(f"cannot create the state's lock file {self.path} ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StateLocked(
                f"another update is running on this state ({self.path} is locked); try again when it has finished"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _blob(vec: np.ndarray) -> bytes:
    return np.ascontiguousarray(vec, dtype=np.float32).tobytes()


def lang_key(lang: str | None) -> str:
    """The ``lang_means`` key of a language (``None`` is a language of its own)."""
    return json.dumps(lang)


def means_by_lang(means: dict[str, tuple[int, np.ndarray]]) -> dict:
    """Stored means (:meth:`State.means`) by language, the corpus mean left out: the
    ``means`` :func:`~clusterer.debias.center_by_language` takes."""
    return {json.loads(k): v for k, (_, v) in means.items() if k != OVERALL}


class State:
    """Read and write one state file. Open it under a :class:`StateLock`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the folder of the state {self.path} ({exc.strerror or exc})") from None
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=5)
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            version = self._meta("schema")
            if version == "1":
                _upgrade_from_1(self._db)
                version = "2"
            if version == "2":
                _upgrade_from_2(self._db)
                version = "3"
            if version == "3":
                _upgrade_from_3(self._db)
                version = str(SCHEMA_VERSION)
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            db = getattr(self, "_db", None)
            if db is not None and db.in_transaction:
                db.execute("ROLLBACK")
            raise StateError(f"{self.path}: not a usable state database ({exc})") from None
        if version != str(SCHEMA_VERSION):
            raise StateError(f"{self.path}: state schema {version}, this version reads {SCHEMA_VERSION}")

    # -- reading -----------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def model(self) -> str | None:
        """The encoder name the state was built with (None for a new state)."""
        return self._meta("model")

    def check_model(self, model: str) -> None:
        stored = self.model
        if stored is not None and stored != model:
            raise StateError(
                f"{self.path} was built with model {stored!r}, not {model!r}; "
                "use the same --model, or start a new state file"
            )

    def is_empty(self) -> bool:
        return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0

    def counters(self) -> tuple[int, int, int]:
        """The next story, duplicate-group and event numbers."""
        return (
            int(self._meta("next_story") or 1),
            int(self._meta("next_dup") or 1),
            int(self._meta("next_event") or 1),
        )

    def next_run_id(self) -> int:
        return self.last_run() + 1

    def last_run(self) -> int:
        """The id of the last run written (0 for none)."""
        row = self._db.execute("SELECT MAX(id) FROM runs").fetchone()
        return row[0] or 0

    def items(self) -> dict[str, StoredItem]:
        """Every item row (deleted ones too), by id, without vectors."""
        out = {}
        for row in self._db.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items ORDER BY id"):
            it = StoredItem(*row)
            it.deleted = bool(it.deleted)
            out[it.id] = it
        return out

    def places(self) -> dict[str, int]:
        """Every item's place in the state: the row number SQLite gave its row, which
        stays while the row is updated in place (a night that keeps, moves or deletes
        the item) and grows when the row is written anew (a new or changed item).
        What the saved neighbour graphs are cut by (:mod:`clusterer.neighbours.saved`)."""
        return dict(self._db.execute("SELECT id, rowid FROM items"))

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Raw vectors of ``ids``, in that order."""
        found = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(f"SELECT id, vec FROM items WHERE id IN ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i in ids if i not in found]
        if missing:
            raise StateError(f"{self.path}: no vector stored for {missing[0]!r}")
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[i] for i in ids])

    def features(self, ids: Iterable[str] | None = None) -> dict[str, tuple[TextFeatures, str]]:
        """Stored duplicate features and openings (snippets) of ``ids`` (of every item
        holding them when None); an id without stored features is left out."""
        if ids is None:
            rows = self._db.execute("SELECT id, blob FROM features")
            return {key: _unpack_features(blob) for key, blob in rows}
        out = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(f"SELECT id, blob FROM features WHERE id IN ({marks})", chunk):
                out[key] = _unpack_features(blob)
        return out

    def feature_ids(self) -> set[str]:
        """The ids whose features are stored."""
        return {row[0] for row in self._db.execute("SELECT id FROM features")}

    def means(self) -> dict[str, tuple[int, np.ndarray]]:
        """Stored language means by :func:`lang_key` (and :data:`OVERALL`): (count, vector)."""
        return {
            k: (n, np.frombuffer(v, dtype=np.float32).copy())
            for k, n, v in self._db.execute("SELECT key, n, vec FROM lang_means")
        }

    def _groups(self, table: str, extra: str) -> dict[str, GroupRow]:
        return {
            r[0]: GroupRow(*r)
            for r in self._db.execute(f"SELECT id, created_run, status, merged_into, {extra} FROM {table} ORDER BY id")
        }

    def stories(self) -> dict[str, GroupRow]:
        return self._groups("stories", "title")

    def dup_groups(self) -> dict[str, GroupRow]:
        return self._groups("dup_groups", "canonical")

    def events(self) -> dict[str, GroupRow]:
        return self._groups("events", "story")

    def runs(self) -> list[RunRecord]:
        out = []
        for rid, kind, started, finished, status, counts, report in self._db.execute(
            "SELECT id, kind, started, finished, status, counts, report FROM runs ORDER BY id"
        ):
            out.append(
                RunRecord(
                    rid,
                    kind,
                    started,
                    finished,
                    status,
                    json.loads(counts or "{}"),
                    json.loads(report) if report else None,
                )
            )
        return out

    def skipped_in_runs(self, run_ids: Iterable[int]) -> dict[int, list[dict]]:
        """The inputs each of ``run_ids`` skipped, as its report lists them."""
        out: dict[int, list[dict]] = {}
        for rid in sorted(set(run_ids)):
            row = self._db.execute("SELECT report FROM runs WHERE id = ?", (rid,)).fetchone()
            out[rid] = (json.loads(row[0]).get("skipped") or []) if row and row[0] else []
        return out

    # -- writing -----------------------------------------------------------
    def commit(self, model: str, changes: Changes) -> None:
        """Write one run's changes in a single transaction: all of them or none."""
        db = self._db
        run = changes.run
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('model', ?)", (model,))
            for key, value in (
                ("next_story", changes.next_story),
                ("next_dup", changes.next_dup),
                ("next_event", changes.next_event),
            ):
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))
            fresh = [it for it in changes.items if it.id in changes.vectors]
            other = [it for it in changes.items if it.id not in changes.vectors]
            db.executemany(
                f"INSERT OR REPLACE INTO items ({', '.join(_ITEM_COLS)}, vec) "
                f"VALUES ({', '.join('?' * (len(_ITEM_COLS) + 1))})",
                [_row(it) + (_blob(changes.vectors[it.id]),) for it in fresh],
            )
            sets = ", ".join(f"{c} = ?" for c in _ITEM_COLS[1:])
            db.executemany(f"UPDATE items SET {sets} WHERE id = ?", [_row(it)[1:] + (it.id,) for it in other])
            db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?)",
                [(key, _pack_features(f, snip)) for key, (f, snip) in changes.features.items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO lang_means VALUES (?, ?, ?)",
                [(k, int(n), _blob(v)) for k, (n, v) in changes.means.items()],
            )
            for table, extra, rows in (
                ("stories", "title", changes.stories),
                ("dup_groups", "canonical", changes.dup_groups),
                ("events", "story", changes.events),
            ):
                db.executemany(
                    f"INSERT OR REPLACE INTO {table} (id, created_run, status, merged_into, {extra}) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(g.id, g.created_run, g.status, g.merged_into, g.extra) for g in rows],
                )
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.kind,
                    run.started,
                    run.finished,
                    run.status,
                    json.dumps(run.counts, sort_keys=True),
                    json.dumps(run.report, ensure_ascii=False) if run.report is not None else None,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _upgrade_from_1(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2, inside the caller's transaction: ``items.source`` added, empty
    until each row's next run (the nightly job treats an unknown file cautiously)."""
    db.execute("ALTER TABLE items ADD COLUMN source TEXT")
    db.execute("UPDATE meta SET v = '2' WHERE k = 'schema'")


def _upgrade_from_2(db: sqlite3.Connection) -> None:
    """Schema 2 -> 3, inside the caller's transaction: ``items.event`` added (the
    ``events`` table is made with the others), empty until the next rebuild
    (``cluster update --rebuild``) gives the stored articles their events; a night's
    new articles get theirs at once."""
    db.execute("ALTER TABLE items ADD COLUMN event TEXT")
    db.execute("UPDATE meta SET v = '3' WHERE k = 'schema'")


def _upgrade_from_3(db: sqlite3.Connection) -> None:
    """Schema 3 -> 4, inside the caller's transaction: the ``features`` table (made
    with the others) is empty until the next night stores the features of every item
    it reads."""
    db.execute("UPDATE meta SET v = '4' WHERE k = 'schema'")


_HEADER = struct.Struct("<I")  # the length of a features blob's JSON part


def _pack_features(f: TextFeatures, snippet: str) -> bytes:
    """A features row: the length of a JSON header (counts, figures, names, the
    snippet, the sketch's length in bytes), the header, the MinHash sketch, the
    packed sentences."""
    sketch = np.ascontiguousarray(f.sketch, dtype=np.uint64).tobytes()
    head = json.dumps(
        {
            "grams": f.grams,
            "chars": f.chars,
            "figures": sorted(f.figures),
            "names": sorted(f.names),
            "snippet": snippet,
            "sketch": len(sketch),
        },
        ensure_ascii=False,
    ).encode("utf-8")
    return _HEADER.pack(len(head)) + head + sketch + f.sentences


def _unpack_features(blob: bytes) -> tuple[TextFeatures, str]:
    (size,) = _HEADER.unpack_from(blob)
    start = _HEADER.size + size
    head = json.loads(blob[_HEADER.size : start])
    end = start + head["sketch"]
    sketch = np.frombuffer(blob[start:end], dtype=np.uint64).copy()
    features = TextFeatures(
        sketch,
        head["grams"],
        head["chars"],
        bytes(blob[end:]),
        frozenset(head["figures"]),
        frozenset(head["names"]),
    )
    return features, head["snippet"]


def _row(it: StoredItem) -> tuple:
    return tuple(int(getattr(it, c)) if c == "deleted" else getattr(it, c) for c in _ITEM_COLS)
