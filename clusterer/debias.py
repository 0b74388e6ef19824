"""Removing the language component from multilingual embeddings.

Multilingual encoders place texts of one language near each other whatever
they say. Subtracting each language's mean vector (Libovický et al. 2020)
removes most of that. A language mean is estimated from the corpus, shrunk
toward a prior by ``w = n / (n + shrink)``: with few items of a language, the
corpus mean of that language is mostly its topic, not its language.

The prior comes from a small reference set shipped with the package
(``data/reference.jsonl``: the same sixteen ordinary news items written in
twelve languages), embedded once per model: its overall mean is the direction
all of the model's embeddings share, and its per-language means are the
language directions. Without it, the corpus mean would stand in, which in a
small corpus is mostly the corpus's own topics.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np


@dataclass
class Prior:
    """The model's generic direction and language directions, from the reference set."""

    overall: np.ndarray
    by_language: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, langs: Sequence[str]) -> Prior:
        groups = defaultdict(list)
        for i, lang in enumerate(langs):
            groups[lang].append(i)
        return cls(vectors.mean(axis=0), {lang: vectors[idx].mean(axis=0) for lang, idx in groups.items()})


def reference_texts() -> list[tuple[str, str]]:
    """The shipped reference set as (language, text) pairs."""
    data = resources.files("clusterer").joinpath("data", "reference.jsonl").read_text(encoding="utf-8")
    return [(obj["lang"], obj["text"]) for obj in map(json.loads, data.splitlines()) if obj]


def language_means(
    vectors: np.ndarray, langs: Sequence[str | None], shrink: float = 5.0, prior: Prior | None = None
) -> dict:
    """Shrunk mean vector per language (``None`` is a language of its own)."""
    if len(vectors) == 0:
        return {}
    overall = vectors.mean(axis=0) if prior is None else prior.overall
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, lang in enumerate(langs):
        groups[lang].append(i)
    means = {}
    for lang, idx in groups.items():
        n = len(idx)
        w = n / (n + shrink) if shrink > 0 else 1.0
        target: np.ndarray = overall
        if prior is not None and lang is not None:
            target = prior.by_language.get(lang, overall)
        means[lang] = w * vectors[idx].mean(axis=0) + (1.0 - w) * target
    return means


def center_by_language(
    vectors: np.ndarray,
    langs: Sequence[str | None],
    shrink: float = 5.0,
    means: dict | None = None,
    prior: Prior | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Subtract each item's (shrunk) language mean and re-normalise the rows.

    With ``rows`` (indices into ``vectors``), only those rows, in that order: row
    ``p`` of the result is row ``rows[p]`` of the whole result, bit for bit, and
    neither the whole result nor a copy of the picked rows is made (``means`` come
    from all the vectors either way)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) == 0:
        return vectors.copy()
    if means is None:
        means = language_means(vectors, langs, shrink, prior)
    fallback = prior.overall if prior is not None else vectors.mean(axis=0)
    picked = np.arange(len(vectors)) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.empty((len(picked), vectors.shape[1]), dtype=np.float32)
    places_of: dict = {}
    for p, i in enumerate(picked.tolist()):
        places_of.setdefault(langs[i], []).append(p)
    for lang, places in places_of.items():  # the same sums row by row as all at once
        mean = means.get(lang, fallback)
        for lo in range(0, len(places), _BLOCK):  # a block at a time: no second copy of the matrix
            part = places[lo : lo + _BLOCK]
            out[part] = vectors[picked[part]] - mean
    for lo in range(0, len(out), _BLOCK):  # each row's norm as numpy takes it for the whole matrix
        block = out[lo : lo + _BLOCK]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        norms[norms < 1e-12] = 1.0
        block /= norms
    return out


_BLOCK = 65_536  # rows centred at a time
