"""Where clusterer keeps files between runs, one function each.

- The embeddings cache: ``embeddings_cache/`` in the folder a run starts from
  (``--cache-dir``, or the ``CLUSTERER_CACHE_DIR`` environment variable).
- The converted default model (466 MB, made once): a per-user cache folder
  (``~/.cache/clusterer/models`` on Linux, the platform's own elsewhere, through
  platformdirs), or ``--model-dir`` / ``CLUSTERER_MODEL_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CLUSTERER_CACHE_DIR"
MODEL_ENV = "CLUSTERER_MODEL_DIR"
EMBEDDINGS_CACHE = "embeddings_cache"  # the one default: Clusterer(cache_dir=...) and --cache-dir


def model_dir() -> Path:
    """The default folder of converted models, one per user."""
    given = os.environ.get(MODEL_ENV)
    if given:
        return Path(given)
    import platformdirs

    return platformdirs.user_cache_path("clusterer", appauthor=False) / "models"
