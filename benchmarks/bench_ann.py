"""Approximate nearest-neighbour libraries side by side: hnswlib, usearch, faiss.

    python benchmarks/bench_ann.py                          # 50k and 200k, 3 rounds
    python benchmarks/bench_ann.py --sizes 200000 --rounds 5 --avx2 /tmp/hnswlib_znver3
    python benchmarks/bench_ann.py --sweep usearch --sizes 200000 --ef 16,24,32,48

The task is the one :func:`clusterer.neighbours.knn` does above its exact
threshold: self-kNN with k = 20 over every row of an L2-normalised float32
matrix. The vectors are the clustered 384-d synthetic corpus of
``bench_cluster_scale.py`` (stories of ~6 items around topics, strays, a shared
offset), centred and re-normalised as language centring leaves them before the
search (``--vectors raw`` keeps the offset; ``--vectors diffuse`` makes every
item a stray, spread around its topic with no story to belong to: a harder
case for any index that leans on cluster structure). ``--vectors e5-cache`` takes
real multilingual-e5 vectors instead, every distinct one in the project's
embeddings cache (``embeddings_cache/``, filled by ``cluster`` and ``cluster
eval`` runs; about 17k vectors of documents and sentences after the evaluation
sets have been run), centred the same way; sizes above what it holds are cut.

Every measurement runs in a fresh child process (so its peak RSS is its own)
with ``--threads`` threads (OpenMP and BLAS too); rounds are interleaved across
the configurations, in a rotated order each round, so that other load on the
machine hits them alike, and the table gives medians over rounds. Columns: build
and query wall seconds (query = all n rows, k = 20, self excluded), the CPU
seconds of both (all threads; the figure to trust when another process shares
the cores), recall@10 and recall@20 against exact search (numpy float32 matmul)
on ``--sample`` random rows, and the child's peak RSS above the loaded data.

Configurations (``lib[@avx2][:key=value,...]``):

* ``hnswlib``: clusterer's former setup, HNSW graphs over shards of 100k
  consecutive rows, each filled by one thread (deterministic), shards in
  parallel; ``m``, ``efc`` (ef_construction), ``ef`` (search), ``shard``.
  hnswlib is no longer a dependency (its rows are skipped unless it is
  installed: ``pip install hnswlib``, which needs a C++ compiler).
* ``usearch``: the same sharding with usearch graphs; ``m`` (connectivity),
  ``efc`` (expansion_add), ``ef`` (expansion_search), ``shard``.
* ``faiss-hnsw``: the same sharding with ``IndexHNSWFlat`` (inner product);
  ``shard=0`` builds one graph over all rows with all threads (faiss >= 1.15
  builds HNSW graphs deterministically whatever the number of threads).
* ``faiss-ivf``: one ``IndexIVFFlat`` (inner product, spherical k-means on a
  seeded sample of ``train`` rows per list, ``niter`` iterations); ``nlist``
  (0: 4 * sqrt(n)), ``nprobe``.

For usearch and faiss-hnsw, ``bits`` = 16 (fp16), 17 (bf16) or 8 (int8) stores
the vectors in fewer bits (faiss: ``IndexHNSWSQ``); the shards' candidates are
then ranked on their true dot products, computed in the query time.

``@avx2`` approximates a CPU without AVX-512 on this one: for faiss it sets
``FAISS_SIMD_LEVEL=AVX2`` (faiss's dynamic dispatch; the child reports the
level faiss says it uses); for hnswlib, which is compiled on install with
``-march=native``, ``--avx2 DIR`` names a directory holding an hnswlib built
without AVX-512, e.g.::

    pip download hnswlib==0.8.0 --no-binary hnswlib --no-deps -d /tmp/src
    HNSWLIB_NO_NATIVE=1 CFLAGS=-march=znver3 CXXFLAGS=-march=znver3 \\
        pip install --no-deps --target /tmp/hnswlib_znver3 /tmp/src/hnswlib-0.8.0.tar.gz

usearch picks its kernels at run time from CPUID and has no switch to lower
them, so it has no ``@avx2`` row. Either way only the distance kernels change:
caches, memory bandwidth and clock speed stay this CPU's, so the ``@avx2`` rows
are an approximation of an AVX2-only machine, not a measurement of one.

``--sweep LIB`` builds one index per size and queries it at each ``--ef``
(for ``faiss-ivf``: each nprobe), for tuning.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cluster_scale import synthetic_corpus  # noqa: E402
from machine import cpu_summary  # noqa: E402

K = 20
QUERY_BLOCK = 16_384

# The configurations compared by default: clusterer's former hnswlib setup, and
# the candidates at the same graph settings (ef = 48 gives each HNSW library
# recall@10 >= 0.97 at 200k on the synthetic vectors, plain and diffuse, and on
# real e5 vectors; faiss-ivf's nprobe = 8 does on the synthetic ones only).
DEFAULT_CONFIGS = [
    "hnswlib:ef=48",
    "usearch:ef=48",
    "faiss-hnsw:ef=48",
    "faiss-hnsw:ef=48,bits=16",
    "faiss-ivf:nprobe=8,train=64,niter=10",
]
DEFAULTS = {
    "hnswlib": {"m": 16, "efc": 64, "ef": 48, "shard": 100_000, "seed": 42},
    "usearch": {"m": 16, "efc": 64, "ef": 48, "shard": 100_000, "bits": 32},
    "faiss-hnsw": {"m": 16, "efc": 64, "ef": 48, "shard": 100_000, "bits": 32},
    "faiss-ivf": {"nlist": 0, "nprobe": 8, "train": 256, "niter": 25},
}


# --------------------------------------------------------------------------- machine


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ``ru_maxrss`` it does not carry the
    parent's peak over ``fork`` + ``exec``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- data


def cached_e5_vectors(folder: Path) -> np.ndarray:
    """Every distinct vector in the embeddings caches (SQLite, one per model) in
    ``folder``: real multilingual-e5 vectors of whatever corpora were embedded."""
    import sqlite3

    blobs = set()
    for db in sorted(folder.glob("*.sqlite")):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            blobs.update(blob for (blob,) in con.execute("SELECT vec FROM vectors"))
        finally:
            con.close()
    dims = {len(b) for b in blobs}
    if len(dims) != 1:
        raise SystemExit(f"{folder}: no cached vectors, or vectors of several sizes {sorted(dims)}")
    return np.stack([np.frombuffer(b, dtype=np.float32) for b in sorted(blobs)])


def make_vectors(n: int, kind: str, e5_cache: Path) -> np.ndarray:
    if kind == "e5-cache":
        x = cached_e5_vectors(e5_cache)
        x = x[np.random.default_rng(0).permutation(len(x))[:n]].copy()
    else:
        x, _ = synthetic_corpus(n, stray=1.0 if kind == "diffuse" else 0.15)
    if kind != "raw":
        x -= x.mean(axis=0, keepdims=True)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def exact_top(x: np.ndarray, rows: np.ndarray, k: int, block: int = 100) -> np.ndarray:
    """Exact k nearest other rows of ``x[rows]`` (float32 matmul, self excluded)."""
    out = np.empty((len(rows), k), dtype=np.int64)
    for lo in range(0, len(rows), block):
        part = rows[lo : lo + block]
        sims = x[part] @ x.T
        sims[np.arange(len(part)), part] = -np.inf
        top = np.argpartition(sims, -k, axis=1)[:, -k:]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        out[lo : lo + len(part)] = np.take_along_axis(top, order, axis=1)
    return out


def prepare(n: int, kind: str, sample: int, cache: Path, e5_cache: Path) -> Path:
    """Vectors, sample rows and their exact neighbours in ``cache`` (made once)."""
    path = cache / f"ann-{kind}-{n}-{sample}.npz"
    if kind == "e5-cache" or not path.exists():
        x = make_vectors(n, kind, e5_cache)
        n = len(x)
        rows = np.sort(np.random.default_rng(1).choice(n, min(sample, n), replace=False))
        truth = exact_top(x, rows, K)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=x, rows=rows, truth=truth)
        tmp.replace(path)
    return path


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth))
    return hits / (len(truth) * k)


# --------------------------------------------------------------------------- indexes


def merge(labels: np.ndarray, sims: np.ndarray, k: int, own: np.ndarray):
    """Candidates of all shards to the top k: self removed, by sim desc then index asc."""
    sims = sims.copy()
    sims[labels == own[:, None]] = -np.inf
    order = np.lexsort((labels, -sims), axis=-1)[:, :k]
    return np.take_along_axis(labels, order, axis=1), np.take_along_axis(sims, order, axis=1)


def shards_of(n: int, size: int):
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


class HnswlibShards:
    def __init__(self, p):
        import hnswlib

        self.lib, self.p = hnswlib, p

    def simd(self) -> str:
        where = Path(self.lib.__file__).parent
        return "native build" if where.name == "site-packages" else f"build in {where}"

    def build(self, x, threads):
        p = self.p

        def one(part):
            lo, hi = part
            g = self.lib.Index(space="ip", dim=x.shape[1])
            g.init_index(max_elements=hi - lo, M=p["m"], ef_construction=p["efc"], random_seed=p["seed"])
            g.set_num_threads(1)
            g.add_items(x[lo:hi], np.arange(lo, hi))
            return g

        with ThreadPoolExecutor(threads) as pool:
            self.graphs = list(pool.map(one, shards_of(len(x), p["shard"])))

    def set_ef(self, ef):
        self.p["ef"] = ef

    def search(self, q, k, threads):
        labels, sims = [], []
        for g in self.graphs:
            g.set_ef(max(self.p["ef"], k))
            g.set_num_threads(threads)
            lab, dist = g.knn_query(q, k=min(k, g.get_current_count()))
            labels.append(lab.astype(np.int64))
            sims.append(1.0 - dist)
        return np.hstack(labels), np.hstack(sims)


USEARCH_DTYPES = {32: "f32", 16: "f16", 17: "bf16", 8: "i8"}


class UsearchShards:
    def __init__(self, p):
        from usearch.index import Index

        self.Index, self.p = Index, p

    def simd(self) -> str:
        return self.graphs[0].hardware_acceleration if getattr(self, "graphs", None) else "?"

    def build(self, x, threads):
        p = self.p

        def one(part):
            lo, hi = part
            g = self.Index(
                ndim=x.shape[1],
                metric="ip",
                dtype=USEARCH_DTYPES[p["bits"]],
                connectivity=p["m"],
                expansion_add=p["efc"],
                expansion_search=p["ef"],
            )
            g.add(np.arange(lo, hi, dtype=np.uint64), x[lo:hi], threads=1)
            return g

        with ThreadPoolExecutor(threads) as pool:
            self.graphs = list(pool.map(one, shards_of(len(x), p["shard"])))

    def set_ef(self, ef):
        self.p["ef"] = ef

    def search(self, q, k, threads):
        labels, sims = [], []
        for g in self.graphs:
            g.expansion_search = max(self.p["ef"], k)
            found = g.search(q, min(k, len(g)), threads=threads)
            lab = found.keys.astype(np.int64)
            sim = 1.0 - found.distances
            short = np.arange(lab.shape[1])[None, :] >= found.counts[:, None]
            lab[short], sim[short] = -1, -np.inf
            labels.append(lab)
            sims.append(sim)
        return np.hstack(labels), np.hstack(sims)


class FaissHnswShards:
    def __init__(self, p):
        import faiss

        self.faiss, self.p = faiss, p

    def simd(self) -> str:
        return self.faiss.SIMDConfig.get_level_name()

    def build(self, x, threads):
        faiss, p = self.faiss, self.p

        def one(part, inner=1):
            lo, hi = part
            faiss.omp_set_num_threads(inner)  # this thread's OpenMP threads
            if p["bits"] == 32:
                g = faiss.IndexHNSWFlat(x.shape[1], p["m"], faiss.METRIC_INNER_PRODUCT)
            else:
                qt = {
                    16: faiss.ScalarQuantizer.QT_fp16,
                    17: faiss.ScalarQuantizer.QT_bf16,
                    8: faiss.ScalarQuantizer.QT_8bit,
                }[p["bits"]]
                g = faiss.IndexHNSWSQ(x.shape[1], qt, p["m"], faiss.METRIC_INNER_PRODUCT)
                g.train(x[lo:hi])
            g.hnsw.efConstruction = p["efc"]
            g.add(x[lo:hi])
            return lo, g

        if not p["shard"]:  # one graph, built by all threads
            self.graphs = [one((0, len(x)), threads)]
            return
        with ThreadPoolExecutor(threads) as pool:
            self.graphs = list(pool.map(one, shards_of(len(x), p["shard"])))

    def set_ef(self, ef):
        self.p["ef"] = ef

    def search(self, q, k, threads):
        self.faiss.omp_set_num_threads(threads)
        labels, sims = [], []
        for lo, g in self.graphs:
            g.hnsw.efSearch = max(self.p["ef"], k)
            sim, lab = g.search(q, min(k, g.ntotal))
            labels.append(np.where(lab >= 0, lab + lo, -1))
            sims.append(np.where(lab >= 0, sim, -np.inf).astype(np.float32))
        return np.hstack(labels), np.hstack(sims)


class FaissIvf:
    def __init__(self, p):
        import faiss

        self.faiss, self.p = faiss, p

    def simd(self) -> str:
        return self.faiss.SIMDConfig.get_level_name()

    def build(self, x, threads):
        faiss, p = self.faiss, self.p
        faiss.omp_set_num_threads(threads)
        nlist = p["nlist"] or int(4 * np.sqrt(len(x)))
        self.p["nlist"] = nlist
        quantizer = faiss.IndexFlatIP(x.shape[1])
        index = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True
        index.cp.seed = 1234
        index.cp.max_points_per_centroid = p["train"]
        index.cp.niter = p["niter"]
        index.train(x)
        index.add(x)
        self.index, self.quantizer = index, quantizer

    def set_ef(self, ef):
        self.p["nprobe"] = ef

    def search(self, q, k, threads):
        self.faiss.omp_set_num_threads(threads)
        self.index.nprobe = self.p["nprobe"]
        sim, lab = self.index.search(q, k)
        return lab, np.where(lab >= 0, sim, -np.inf).astype(np.float32)


LIBS = {"hnswlib": HnswlibShards, "usearch": UsearchShards, "faiss-hnsw": FaissHnswShards, "faiss-ivf": FaissIvf}


def parse_config(spec: str):
    """``lib[@avx2][:key=value,...]`` -> (lib, avx2, params)."""
    head, _, tail = spec.partition(":")
    lib, _, variant = head.partition("@")
    if lib not in LIBS:
        raise SystemExit(f"unknown library {lib!r}; expected one of {', '.join(LIBS)}")
    if variant not in ("", "avx2"):
        raise SystemExit(f"unknown variant {variant!r} in {spec!r}")
    params = dict(DEFAULTS[lib])
    for item in filter(None, tail.split(",")):
        key, _, value = item.partition("=")
        if key not in params:
            raise SystemExit(f"{lib} has no setting {key!r}; it has {', '.join(params)}")
        params[key] = int(value)
    return lib, variant == "avx2", params


def search_all(index, x, k, threads):
    """Self-kNN of every row, ``QUERY_BLOCK`` rows at a time."""
    n = len(x)
    idx = np.empty((n, k), dtype=np.int64)
    want = min(k + 1, n)
    for lo in range(0, n, QUERY_BLOCK):
        hi = min(n, lo + QUERY_BLOCK)
        labels, sims = index.search(x[lo:hi], want, threads)
        if index.p.get("bits", 32) != 32:  # stored in fewer bits: rank on true dot products
            for a in range(0, hi - lo, 1024):
                lab = labels[a : a + 1024]
                dots = np.einsum("id,ijd->ij", x[lo + a : lo + a + 1024], x[np.maximum(lab, 0)])
                sims[a : a + 1024] = np.where(lab >= 0, dots, -np.inf)
        cols, _ = merge(labels, sims, k, np.arange(lo, hi))
        idx[lo:hi] = cols[:, :k]
    return idx


def run_child(spec: str, data: Path, threads: int, efs) -> list:
    """Build one index, query it at each search breadth; one row per breadth."""
    lib, _, params = parse_config(spec)
    with np.load(data) as f:
        x, rows, truth = f["x"], f["rows"], f["truth"]
    base_rss = rss_mib()
    index = LIBS[lib](params)
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    index.build(x, threads)
    build = (time.perf_counter() - wall, time.process_time() - cpu)
    out = []
    for ef in efs or [None]:
        if ef is not None:
            index.set_ef(ef)
        wall, cpu = time.perf_counter(), time.process_time()
        idx = search_all(index, x, K, threads)
        query = (time.perf_counter() - wall, time.process_time() - cpu)
        found = idx[rows]
        out.append(
            {
                "config": spec,
                "params": dict(index.p),
                "simd": index.simd(),
                "n": len(x),
                "build_s": build[0],
                "build_cpu_s": build[1],
                "query_s": query[0],
                "query_cpu_s": query[1],
                "recall10": recall_at(found, truth, 10),
                "recall20": recall_at(found, truth, 20),
                "index_mib": peak_rss_mib() - base_rss,
                "load": load,
            }
        )
    return out


# --------------------------------------------------------------------------- parent


def child_env(avx2: bool, avx2_hnswlib: str, threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env.pop("FAISS_SIMD_LEVEL", None)
    if avx2:
        env["FAISS_SIMD_LEVEL"] = "AVX2"
        if avx2_hnswlib:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [avx2_hnswlib, env.get("PYTHONPATH")]))
    return env


def spawn(spec: str, data: Path, args, efs=()) -> list:
    _, avx2, _ = parse_config(spec)
    cmd = [sys.executable, __file__, "--child", spec, "--data", str(data), "--threads", str(args.threads)]
    if efs:
        cmd += ["--ef", ",".join(map(str, efs))]
    out = subprocess.run(
        cmd, check=True, capture_output=True, text=True, env=child_env(avx2, args.avx2, args.threads)
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def wait_for_quiet(limit: float, seconds: float) -> float:
    """Wait up to ``seconds`` for the 1-minute load to fall below ``limit``."""
    end = time.monotonic() + seconds
    while os.getloadavg()[0] >= limit and time.monotonic() < end:
        time.sleep(5)
    return os.getloadavg()[0]


def fmt_params(p: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in p.items() if k not in ("seed", "shard"))


def table(results: dict, n: int) -> None:
    cols = [
        "config",
        "simd",
        "build s",
        "query s",
        "total s",
        "× hnswlib",
        "build cpu",
        "query cpu",
        "recall@10",
        "recall@20",
        "index MiB",
        "range total s",
    ]
    print(f"\n## n = {n:,} (medians over rounds)")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    med = {}
    for spec, runs in results.items():
        m = {
            key: statistics.median(r[key] for r in runs)
            for key in ("build_s", "query_s", "build_cpu_s", "query_cpu_s", "recall10", "recall20", "index_mib")
        }
        totals = [r["build_s"] + r["query_s"] for r in runs]
        m["total"] = statistics.median(totals)
        m["range"] = f"{min(totals):.1f}–{max(totals):.1f}"
        med[spec] = m
    for spec, m in med.items():
        lib, avx2, _ = parse_config(spec)
        ref = next((v for s, v in med.items() if parse_config(s)[:2] == ("hnswlib", avx2)), None)
        ratio = f"{m['total'] / ref['total']:.2f}" if ref else "-"
        runs = results[spec]
        print(
            f"| {lib}{'@avx2' if avx2 else ''} {fmt_params(runs[0]['params'])} | "
            f"{runs[0]['simd']} | {m['build_s']:.1f} | {m['query_s']:.1f} | {m['total']:.1f} | "
            f"{ratio} | {m['build_cpu_s']:.1f} | {m['query_cpu_s']:.1f} | "
            f"{m['recall10']:.4f} | {m['recall20']:.4f} | {m['index_mib']:.0f} | {m['range']} |"
        )
    sys.stdout.flush()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50000,200000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=1000, help="rows checked for recall")
    ap.add_argument("--vectors", default="centred", choices=("centred", "raw", "diffuse", "e5-cache"))
    ap.add_argument(
        "--e5-cache",
        default=str(ROOT / "embeddings_cache"),
        metavar="DIR",
        help="--vectors e5-cache: the embeddings cache folder to read",
    )
    ap.add_argument(
        "--configs", default=";".join(DEFAULT_CONFIGS), help="';'-separated configurations, lib[@avx2][:key=value,...]"
    )
    ap.add_argument(
        "--avx2",
        default="",
        metavar="DIR",
        help="DIR holds an hnswlib built without AVX-512 (for @avx2 rows); adds an "
        "@avx2 row for each configuration when --configs names none",
    )
    ap.add_argument(
        "--sweep", default="", metavar="CONFIG", help="one configuration, built once per size, queried at each --ef"
    )
    ap.add_argument("--ef", default="", help="sweep: search breadths (faiss-ivf: nprobe values)")
    ap.add_argument(
        "--quiet-load", type=float, default=1.0, help="wait (up to 5 min) for the 1-min load to fall below this first"
    )
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "clusterer-bench-ann"))
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--data", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    efs = [int(e) for e in args.ef.split(",") if e]
    if args.child:
        print(json.dumps(run_child(args.child, Path(args.data), args.threads, efs)))
        return 0

    configs = [c for c in args.configs.split(";") if c]
    if args.avx2 and not any("@avx2" in c for c in configs):  # an @avx2 row for each
        configs += [
            c.replace(":", "@avx2:", 1) if ":" in c else c + "@avx2" for c in configs if not c.startswith("usearch")
        ]
    modules = {"hnswlib": "hnswlib", "usearch": "usearch", "faiss-hnsw": "faiss", "faiss-ivf": "faiss"}
    missing = [c for c in configs if importlib.util.find_spec(modules[parse_config(c)[0]]) is None]
    if missing:  # hnswlib is no longer a dependency: pip install hnswlib to compare with it
        print(f"# skipped, library not installed: {'; '.join(missing)}")
        configs = [c for c in configs if c not in missing]
    print(f"# {cpu_summary()}")
    print(
        f"# {args.threads} threads, k={K} self-kNN of every row, recall on {args.sample} rows, "
        f"{args.vectors} synthetic 384-d vectors; @avx2 rows approximate an AVX2-only CPU"
    )
    print(
        f"# load before waiting {os.getloadavg()[0]:.2f}, after {wait_for_quiet(args.quiet_load, 300):.2f}", flush=True
    )
    for n in (int(s) for s in args.sizes.split(",")):
        data = prepare(n, args.vectors, args.sample, Path(args.cache), Path(args.e5_cache))
        if args.sweep:
            for row in spawn(args.sweep, data, args, efs):
                print(
                    f"{row['n']} {row['config']} {row['simd']} {fmt_params(row['params'])}: build "
                    f"{row['build_s']:.1f} s, query {row['query_s']:.1f} s "
                    f"(cpu {row['query_cpu_s']:.1f}), recall@10 {row['recall10']:.4f}, "
                    f"@20 {row['recall20']:.4f}, {row['index_mib']:.0f} MiB, "
                    f"load {row['load']:.2f}",
                    flush=True,
                )
            continue
        results = {spec: [] for spec in configs}
        for r in range(args.rounds):
            order = configs[r % len(configs) :] + configs[: r % len(configs)]
            for spec in order:
                row = spawn(spec, data, args)[0]
                results[spec].append(row)
                print(
                    f"#   n={n} round {r + 1} {spec}: build {row['build_s']:.1f} s, "
                    f"query {row['query_s']:.1f} s, recall@10 {row['recall10']:.4f}, "
                    f"load {row['load']:.2f}",
                    flush=True,
                )
        table(results, n)
    print(f"\n# load at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
