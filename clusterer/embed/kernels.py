"""Fused oneDNN kernels for the PyTorch engine (:mod:`clusterer.embed.e5_torch`).

Two kinds, both built on PyTorch's oneDNN bindings and each checked against
the plain ops before it is used:

* :func:`fused_linear_ops`: oneDNN's linear op with its GELU or residual add
  fused in (``torch.ops.mkldnn._linear_pointwise``, a private PyTorch API);
* :class:`FusedAttention`: one window's self-attention as a single oneDNN Graph
  kernel, traced through TorchScript's oneDNN fusion.

A kernel that cannot be had (the op is missing from this torch build, it
computes something else, tracing fails) falls back to the plain ops and says
so once, with :func:`warnings.warn`; the vectors are the same either way, only
slower. TorchScript's fusion switch is process-wide: it is turned on only while
a kernel is traced and run to its fused plan, under a lock, so two encoders
building kernels in two threads cannot switch it off under each other, and it
is always put back as it was.
"""

from __future__ import annotations

import math
import threading
import time
import warnings

_FUSION_LOCK = threading.Lock()  # held while TorchScript's process-wide fusion switch is on
_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def warn_once(key: str, message: str) -> None:
    """``warnings.warn(message)`` the first time ``key`` is met in this process."""
    with _WARNED_LOCK:
        if key in _WARNED:
            return
        _WARNED.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def fused_linear_ops(torch, dtype):
    """oneDNN's linear op (plain, with fused GELU, with fused residual add), or
    None when this torch build lacks it or gets it wrong: the plain ops are
    used then (with a warning, once). On CPUs with AVX-512 it is also much
    faster than ``F.linear`` in fp32."""
    try:
        op = torch.ops.mkldnn._linear_pointwise
        x = torch.ones((2, 4), dtype=dtype)
        w = torch.ones((3, 4), dtype=dtype)
        b = torch.zeros(3, dtype=dtype)
        ok = torch.allclose(op(x, w, b, "none", [], "").float(), torch.full((2, 3), 4.0))
        ok = ok and torch.allclose(op(x, w, b, "gelu", [], "none").float(), torch.full((2, 3), 4.0), atol=0.1)
        ok = ok and torch.allclose(
            op.binary(x, torch.ones((2, 3), dtype=dtype), w, b, "add").float(), torch.full((2, 3), 5.0)
        )
        reason = "" if ok else "it computes wrong results in this torch build"
    except Exception as exc:  # noqa: BLE001 - any failure means "use the plain ops"
        ok, reason = False, f"{type(exc).__name__}: {exc}"
    if ok:
        return op
    warn_once(
        f"linear-{dtype}",
        f"oneDNN fused linear layers unavailable ({reason}); the PyTorch engine uses the plain ops (slower)",
    )
    return None


