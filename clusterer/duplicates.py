"""Duplicate groups: the same article, republished or in another language.

Raw cosine between multilingual embeddings favours same-language pairs (two
different French dispatches about one meeting score higher than the French and
Vietnamese versions of one dispatch), so one threshold on it cannot work.
Pairs are judged on evidence that fits their kind (see :class:`DuplicateParams`):

- same language: the two share most of their wording (word pairs, diacritics
  folded, estimated from MinHash sketches); for article-length texts it is
  enough that most of the shorter text's wording is found in the other
  (containment), so that a republication cut short, or wrapped in another
  site's header lines and captions, still counts, while a different article
  about the same event shares far less. (Short texts need the overlap of both:
  two one-line summaries of different events can share a template phrase.)
- article-length texts in any two languages: their sentences align, in order
  (:mod:`clusterer.align`): a translation or a trimmed republication carries
  most of its sentences over, two reports of one event written apart do not.
  Names and numbers are no test here: across scripts they cannot agree.
  One-sentence summaries are never called translations: one sentence aligns
  with any summary of the same event.

Pairs are only looked for among each item's nearest neighbours in the
language-centred space, so the cost is that of the neighbour search; sentences
are embedded only for the items of pairs that reach the alignment test. A group
is not a chain: two groups join only when a share of the pairs across them
(``group_support``, a third) pass the test too (:func:`group_pairs`), so reports of one prize that share every
name do not join into one group through a chain of near-misses.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import DisjointSet

from .align import Aligner, Alignment, pack, split_sentences, unpack
from .entities import fold, name_agreement, names, number_agreement, numbers
from .length import content_length

# a word, or one character of a script written without spaces between words
# (Han, kana, Thai, Lao, Khmer, Myanmar), so that "word pairs" are character
# bigrams there
_UNSPACED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_UNSPACED}]|[^\\W{_UNSPACED}]+", re.UNICODE)
_PERMUTATIONS = 128
# fixed (not random per run) seeds of the hash functions, so sketches are comparable across runs
_SEEDS = np.random.default_rng(20261123).integers(0, np.iinfo(np.uint64).max, size=_PERMUTATIONS, dtype=np.uint64)
_EMPTY = np.full(_PERMUTATIONS, np.iinfo(np.uint64).max, dtype=np.uint64)
SAME, NOT, APART = 1, 0, -1  # a pair's verdict (PairEvidence.verdict)
GROUP_CHECK_MEMBERS = 16  # members of each side whose pairs are checked before two groups join
EVIDENCE_BLOCK = 1 << 18  # candidate pairs judged at a time (their alignments embedded together)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-mixed 64-bit hash (arithmetic wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class DuplicateParams:
    neighbours: int = 10  # candidate pairs: each item's k nearest (centred cosine)
    min_overlap: float = 0.50  # same language: share of word pairs in common (Jaccard), any length
    min_containment: float = 0.50  # same language, article length: share of the shorter text's word
    # pairs found in the other
    min_chars: int = 400  # article length (in content, see clusterer.length); shorter texts are short
    min_cosine: float = 0.20  # alignment: centred cosine at least (a cheap first filter)
    short_min_cosine: float = 0.50  # ... where the shorter text is short
    short_min_aligned: int = 2  # a short text: all its sentences (not headlines) aligned, this many at least
    min_aligned: int = 3  # alignment: sentences aligned, at least
    min_share: float = 0.60  # alignment: ... and this share of the shorter text's sentences
    align_margin: float = 0.10  # a sentence match's lead over its nearest few (centred cosine)
    min_numbers: float = 0.34  # alignment: share of figures in common, where both give 2 or more
    max_differing: int = 1  # alignment: sentence matches whose figures (or, in one language, names) differ, at most
    min_names: float = 0.80  # same language: share of names, and of figures, in common (of the fewer) ...
    names_at_least: int = 5  # ... where both texts give this many or more
    align_shrink: float = 10.0  # sentences' language means: corpus weight n / (n + this)
    group_support: float = 0.34  # two groups join when a third of the pairs across them pass


def shingles(text: str) -> frozenset[int]:
    """Stable 32-bit hashes of the consecutive word pairs of a text (folded, lower-cased)."""
    words = _TOKEN.findall(fold(text))
    grams = [" ".join(p) for p in zip(words, words[1:])] if len(words) > 1 else words
    return frozenset(zlib.crc32(g.encode("utf-8")) for g in grams)


def overlap(a: frozenset[int], b: frozenset[int]) -> float:
    """Jaccard similarity of two shingle sets."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def containment(a: frozenset[int], b: frozenset[int]) -> float:
    """Share of the smaller shingle set found in the other (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _sketch_of(grams: frozenset[int]) -> np.ndarray:
    if not grams:
        return _EMPTY.copy()
    h = np.fromiter(grams, dtype=np.uint64, count=len(grams))
    with np.errstate(over="ignore"):
        return _mix(h[None, :] + _SEEDS[:, None]).min(axis=1)


def sketch(text: str) -> np.ndarray:
    """MinHash sketch of a text's word pairs: 128 minima of fixed hash permutations.

    The share of equal positions in two sketches estimates the Jaccard overlap of
    the two texts' word pairs (standard error about 0.04 near 0.5), in a fixed
    1 KiB per text, so a corpus never has to keep its texts to compare them."""
    return _sketch_of(shingles(text))


def sketch_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard overlap of two texts from their sketches (0 for empty texts)."""
    if (a == _EMPTY).all() or (b == _EMPTY).all():
        return 0.0
    return float(np.count_nonzero(a == b)) / len(a)


