"""A night on a large state: `cluster update` with a corpus of N stored items and a
small share of new ones, its time, peak memory and what it reads from the state.

    python benchmarks/bench_nightly_scale.py --items 100000 --night 1000
    python benchmarks/bench_nightly_scale.py --items 100000 --night 1000 --baseline /tmp/before   # side by side
    python benchmarks/bench_nightly_scale.py --items 100000 --night 1000 --deleted 5   # and 5 records gone

The state is synthetic (tests/serve_harness.py ``build_state``): N items whose
vectors lie around one centre per story, whose duplicate features and texts come
from a pool of 2,000 synthetic news texts, and whose content hashes are those a
night gives those texts, so that the corpus written beside it (the N records, then
``--night`` new synthetic articles) is unchanged but for the new ones. The night is
run by the library (``Nightly.update``) with the tests' fake encoder (256
dimensions, no model): the figures are the night's own cost without the new items'
embedding. Each run is a child process on a fresh copy of the state; ``--baseline
DIR`` runs another checkout's clusterer on the same files, alternating
(``--rounds``). Printed per run: wall seconds, the report's step timings, peak RSS,
the rows each State reader returned (what the night read from SQLite), and a digest of
every live item's story, duplicate group and event after the night (equal digests: the
same placement).

A night keeps the stored items' neighbour graphs beside the state
(:mod:`clusterer.neighbours.saved`): before the timed runs, a night of this code on
a copy of the state and a corpus without the last ``--night`` stored records saves
the graphs a night before this one would have left (all but the last shard's rows
alike), and every run starts from a copy of them (a code that keeps none ignores
them). State, corpus and graphs are kept in ``--work`` for the next run. Run it
alone: it times.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READERS = ("items", "vectors", "features", "stories", "dup_groups", "events", "means", "feature_ids")


def child(state: Path, corpus: Path) -> dict:
    """One night in this process (the clusterer of BENCH_CLUSTERER_ROOT, else this checkout)."""
    sys.path[:0] = [os.environ.get("BENCH_CLUSTERER_ROOT") or str(REPO), str(REPO / "tests")]
    from fakes import FakeEncoder

    from clusterer.nightly import state as state_module
    from clusterer.nightly.job import Nightly
    from clusterer.pipeline import Clusterer

    read: dict[str, int] = {}

    def counted(name, method):
        def reader(self, *args, **kwargs):
            out = method(self, *args, **kwargs)
            read[name] = read.get(name, 0) + (len(out) if hasattr(out, "__len__") else 1)
            return out

        return reader

    for name in READERS:
        if hasattr(state_module.State, name):
            setattr(state_module.State, name, counted(name, getattr(state_module.State, name)))
    start = time.perf_counter()
    nightly = Nightly(state, Clusterer(encoder=FakeEncoder(), cache_dir=None))
    report = nightly.update(corpus)
    wall = time.perf_counter() - start
    graphs = getattr(nightly, "graphs", None)  # codes before saved graphs have none
    night_read = dict(read)  # the night's reads, not the digest's below
    with state_module.State(state) as st:  # what the night placed where, for comparing codes
        rows = sorted((r.id, r.story, r.dup, r.event) for r in st.items().values() if not r.deleted)
    return {
        "wall_s": round(wall, 1),
        "timings": {k: round(v, 1) for k, v in report.timings.items()},
        "counts": report.counts,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rows_read": night_read,
        "graphs_built_loaded": [graphs.built, graphs.loaded] if graphs is not None else None,
        "placement_sha256": hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16],
    }


def build(work: Path, n: int, night: int, seed: int) -> tuple[Path, Path]:
    """The state and the corpus of ``n`` stored items and ``night`` new ones (kept in ``work``)."""
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from fakes import FakeEncoder
    from serve_harness import build_state, pool_hashes, synthetic_record

    from clusterer.pipeline import Clusterer

    state, corpus = work / f"state-{n}.sqlite", work / f"corpus-{n}-{night}.jsonl"
    if not state.exists():
        t = time.perf_counter()
        hashes = pool_hashes(Clusterer(encoder=FakeEncoder(), cache_dir=None), n, seed)
        texts = build_state(state.with_suffix(".part"), n, 256, seed=seed, hashes=hashes)
        state.with_suffix(".part").rename(state)
        (work / f"pool-{n}.json").write_text(json.dumps(texts))
        print(f"built a state of {n:,} items in {time.perf_counter() - t:.0f} s", flush=True)
    if not corpus.exists():
        texts = json.loads((work / f"pool-{n}.json").read_text())
        rng = random.Random(seed + 1)
        with open(corpus.with_suffix(".part"), "w", encoding="utf-8") as fh:
            for j in range(n):
                fh.write(json.dumps({**texts[j % len(texts)], "id": f"item-{j}"}) + "\n")
            for k in range(night):
                fh.write(json.dumps(synthetic_record(k, rng, "new")) + "\n")
        corpus.with_suffix(".part").rename(corpus)
    return state, corpus


def prime(work: Path, state: Path, corpus: Path, n: int, night: int) -> Path:
    """The neighbour graphs the night before would have saved: a night on a copy of the
    state whose corpus lacks the last ``night`` stored records (kept in ``work``)."""
    graphs = work / f"graphs-{n}-{night}"
    if graphs.exists():
        return graphs
    t = time.perf_counter()
    before = work / "prime.sqlite"
    for path in (before, Path(f"{before}.graphs")):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    shutil.copyfile(state, before)
    lacking = work / "prime.jsonl"
    with open(corpus, encoding="utf-8") as src, open(lacking, "w", encoding="utf-8") as out:
        for j, line in enumerate(src):
            if j < n - night:
                out.write(line)
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(before), str(lacking)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    saved = Path(f"{before}.graphs")
    saved.rename(graphs) if saved.exists() else graphs.mkdir()  # none: searched exactly
    before.unlink()
    lacking.unlink()
    print(f"saved the night before's neighbour graphs in {time.perf_counter() - t:.0f} s", flush=True)
    return graphs


def without(work: Path, corpus: Path, n: int, deleted: int) -> Path:
    """``corpus`` without ``deleted`` of its ``n`` stored records, spread evenly (kept in ``work``)."""
    out = work / f"{corpus.stem}-deleted-{deleted}.jsonl"
    if not out.exists():
        gone = {round((k + 0.5) * n / deleted) for k in range(deleted)}
        with open(corpus, encoding="utf-8") as src, open(out.with_suffix(".part"), "w", encoding="utf-8") as fh:
            fh.writelines(line for j, line in enumerate(src) if j not in gone)
        out.with_suffix(".part").rename(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100_000, help="stored items (default 100,000)")
    ap.add_argument("--night", type=int, default=1_000, help="new items in the night's corpus (default 1,000)")
    ap.add_argument(
        "--deleted",
        type=int,
        default=0,
        help="stored records left out of the night's corpus, spread evenly (default 0)",
    )
    ap.add_argument("--baseline", type=Path, help="another checkout's root, run side by side")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/clusterer-bench-nightly"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", nargs=2, type=Path, metavar=("STATE", "CORPUS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    sys.path.insert(0, str(REPO / "benchmarks"))
    from machine import cpu_summary

    args.work.mkdir(parents=True, exist_ok=True)
    state, corpus = build(args.work, args.items, args.night, args.seed)
    graphs = prime(args.work, state, corpus, args.items, args.night)
    if args.deleted:
        corpus = without(args.work, corpus, args.items, args.deleted)
    deleted = f", {args.deleted:,} deleted" if args.deleted else ""
    print(f"# a night of {args.night:,} new items{deleted} on {args.items:,} stored; {cpu_summary()}", flush=True)
    codes = [("now", REPO)] + ([("before", args.baseline.resolve())] if args.baseline else [])
    for r in range(args.rounds):
        for label, root in codes:
            copy = args.work / "night.sqlite"
            for suffix in ("", "-journal", "-wal", "-shm", ".lock"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(state, copy)
            shutil.rmtree(f"{copy}.graphs", ignore_errors=True)
            shutil.copytree(graphs, f"{copy}.graphs")
            env = dict(os.environ, BENCH_CLUSTERER_ROOT=str(root))
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(copy), str(corpus)],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            got = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"round {r + 1} {label:6s}: {json.dumps(got)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