class FusedAttention:
    """Self-attention of one window as a single oneDNN Graph kernel, one kernel
    per window length, built on demand.

    TorchScript's oneDNN fusion turns matmul, scale, softmax and matmul into one
    fused multi-head-attention kernel (the scores never leave the cache). On a
    CPU with AVX-512 attention runs ~1.8x faster and a forward pass of 512-token
    windows ~17% faster, in bf16 and in fp32. A kernel is specialised to one
    window length and building one costs ~25 ms, about what three 512-token
    windows save, and a window of ``t`` tokens saves ``(t / 512) ** 2`` of
    that. So, as in ski rental, a length gets its kernel once the windows of
    that length met so far would have paid for it: ``payback * (512 / t) ** 2``
    windows (3 at 512 tokens, 12 at 256); windows shorter than ``min_tokens``
    (which spend little on attention) and lengths not yet due run the plain
    ops. The first kernel also pays TorchScript's start-up (~0.5 s, what ~60
    windows of 512 tokens save), so none is built before the windows met add up
    to ``startup_payback`` 512-token windows: a small corpus never pays it.

    Each kernel is checked on random inputs against the plain ops (no further
    from fp32 than they are) and refused otherwise; a torch build without the
    fusion gives no kernels at all. Either way the plain ops run instead, and a
    warning says so once.

    Each kernel is also timed against ``plain`` (the engine's own attention
    without the fusion) on those inputs and kept only when it is faster: on an
    AVX2 CPU without AVX-512 (an AMD Zen 3) fp32 attention ran at ~97 GFLOP/s
    fused and ~110 through PyTorch's flash kernel. Lengths are built longest
    first and a fused kernel gains most on long windows, so once one is no faster,
    no shorter length gets one either (``min_tokens`` rises above it).
    """

    def __init__(
        self,
        torch,
        heads: int,
        head_dim: int,
        dtype,
        window: int = 512,
        min_tokens: int = 128,
        payback: float = 3.0,
        startup_payback: float = 60.0,
        plain=None,
    ):
        self._torch = torch
        self.plain = plain if plain is not None else self._attend
        self.heads, self.head_dim, self.dtype = heads, head_dim, dtype
        self.window, self.min_tokens, self.payback = window, min_tokens, payback
        self.startup_payback = startup_payback
        self.available = True
        self.kernels: dict = {}  # window length -> kernel, or None when refused
        self._seen: dict = {}
        self._work = 0.0  # windows met, in 512-token windows' worth of attention

    def _attend(self, q, k, v):
        torch = self._torch
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        return torch.matmul(torch.softmax(scores, -1), v)

    def _inputs(self, length: int):
        """Random (1, heads, length, head_dim) q, k, v laid out as the packed engine's views."""
        torch, h, d = self._torch, self.heads, self.head_dim
        gen = torch.Generator().manual_seed(length)
        qkv = torch.randn((length, 3 * h * d), generator=gen).to(self.dtype)
        return [t[None] for t in qkv.view(length, 3, h, d).permute(1, 2, 0, 3)]

    def _trace(self, q, k, v):
        """The traced kernel and its output on (q, k, v), with the fusion switch on meanwhile."""
        torch = self._torch
        with _FUSION_LOCK:
            was_on = torch.jit.onednn_fusion_enabled()
            torch.jit.enable_onednn_fusion(True)
            try:
                with warnings.catch_warnings(), torch.no_grad():
                    warnings.simplefilter("ignore")  # torch.jit.trace is deprecated; torch 2.13 has it
                    kernel = torch.jit.trace(self._attend, (q, k, v))
                    for _ in range(3):  # a profiled run, then the fused plan
                        got = kernel(q, k, v)
            finally:
                torch.jit.enable_onednn_fusion(was_on)
        return kernel, got

    def build(self, length: int):
        """The kernel for windows of ``length`` tokens, or None (refused or unavailable)."""
        torch = self._torch
        try:
            q, k, v = self._inputs(length)
            kernel, got = self._trace(q, k, v)
            with torch.no_grad():
                want = self._attend(q.float(), k.float(), v.float())
                plain = float((self._attend(q, k, v).float() - want).abs().max())
                fused = float((got.float() - want).abs().max())
        except Exception as exc:  # noqa: BLE001 - any failure means "use the plain ops"
            self.available = False
            warn_once(
                f"attention-{self.dtype}",
                f"oneDNN fused attention unavailable ({type(exc).__name__}: {exc}); "
                "the PyTorch engine uses the plain attention ops (slower)",
            )
            return None
        if fused <= 2 * plain + 1e-3:
            if self._faster(kernel, q, k, v):
                return kernel
            self.min_tokens = max(self.min_tokens, length + 1)  # no shorter length gains more
            return None
        warn_once(
            f"attention-wrong-{self.dtype}",
            f"a oneDNN fused attention kernel ({length} tokens) was refused: its error {fused:.2g} exceeds "
            f"the plain ops' {plain:.2g}; those lengths use the plain attention ops",
        )
        return None

    def _faster(self, kernel, q, k, v, rounds: int = 3) -> bool:
        """Whether ``kernel`` runs (q, k, v) faster than ``plain`` (best of ``rounds``, interleaved)."""
        torch = self._torch
        best = [float("inf"), float("inf")]
        with torch.no_grad():
            for _ in range(rounds):
                for i, fn in enumerate((kernel, self.plain)):
                    t0 = time.perf_counter()
                    fn(q, k, v)
                    best[i] = min(best[i], time.perf_counter() - t0)
        return best[0] < best[1]

    def prepare(self, lengths) -> None:
        """Count the windows of a batch by length; build the kernels now due."""
        if not self.available:
            return
        for length in lengths:
            if length < self.min_tokens or length in self.kernels:
                continue
            self._seen[length] = self._seen.get(length, 0) + 1
            self._work += (length / self.window) ** 2
        if not self.kernels and self._work < self.startup_payback:
            return
        due = [t for t, n in self._seen.items() if t not in self.kernels and n >= self.payback * (self.window / t) ** 2]
        for length in sorted(due, reverse=True):
            if length < self.min_tokens:  # raised by a kernel that was no faster
                break
            self.kernels[length] = self.build(length)
            if not self.available:
                return

    def get(self, length: int):
        """The kernel for ``length``, or None: use the plain ops."""
        return self.kernels.get(length)
