"""Shared test helpers: the fake encoder as a fixture (see fakes.py) and the ../shared data locator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import FakeEncoder

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


@pytest.fixture
def fake_encoder():
    return FakeEncoder()


@pytest.fixture
def seeds_dir():
    return shared_path("seeds")


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
