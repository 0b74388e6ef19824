"""Removing the language component from multilingual embeddings.

Multilingual encoders place texts of one language near each other whatever
they say. Subtracting each language's mean vector (Libovický et al. 2020)
removes most of that. With few items of a language the corpus mean of that
language is mostly its topic, not its language, so the language mean is shrunk
toward the corpus mean: ``w = n / (n + shrink)``.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Optional, Sequence

import numpy as np


def language_means(vectors: np.ndarray, langs: Sequence[Optional[str]],
                   shrink: float = 5.0, prior: Optional[np.ndarray] = None) -> dict:
    """Shrunk mean vector per language (``None`` is a language of its own)."""
    if len(vectors) == 0:
        return {}
    overall = vectors.mean(axis=0) if prior is None else prior
    groups = defaultdict(list)
    for i, lang in enumerate(langs):
        groups[lang].append(i)
    means = {}
    for lang, idx in groups.items():
        n = len(idx)
        w = n / (n + shrink) if shrink > 0 else 1.0
        means[lang] = w * vectors[idx].mean(axis=0) + (1.0 - w) * overall
    return means


def center_by_language(vectors: np.ndarray, langs: Sequence[Optional[str]],
                       shrink: float = 5.0, means: Optional[dict] = None) -> np.ndarray:
    """Subtract each item's (shrunk) language mean and re-normalise the rows."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) == 0:
        return vectors.copy()
    if means is None:
        means = language_means(vectors, langs, shrink)
    overall = vectors.mean(axis=0)
    out = np.empty_like(vectors)
    for i, lang in enumerate(langs):
        out[i] = vectors[i] - means.get(lang, overall)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms < 1e-12] = 1.0
    return out / norms
