"""End-to-end stage timings of a real run: read + split, embed, analyse.

    python benchmarks/bench_pipeline.py [CORPUS] [--repeat 3]

CORPUS is a folder, a JSONL file of records, or (default) the ITN gold set
converted by ``scripts/convert_eval.py`` into ``eval_data/itn.jsonl``. Each
repeat runs in a fresh child process with a fresh, empty embeddings cache
(cold: conversion of the default model included in the first stage that needs
it), then once more on the warm cache; prints per-stage seconds (median over
repeats), items/s, tokens/s of the embedding stage and the child's peak RSS.
"align" is the part of "analyse" spent embedding sentences for the duplicates'
alignment test (only items of cross-language or long candidate pairs).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(corpus: str, cache_dir: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from clusterer.evaluation.gold import load_gold
    from clusterer.pipeline import Clusterer
    from clusterer.records import embedding_text

    source = corpus
    if corpus.endswith(".jsonl") and Path(corpus).is_file():
        try:
            source = load_gold(corpus)[0]
        except Exception:  # a plain records file
            source = corpus
    start = time.perf_counter()
    with Clusterer(cache_dir=cache_dir) as clusterer:
        result = clusterer.run(source)
        embedder = clusterer.embedder_
        tokens = None
        count = getattr(embedder.encoder, "token_count", None)
        if count is not None and embedder.encoded:
            records, _ = clusterer.read(source)
            tokens = sum(count(embedding_text(it)) for it in clusterer.split(records))
    wall = time.perf_counter() - start
    return {
        "items": len(result.items),
        "stories": len(result.stories),
        "dups": len(result.duplicate_groups),
        "timings": result.timings,
        "wall": wall,
        "encoded": embedder.encoded,
        "tokens": tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(corpus: str, cache_dir: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", corpus, "--cache-dir", cache_dir],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default=str(ROOT / "eval_data" / "itn.jsonl"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.corpus, args.cache_dir)))
        return 0
    if not Path(args.corpus).exists():
        print(f"no corpus at {args.corpus} (make eval_data with scripts/convert_eval.py, or give one)")
        return 1
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(run_child(args.corpus, cache))
            warm.append(run_child(args.corpus, cache))
    first = cold[0]
    print(
        f"corpus: {args.corpus}: {first['items']} items, {first['stories']} stories, "
        f"{first['dups']} duplicate groups; {args.repeat} repeats, medians"
    )
    print(
        f"{'run':5} {'read+split s':>12} {'embed s':>8} {'analyse s':>9} {'(align s)':>9} {'total s':>8} "
        f"{'items/s':>8} {'embed tok/s':>11} {'peak RSS MB':>11}"
    )
    for name, runs in (("cold", cold), ("warm", warm)):
        med = {
            k: statistics.median(r["timings"].get(k, 0.0) for r in runs) for k in ("read", "embed", "analyse", "align")
        }
        total = statistics.median(r["wall"] for r in runs)
        toks = [r["tokens"] / r["timings"]["embed"] for r in runs if r["tokens"] and r["encoded"]]
        tok_s = f"{statistics.median(toks):,.0f}" if toks else "-"
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        print(
            f"{name:5} {med['read']:12.2f} {med['embed']:8.2f} {med['analyse']:9.2f} {med['align']:9.2f} "
            f"{total:8.2f} {first['items'] / total:8.1f} {tok_s:>11} {rss:11.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
