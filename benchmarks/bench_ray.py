"""The Ray executor's overhead: a corpus through ``cluster --ray`` on this machine's
cores against the plain run on the same cores, side by side in one run.

    python benchmarks/bench_ray.py                       # ITN (eval_data/itn.jsonl), 2 rounds
    python benchmarks/bench_ray.py --corpus examples/corpus --rounds 1
    python benchmarks/bench_ray.py --address 127.0.0.1:6379   # a cluster already running

Unless ``--address`` is given, a local cluster of ``--nodes`` nodes of ``--cpus``
CPUs each is started on 127.0.0.1 first (``tests/ray_cluster.py``; by default two
nodes of one CPU: this machine's two cores), and its start is not timed: a cluster
is up before a job comes. Each run is the real CLI in a fresh process, from an empty
embeddings cache of its own (so the model loading and every embedding are in the
time), the plain and the Ray run alternating, the order swapped each round. The
converted model and the engine choice are made once before the rounds.

Printed: each run's wall time and its stages (``connect``, ``read`` = the prepare
job, ``embed``, ``analyse``), the ratio Ray / plain, whether the two results are
identical (all but timings; else whether stories and duplicate groups are), the
CPU flags and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_cluster(nodes: int, cpus: int) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "ray_cluster.py"), "--nodes", str(nodes), "--cpus", str(cpus)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=300)
    if not line or not line[0].strip():
        proc.kill()
        raise SystemExit("the local Ray cluster did not start")
    return proc, json.loads(line[0])


def run(corpus: str, out: Path, cache: Path, env: dict, ray: str | None) -> dict:
    cmd = [sys.executable, "-m", "clusterer", corpus, "--out", str(out), "--cache-dir", str(cache), "-q"]
    if ray:
        cmd += ["--ray", ray]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    data = json.loads(out.read_text(encoding="utf-8"))
    return {"wall": wall, "timings": data.pop("timings"), "result": data}


def same(a: dict, b: dict) -> str:
    if a == b:
        return "identical"
    groups = a["stories"] == b["stories"] and a["duplicate_groups"] == b["duplicate_groups"]
    differing = sorted(k for k in a if a[k] != b.get(k))
    return f"{'same stories and groups' if groups else 'DIFFERENT stories or groups'}; differing: {differing}"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from machine import cpu_summary  # imports this checkout's clusterer: here, not before main runs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(ROOT / "eval_data" / "itn.jsonl"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--address", default=None, help="a running cluster (default: start a local one)")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=1, help="CPUs of each local node")
    args = ap.parse_args()
    if not Path(args.corpus).exists():
        raise SystemExit(f"{args.corpus} not found (python scripts/convert_eval.py --shared ../shared --out eval_data)")
    print(f"# {args.corpus}; CPU: {cpu_summary()}; load before: {loadavg()}", flush=True)
    cluster = None
    env = dict(os.environ)
    address = args.address
    if address is None:
        cluster, info = start_cluster(args.nodes, args.cpus)
        address = info["address"]
        env.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": info["temp_dir"]})
        print(f"# local cluster: {args.nodes} nodes x {args.cpus} CPU at {address}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            work = Path(tmp)
            # the model converted and the engine chosen once, outside the timed runs
            run(str(ROOT / "examples" / "corpus"), work / "warm.json", work / "warm-cache", env, None)
            rows: dict[str, list[dict]] = {"plain": [], "ray": []}
            for r in range(args.rounds):
                order = [("plain", None), ("ray", address)]
                for name, ray in order if r % 2 == 0 else order[::-1]:
                    got = run(args.corpus, work / f"{name}-{r}.json", work / f"cache-{name}-{r}", env, ray)
                    rows[name].append(got)
                    stages = ", ".join(f"{k} {v:.1f}" for k, v in got["timings"].items() if k != "total")
                    print(f"round {r + 1} {name:5s}: {got['wall']:6.1f} s wall ({stages}); load {loadavg()}")
            plain = statistics.median(x["wall"] for x in rows["plain"])
            ray = statistics.median(x["wall"] for x in rows["ray"])
            print(f"median wall: plain {plain:.1f} s, ray {ray:.1f} s, ratio {ray / plain:.2f}")
            for p, q in zip(rows["plain"], rows["ray"]):
                print("results:", same(p["result"], q["result"]))
    finally:
        if cluster is not None:
            cluster.stdin.close()
            cluster.wait(timeout=120)
    print(f"# load after: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
