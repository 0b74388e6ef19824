"""Does the whole run give one result for any thread count?

    python scripts/thread_counts.py GOLD.jsonl [--threads 1 2]

Runs the pipeline on the records of GOLD (any JSONL corpus) with the default PyTorch
engine on each thread count, each from an empty embeddings cache, prints each run's
wall time and whether every item (story, event, duplicate group, map coordinates),
every group and every story came out the same.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusterer.embed.e5_torch import E5TorchEncoder  # noqa: E402
from clusterer.evaluation.gold import load_gold  # noqa: E402
from clusterer.pipeline import Clusterer  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gold", help="a JSONL corpus (a labelled set's records)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    records, _, _ = load_gold(args.gold)
    results = []
    for threads in args.threads:
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            with Clusterer(encoder=E5TorchEncoder(num_threads=threads), cache_dir=cache) as clusterer:
                results.append(clusterer.run(records).to_dict())
            print(f"{args.gold}: {threads} thread(s), {time.perf_counter() - start:.1f} s", flush=True)
    first = results[0]
    same = {key: all(r[key] == first[key] for r in results[1:]) for key in ("items", "duplicate_groups", "stories")}
    print(f"{args.gold}: the same on {args.threads} threads: " + ", ".join(f"{k} {v}" for k, v in same.items()))
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