def containment_from_overlap(jaccard: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
    """Containment of the smaller set from the Jaccard overlap and the two set sizes:
    the intersection is J (|A| + |B|) / (1 + J)."""
    jaccard, size_a, size_b = (np.asarray(x, dtype=np.float64) for x in (jaccard, size_a, size_b))
    inter = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return np.clip(inter / np.maximum(np.minimum(size_a, size_b), 1.0), 0.0, 1.0)


@dataclass
class TextFeatures:
    """What duplicate detection and the story threads need of a text, computed once
    while it is read: its wording sketch and number of word pairs, its length, its
    first sentences (packed, for the alignment test), its figures and its names."""

    sketch: np.ndarray
    grams: int
    chars: int  # its length in content (:func:`clusterer.length.content_length`)
    sentences: bytes = b""
    figures: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()  # what carries a story's thread (clusterer.entities.names)

    @classmethod
    def of(cls, text: str, lang: str | None = None) -> TextFeatures:
        """Features of ``text``."""
        grams = shingles(text)
        sentences = pack(split_sentences(text, lang))
        return cls(_sketch_of(grams), len(grams), content_length(text), sentences, numbers(text), names(text))


@dataclass
class PairEvidence:
    """Why two items are, or are not, one article. ``aligned`` and ``share`` are
    None where the alignment test was not needed (or not reachable)."""

    i: int
    j: int
    same_language: bool
    cosine: float  # language-centred cosine
    overlap: float  # wording in common, Jaccard (same language, else 0)
    containment: float  # share of the shorter text's wording in the other (same language, else 0)
    chars: int  # the shorter text's length (in content, see clusterer.length)
    aligned: int | None = None  # sentences aligned in order
    share: float | None = None  # ... as a share of the shorter text's sentences
    similarity: float | None = None  # mean centred cosine of the aligned sentences
    differing: int | None = None  # sentence matches dropped: their figures or names differ
    sentences: int | None = None  # aligned sentences that end as sentences do (headlines not counted)
    fewer_sentences: int | None = None  # ... and those of the text with fewer
    figures: float | None = None  # figures in common (None: too few to tell)
    names: float | None = None  # names in common, of the fewer (same language; None: too few to tell)
    same_figures: float | None = None  # figures in common, of the fewer (same language; None: too few to tell)

    def same_specifics(self, p: DuplicateParams) -> bool:
        """Same language: the two name the same people, places and things
        (``min_names`` of the fewer) and give the same figures (as many of the
        fewer), where both give ``names_at_least`` or more: two reports written to
        one template (other guests, another month's figures) are two articles."""
        if not self.same_language:
            return True
        return (self.names is None or self.names >= p.min_names) and (
            self.same_figures is None or self.same_figures >= p.min_names
        )

    def contained(self, p: DuplicateParams) -> bool:
        """Same language: most word pairs in common, or, between article-length texts,
        most of the shorter one's word pairs found in the other, with the same
        specifics (:meth:`same_specifics`). (Two versions of a one-line summary share
        their wording while a figure or a spelling changes: the death toll
        updated, a name transliterated anew.)"""
        if not self.same_language:
            return False
        if self.short(p):
            return self.overlap >= p.min_overlap
        return (self.overlap >= p.min_overlap or self.containment >= p.min_containment) and self.same_specifics(p)

    def short(self, p: DuplicateParams) -> bool:
        """The shorter text is below article length: a brief, a statement, a caption."""
        return self.chars < p.min_chars

    def needs_alignment(self, p: DuplicateParams) -> bool:
        return not self.contained(p) and self.cosine >= (p.short_min_cosine if self.short(p) else p.min_cosine)

    def aligns(self, p: DuplicateParams) -> bool:
        """The sentences align (:mod:`clusterer.align`): ``min_aligned`` of them (not
        counting headlines) and ``min_share`` of the shorter text's, or, where the shorter text is short
        (:meth:`short`), every one of its sentences, ``short_min_aligned`` at least,
        headlines (lines without an end mark: a title, a credit line) not counted (a
        title and one sentence align between any two summaries of one event);
        no more than ``max_differing`` matches (none for short texts) give other
        figures; the texts' figures agree where both give a few."""
        if self.aligned is None or self.share is None or not self.needs_alignment(p):
            return False
        if self.short(p):
            enough = (
                (self.sentences or 0) >= p.short_min_aligned
                and self.sentences == self.fewer_sentences
                and not self.differing
            )
        else:
            enough = (self.sentences or 0) >= p.min_aligned and self.share >= p.min_share and not self.differs(p)
        return enough and (self.figures is None or self.figures >= p.min_numbers) and self.same_specifics(p)

    def is_duplicate(self, p: DuplicateParams) -> bool:
        return self.contained(p) or self.aligns(p)

    def apart(self, p: DuplicateParams) -> bool:
        """Evidence that the two are different articles, whatever else joins them:
        article-length texts in one language that name other people or give other
        figures (:meth:`same_specifics`), or sentences that align with other figures
        (more than ``max_differing``). Two groups with such a pair across them do not
        join (:func:`group_pairs`): the English and French versions of one year's
        welcome ceremony and those of the next year's align across, sentence by
        sentence, while the two English versions name other guests."""
        return (self.same_language and not self.short(p) and not self.same_specifics(p)) or self.differs(p)

    def differs(self, p: DuplicateParams) -> bool:
        """More than ``max_differing`` aligned sentence matches gave other figures."""
        return self.aligned is not None and (self.differing or 0) > p.max_differing

    def verdict(self, p: DuplicateParams) -> int:
        """:data:`SAME` (one article), :data:`APART` (see :meth:`apart`) or :data:`NOT`."""
        if self.is_duplicate(p):
            return SAME
        return APART if self.apart(p) else NOT

    def strength(self) -> float:
        """How clearly the pair is one article: its best test's score."""
        return max(self.containment, self.share or 0.0)

    def to_dict(self, ids: Sequence[str]) -> dict:
        a, b = sorted((ids[self.i], ids[self.j]))  # not the input order
        out = {
            "a": a,
            "b": b,
            "same_language": self.same_language,
            "cosine": round(float(self.cosine), 4),
            "overlap": round(float(self.overlap), 4),
            "containment": round(float(self.containment), 4),
        }
        if self.aligned is not None:
            out.update(
                aligned_sentences=self.aligned,
                aligned_share=round(float(self.share or 0.0), 4),
                aligned_not_headlines=self.sentences,
                aligned_similarity=round(float(self.similarity or 0.0), 4),
                differing_sentences=self.differing,
            )
        if self.figures is not None:
            out["figures_in_common"] = round(float(self.figures), 4)
        if self.names is not None:
            out["names_in_common"] = round(float(self.names), 4)
        if self.same_figures is not None:
            out["same_figures"] = round(float(self.same_figures), 4)
        return out


def _language_codes(langs: Sequence[str | None]) -> tuple[np.ndarray, int]:
    """One integer per distinct language (None included); also the code of None (-1 if absent)."""
    codes: dict[str | None, int] = {}
    out = np.fromiter((codes.setdefault(lang, len(codes)) for lang in langs), dtype=np.int64, count=len(langs))
    return out, codes.get(None, -1)


def _sketch_overlaps(features: Sequence[TextFeatures], a: np.ndarray, b: np.ndarray, block: int = 16_384) -> np.ndarray:
    """:func:`sketch_overlap` of the pairs ``(a[p], b[p])``, a block of pairs at a time."""
    out = np.zeros(len(a), dtype=np.float64)
    for lo in range(0, len(a), block):
        pa, pb = a[lo : lo + block].tolist(), b[lo : lo + block].tolist()
        la = [features[i].sketch for i in pa]
        lb = [features[i].sketch for i in pb]
        if len({x.shape for x in la} | {x.shape for x in lb}) != 1:
            out[lo : lo + len(pa)] = [sketch_overlap(x, y) for x, y in zip(la, lb)]
            continue
        sa, sb = np.stack(la), np.stack(lb)
        empty = (sa == _EMPTY).all(axis=1) | (sb == _EMPTY).all(axis=1)
        same = np.count_nonzero(sa == sb, axis=1) / sa.shape[1]
        out[lo : lo + len(pa)] = np.where(empty, 0.0, same)
    return out


class PairJudge:
    """Evidence for any pairs of items, and the verdict: one place for the rule.

    ``vectors`` (language-centred, one row per item) give the cosine of pairs the
    neighbour lists do not hold; without them such pairs have cosine 0 and can
    only pass on wording. ``aligner`` embeds sentences for the alignment test;
    without it only the wording test runs."""

    def __init__(
        self,
        features: Sequence[TextFeatures],
        langs: Sequence[str | None],
        params: DuplicateParams,
        vectors: np.ndarray | None = None,
        aligner: Aligner | None = None,
    ):
        self.features = features
        self.params = params
        self.vectors = vectors
        self.aligner = aligner
        self.langs = list(langs)
        self.code, self.none = _language_codes(langs)
        self.grams = np.fromiter((f.grams for f in features), dtype=np.int64, count=len(features))
        self.chars = np.fromiter((f.chars for f in features), dtype=np.int64, count=len(features))

    def cosines(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.vectors is None or not len(a):
            return np.zeros(len(a), dtype=np.float64)
        return np.einsum("ij,ij->i", self.vectors[a], self.vectors[b]).astype(np.float64)

    def evidence(self, a: np.ndarray, b: np.ndarray, sims: np.ndarray | None = None) -> list[PairEvidence]:
        """Evidence for the pairs ``(a[p], b[p])``; ``sims`` their cosines where known."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        sims = self.cosines(a, b) if sims is None else np.asarray(sims, dtype=np.float64)
        same = (self.code[a] == self.code[b]) & (self.code[a] != self.none)
        jac = np.zeros(len(a), dtype=np.float64)
        cont = np.zeros(len(a), dtype=np.float64)
        if same.any():
            jac[same] = _sketch_overlaps(self.features, a[same], b[same])
            cont[same] = containment_from_overlap(jac[same], self.grams[a[same]], self.grams[b[same]])
        chars = np.minimum(self.chars[a], self.chars[b]) if len(a) else np.zeros(0, dtype=np.int64)
        out = [
            PairEvidence(*fields)
            for fields in zip(
                a.tolist(), b.tolist(), same.tolist(), sims.tolist(), jac.tolist(), cont.tolist(), chars.tolist()
            )
        ]
        at_least = self.params.names_at_least
        for e in out:
            if e.same_language:
                fi, fj = self.features[e.i], self.features[e.j]
                e.names = name_agreement(fi.names, fj.names, at_least)
                e.same_figures = number_agreement(fi.figures, fj.figures, at_least)
        self._align([e for e in out if e.needs_alignment(self.params)])
        return out

    def _align(self, todo: list[PairEvidence]) -> None:
        if self.aligner is None or not todo:
            return
        found: list[Alignment] = self.aligner.pairs([(e.i, e.j) for e in todo], self.sentences, self.langs)
        for e, al in zip(todo, found):
            e.aligned, e.share, e.similarity, e.differing, e.sentences = (
                al.aligned,
                al.share,
                al.similarity,
                al.differing,
                al.sentences,
            )
            e.fewer_sentences = al.fewer_sentences
            e.figures = number_agreement(self.features[e.i].figures, self.features[e.j].figures)

    def sentences(self, i: int) -> list[str]:
        return unpack(self.features[i].sentences)

    def verdicts(self, pairs: Sequence[tuple[int, int]]) -> list[int]:
        """:meth:`PairEvidence.verdict` of each pair."""
        if not pairs:
            return []
        a, b = zip(*pairs)
        return [e.verdict(self.params) for e in self.evidence(np.array(a), np.array(b))]


def candidates(nbr_idx, nbr_sim, n_items: int, eligible: Sequence[bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The neighbour pairs (i < j) between eligible items, sorted by ``(i, j)``,
    with their cosines: a pair listed by both items takes the cosine of the
    lower row that lists it (rows are read in order)."""
    idx = np.asarray(nbr_idx, dtype=np.int64)
    sim = np.asarray(nbr_sim)
    if idx.size == 0 or n_items == 0:
        idx = np.zeros((0, 1), dtype=np.int64)
        sim = np.zeros((0, 1), dtype=np.float32)
    elig = np.fromiter((bool(e) for e in eligible), dtype=bool, count=len(eligible))
    rows = np.repeat(np.arange(idx.shape[0], dtype=np.int64), idx.shape[1])
    cols = idx.ravel()
    sims = sim.ravel()
    keep = cols >= 0
    keep[keep] = elig[cols[keep]]
    keep &= cols != rows
    keep[keep] = elig[rows[keep]]
    rows, cols, sims = rows[keep], cols[keep], sims[keep]
    a, b = np.minimum(rows, cols), np.maximum(rows, cols)
    size = max(n_items, int(b.max(initial=-1)) + 1)
    _, first = np.unique(a * size + b, return_index=True)  # sorted by (a, b), first seen kept
    return a[first], b[first], sims[first]


def candidate_pairs(
    nbr_idx: np.ndarray,
    nbr_sim: np.ndarray,
    features: Sequence[TextFeatures],
    langs: Sequence[str | None],
    eligible: Sequence[bool],
    params: DuplicateParams = DuplicateParams(),
    aligner: Aligner | None = None,
) -> list[PairEvidence]:
    """Evidence for every neighbour pair (i < j) between eligible items, sorted by ``(i, j)``."""
    a, b, sims = candidates(nbr_idx, nbr_sim, len(langs), eligible)
    return PairJudge(features, langs, params, aligner=aligner).evidence(a, b, sims)


def group_pairs(
    n: int,
    pairs: Sequence[tuple[int, int]],
    check: Callable[[list[tuple[int, int]]], Sequence[int]] | None = None,
    support: float = 0.5,
) -> list[list[int]]:
    """Groups (of size >= 2, each sorted) from accepted pairs, given strongest first.

    Without ``check`` these are the connected components. With it, two groups
    join only when at least ``support`` of the pairs across them (among the first
    members of each side) pass ``check`` (:data:`SAME`, or True) and none is
    :data:`APART`: average linkage on the verdicts, so a chain of pairs does not
    make one group of items that are not duplicates."""
    sets = DisjointSet()  # of the items met in pairs (0..n-1); the others stay alone
    for a, b in pairs:
        if not (0 <= a < n and 0 <= b < n):
            raise ValueError(f"pair ({a}, {b}) outside 0..{n - 1}")
        sets.add(a)
        sets.add(b)
        if sets.connected(a, b):
            continue
        if check is not None and sets.subset_size(a) + sets.subset_size(b) > 2:
            ga, gb = sorted(sets.subset(a)), sorted(sets.subset(b))
            across = [(min(x, y), max(x, y)) for x in ga[:GROUP_CHECK_MEMBERS] for y in gb[:GROUP_CHECK_MEMBERS]]
            verdicts = check(across)
            if APART in verdicts or sum(v == SAME for v in verdicts) < support * len(across):
                continue
        sets.merge(a, b)
    return sorted((sorted(g) for g in sets.subsets() if len(g) > 1), key=lambda g: g[0])


def find_duplicates(
    nbr_idx: np.ndarray,
    nbr_sim: np.ndarray,
    features: Sequence[TextFeatures],
    langs: Sequence[str | None],
    eligible: Sequence[bool],
    params: DuplicateParams = DuplicateParams(),
    with_evidence: bool = True,
    vectors: np.ndarray | None = None,
    aligner: Aligner | None = None,
    founding: Callable[[int, int], bool] | None = None,
) -> tuple[list[list[int]], list[PairEvidence]]:
    """Duplicate groups (lists of item indices) and pair evidence: of every
    candidate pair, or (``with_evidence=False``) of the accepted pairs only.

    ``vectors`` are the items' language-centred vectors (for pairs outside the
    neighbour lists, met when two groups are checked before they join);
    ``aligner`` runs the sentence alignment (without it only the wording test
    runs); ``founding(i, j)``, when given, says which accepted pairs may form
    groups (the nightly job: pairs that bring a new item in)."""
    judge = PairJudge(features, langs, params, vectors=vectors, aligner=aligner)
    n = len(langs)
    a, b, sims = candidates(nbr_idx, nbr_sim, n, eligible)
    # Verdicts of the candidate pairs, kept as arrays (the pairs are sorted by
    # (a, b), so a pair is found by binary search); the evidence objects are made
    # a block of pairs at a time and only the accepted ones (or, with
    # ``with_evidence``, all) are kept: a million items have millions of pairs.
    keys = a * n + b
    found = np.zeros(len(a), dtype=np.int8)  # the pairs' verdicts
    evidence: list[PairEvidence] = []
    accepted: list[PairEvidence] = []
    for lo in range(0, len(a), EVIDENCE_BLOCK):
        block = judge.evidence(a[lo : lo + EVIDENCE_BLOCK], b[lo : lo + EVIDENCE_BLOCK], sims[lo : lo + EVIDENCE_BLOCK])
        verdicts = [e.verdict(params) for e in block]
        found[lo : lo + len(block)] = verdicts
        accepted.extend(e for e, v in zip(block, verdicts) if v == SAME and (founding is None or founding(e.i, e.j)))
        if with_evidence:
            evidence.extend(block)
    ranked = sorted(accepted, key=lambda e: (-e.strength(), -e.cosine, e.i, e.j))
    more: dict[tuple[int, int], int] = {}  # verdicts of pairs outside the candidates

    def verdict(pair: tuple[int, int]) -> int | None:
        key = pair[0] * n + pair[1]
        at = int(np.searchsorted(keys, key))
        if at < len(keys) and keys[at] == key:
            return int(found[at])
        return more.get(pair)

    def check(pairs: list[tuple[int, int]]) -> list[int]:
        known = [verdict(p) for p in pairs]
        todo = [p for p, v in zip(pairs, known) if v is None]
        more.update(zip(todo, judge.verdicts(todo)))
        return [more[p] if v is None else v for p, v in zip(pairs, known)]

    groups = group_pairs(len(langs), [(e.i, e.j) for e in ranked], check, params.group_support)
    return groups, (evidence if with_evidence else accepted)
