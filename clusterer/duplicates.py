"""Duplicate groups: the same article, republished or in another language.

Raw cosine between multilingual embeddings favours same-language pairs (two
different French dispatches about one meeting score higher than the French and
Vietnamese versions of one dispatch), so one threshold on it cannot work.
Pairs are judged on evidence that fits their kind (see :class:`DuplicateParams`):

- same language: the texts share most of their wording (overlap of word
  pairs, diacritics folded), which a republication or a revision keeps and a
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
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from .entities import agreement, fold

_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class DuplicateParams:
    neighbours: int = 10         # candidate pairs: each item's k nearest (centred cosine)
    min_overlap: float = 0.50    # same language: share of word pairs in common
    min_cosine: float = 0.20     # across languages: centred cosine at least
    min_agreement: float = 0.50  # across languages: name/number overlap at least
    min_names: int = 6           # across languages: names/numbers each side needs for that test
    min_chars: int = 400         # across languages: article-length text on both sides


def shingles(text: str) -> FrozenSet[int]:
    """Hashes of the consecutive word pairs of a text (folded, lower-cased)."""
    words = _TOKEN.findall(fold(text))
    if len(words) < 2:
        return frozenset(hash(w) for w in words)
    return frozenset(hash((a, b)) for a, b in zip(words, words[1:]))


def overlap(a: FrozenSet[int], b: FrozenSet[int]) -> float:
    """Jaccard similarity of two shingle sets."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


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


def candidate_pairs(nbr_idx: np.ndarray, nbr_sim: np.ndarray, texts: Sequence[str],
                    langs: Sequence[Optional[str]], signatures: Sequence[FrozenSet[str]],
                    eligible: Sequence[bool]) -> List[PairEvidence]:
    """Evidence for every neighbour pair (i < j) between eligible items."""
    best = _best_in_language(nbr_idx, langs, eligible)
    shingle_cache = {}

    def sh(i: int) -> FrozenSet[int]:
        if i not in shingle_cache:
            shingle_cache[i] = shingles(texts[i])
        return shingle_cache[i]

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
            pairs[(a, b)] = PairEvidence(
                a, b, same, float(s),
                overlap(sh(a), sh(b)) if same else 0.0,
                0.0 if same else agreement(signatures[a], signatures[b]),
                min(len(signatures[a]), len(signatures[b])),
                min(len(texts[a]), len(texts[b])),
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


def find_duplicates(nbr_idx: np.ndarray, nbr_sim: np.ndarray, texts: Sequence[str],
                    langs: Sequence[Optional[str]], signatures: Sequence[FrozenSet[str]],
                    eligible: Sequence[bool], params: DuplicateParams = DuplicateParams()
                    ) -> Tuple[List[List[int]], List[PairEvidence]]:
    """Duplicate groups (lists of item indices) and the evidence of every candidate pair."""
    evidence = candidate_pairs(nbr_idx, nbr_sim, texts, langs, signatures, eligible)
    accepted = [(e.i, e.j) for e in evidence if e.is_duplicate(params)]
    return group_pairs(len(signatures), accepted), evidence
