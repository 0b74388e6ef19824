"""What a nightly state holds, compared across runs: for the crash tests and
scripts/fault_campaign.py; and the nightly job's own runs over a list of nights, which
the service's tests compare the feed with."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def fingerprint(path: Path) -> dict:
    """Everything in a state but timestamps, report texts and embedding counts (which
    depend on what killed runs left in the cache)."""
    if not path.exists():
        return {}
    db = sqlite3.connect(str(path))
    try:
        return {
            "items": db.execute(
                "SELECT id, doc, kind, lang, hash, first_seen, last_seen, deleted, story, "
                "dup, source, vec FROM items ORDER BY id"
            ).fetchall(),
            "stories": db.execute("SELECT * FROM stories ORDER BY id").fetchall(),
            "dups": db.execute("SELECT * FROM dup_groups ORDER BY id").fetchall(),
            "means": db.execute("SELECT * FROM lang_means ORDER BY key").fetchall(),
            "meta": db.execute("SELECT * FROM meta ORDER BY k").fetchall(),
            "runs": [
                (rid, kind, status, {k: v for k, v in json.loads(counts).items() if k != "embedded"})
                for rid, kind, status, counts in db.execute("SELECT id, kind, status, counts FROM runs ORDER BY id")
            ],
        }
    finally:
        db.close()


def integrity(path: Path) -> str:
    if not path.exists():
        return "ok"
    db = sqlite3.connect(str(path))
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def update_nights(path: Path, tmp: Path, nights: list[list[dict]]) -> None:
    """`cluster update` (the library's, with the fake encoder) over cumulative JSONL
    corpora: each night the records so far, a repeated id replacing its record where
    it stood; a fresh Clusterer each night, as each night is a process of its own."""
    from fakes import bilingual

    from clusterer.nightly.job import Nightly
    from clusterer.pipeline import Clusterer

    encoder = bilingual()
    corpus: dict[str, dict] = {}
    for k, records in enumerate(nights):
        for r in records:
            corpus[r["id"]] = r
        file = tmp / f"corpus-{k}" / "feed.jsonl"
        file.parent.mkdir()
        file.write_text("".join(json.dumps(r) + "\n" for r in corpus.values()), encoding="utf-8")
        Nightly(path, Clusterer(encoder=encoder, cache_dir=None)).update(file.parent)
