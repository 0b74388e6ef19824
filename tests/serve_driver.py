"""Runs ``cluster serve`` with the tests' fake encoder, for the scripts' quick smoke
runs (benchmarks/bench_serve.py, scripts/serve_kill_trial.py with --fake-encoder)
and the tests that start a real server: the same service, no model loaded.

    python tests/serve_driver.py --state S --port P [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
from fakes import bilingual  # noqa: E402

from clusterer.nightly.feed import Feed  # noqa: E402
from clusterer.pipeline import Clusterer  # noqa: E402
from clusterer.serve.service import serve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cache", default=None, help="embeddings cache folder (default: none)")
    args = parser.parse_args()
    clusterer = Clusterer(encoder=bilingual(), cache_dir=args.cache, cache_embeddings=args.cache is not None)
    serve(Feed(args.state, clusterer), port=args.port, on_ready=lambda url: print(f"ready {url}", flush=True))


if __name__ == "__main__":
    main()
