"""The embeddings cache: vectors keyed by model and text content, in SQLite.

One database file per model under the cache folder. Each batch is written in
one transaction, so a run killed mid-way keeps every batch it finished and
the file stays usable (SQLite's journal makes each commit atomic). The cache is
derived data: a file SQLite finds damaged is moved aside (``*.corrupt-<time>``,
with a warning) and a new one started, and the run goes on; on a full disk it
stops storing (with a warning) and the run goes on with its vectors in memory.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CacheError, is_damaged_database, is_disk_full
from ..paths import EMBEDDINGS_CACHE

DEFAULT_CACHE_DIR = EMBEDDINGS_CACHE  # relative to the folder a run starts from (see paths.py)


def text_key(model_name: str, text: str) -> str:
    """Content hash of a text as embedded by one model."""
    h = hashlib.sha256()
    h.update(model_name.encode("utf-8"))
    h.update(b"\0")
    h.update(text.encode("utf-8"))
    return h.hexdigest()


def _slug(model_name: str) -> str:
    digest = hashlib.sha256(model_name.encode("utf-8")).hexdigest()[:10]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_")[-60:]
    return f"{base}-{digest}"


def _cannot_write(exc: sqlite3.DatabaseError) -> bool:
    """A full disk, or the I/O error SQLite gives when a full disk keeps it from
    creating its journal files: the cache stops storing, the run goes on."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        is_disk_full(exc)
        or (code is not None and code & 0xFF == sqlite3.SQLITE_IOERR)
        or "disk i/o error" in str(exc).lower()
    )


class EmbeddingCache:
    """Persistent map from text key to vector for one model."""

    def __init__(self, cache_dir: str | Path, model_name: str):
        self.dir = Path(cache_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot create the embeddings cache folder {self.dir} "
                f"({exc.strerror or exc}); choose another --cache-dir, or --no-cache"
            ) from None
        self.model_name = model_name
        self.path = self.dir / f"{_slug(model_name)}.sqlite"
        self._db: sqlite3.Connection | None = None
        self.full = False  # the disk was full: nothing more is stored this run
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if _cannot_write(exc):
                self._stop_storing(exc)
            elif is_damaged_database(exc):
                self._db = self._start_over(exc)
            else:
                raise CacheError(
                    f"cannot use the embeddings cache {self.path} ({exc}); choose another --cache-dir, or --no-cache"
                ) from None

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('model', ?)", (self.model_name,))
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _start_over(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move a damaged cache file aside and open a new, empty one."""
        if self._db is not None:
            self._db.close()
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.path) + suffix)
            if part.exists():
                part.replace(Path(str(aside) + suffix))
        warnings.warn(
            f"embeddings cache {self.path} is damaged ({exc}); moved it to {aside} and "
            "started a new one (embeddings are computed again)",
            RuntimeWarning,
            stacklevel=3,
        )
        return self._open()

    def _stop_storing(self, exc: Exception) -> None:
        self.full = True
        warnings.warn(
            f"cannot write the embeddings cache {self.path} ({exc}); going on without "
            "storing new vectors (free some space to cache them again)",
            RuntimeWarning,
            stacklevel=3,
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        keys = list(dict.fromkeys(keys))
        if self._db is None:
            return found
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        except sqlite3.DatabaseError as exc:  # damage met while reading: nothing is cached
            if not is_damaged_database(exc):
                raise
            self._db = self._start_over(exc)
            return {}
        return found

    def put_many(self, keys: Iterable[str], vectors: np.ndarray) -> None:
        if self.full or self._db is None:
            return
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors)]
        try:
            try:
                with self._db:  # one transaction per batch
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            except sqlite3.DatabaseError as exc:
                if not is_damaged_database(exc):
                    raise
                self._db = self._start_over(exc)
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        except sqlite3.DatabaseError as exc:
            if not _cannot_write(exc):
                raise
            self._stop_storing(exc)

    def __len__(self) -> int:
        if self._db is None:
            return 0
        return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Embedder:
    """Batching, caching and progress around any encoder: the one place that calls it.

    ``embed(texts)`` returns one vector per text, computing only the texts the
    cache does not hold, in batches, each batch stored as soon as it is done.
    ``encoded`` counts the texts sent to the encoder (for tests and reports).
    ``compute(encoder, batches)`` runs the batches and yields ``(index, vectors)``
    for each as it is done, in any order: :func:`encode_in_turn` here, the Ray
    cluster's actors with :class:`clusterer.distributed.RayExecutor`.
    """

    def __init__(
        self,
        encoder,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        batch_size: int = 64,
        progress=None,
        compute: Compute | None = None,
    ):
        self.encoder = encoder
        self.cache = EmbeddingCache(cache_dir, encoder.name) if cache_dir is not None else None
        self.batch_size = batch_size
        self.progress = progress
        self.compute: Compute = compute or encode_in_turn
        self.encoded = 0

    def plan(self, texts: Sequence[str], known: Iterable[str] = ()) -> tuple[list[str], dict, list[list[int]]]:
        """What ``embed`` computes: each text's key, the vectors the cache holds
        for them, and the batches to compute (positions in ``texts``: each missing
        key once, none of ``known``; similar lengths together, ``batch_size`` a batch)."""
        keys = [text_key(self.encoder.name, t) for t in texts]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        todo: list[int] = []
        seen = set(known)
        for i, k in enumerate(keys):
            if k not in found and k not in seen:
                seen.add(k)
                todo.append(i)
        # similar lengths together: less padding for batched backends
        todo.sort(key=lambda i: (len(texts[i]), i))
        return keys, found, [todo[start : start + self.batch_size] for start in range(0, len(todo), self.batch_size)]

    def store(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Keep one computed batch (one cache transaction)."""
        if self.cache is not None:
            self.cache.put_many(keys, vectors)
        self.encoded += len(keys)

    def embed(self, texts: Sequence[str], progress=None) -> np.ndarray:
        """One vector per text; ``progress(done, total)`` (or the Embedder's own)
        counts the texts computed, not those read from the cache."""
        progress = progress if progress is not None else self.progress
        keys, found, batches = self.plan(texts)
        total = sum(len(idx) for idx in batches)
        done = 0
        if progress:
            progress(0, total)
        for n, vecs in self.compute(self.encoder, [[texts[i] for i in idx] for idx in batches]):
            batch_keys = [keys[i] for i in batches[n]]
            self.store(batch_keys, vecs)
            found.update(zip(batch_keys, vecs))
            done += len(batch_keys)
            if progress:
                progress(done, total)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


Compute = Callable[[Any, Sequence[Sequence[str]]], Iterator[tuple[int, np.ndarray]]]


def encode_in_turn(encoder, batches: Sequence[Sequence[str]]) -> Iterator[tuple[int, np.ndarray]]:
    """Encode the batches one after the other in this process."""
    for n, batch in enumerate(batches):
        yield n, np.asarray(encoder.encode(list(batch)), dtype=np.float32)
