"""Pair evidence (array code) is exactly that of the plain per-pair definition,
and the groups and the alignment test behave as documented."""

import numpy as np
import pytest

from clusterer.align import Aligner, SpecificsMemo, pack, specifics
from clusterer.duplicates import (
    _EMPTY,
    DuplicateParams,
    PairEvidence,
    TextFeatures,
    candidate_pairs,
    containment_from_overlap,
    find_duplicates,
    sketch_overlap,
)


def _reference(nbr_idx, nbr_sim, features, langs, eligible):
    """The definition: every neighbour pair (i < j) of eligible items, first seen wins."""
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
            jac = sketch_overlap(fa.sketch, fb.sketch) if same else 0.0
            cont = float(containment_from_overlap(jac, fa.grams, fb.grams)) if same else 0.0
            pairs[(a, b)] = PairEvidence(a, b, same, float(s), jac, cont, min(fa.chars, fb.chars))
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
        features.append(TextFeatures(sk, int(rng.integers(1, 400)), int(rng.integers(50, 3000))))
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
    assert any(e.same_language for e in got) and any(not e.same_language for e in got)
    assert all(type(e.i) is int and type(e.cosine) is float for e in got)


def test_no_neighbours_no_pairs():
    f = [TextFeatures(_EMPTY.copy(), 0, 10)]
    assert candidate_pairs(np.full((1, 3), -1), np.full((1, 3), -np.inf), f, ["en"], [True]) == []
    assert candidate_pairs(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3)), [], [], []) == []
    groups, evidence = find_duplicates(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3)), [], [], [])
    assert groups == [] and evidence == []


def test_groups_without_evidence_are_the_same():
    for seed in range(8):
        case = _random_case(seed)
        for params in (DuplicateParams(), DuplicateParams(min_overlap=0.3, min_containment=0.3, min_chars=100)):
            groups, evidence = find_duplicates(*case, params)
            fast, accepted = find_duplicates(*case, params, with_evidence=False)
            assert fast == groups
            assert accepted == [e for e in evidence if e.is_duplicate(params)]


def test_pairs_judged_in_blocks_give_the_same_groups_and_evidence(monkeypatch):
    """The candidate pairs are judged a block at a time (memory at a million items);
    small blocks, a pair split from its neighbours by a block edge, change nothing,
    nor do the group checks that look verdicts up across blocks."""
    from clusterer import duplicates

    params = DuplicateParams(min_overlap=0.3, min_containment=0.3, min_chars=100)
    largest = 0
    for seed in range(8):
        case = _random_case(seed)
        whole = find_duplicates(*case, params), find_duplicates(*case, params, with_evidence=False)
        monkeypatch.setattr(duplicates, "EVIDENCE_BLOCK", 5)
        blocked = find_duplicates(*case, params), find_duplicates(*case, params, with_evidence=False)
        monkeypatch.undo()
        assert blocked == whole
        largest = max([largest, *map(len, whole[0][0])])
    assert largest > 2  # groups were checked across their members before joining


class _CountingEmbed:
    """Sentence vectors from a table (one direction per sentence meaning); counts the texts it embeds."""

    def __init__(self, table):
        self.table = table
        self.seen = []

    def __call__(self, texts):
        self.seen.extend(texts)
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def _alignment_case(end: str = "."):
    rng = np.random.default_rng(3)
    meanings = rng.normal(size=(12, 48))
    lang_dir = {"en": rng.normal(size=48) * 2, "ru": rng.normal(size=48) * 2}
    table = {}
    docs = {  # item -> (lang, meanings of its sentences, in order)
        0: ("en", [0, 1, 2, 3, 4, 5]),
        1: ("ru", [0, 1, 2, 3, 4, 5]),  # the translation of 0
        2: ("ru", [6, 7, 8, 9, 10, 11]),  # another report of the same weeks
        3: ("ru", [5, 4, 3, 2, 1, 0]),  # the same sentences, order scrambled
    }
    sentences = {}
    for i, (lang, ms) in docs.items():
        sentences[i] = [f"{lang}-{m}-{i}{end}" for m in ms]
        for m, s in zip(ms, sentences[i]):
            v = meanings[m] + lang_dir[lang] + rng.normal(size=48) * 0.15
            table[s] = v / np.linalg.norm(v)
    langs = [docs[i][0] for i in range(4)]
    features = [TextFeatures(_EMPTY.copy(), 50, 2000, pack(sentences[i])) for i in range(4)]
    return table, langs, features


