"""Runs one nightly update with the fake encoder, for the crash tests.

    python tests/nightly_driver.py STATE CORPUS CACHE [--stall embed:N|write:N|done MARKER]

``--stall`` makes this process write MARKER and then sleep (so the test can
SIGKILL it at a known point): before the N-th encoder batch, before the N-th
SQL write statement on the state database, or after the update returned.
Only this test driver knows about stalls; production code reads no test flag.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import bilingual  # noqa: E402

import clusterer.nightly.state as state_module  # noqa: E402
from clusterer.errors import ClustererError  # noqa: E402
from clusterer.nightly.job import Nightly  # noqa: E402
from clusterer.pipeline import Clusterer  # noqa: E402


def stall(marker: str) -> None:
    Path(marker).write_text("stalled\n")
    time.sleep(600)


class StallingConnection:
    """Wraps a sqlite3 connection; stalls before the N-th write statement."""

    def __init__(self, conn, at: int, marker: str):
        self._conn, self._at, self._marker, self._writes = conn, at, marker, 0

    def _count(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            self._writes += 1
            if self._writes == self._at:
                stall(self._marker)

    def execute(self, sql, *args):
        self._count(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql, rows):
        self._count(sql)
        return self._conn.executemany(sql, rows)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("state")
    ap.add_argument("corpus")
    ap.add_argument("cache")
    ap.add_argument("--stall", nargs=2, metavar=("POINT", "MARKER"))
    args = ap.parse_args()
    point, marker = args.stall if args.stall else ("", "")
    encoder = bilingual()
    if point.startswith("embed:"):
        at = int(point.split(":")[1])
        encoder = bilingual(before_batch=lambda batch: stall(marker) if batch == at else None)
    if point.startswith("write:"):
        at = int(point.split(":")[1])
        shim = types.SimpleNamespace(**{k: getattr(sqlite3, k) for k in dir(sqlite3) if not k.startswith("__")})
        shim.connect = lambda *a, **kw: StallingConnection(sqlite3.connect(*a, **kw), at, marker)
        state_module.sqlite3 = shim
    clusterer = Clusterer(encoder=encoder, cache_dir=args.cache, batch_size=2)
    try:
        report = Nightly(args.state, clusterer).update(args.corpus)
    except ClustererError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if point == "done":
        stall(marker)
    print(f"run {report.run}: {report.counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
