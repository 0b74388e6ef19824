"""The executor interface without a cluster: the nightly job reads its corpus
through the executor's ``prepare_corpus`` (a recording executor that runs here),
the Ray executor's prepare path gives what ``Clusterer.prepared`` gives (its Ray
Data job run in this process by a stand-in for Ray), and the workers' environment
carries the driver's engine choice."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from clusterer.embed import select
from clusterer.embed.encoders import LazyEncoder, get_encoder
from clusterer.embed.windows import MODEL_NAME
from clusterer.errors import CorpusError
from clusterer.nightly.tonight import read_tonight
from clusterer.pipeline import Clusterer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeEncoder  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "corpus"


def corpus_with_bad_inputs(root: Path) -> Path:
    """The example pages, with inputs the reader skips or refuses, and a page cut at 600 characters."""
    corpus = root / "corpus"
    shutil.copytree(EXAMPLES, corpus)
    (corpus / "notes.csv").write_text("a,b\n", encoding="utf-8")
    (corpus / "empty.txt").write_text("  \n", encoding="utf-8")
    lines = [
        json.dumps({"id": "storm_en.txt", "text": "A repeated id, kept out."}),
        "{not json",
        json.dumps({"id": "r1", "text": "Short record about the metro in Ho Chi Minh City.", "lang": "FRENCH"}),
        json.dumps({"id": "r1", "text": "Same id again."}),
        json.dumps({"id": "x#teaser-1", "text": "A reserved id."}),
    ]
    (corpus / "more.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return corpus


def comparable(features) -> list[tuple]:
    return [(f.sketch.tolist(), f.grams, f.chars, f.sentences, f.figures) for f in features]


def flat(batches) -> tuple[list, list, list, list[int]]:
    """Items, texts, features (as comparable tuples) and the batch sizes of prepared batches."""
    items, texts, features, sizes = [], [], [], []
    for batch_items, batch_texts, batch_features in batches:
        assert len(batch_items) == len(batch_texts) == len(batch_features)
        items += batch_items
        texts += batch_texts
        features += comparable(batch_features)
        sizes.append(sum(it.kind == "article" for it in batch_items))
    return items, texts, features, sizes


class LocalExecutor:
    """An executor that runs here and records what it is asked to do."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def prepare_corpus(self, clusterer, source, skipped):
        self.calls.append("prepare_corpus")
        yield from clusterer.prepared(source, skipped)

    def embed_corpus(self, clusterer, source):
        self.calls.append("embed_corpus")
        return clusterer._embed_corpus(source)

    def compute(self, encoder, batches):
        self.calls.append("compute")
        for n, batch in enumerate(batches):
            yield n, encoder.encode(list(batch))

    def close(self) -> None:
        self.calls.append("close")


def test_prepared_gives_read_batch_records_at_a_time(tmp_path):
    corpus = corpus_with_bad_inputs(tmp_path)
    c = Clusterer(encoder=FakeEncoder(dim=8), cache_dir=None, read_batch=3, max_chars=600)
    skipped: list = []
    items, texts, _, sizes = flat(c.prepared(corpus, skipped))
    records, read = c.read(corpus)
    assert sizes == [3, 3, 1] and len({it.doc for it in items}) == len(records) == 7
    assert all(it.text == "" and "snippet" in it.meta for it in items)
    assert [str(s) for s in skipped] == [str(s) for s in read] and len(skipped) == 6
    assert any("truncated_from" in it.meta for it in items)
    assert len(texts) == len(items)


def test_the_nightly_job_prepares_through_the_executor(tmp_path):
    """read_tonight with an executor reads the corpus by its prepare_corpus and
    embeds by its compute; what it reads equals the run without one."""
    corpus = corpus_with_bad_inputs(tmp_path)
    nights = {}
    executor = LocalExecutor()
    for name, ex in (("plain", None), ("executor", executor)):
        c = Clusterer(encoder=FakeEncoder(dim=8), cache_dir=None, use_prior=False, read_batch=2, executor=ex)
        nights[name] = read_tonight(c, corpus, {}, lambda ids: np.zeros((len(ids), 8), dtype=np.float32))
    assert executor.calls[0] == "prepare_corpus" and executor.calls.count("prepare_corpus") == 1
    assert "compute" in executor.calls  # the new items embedded by the executor too
    plain, through = nights["plain"], nights["executor"]
    assert through.items == plain.items and through.hashes == plain.hashes
    assert [str(s) for s in through.skipped] == [str(s) for s in plain.skipped] and len(plain.skipped) == 6
    np.testing.assert_array_equal(through.vectors, plain.vectors)
    assert comparable(through.features) == comparable(plain.features)
    assert through.embedded == plain.embedded == len(plain.items)


