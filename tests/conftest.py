"""Shared test helpers: a deterministic fake encoder and the ../shared data locator."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test where it is absent (a user's clone),
    fails where CI is set (CI always has it)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared test data missing at {path} (required when CI is set)")
        pytest.skip(f"shared test data not found at {path} (it lives in ../shared beside the repo)")
    return path


class FakeEncoder:
    """Deterministic bag-of-words hashing encoder; counts what it is asked to embed.

    Texts sharing words of five letters or more get close vectors; nothing is learned and nothing is
    downloaded, so logic can be tested apart from any model.
    """

    def __init__(self, dim: int = 256, name: str = "fake/bow-256"):
        self.dim = dim
        self.name = name
        self.calls = 0
        self.texts = 0

    def encode(self, texts):
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w{5,}", text.lower()):  # content words only
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
            # a direction every text shares, as real sentence embeddings have
            out[row, -1] += 1.0
            out[row] /= np.linalg.norm(out[row])
        return out


@pytest.fixture
def fake_encoder():
    return FakeEncoder()


@pytest.fixture
def seeds_dir():
    return shared_path("seeds")


class TopicEncoder(FakeEncoder):
    """A fake encoder with a built-in notion of topic: each keyword pulls the vector
    along its topic's axis, on top of the bag-of-words hash, so texts about one
    topic are close whatever their other words, as with a real model."""

    TOPICS = {
        "earthquake": 0,
        "rescue": 0,
        "rubble": 0,
        "aftershocks": 0,
        "election": 1,
        "voters": 1,
        "candidates": 1,
        "presidential": 1,
        "bakery": 2,
        "bread": 2,
        "pastry": 2,
        "football": 3,
        "goalless": 3,
        "penalties": 3,
        "recipe": 4,
        "flour": 2,
    }

    def __init__(self, weight: float = 0.6, **kw):
        super().__init__(name="fake/topic", **kw)
        self.weight = weight

    def encode(self, texts):
        out = super().encode(texts)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for w in words:
                if w in self.TOPICS:
                    out[row, self.TOPICS[w]] += self.weight
            out[row] /= np.linalg.norm(out[row])
        return out


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach a model hub: loaders must find everything locally."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    """Tests that load the real default model are marked ``model`` (those that use the
    ``model_cache`` fixture, and the ones marked by hand), so that
    ``pytest -m "not model"`` runs the fast ones alone."""
    for item in items:
        if "model_cache" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session", autouse=True)
def _model_dir(tmp_path_factory):
    """The default model is converted once per test session, into a folder of the
    session (not the user's cache; a set CLUSTERER_MODEL_DIR is kept)."""
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get("CLUSTERER_MODEL_DIR"):
            mp.setenv("CLUSTERER_MODEL_DIR", str(tmp_path_factory.mktemp("models")))
        yield


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One embeddings cache folder for every test that runs the real default model,
    so the reference texts and the shared pages are embedded once per session."""
    return tmp_path_factory.mktemp("model-cache")
