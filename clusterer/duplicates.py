"""Duplicate groups: the same article, republished or in another language.

Raw cosine between multilingual embeddings favours same-language pairs (two
different French dispatches about one meeting score higher than the French and
Vietnamese versions of one dispatch), so one threshold on it cannot work.
Pairs are judged on evidence that fits their kind (see :class:`DuplicateParams`):

- same language: the texts share most of their wording (overlap of word
  pairs, diacritics folded, estimated from MinHash sketches), which a republication or a revision keeps and a
  different article about the same event does not;
- across languages, for article-length texts only (one-sentence summaries of
  one event written apart in two languages agree on names and numbers as much
  as translations do): the two are each other's best match in the other's
  language (mutual nearest neighbours, as in bitext mining), their
  language-centred cosine is high enough, and they agree on names and numbers
  (:mod:`clusterer.entities`), which a translation keeps.

Pairs are only looked for among each item's nearest neighbours in the
language-centred space, so the cost is that of the neighbour search.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from .entities import agreement, fold, signature

_TOKEN = re.compile(r"\w+", re.UNICODE)
_PERMUTATIONS = 128
# fixed (not random per run) seeds of the hash functions, so sketches are comparable across runs
_SEEDS = np.random.default_rng(20261123).integers(0, np.iinfo(np.uint64).max, size=_PERMUTATIONS,
                                                  dtype=np.uint64)
_EMPTY = np.full(_PERMUTATIONS, np.iinfo(np.uint64).max, dtype=np.uint64)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-mixed 64-bit hash (arithmetic wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class DuplicateParams:
    neighbours: int = 10         # candidate pairs: each item's k nearest (centred cosine)
    min_overlap: float = 0.50    # same language: share of word pairs in common
    min_cosine: float = 0.20     # across languages: centred cosine at least
    min_agreement: float = 0.50  # across languages: name/number overlap at least
    min_names: int = 6           # across languages: names/numbers each side needs for that test
    min_chars: int = 400         # across languages: article-length text on both sides


def shingles(text: str) -> FrozenSet[int]:
    """Stable 32-bit hashes of the consecutive word pairs of a text (folded, lower-cased)."""
    words = _TOKEN.findall(fold(text))
    grams = [" ".join(p) for p in zip(words, words[1:])] if len(words) > 1 else words
    return frozenset(zlib.crc32(g.encode("utf-8")) for g in grams)


def overlap(a: FrozenSet[int], b: FrozenSet[int]) -> float:
    """Jaccard similarity of two shingle sets."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def sketch(text: str) -> np.ndarray:
    """MinHash sketch of a text's word pairs: 128 minima of fixed hash permutations.

    The share of equal positions in two sketches estimates the Jaccard overlap of
    the two texts' word pairs (standard error about 0.04 near 0.5), in a fixed
    1 KiB per text, so a corpus never has to keep its texts to compare them."""
    grams = shingles(text)
    if not grams:
        return _EMPTY.copy()
    h = np.fromiter(grams, dtype=np.uint64, count=len(grams))
    with np.errstate(over="ignore"):
        return _mix(h[None, :] + _SEEDS[:, None]).min(axis=1)


def sketch_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard overlap of two texts from their sketches (0 for empty texts)."""
    if (a == _EMPTY).all() or (b == _EMPTY).all():
        return 0.0
    return float(np.count_nonzero(a == b)) / len(a)


@dataclass
class TextFeatures:
    """What duplicate detection needs of a text, computed once while it is read:
    its names and numbers, its wording sketch and its length."""

    signature: FrozenSet[str]
    sketch: np.ndarray
    chars: int

    @classmethod
    def of(cls, text: str) -> "TextFeatures":
        return cls(signature(text), sketch(text), len(text))


@dataclass
class PairEvidence:
    i: int
    j: int
    same_language: bool
    cosine: float        # language-centred cosine
    overlap: float       # shared wording (same language only, else 0)
    agreement: float     # names and numbers (across languages only, else 0)
    names: int           # the smaller signature size
    chars: int           # the shorter text's length
    mutual_best: bool    # each is the other's nearest item in its language

    def is_duplicate(self, p: DuplicateParams) -> bool:
        if self.same_language:
            return self.overlap >= p.min_overlap
        return (self.mutual_best and self.cosine >= p.min_cosine and self.chars >= p.min_chars
                and self.names >= p.min_names and self.agreement >= p.min_agreement)


def _best_in_language(nbr_idx: np.ndarray, langs: Sequence[Optional[str]], eligible) -> dict:
    """For each item, its first eligible neighbour in each other language."""
    best = {}
    for i in range(nbr_idx.shape[0]):
        for j in nbr_idx[i]:
            j = int(j)
            if j < 0 or not eligible[j]:
                continue
            best.setdefault((i, langs[j]), j)
    return best


def candidate_pairs(nbr_idx: np.ndarray, nbr_sim: np.ndarray, features: Sequence[TextFeatures],
                    langs: Sequence[Optional[str]], eligible: Sequence[bool]) -> List[PairEvidence]:
    """Evidence for every neighbour pair (i < j) between eligible items."""
    best = _best_in_language(nbr_idx, langs, eligible)
    pairs = {}
    for i in range(nbr_idx.shape[0]):
        if not eligible[i]:
            continue
        for j, s in zip(nbr_idx[i], nbr_sim[i]):
            j = int(j)
            if j < 0 or j == i or not eligible[j]:
                continue
            a, b = (i, j) if i < j else (j, i)
            if (a, b) in pairs:
                continue
            same = langs[a] is not None and langs[a] == langs[b]
            fa, fb = features[a], features[b]
            pairs[(a, b)] = PairEvidence(
                a, b, same, float(s),
                sketch_overlap(fa.sketch, fb.sketch) if same else 0.0,
                0.0 if same else agreement(fa.signature, fb.signature),
                min(len(fa.signature), len(fb.signature)),
                min(fa.chars, fb.chars),
                best.get((a, langs[b])) == b and best.get((b, langs[a])) == a)
    return [pairs[k] for k in sorted(pairs)]


def group_pairs(n: int, pairs: Sequence[Tuple[int, int]]) -> List[List[int]]:
    """Connected components (of size >= 2) of the accepted pairs, each sorted."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups = {}
    for x in range(n):
        groups.setdefault(find(x), []).append(x)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def find_duplicates(nbr_idx: np.ndarray, nbr_sim: np.ndarray, features: Sequence[TextFeatures],
                    langs: Sequence[Optional[str]], eligible: Sequence[bool],
                    params: DuplicateParams = DuplicateParams()
                    ) -> Tuple[List[List[int]], List[PairEvidence]]:
    """Duplicate groups (lists of item indices) and the evidence of every candidate pair."""
    evidence = candidate_pairs(nbr_idx, nbr_sim, features, langs, eligible)
    accepted = [(e.i, e.j) for e in evidence if e.is_duplicate(params)]
    return group_pairs(len(features), accepted), evidence
