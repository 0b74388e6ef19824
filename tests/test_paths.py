"""Where files are kept between runs: the converted model once per user, the
embeddings cache where asked, nothing written where nothing was asked for."""

import os
from pathlib import Path

import pytest

from clusterer import paths
from clusterer.embed.e5_convert import FOLDER_PREFIX
from clusterer.pipeline import Clusterer
from clusterer.records import ARTICLE, Item


def test_model_dir_is_per_user_unless_moved(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.MODEL_ENV, raising=False)
    default = paths.model_dir()
    assert default.name == "models" and default.parent.name == "clusterer"
    assert Path.home() in default.parents or "XDG_CACHE_HOME" in os.environ
    monkeypatch.setenv(paths.MODEL_ENV, str(tmp_path / "m"))
    assert paths.model_dir() == tmp_path / "m"


@pytest.mark.model
def test_the_default_model_loads_from_the_model_dir_and_no_cache_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    item = Item(id="a", doc="a", kind=ARTICLE, text="Storm Elin hits Brittany.", lang="en")
    with Clusterer(cache_dir=None) as clusterer:
        vectors = clusterer.embed([item])
    assert vectors.shape[0] == 1
    assert list(tmp_path.iterdir()) == []  # no embeddings_cache/, no converted model here
    assert any(p.name.startswith(FOLDER_PREFIX) for p in paths.model_dir().iterdir())