# -- the Ray executor's prepare path, its Ray Data job run here -------------------------
class _Dataset:
    def __init__(self, blocks, fn=None, kwargs=None):
        self.blocks, self.fn, self.kwargs = blocks, fn, kwargs or {}
        self.context = type("Context", (), {"execution_options": type("Options", (), {})()})()

    def map_batches(self, fn, fn_kwargs=None, **_):
        return _Dataset(self.blocks, fn, fn_kwargs)

    def iter_batches(self, **_):
        assert self.context.execution_options.preserve_order  # the admission needs reading order
        for block in self.blocks:
            yield self.fn(block, **self.kwargs)


class _Ray:
    """As much of Ray as the prepare path uses, in this process."""

    def __init__(self) -> None:
        self.data = type("Data", (), {"from_arrow_refs": staticmethod(_Dataset)})()

    def put(self, value):
        return value


@pytest.mark.parametrize("source", ["folder", "records"])
def test_the_ray_prepare_path_gives_what_the_local_one_gives(tmp_path, monkeypatch, source):
    pytest.importorskip("pyarrow")
    from clusterer import distributed
    from clusterer.distributed import driver

    monkeypatch.setattr(driver, "UNITS_PER_BLOCK", 4)  # several blocks, a batch across two
    corpus = corpus_with_bad_inputs(tmp_path)
    if source == "records":
        corpus = [{"id": p.name, "text": p.read_text(encoding="utf-8")} for p in sorted(EXAMPLES.glob("*.txt"))]
    c = Clusterer(encoder=FakeEncoder(dim=8), cache_dir=None, read_batch=3, max_chars=600)
    executor = distributed.RayExecutor()
    executor._ray = _Ray()  # connected
    got = {}
    for name, batches in (("local", c.prepared), ("ray", lambda s, k: executor.prepare_corpus(c, s, k))):
        skipped: list = []
        got[name] = (*flat(batches(corpus, skipped)), [str(s) for s in skipped])
    assert got["ray"] == got["local"]
    assert got["ray"][3] == ([3, 3, 1] if source == "folder" else [3, 2])


def test_the_ray_prepare_path_refuses_a_corpus_without_a_record_as_the_reader_does(tmp_path):
    pytest.importorskip("pyarrow")
    from clusterer import distributed

    (tmp_path / "notes.csv").write_text("a,b\n", encoding="utf-8")
    c = Clusterer(encoder=FakeEncoder(dim=8), cache_dir=None)
    executor = distributed.RayExecutor()
    executor._ray = _Ray()
    with pytest.raises(CorpusError) as local:
        list(c.prepared(tmp_path, []))
    with pytest.raises(CorpusError) as ray:
        list(executor.prepare_corpus(c, tmp_path, []))
    assert str(ray.value) == str(local.value)


# -- the engine the workers run -------------------------------------------------------------
def test_the_workers_run_the_drivers_engine_choice(monkeypatch):
    from clusterer.distributed import FORWARDED_ENV, worker_env

    for name in FORWARDED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asked = []
    encoder = LazyEncoder(MODEL_NAME, lambda: None, engine_choice=lambda: asked.append(1) or "openvino-bf16")
    assert worker_env(encoder) == {"HF_HUB_OFFLINE": "1", select.ENGINE_ENV: "openvino-bf16"}
    monkeypatch.setenv(select.ENGINE_ENV, "onnx")  # set on the driver: it wins, nothing is resolved
    asked.clear()
    assert worker_env(encoder)[select.ENGINE_ENV] == "onnx" and asked == []
    monkeypatch.delenv(select.ENGINE_ENV)
    assert select.ENGINE_ENV not in worker_env(FakeEncoder())  # a model with no engine to choose
    assert select.ENGINE_ENV not in worker_env(None)


def test_the_default_models_choice_is_the_cached_one_and_a_worker_loads_what_it_is_given(tmp_path, monkeypatch):
    """The driver's choice is read from the engine-choice cache (not measured again),
    and the encoder shipped to a worker loads the engine its environment names."""
    pytest.importorskip("torch")
    from clusterer.distributed import _portable, worker_env

    monkeypatch.delenv(select.ENGINE_ENV, raising=False)
    key = {"precision": "default", **select.cpu_signature(), **select.library_versions()}
    (tmp_path / select.CHOICE_FILE).write_text(json.dumps({"entries": [{"key": key, "choice": "torch-fp32"}]}))

    def no_measuring(*a, **k):
        raise AssertionError("measured again")

    monkeypatch.setattr(select, "choose", no_measuring)
    encoder = get_encoder(model_dir=tmp_path)
    assert worker_env(encoder)[select.ENGINE_ENV] == "torch-fp32"

    loaded = []

    def load_engine(engine, cache_dir, num_threads=None):
        loaded.append(engine)
        return type("Engine", (), {"name": MODEL_NAME})()

    monkeypatch.setattr(select, "load_engine", load_engine)
    monkeypatch.setenv(select.ENGINE_ENV, "onnx")  # as the worker's environment holds the driver's choice
    assert _portable(encoder).loaded.name == MODEL_NAME
    assert loaded == ["onnx"]
