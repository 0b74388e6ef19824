"""Duplicate groups: the same article, republished or in another language.

Raw cosine between multilingual embeddings favours same-language pairs, so a
pair is judged on three pieces of evidence (see :class:`DuplicateParams`):

- the cosine of the language-centred vectors (:mod:`clusterer.debias`);
- the ratio margin of that cosine over each side's typical neighbour
  similarity (Artetxe & Schwenk 2019): a pair stands out from the crowd
  around it, not just from a fixed threshold;
- the agreement of names and numbers (:mod:`clusterer.entities`), which a
  translation keeps and a different article about the same event does not.

Pairs are only looked for among each item's nearest neighbours, so the cost
is that of the neighbour search.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, List, Sequence, Tuple

import numpy as np

from .entities import agreement


@dataclass(frozen=True)
class DuplicateParams:
    neighbours: int = 10       # candidate pairs: each item's k nearest (centred cosine)
    min_cosine: float = 0.60   # centred cosine a pair needs at least
    min_margin: float = 1.10   # ratio margin a pair needs at least
    min_agreement: float = 0.50  # name/number overlap a pair needs at least
    sure_cosine: float = 0.92  # above this centred cosine, names and numbers are not asked


@dataclass
class PairEvidence:
    i: int
    j: int
    cosine: float
    margin: float
    agreement: float

    def is_duplicate(self, p: DuplicateParams) -> bool:
        if self.cosine >= p.sure_cosine:
            return True
        return (self.cosine >= p.min_cosine and self.margin >= p.min_margin
                and self.agreement >= p.min_agreement)


def candidate_pairs(nbr_idx: np.ndarray, nbr_sim: np.ndarray,
                    signatures: Sequence[FrozenSet[str]], eligible: Sequence[bool],
                    k_margin: int) -> List[PairEvidence]:
    """Evidence for every neighbour pair (i < j) between eligible items."""
    k_margin = max(1, min(k_margin, nbr_sim.shape[1] if nbr_sim.ndim == 2 else 1))
    finite = np.where(np.isfinite(nbr_sim), nbr_sim, np.nan)
    with np.errstate(all="ignore"):
        typical = np.nanmean(finite[:, :k_margin], axis=1) if finite.size else np.zeros(0)
    typical = np.nan_to_num(typical, nan=0.0)
    pairs = {}
    for i in range(nbr_idx.shape[0]):
        if not eligible[i]:
            continue
        for j, s in zip(nbr_idx[i], nbr_sim[i]):
            j = int(j)
            if j < 0 or not eligible[j] or j == i:
                continue
            a, b = (i, j) if i < j else (j, i)
            if (a, b) in pairs:
                continue
            denom = (typical[a] + typical[b]) / 2.0
            margin = float(s / denom) if denom > 1e-6 else float("inf")
            pairs[(a, b)] = PairEvidence(a, b, float(s), margin,
                                         agreement(signatures[a], signatures[b]))
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


def find_duplicates(nbr_idx: np.ndarray, nbr_sim: np.ndarray,
                    signatures: Sequence[FrozenSet[str]], eligible: Sequence[bool],
                    params: DuplicateParams = DuplicateParams()) -> Tuple[List[List[int]], List[PairEvidence]]:
    """Duplicate groups (lists of item indices) and the evidence of every candidate pair."""
    evidence = candidate_pairs(nbr_idx, nbr_sim, signatures, eligible, params.neighbours)
    accepted = [(e.i, e.j) for e in evidence if e.is_duplicate(params)]
    return group_pairs(len(signatures), accepted), evidence