def test_alignment_finds_the_translation_not_the_other_report():
    table, langs, features = _alignment_case()
    embed = _CountingEmbed(table)
    aligner = Aligner(embed, DuplicateParams().align_margin)
    idx = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    sim = np.full(idx.shape, 0.5, dtype=np.float32)
    groups, evidence = find_duplicates(idx, sim, features, langs, [True] * 4, aligner=aligner)
    assert groups == [[0, 1]]
    by_pair = {(e.i, e.j): e for e in evidence}
    assert by_pair[(0, 1)].aligned == 6 and by_pair[(0, 1)].share == 1.0
    assert by_pair[(0, 2)].aligned <= 1  # separate report: nothing aligns
    assert by_pair[(0, 3)].aligned <= 2  # scrambled order: matches, but not in order
    # each item's sentences were embedded once, whatever the number of pairs
    assert len(embed.seen) == len(set(embed.seen)) == 24 == len(table)


def test_a_memo_of_the_sentences_specifics_gives_the_same_evidence_and_stays_bounded():
    table, langs, features = _alignment_case()
    idx = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    sim = np.full(idx.shape, 0.5, dtype=np.float32)
    _, plain = find_duplicates(idx, sim, features, langs, [True] * 4, aligner=Aligner(_CountingEmbed(table), 0.1))
    memo = SpecificsMemo(size=10)
    for _ in range(2):  # the second time from the memo, where it still holds them
        aligner = Aligner(_CountingEmbed(table), 0.1, specifics=memo)
        _, got = find_duplicates(idx, sim, features, langs, [True] * 4, aligner=aligner)
        assert got == plain
        assert 0 < len(memo) <= 10
    sentence = "In 2024 Lena Berg opened the Vistula bridge."
    assert memo(sentence) == specifics(sentence) and memo(sentence) is memo(sentence)
    with pytest.raises(ValueError, match="size=0"):
        SpecificsMemo(size=0)


def test_short_texts_are_aligned_only_when_close_and_then_every_sentence_must_align():
    p = DuplicateParams()
    idx = np.array([[1], [0], [3], [2]])

    def run(end, sims):
        table, langs, features = _alignment_case(end)
        short = [TextFeatures(f.sketch, f.grams, 150, f.sentences) for f in features]
        embed = _CountingEmbed(table)
        groups, evidence = find_duplicates(idx, sims, short, langs, [True] * 4, aligner=Aligner(embed, 0.1))
        return groups, {(e.i, e.j): e for e in evidence}, embed

    below = np.full(idx.shape, p.short_min_cosine - 0.01, np.float32)
    groups, _, embed = run(".", below)
    assert groups == [] and embed.seen == []  # nothing embedded: no short pair was close enough
    # close enough, every sentence of the translation aligns; the scrambled one does not
    groups, by_pair, _ = run(".", np.ones(idx.shape, np.float32))
    assert groups == [[0, 1]] and by_pair[(0, 1)].sentences == 6
    # lines without an end mark are headlines: aligned, but a short text needs two sentences
    groups, by_pair, _ = run("", np.ones(idx.shape, np.float32))
    assert by_pair[(0, 1)].aligned == 6 and by_pair[(0, 1)].sentences == 0
    assert groups == []


def test_containment_needs_the_same_names_where_both_texts_give_enough():
    """Two article-length texts in one language written to one template (welcome
    ceremonies of two state visits, two months' statistics) share most word pairs
    but not the guests' names or the figures: not one article, however much wording
    they share. A copy with a byline more still is, and so is a pair whose texts give
    too few names to tell; two versions of a one-line summary (the toll updated) are
    one."""
    from clusterer.entities import name_agreement

    p = DuplicateParams()
    template = PairEvidence(0, 1, True, 0.6, 0.40, 0.60, 1500, names=0.6)
    assert not template.is_duplicate(p)
    assert PairEvidence(0, 1, True, 0.6, 0.40, 0.60, 1500, names=0.9).is_duplicate(p)
    assert PairEvidence(0, 1, True, 0.6, 0.40, 0.60, 1500, names=None).is_duplicate(p)
    assert not PairEvidence(0, 1, True, 0.6, 0.65, 0.80, 1500, names=0.3).is_duplicate(p)
    assert not PairEvidence(0, 1, True, 0.6, 0.65, 0.80, 1500, names=1.0, same_figures=0.6).is_duplicate(p)
    assert PairEvidence(0, 1, True, 0.6, 0.65, 0.80, 1500, names=1.0, same_figures=0.9).is_duplicate(p)
    assert PairEvidence(0, 1, True, 0.6, 0.55, 0.60, 300, names=0.3).is_duplicate(p)
    host = {"hanoi", "vietn", "khiem", "nguye", "palac"}
    chile, kenya = frozenset(host | {"chile", "ortuz", "gabri"}), frozenset(host | {"kenya", "kariu", "danie"})
    assert name_agreement(chile, kenya) == 5 / 8
    assert name_agreement(chile, chile | {"smith", "john"}) == 1.0  # a byline more
    assert name_agreement(frozenset({"chile"}), kenya) is None
