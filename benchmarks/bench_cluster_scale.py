"""Scale benchmark for the clustering pipeline on synthetic embeddings.

Makes clustered 384-d unit vectors (many small Gaussian blobs, the "stories",
around a few hundred "topics", plus stray items and a shared offset like real
sentence embeddings have) and times the steps on them. Each size runs in a
fresh child process so its peak RSS is its own.

    python benchmarks/bench_cluster_scale.py                    # 10k, 50k, 200k
    python benchmarks/bench_cluster_scale.py --sizes 10000 --k 10,20,30

Columns: wall and CPU seconds of one ``knn(x, k)`` call (CPU counts all
threads, so it is the figure to trust on a busy machine), recall against exact
search on a sample of rows, and the child's peak RSS (data included; the data
alone is ``n * 384 * 4`` bytes).

``--stage stories`` (or ``both``, the default) times the whole story stage on
centred vectors with dates: ``knn`` + ``knn_graph`` + ``sparse_average_linkage``
(edges only, missing pairs 0) and then the same linkage with exact similarities
for missing pairs (``exact=VectorSimilarity``), with the peak RSS after each,
the number of clusters and B-cubed F1 against the planted stories (strays as
singletons). The synthetic stories of one topic are close (centred cosine
~0.5 > threshold), so exact average linkage joins those of nearby dates: a low
F1 there is the data, not the method.

    python benchmarks/bench_cluster_scale.py --stage stories --story-k 20
    python benchmarks/bench_cluster_scale.py --stage stories --per-story 40   # bigger stories

``--stage analyse`` times the whole clustering stage after embedding,
``Clusterer.analyse(items, vectors=, features=)``, on synthetic items: ~85%
articles and ~15% teasers, 7 languages with skewed counts (each with its own
offset, which language centring removes), dates over a year, planted
near-duplicates (3% of articles, a third of them in another language) and
synthetic duplicate features (story-shared names, MinHash sketches sharing
little within a story and nearly all within a planted duplicate pair). The
steps are timed by wrapping the functions ``analyse`` calls (``other`` is the
rest: dates, lists), with the peak RSS after each; ``dup_recall`` is the share
of planted duplicate pairs found in one group. ``knn`` is the one neighbour
index over the articles (their kNN and the teasers' nearest articles);
``teaser_knn`` counts a separate teaser search, none when ``analyse`` shares it.

    python benchmarks/bench_cluster_scale.py --stage analyse
    python benchmarks/bench_cluster_scale.py --stage analyse --sizes 50000 --profile /tmp/an
    python benchmarks/bench_cluster_scale.py --stage analyse --blas-threads 1

``--baseline DIR`` runs another checkout's clusterer on the same items, alternating
with this one (``--rounds`` times), and prints how far the two outputs agree
(stories: B-cubed; duplicate groups: pairwise), e.g. against the code before
issue 25's one-graph search::

    git worktree add /tmp/before aa6bf1c
    python benchmarks/bench_cluster_scale.py --stage analyse --sizes 200000 --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# the clusterer under test: this checkout's, or another's for --baseline's child runs
sys.path.insert(0, os.environ.get("BENCH_CLUSTERER_ROOT") or str(Path(__file__).resolve().parents[1]))

from machine import cpu_summary  # noqa: E402

from clusterer import pipeline  # noqa: E402
from clusterer.duplicates import TextFeatures  # noqa: E402
from clusterer.evaluation.metrics import bcubed, pairwise  # noqa: E402
from clusterer.neighbours import EXACT_MAX_ITEMS, HnswParams, knn  # noqa: E402
from clusterer.records import ARTICLE, TEASER, Item  # noqa: E402
from clusterer.stories import teasers as teasers_mod
from clusterer.stories import threads as threads_mod
from clusterer.stories.linkage import VectorSimilarity, knn_graph, sparse_average_linkage  # noqa: E402
from clusterer.stories.similarity import StoryParams  # noqa: E402


def synthetic_embeddings(
    n: int, dim: int = 384, seed: int = 0, per_story: int = 6, stray: float = 0.15, chunk: int = 20_000
) -> np.ndarray:
    """``n`` unit rows: stories of ~``per_story`` items around ``n // 400`` topics,
    a ``stray`` share of items only near a topic. Built in float32 chunks so the
    peak memory is about the result's size."""
    return synthetic_corpus(n, dim, seed, per_story, stray, chunk)[0]


