"""Drift of the nightly job against a batch run, and the cost of a small night.

    python scripts/nightly_drift.py --gold eval_data/itn.jsonl --nights 5 [--cache-dir DIR]

1. Splits the gold records into N nights by date (records without a date go to
   night 1), runs ``Nightly.update`` night by night on a temporary state, then a
   batch ``Clusterer.run`` on the full set, and prints B-cubed P/R/F1 of the
   incremental stories and events against the batch (batch taken as gold), and of
   both against the gold labels (events where the gold has them), with timings.
2. Times a night that brings 1% new items (the latest by date) onto a state
   built from the other 99%, against a full batch run on the same corpus.
   Embeddings come from the cache after the first pass, so the times of the
   other steps are reported as well as the totals.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusterer.embed.cache import DEFAULT_CACHE_DIR  # noqa: E402
from clusterer.embed.encoders import get_encoder  # noqa: E402
from clusterer.evaluation.gold import load_events, load_gold  # noqa: E402
from clusterer.evaluation.metrics import bcubed  # noqa: E402
from clusterer.nightly.job import Nightly  # noqa: E402
from clusterer.nightly.state import State  # noqa: E402
from clusterer.pipeline import Clusterer  # noqa: E402
from clusterer.records import day_number  # noqa: E402


def write_jsonl(records, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({k: v for k, v in vars(r).items() if v is not None}, ensure_ascii=False) + "\n")
    return path


def split_by_date(records, nights: int):
    dated = sorted((r for r in records if day_number(r.date) is not None), key=lambda r: (day_number(r.date), r.id))
    undated = [r for r in records if day_number(r.date) is None]
    per = -(-len(dated) // nights)
    parts = [dated[k * per : (k + 1) * per] for k in range(nights)]
    parts[0] = undated + parts[0]
    return parts


def labels(state_path: Path, level: str) -> dict:
    """Each live item's story or event (``level``) in the state."""
    with State(state_path) as st:
        return {i: getattr(r, level) for i, r in st.items().items() if not r.deleted}


def fmt(prf) -> str:
    return "P {:.3f}  R {:.3f}  F1 {:.3f}".format(*prf)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", default="eval_data/itn.jsonl")
    ap.add_argument("--nights", type=int, default=5)
    ap.add_argument("--model", default=None)
    ap.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    records, gold_story, _ = load_gold(args.gold)
    gold_event = load_events(args.gold)
    encoder = get_encoder(args.model)
    figures = {"gold": args.gold, "records": len(records), "nights": args.nights}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # -- 1. N nights against one batch run ------------------------------
        state = tmp / "drift.sqlite"
        seen, night_times = [], []
        for k, part in enumerate(split_by_date(records, args.nights), start=1):
            seen += part
            corpus = write_jsonl(seen, tmp / f"night{k}.jsonl")
            with Clusterer(encoder=encoder, cache_dir=args.cache_dir) as c:
                t = time.perf_counter()
                report = Nightly(state, c).update(corpus)
                night_times.append(time.perf_counter() - t)
            print(
                f"night {k}: {len(part)} new, {report.counts['stories']} stories, "
                f"{len(report.stories_created)} created, {len(report.stories_merged)} merges, "
                f"{night_times[-1]:.1f}s",
                flush=True,
            )
        incremental = labels(state, "story")
        incremental_events = labels(state, "event")
        full = write_jsonl(records, tmp / "full.jsonl")
        with Clusterer(encoder=encoder, cache_dir=args.cache_dir) as c:
            t = time.perf_counter()
            result = c.run(full)
            batch_time = time.perf_counter() - t
        batch = {it.id: it.story for it in result.items}
        batch_events = {it.id: it.event for it in result.items}
        figures["drift"] = {
            "incremental_vs_batch": bcubed(batch, incremental),
            "events_incremental_vs_batch": bcubed(batch_events, incremental_events),
            "batch_vs_gold": bcubed(gold_story, batch),
            "incremental_vs_gold": bcubed(gold_story, incremental),
            "night_seconds": [round(x, 2) for x in night_times],
            "batch_seconds": round(batch_time, 2),
            "stories_incremental": len({s for s in incremental.values() if s}),
            "stories_batch": len(result.stories),
            "events_incremental": len({e for e in incremental_events.values() if e}),
            "events_batch": len(result.events),
        }
        if gold_event:
            d = figures["drift"]
            d["events_batch_vs_gold"] = bcubed(gold_event, batch_events)
            d["events_incremental_vs_gold"] = bcubed(gold_event, incremental_events)
        d = figures["drift"]
        print(f"\nB-cubed, {args.nights} nights vs batch (batch as gold): {fmt(d['incremental_vs_batch'])}")
        print(f"batch vs gold:       {fmt(d['batch_vs_gold'])}")
        print(f"incremental vs gold: {fmt(d['incremental_vs_gold'])}")
        print(f"stories: incremental {d['stories_incremental']}, batch {d['stories_batch']}")
        print(f"events, nights vs batch (batch as gold): {fmt(d['events_incremental_vs_batch'])}")
        if gold_event:
            print(f"events, batch vs gold:       {fmt(d['events_batch_vs_gold'])}")
            print(f"events, incremental vs gold: {fmt(d['events_incremental_vs_gold'])}")
        print(f"events: incremental {d['events_incremental']}, batch {d['events_batch']}")

        # -- 2. a 1% night against a full batch run --------------------------
        dated = sorted(records, key=lambda r: (day_number(r.date) is not None, day_number(r.date) or 0, r.id))
        cut = len(dated) - max(1, len(dated) // 100)
        base = write_jsonl(dated[:cut], tmp / "base.jsonl")
        state = tmp / "one_percent.sqlite"
        with Clusterer(encoder=encoder, cache_dir=args.cache_dir) as c:
            Nightly(state, c).update(base)
        with Clusterer(encoder=encoder, cache_dir=args.cache_dir) as c:
            t = time.perf_counter()
            night = Nightly(state, c).update(full)
            night_time = time.perf_counter() - t
        with Clusterer(encoder=encoder, cache_dir=args.cache_dir) as c:
            t = time.perf_counter()
            again = c.run(full)
            batch_again = time.perf_counter() - t
        figures["one_percent"] = {
            "new_items": night.counts["new"],
            "night_seconds": round(night_time, 2),
            "night_steps": {k: round(v, 3) for k, v in night.timings.items()},
            "batch_seconds": round(batch_again, 2),
            "batch_steps": {k: round(v, 3) for k, v in again.timings.items()},
        }
        o = figures["one_percent"]
        print(f"\n1% night ({o['new_items']} new of {len(records)}): {o['night_seconds']}s {o['night_steps']}")
        print(f"full batch run, same corpus: {o['batch_seconds']}s {o['batch_steps']}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
