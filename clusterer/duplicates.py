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


def _language_codes(langs: Sequence[Optional[str]]) -> Tuple[np.ndarray, int]:
    """One integer per distinct language (None included, as a language of its
    own for the best-match lookup); also the code of None (-1 if absent)."""
    codes = {}
    out = np.fromiter((codes.setdefault(lang, len(codes)) for lang in langs), dtype=np.int64,
                      count=len(langs))
    return out, codes.get(None, -1)


def _best_in_language(nbr_idx: np.ndarray, code: np.ndarray, eligible: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """For each item and language, its first eligible neighbour of that language:
    sorted keys ``i * width + language`` and the neighbours, for a searchsorted look-up."""
    n, k = nbr_idx.shape
    width = int(code.max(initial=0)) + 1
    j = nbr_idx.ravel()
    ok = j >= 0
    ok[ok] = eligible[j[ok]]
    pos = np.flatnonzero(ok)  # row-major: a row's columns in order
    j = j[pos]
    keys = (pos // max(k, 1)) * width + code[j]
    keys, first = np.unique(keys, return_index=True)  # first occurrence of each key
    return keys, j[first]


def _lookup(keys: np.ndarray, values: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``values`` at ``want`` in sorted ``keys``; -1 where absent."""
    if not len(keys):
        return np.full(len(want), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.where(keys[at] == want, values[at], -1)


def _sketch_overlaps(features: Sequence[TextFeatures], a: np.ndarray, b: np.ndarray,
                     block: int = 16_384) -> np.ndarray:
    """:func:`sketch_overlap` of the pairs ``(a[p], b[p])``, a block of pairs at a time."""
    out = np.zeros(len(a), dtype=np.float64)
    for lo in range(0, len(a), block):
        pa, pb = a[lo:lo + block].tolist(), b[lo:lo + block].tolist()
        sa = [features[i].sketch for i in pa]
        sb = [features[i].sketch for i in pb]
        if len({x.shape for x in sa} | {x.shape for x in sb}) != 1:
            out[lo:lo + len(pa)] = [sketch_overlap(x, y) for x, y in zip(sa, sb)]
            continue
        sa, sb = np.stack(sa), np.stack(sb)
        empty = (sa == _EMPTY).all(axis=1) | (sb == _EMPTY).all(axis=1)
        same = np.count_nonzero(sa == sb, axis=1) / sa.shape[1]
        out[lo:lo + len(pa)] = np.where(empty, 0.0, same)
    return out


class _Pairs:
    """The candidate pairs as arrays (sorted by ``(a, b)``), all evidence but the
    name agreement, which is Python work per pair and is computed on demand."""

    def __init__(self, nbr_idx, nbr_sim, features: Sequence[TextFeatures],
                 langs: Sequence[Optional[str]], eligible: Sequence[bool]):
        idx = np.asarray(nbr_idx, dtype=np.int64)
        sim = np.asarray(nbr_sim)
        self.features = features
        n_items = len(langs)
        if idx.size == 0 or n_items == 0:
            idx = np.zeros((0, 1), dtype=np.int64)
            sim = np.zeros((0, 1), dtype=sim.dtype)
        code, none = _language_codes(langs)
        elig = np.fromiter((bool(e) for e in eligible), dtype=bool, count=len(eligible))
        best_keys, best_vals = _best_in_language(idx, code, elig)
        width = int(code.max(initial=0)) + 1

        rows = np.repeat(np.arange(idx.shape[0], dtype=np.int64), idx.shape[1])
        cols = idx.ravel()
        sims = sim.ravel()
        keep = cols >= 0
        keep[keep] = elig[cols[keep]]
        keep &= (cols != rows)
        keep[keep] = elig[rows[keep]]
        rows, cols, sims = rows[keep], cols[keep], sims[keep]
        a, b = np.minimum(rows, cols), np.maximum(rows, cols)
        size = max(n_items, int(b.max(initial=-1)) + 1)
        _, first = np.unique(a * size + b, return_index=True)  # sorted by (a, b), first seen kept
        self.a, self.b, self.sims = a[first], b[first], sims[first]
        a, b = self.a, self.b
        self.same = (code[a] == code[b]) & (code[a] != none)
        self.overlaps = np.zeros(len(a), dtype=np.float64)
        self.overlaps[self.same] = _sketch_overlaps(features, a[self.same], b[self.same])
        names = np.fromiter((len(f.signature) for f in features), dtype=np.int64,
                            count=len(features))
        chars = np.fromiter((f.chars for f in features), dtype=np.int64, count=len(features))
        self.names = np.minimum(names[a], names[b]) if len(a) else np.zeros(0, dtype=np.int64)
        self.chars = np.minimum(chars[a], chars[b]) if len(a) else np.zeros(0, dtype=np.int64)
        self._chars = chars
        self.mutual = ((_lookup(best_keys, best_vals, a * width + code[b]) == b)
                       & (_lookup(best_keys, best_vals, b * width + code[a]) == a))

    def agreements(self, which: np.ndarray) -> np.ndarray:
        """Name agreement of the pairs at positions ``which`` (all across languages)."""
        f = self.features
        return np.array([agreement(f[i].signature, f[j].signature) for i, j in
                         zip(self.a[which].tolist(), self.b[which].tolist())], dtype=np.float64)

    def evidence(self) -> List[PairEvidence]:
        agreements = np.zeros(len(self.a), dtype=np.float64)
        across = np.flatnonzero(~self.same)
        agreements[across] = self.agreements(across)
        # zeros and lengths as shared objects, not one new Python number per pair
        overlaps = [x if x else 0.0 for x in self.overlaps.tolist()]
        agreements = [x if x else 0.0 for x in agreements.tolist()]
        chars = [f.chars for f in self.features]
        chars = [chars[i] for i in np.where(self.chars == self._chars[self.a],
                                            self.a, self.b).tolist()]
        return [PairEvidence(*fields) for fields in zip(
            self.a.tolist(), self.b.tolist(), self.same.tolist(), self.sims.tolist(),
            overlaps, agreements, self.names.tolist(), chars, self.mutual.tolist())]

    def accepted(self, p: DuplicateParams) -> List[Tuple[int, int]]:
        """The pairs :meth:`PairEvidence.is_duplicate` accepts, same comparisons
        in float64; the agreement is only computed for pairs passing the rest."""
        ok = self.same & (self.overlaps >= p.min_overlap)
        maybe = np.flatnonzero(~self.same & self.mutual
                               & (self.sims.astype(np.float64) >= p.min_cosine)
                               & (self.chars >= p.min_chars) & (self.names >= p.min_names))
        ok[maybe] = self.agreements(maybe) >= p.min_agreement
        return list(zip(self.a[ok].tolist(), self.b[ok].tolist()))


def candidate_pairs(nbr_idx: np.ndarray, nbr_sim: np.ndarray, features: Sequence[TextFeatures],
                    langs: Sequence[Optional[str]], eligible: Sequence[bool]) -> List[PairEvidence]:
    """Evidence for every neighbour pair (i < j) between eligible items, sorted by
    ``(i, j)``. A pair listed by both items takes the cosine of the lower row that
    lists it (rows are read in order). Array code: the only per-pair Python work
    is the name agreement of pairs across languages."""
    return _Pairs(nbr_idx, nbr_sim, features, langs, eligible).evidence()


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
                    params: DuplicateParams = DuplicateParams(), with_evidence: bool = True
                    ) -> Tuple[List[List[int]], List[PairEvidence]]:
    """Duplicate groups (lists of item indices) and the evidence of every candidate
    pair. ``with_evidence=False`` gives the same groups and no evidence (an empty
    list), without building a record per pair: faster for callers that only need
    the groups."""
    pairs = _Pairs(nbr_idx, nbr_sim, features, langs, eligible)
    if not with_evidence:
        return group_pairs(len(features), pairs.accepted(params)), []
    evidence = pairs.evidence()
    accepted = [(e.i, e.j) for e in evidence if e.is_duplicate(params)]
    return group_pairs(len(features), accepted), evidence
