"""What a nightly state holds, compared across runs: for the crash tests and
scripts/fault_campaign.py."""

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
