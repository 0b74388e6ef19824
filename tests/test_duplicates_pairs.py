"""candidate_pairs (array code) gives exactly the evidence of the plain per-pair loop."""
import numpy as np
import pytest

from clusterer.duplicates import (DuplicateParams, PairEvidence, TextFeatures, _EMPTY, candidate_pairs,
                                  find_duplicates, sketch_overlap)
from clusterer.entities import agreement


def _reference(nbr_idx, nbr_sim, features, langs, eligible):
    """The definition: every neighbour pair (i < j) of eligible items, first seen
    wins, with best-in-language from the neighbour lists."""
    best = {}
    for i in range(nbr_idx.shape[0]):
        for j in nbr_idx[i]:
            j = int(j)
            if j >= 0 and eligible[j]:
                best.setdefault((i, langs[j]), j)
    pairs = {}
    for i in range(nbr_idx.shape[0]):
        if not eligible[i]:
            continue
        for j, s in zip(nbr_idx[i], nbr_sim[i]):
            j = int(j)
            if j < 0 or j == i or not eligible[j]:
                continue
            a, b = min(i, j), max(i, j)
            if (a, b) in pairs:
                continue
            same = langs[a] is not None and langs[a] == langs[b]
            fa, fb = features[a], features[b]
            pairs[(a, b)] = PairEvidence(
                a, b, same, float(s),
                sketch_overlap(fa.sketch, fb.sketch) if same else 0.0,
                0.0 if same else agreement(fa.signature, fb.signature),
                min(len(fa.signature), len(fb.signature)), min(fa.chars, fb.chars),
                best.get((a, langs[b])) == b and best.get((b, langs[a])) == a)
    return [pairs[key] for key in sorted(pairs)]


def _random_case(seed, n=60, k=7):
    rng = np.random.default_rng(seed)
    langs = [rng.choice(["en", "fr", "vi", None]) for _ in range(n)]
    langs = [None if lang is None else str(lang) for lang in langs]
    base = rng.integers(0, 2**63, (4, 128), dtype=np.uint64)
    features = []
    for i in range(n):
        sk = base[i % 4].copy()
        sk[rng.random(128) < rng.random()] = rng.integers(0, 2**63, dtype=np.uint64)
        if rng.random() < 0.1:
            sk = _EMPTY.copy()
        names = frozenset(f"n{t}" for t in rng.choice(12, int(rng.integers(0, 8)), replace=False))
        features.append(TextFeatures(names, sk, int(rng.integers(50, 3000))))
    idx = rng.integers(-1, n, (n, k))  # padding, repeats and both-way pairs included
    idx[3, 2] = 3  # an item listed as its own neighbour is skipped for pairs
    sim = rng.random((n, k)).astype(np.float32)  # asymmetric: the first sighting counts
    sim[idx < 0] = -np.inf
    eligible = (rng.random(n) < 0.85).tolist()
    return idx, sim, features, langs, eligible


@pytest.mark.parametrize("seed", range(8))
def test_same_evidence_as_the_per_pair_loop(seed):
    case = _random_case(seed)
    got = candidate_pairs(*case)
    want = _reference(*case)
    assert got == want
    assert any(e.same_language for e in got) and any(e.mutual_best for e in got)
    assert all(type(e.i) is int and type(e.cosine) is float for e in got)


def test_no_neighbours_no_pairs():
    f = [TextFeatures(frozenset(), _EMPTY.copy(), 10)]
    assert candidate_pairs(np.full((1, 3), -1), np.full((1, 3), -np.inf), f, ["en"], [True]) == []
    assert candidate_pairs(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3)), [], [], []) == []
    groups, evidence = find_duplicates(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3)), [], [], [])
    assert groups == [] and evidence == []


def test_groups_without_evidence_are_the_same():
    kinds = set()
    for seed in range(8):
        case = _random_case(seed)
        for params in (DuplicateParams(), DuplicateParams(min_names=2, min_cosine=0.1, min_chars=100,
                                                          min_agreement=0.3, min_overlap=0.3)):
            groups, evidence = find_duplicates(*case, params)
            fast, none = find_duplicates(*case, params, with_evidence=False)
            assert fast == groups and none == []
            kinds |= {e.same_language for e in evidence if e.is_duplicate(params)}
    assert kinds == {True, False}  # both rules were exercised