def synthetic_corpus(
    n: int, dim: int = 384, seed: int = 0, per_story: int = 6, stray: float = 0.15, chunk: int = 20_000
):
    """:func:`synthetic_embeddings` plus each row's planted story (-1 for a
    stray). Returns ``(x, story)``."""
    rng = np.random.default_rng(seed)

    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    topics = unit(rng.standard_normal((max(1, n // 400), dim), dtype=np.float32))
    n_stories = max(1, n // per_story)
    stories = unit(
        topics[rng.integers(0, len(topics), n_stories)]
        + 0.8 / np.sqrt(dim) * rng.standard_normal((n_stories, dim), dtype=np.float32)
    )
    offset = unit(rng.standard_normal((1, dim), dtype=np.float32))
    out = np.empty((n, dim), dtype=np.float32)
    story = np.empty(n, dtype=np.int64)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        pick = rng.integers(0, n_stories, m)
        x = stories[pick]
        x += 0.5 / np.sqrt(dim) * rng.standard_normal((m, dim), dtype=np.float32)
        lone = rng.random(m) < stray
        x[lone] = topics[rng.integers(0, len(topics), lone.sum())] + 1.2 / np.sqrt(dim) * rng.standard_normal(
            (lone.sum(), dim), dtype=np.float32
        )
        out[lo : lo + m] = unit(unit(x) + offset)
        story[lo : lo + m] = np.where(lone, -1, pick)
    return out, story


def synthetic_story_inputs(n: int, seed: int = 0, span_days: float = 730.0, per_story: int = 6):
    """What the story stage gets: centred unit vectors (the shared offset removed,
    as the pipeline's language centring does), a date per row (a story's items
    within a few days of its date, strays anywhere in ``span_days``) and the
    planted stories. Returns ``(x, days, story)``."""
    x, story = synthetic_corpus(n, seed=seed, per_story=per_story)
    x -= x.mean(axis=0, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rng = np.random.default_rng(seed + 1)
    story_day = rng.uniform(0.0, span_days, story.max() + 2)
    days = np.where(story >= 0, story_day[story] + rng.normal(0.0, 2.0, n), rng.uniform(0.0, span_days, n))
    return x, days, story


def sample_recall(x: np.ndarray, idx: np.ndarray, sample: int, seed: int = 1, block: int = 50) -> float:
    """Share of the true k nearest found, over ``sample`` random rows (exact
    search for those rows, ``block`` at a time to keep memory small)."""
    rows = np.random.default_rng(seed).choice(len(x), min(sample, len(x)), replace=False)
    k = idx.shape[1]
    hits = 0
    for lo in range(0, len(rows), block):
        part = rows[lo : lo + block]
        sims = x[part] @ x.T
        sims[np.arange(len(part)), part] = -np.inf
        truth = np.argpartition(sims, -k, axis=1)[:, -k:]
        hits += sum(len(set(t) & set(f)) for t, f in zip(truth, idx[part]))
    return hits / (len(rows) * k)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_one(n: int, ks, method: str, sample: int, threads, params: HnswParams) -> dict:
    t = time.perf_counter()
    x = synthetic_embeddings(n)
    row = {"n": n, "gen_s": round(time.perf_counter() - t, 1), "rss_after_data_mib": round(peak_rss_mib())}
    for k in ks:
        wall, cpu = time.perf_counter(), time.process_time()
        idx, _ = knn(x, k, method=method, threads=threads, params=params)
        row[f"k{k}_wall_s"] = round(time.perf_counter() - wall, 1)
        row[f"k{k}_cpu_s"] = round(time.process_time() - cpu, 1)
        row["peak_rss_mib"] = round(peak_rss_mib())  # before the recall check
        row[f"k{k}_recall"] = round(sample_recall(x, idx, sample), 4)
        del idx
    return row


def _f1(story: np.ndarray, labels: np.ndarray) -> float:
    """B-cubed F1 of ``labels`` against the planted ``story`` (-1 in either: a singleton)."""
    gold = {i: (None if s < 0 else int(s)) for i, s in enumerate(story.tolist())}
    return bcubed(gold, {i: (None if s < 0 else int(s)) for i, s in enumerate(labels.tolist())})[2]


def run_stories(n: int, k: int, threads, params: HnswParams, per_story: int = 6) -> dict:
    """The story stage at size ``n``: knn, graph, linkage (edges only, then exact)."""
    x, days, story = synthetic_story_inputs(n, per_story=per_story)
    days = days.tolist()
    sp = StoryParams()
    row = {"n": n, "k": k, "rss_after_data_mib": round(peak_rss_mib())}
    wall, cpu = time.perf_counter(), time.process_time()
    idx, sims = knn(x, k, threads=threads, params=params)
    row["knn_wall_s"] = round(time.perf_counter() - wall, 1)
    row["knn_cpu_s"] = round(time.process_time() - cpu, 1)
    t = time.process_time()
    graph = knn_graph(idx, sims, days, sp)
    del idx, sims
    row["edges"] = len(graph.sims)
    row["graph_cpu_s"] = round(time.process_time() - t, 1)
    for mode, exact in (("zero", None), ("exact", VectorSimilarity(x, days, sp))):
        wall, cpu = time.perf_counter(), time.process_time()
        labels = sparse_average_linkage(n, *graph, sp.threshold, exact=exact)
        row[f"{mode}_link_wall_s"] = round(time.perf_counter() - wall, 1)
        row[f"{mode}_link_cpu_s"] = round(time.process_time() - cpu, 1)
        row[f"{mode}_peak_rss_mib"] = round(peak_rss_mib())
        row[f"{mode}_clusters"] = int(labels.max()) + 1
        row[f"{mode}_f1"] = round(_f1(story, labels), 3)
        row[f"{mode}_stage_cpu_s"] = round(row["knn_cpu_s"] + row["graph_cpu_s"] + row[f"{mode}_link_cpu_s"], 1)
    return row


STORY_COLS = ["n", "k", "edges", "knn_wall_s", "knn_cpu_s", "graph_cpu_s"] + [
    f"{m}_{c}"
    for m in ("zero", "exact")
    for c in ("link_wall_s", "link_cpu_s", "stage_cpu_s", "clusters", "f1", "peak_rss_mib")
]


LANGS = ("en", "fr", "de", "vi", "es", "ru", "ar")
LANG_SHARE = (0.38, 0.2, 0.14, 0.1, 0.08, 0.06, 0.04)


def synthetic_analyse_inputs(
    n: int,
    seed: int = 0,
    per_story: int = 6,
    teasers: float = 0.15,
    dup_share: float = 0.03,
    cross_share: float = 0.33,
    chunk: int = 20_000,
):
    """Items, raw vectors and TextFeatures for ``Clusterer.analyse``, plus the
    planted duplicate pairs ``(source, copy)`` as item indices and each item's
    planted story (-1: a stray)."""
    x, story = synthetic_corpus(n, seed=seed, per_story=per_story)
    dim = x.shape[1]
    rng = np.random.default_rng(seed + 2)
    lang = rng.choice(len(LANGS), n, p=LANG_SHARE)
    arts = np.flatnonzero(rng.random(n) >= teasers)
    m = int(dup_share * len(arts))
    pick = rng.choice(arts, 2 * m, replace=False)
    src, dst = pick[:m], pick[m:]
    x[dst] = x[src] + 0.1 / np.sqrt(dim) * rng.standard_normal((m, dim), dtype=np.float32)
    story[dst] = story[src]
    cross = rng.random(m) < cross_share
    lang[dst] = np.where(cross, (lang[src] + rng.integers(1, len(LANGS), m)) % len(LANGS), lang[src])
    lang_dir = rng.standard_normal((len(LANGS), dim), dtype=np.float32)
    lang_dir *= 0.3 / np.linalg.norm(lang_dir, axis=1, keepdims=True)
    for lo in range(0, n, chunk):
        part = x[lo : lo + chunk] + lang_dir[lang[lo : lo + chunk]]
        x[lo : lo + chunk] = part / np.linalg.norm(part, axis=1, keepdims=True)
    # dates: a story's items within days of its date, strays anywhere in the year
    story_day = rng.uniform(0.0, 365.0, story.max() + 2)
    day = np.where(story >= 0, story_day[story] + rng.normal(0.0, 2.0, n), rng.uniform(0.0, 365.0, n))
    day = np.clip(day, 0, 364).astype(int)
    start = dt.date(2024, 1, 1)
    dates = [(start + dt.timedelta(days=int(d))).isoformat() for d in range(365)]
    # sketches: random, ~20% of positions from the story's (overlap ~0.04 within a
    # story), a planted copy keeps ~92% of its source's
    top = np.iinfo(np.uint64).max
    story_sk = rng.integers(0, top, (story.max() + 2, 128), dtype=np.uint64)
    sk = np.empty((n, 128), dtype=np.uint64)
    for lo in range(0, n, chunk):
        part = rng.integers(0, top, (min(chunk, n - lo), 128), dtype=np.uint64)
        st = story[lo : lo + chunk]
        shared = (rng.random(part.shape) < 0.2) & (st >= 0)[:, None]
        part[shared] = story_sk[st][shared]
        sk[lo : lo + chunk] = part
    sk[dst] = sk[src]
    changed = rng.random((m, 128)) < 0.08
    sk[dst] = np.where(changed, rng.integers(0, top, (m, 128), dtype=np.uint64), sk[dst])
    # names: 3-5 of the story's 10 plus four of the item's own (two articles of a
    # story agree on ~20%, below the cross-language bar); a copy keeps its source's
    is_art = np.zeros(n, dtype=bool)
    is_art[arts] = True
    chars = np.where(is_art, rng.integers(300, 4000, n), rng.integers(60, 300, n))
    chars[dst] = chars[src] + rng.integers(-100, 100, m)
    names = []
    for i in range(n):
        s = int(story[i])
        own = {f"i{i}n{t}" for t in range(4)}
        if s >= 0:
            own.update(f"s{s}n{t}" for t in rng.choice(10, int(rng.integers(3, 6)), replace=False))
        names.append(frozenset(own))
    for a, b in zip(src.tolist(), dst.tolist()):
        names[b] = names[a]
    # TextFeatures(sketch, word pairs, chars, sentences, figures): about one word
    # pair per 6 characters; no sentences (no alignment test); the names stand in
    # for the figures
    features = [TextFeatures(sk[i], max(1, int(chars[i]) // 6), int(chars[i]), figures=names[i]) for i in range(n)]
    art_ids = [f"a{i:07d}" for i in arts]
    doc_of = rng.choice(len(arts), n)
    items = []
    for i in range(n):
        if is_art[i]:
            items.append(Item(f"a{i:07d}", f"a{i:07d}", ARTICLE, "", lang=LANGS[lang[i]], date=dates[day[i]]))
        else:
            doc = art_ids[doc_of[i]]
            items.append(Item(f"{doc}#teaser-{i}", doc, TEASER, "", lang=LANGS[lang[i]], date=dates[day[i]]))
    return items, x, features, list(zip(src.tolist(), dst.tolist())), story


class _NoEncoder:
    """Stands in for a model that must never be called (vectors are given)."""

    name = "none"

    def encode(self, texts):
        raise AssertionError("the benchmark gives precomputed vectors")


ANALYSE_STEPS = [
    ("centre", pipeline, "center_by_language"),
    ("knn", pipeline, "knn_with_queries"),
    ("dups", pipeline, "find_duplicates"),
    ("merge", threads_mod, "merge_groups"),  # link_stories: the events (their linkage counts as other) ...
    ("threads", threads_mod, "thread_events"),  # ... and events into stories
    ("teaser_knn", teasers_mod, "knn_between"),
    ("teasers", pipeline, "attach_teasers"),
]


def run_analyse(
    n: int, per_story: int = 6, profile: str = "", params: HnswParams | None = None, labels: str = ""
) -> dict:
    """``Clusterer.analyse`` at size ``n`` with a per-step breakdown."""
    t = time.process_time()
    items, x, features, planted, story = synthetic_analyse_inputs(n, per_story=per_story)
    row = {
        "n": n,
        "articles": sum(it.kind == ARTICLE for it in items),
        "gen_cpu_s": round(time.process_time() - t, 1),
        "rss_after_data_mib": round(peak_rss_mib()),
    }
    spent = {name: [0.0, 0.0] for name, _, _ in ANALYSE_STEPS}

    def timed(name, fn):
        def wrapper(*a, **kw):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[name][0] += time.perf_counter() - wall
                spent[name][1] += time.process_time() - cpu
                row[f"{name}_rss_mib"] = round(peak_rss_mib())

        return wrapper

    saved = [(mod, attr, getattr(mod, attr)) for _, mod, attr in ANALYSE_STEPS]
    for name, mod, attr in ANALYSE_STEPS:
        fn = getattr(mod, attr)
        if params is not None and attr in ("knn_with_queries", "knn_between"):
            fn = functools.partial(fn, params=params)
        setattr(mod, attr, timed(name, fn))
    clusterer = pipeline.Clusterer(encoder=_NoEncoder(), cache_dir=None, use_prior=False)
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        analysis = clusterer.analyse(items, vectors=x, features=features)
        if prof:
            prof.disable()
        row["total_wall_s"] = round(time.perf_counter() - wall, 1)
        row["total_cpu_s"] = round(time.process_time() - cpu, 1)
    finally:
        for mod, attr, fn in saved:
            setattr(mod, attr, fn)
    if prof:
        prof.dump_stats(f"{profile}.{n}.prof")
    row["peak_rss_mib"] = round(peak_rss_mib())
    spent["teasers"] = [a - b for a, b in zip(spent["teasers"], spent["teaser_knn"])]
    for name, (w, c) in spent.items():
        row[f"{name}_wall_s"] = round(w, 1)
        row[f"{name}_cpu_s"] = round(c, 1)
    row["other_cpu_s"] = round(row["total_cpu_s"] - sum(c for _, c in spent.values()), 1)
    if labels:  # the run's output, to compare two runs (scripts/compare_outputs.py)
        group = np.full(n, -1, dtype=np.int64)
        for g, members in enumerate(analysis.dup_groups):
            group[members] = g
        story_of = np.array([-1 if s is None else s for s in analysis.story_of], dtype=np.int64)
        np.savez(f"{labels}.{n}.npz", story=story_of, dup=group)
    row["stories"] = len({s for s in analysis.story_of if s is not None})
    found = np.array([-1 if s is None else s for s in analysis.story_of])
    row["story_f1"] = round(_f1(story, found), 4)  # B-cubed against the planted stories
    row["dup_groups"] = len(analysis.dup_groups)
    group_of = {i: g for g, members in enumerate(analysis.dup_groups) for i in members}
    row["dup_recall"] = round(
        sum(group_of.get(a, -1) == group_of.get(b, -2) for a, b in planted) / max(1, len(planted)), 3
    )
    return row


ANALYSE_COLS = (
    ["n", "articles"]
    + [f"{name}_cpu_s" for name, _, _ in ANALYSE_STEPS]
    + [
        "other_cpu_s",
        "total_cpu_s",
        "total_wall_s",
        "peak_rss_mib",
        "rss_after_data_mib",
        "stories",
        "story_f1",
        "dup_groups",
        "dup_recall",
    ]
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,50000,200000")
    ap.add_argument("--k", default="10,20", help="comma-separated k values")
    ap.add_argument("--method", default="auto", choices=("auto", "exact", "hnsw"))
    ap.add_argument("--sample", type=int, default=500, help="rows checked for recall")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--hnsw", default="", metavar="m=16,ef_search=48,...", help="HnswParams fields to override, for tuning"
    )
    ap.add_argument(
        "--stage",
        default="both",
        choices=("knn", "stories", "both", "analyse"),
        help="knn: search timing and recall; stories: the whole story stage; "
        "analyse: Clusterer.analyse step by step (not part of both)",
    )
    ap.add_argument(
        "--blas-threads", type=int, default=None, help="analyse: OPENBLAS/OMP/MKL_NUM_THREADS for the child processes"
    )
    ap.add_argument("--profile", default="", metavar="PREFIX", help="analyse: write cProfile stats to PREFIX.<n>.prof")
    ap.add_argument(
        "--labels",
        default="",
        metavar="PREFIX",
        help="analyse: save each item's story and duplicate group to PREFIX.<n>.npz",
    )
    ap.add_argument(
        "--baseline",
        default="",
        metavar="DIR",
        help="analyse: also run the clusterer of another checkout (e.g. a git worktree of an older commit), "
        "side by side, and print how far the outputs agree",
    )
    ap.add_argument("--rounds", type=int, default=1, help="analyse: runs of each code per size")
    ap.add_argument("--story-k", type=int, default=20, help="k of the story stage")
    ap.add_argument("--per-story", type=int, default=6, help="mean items per synthetic story")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--one-stories", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--one-analyse", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.k.split(",")]
    params = HnswParams(**{key: int(val) for key, val in (kv.split("=") for kv in args.hnsw.split(",") if kv)})
    if args.one is not None:
        print(json.dumps(run_one(args.one, ks, args.method, args.sample, args.threads, params)))
        return 0
    if args.one_stories is not None:
        print(json.dumps(run_stories(args.one_stories, args.story_k, args.threads, params, args.per_story)))
        return 0
    if args.one_analyse is not None:
        row = run_analyse(args.one_analyse, args.per_story, args.profile, params if args.hnsw else None, args.labels)
        print(json.dumps(row))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.stage == "analyse":
        _analyse_table(args, sizes)
        return 0
    print(
        f"# cores={os.cpu_count()} load={os.getloadavg()[0]:.1f} method={args.method} "
        f"exact up to {EXACT_MAX_ITEMS} rows, {params}",
        flush=True,
    )
    if args.stage in ("knn", "both"):
        _knn_table(args, ks, sizes)
    if args.stage in ("stories", "both"):
        print(f"# story stage, k={args.story_k}, ~{args.per_story} items per story, {StoryParams()}", flush=True)
        print(" | ".join(STORY_COLS), flush=True)
        for n in sizes:
            cmd = [
                sys.executable,
                __file__,
                "--one-stories",
                str(n),
                "--story-k",
                str(args.story_k),
                "--per-story",
                str(args.per_story),
                "--hnsw",
                args.hnsw,
            ]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(" | ".join(str(row[c]) for c in STORY_COLS), flush=True)
        print(f"# load at end={os.getloadavg()[0]:.1f}", flush=True)
    return 0


def _analyse_table(args, sizes) -> None:
    env = dict(os.environ)
    if args.blas_threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.blas_threads)
    codes = [("now", "")] + ([("before", str(Path(args.baseline).resolve()))] if args.baseline else [])
    print(
        f"# Clusterer.analyse, {cpu_summary()}, load={os.getloadavg()[0]:.1f}, ~{args.per_story} items per "
        f"story, BLAS threads {args.blas_threads or 'default'}; step columns are CPU seconds; "
        + ", ".join(f"{name}: {root or 'this checkout'}" for name, root in codes),
        flush=True,
    )
    print(" | ".join(["code"] + ANALYSE_COLS), flush=True)
    prefix = args.labels or os.path.join(tempfile.mkdtemp(prefix="bench-analyse-"), "labels")
    for n in sizes:
        for round_ in range(args.rounds):
            # alternate which code goes first, so that a load change hits both alike
            for name, root in codes if round_ % 2 == 0 else codes[::-1]:
                cmd = [sys.executable, __file__, "--one-analyse", str(n), "--per-story", str(args.per_story)]
                cmd += ["--profile", args.profile, "--hnsw", args.hnsw, "--labels", f"{prefix}-{name}"]
                child_env = dict(env, BENCH_CLUSTERER_ROOT=root)
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=child_env).stdout
                row = json.loads(out.strip().splitlines()[-1])
                print(" | ".join([name] + [str(row[c]) for c in ANALYSE_COLS]), flush=True)
                print(
                    "#   wall s: "
                    + ", ".join(f"{step} {row[step + '_wall_s']}" for step, _, _ in ANALYSE_STEPS)
                    + "; peak RSS MiB after: "
                    + ", ".join(f"{step} {row.get(step + '_rss_mib', '-')}" for step, _, _ in ANALYSE_STEPS)
                    + f"; load={os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        if args.baseline:
            print(f"#   n={n}: {agreement(f'{prefix}-now.{n}.npz', f'{prefix}-before.{n}.npz')}", flush=True)


def agreement(now: str, before: str) -> str:
    """How far two runs' outputs agree: B-cubed of the stories and pairwise scores
    of the duplicate groups of ``now`` taken against ``before`` (unplaced items as
    singletons)."""
    a, b = np.load(now), np.load(before)

    def labels(arr):
        return {i: (None if v < 0 else int(v)) for i, v in enumerate(arr.tolist())}

    sp, sr, sf = bcubed(labels(b["story"]), labels(a["story"]))
    dp, dr, df = pairwise(labels(b["dup"]), labels(a["dup"]))
    return (
        f"now against before: stories B-cubed P {sp:.4f} R {sr:.4f} F1 {sf:.4f}; "
        f"duplicate pairs P {dp:.4f} R {dr:.4f} F1 {df:.4f}"
    )


def _knn_table(args, ks, sizes) -> None:
    cols = (
        ["n", "gen_s"]
        + [f"k{k}_{c}" for k in ks for c in ("wall_s", "cpu_s", "recall")]
        + ["rss_after_data_mib", "peak_rss_mib"]
    )
    print(" | ".join(cols), flush=True)
    for n in sizes:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(n),
            "--k",
            args.k,
            "--method",
            args.method,
            "--sample",
            str(args.sample),
            "--hnsw",
            args.hnsw,
        ]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(" | ".join(str(row[c]) for c in cols), flush=True)


if __name__ == "__main__":
    sys.exit(main())
