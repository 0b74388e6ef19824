"""Sentence alignment: is one text a version of the other, sentence by sentence?

A translation, or a republication trimmed by another outlet, carries most of
its sentences over, in order; two reports of one event written apart share the
facts but few sentences. As in bitext and document-alignment mining (Artetxe &
Schwenk 2019; Thompson & Koehn 2020), the sentences of both texts are embedded,
each sentence is matched to its nearest sentence in the other text, and a match
counts when the two are each other's nearest (mutual), clearly ahead of their
other candidates (a margin over the mean similarity of their nearest few, so
the topic, which lifts every candidate alike, cancels out) and in the order of
the other matches (the longest increasing run of positions). Sentence vectors
are centred by language first, as documents are (:mod:`clusterer.debias`):
without it the margins of a multilingual encoder are too small to read.

Sentences come from ``sentencex`` (Wikimedia's rule-based splitter for ~300
languages; it knows the CJK, Devanagari and Thai sentence ends). Pure: the
vectors are given by the caller (:class:`clusterer.embed.cache.Embedder` caches them).
"""

from __future__ import annotations

import bisect
import re
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .debias import Prior, center_by_language, language_means
from .entities import names, numbers

MAX_SENTENCES = 32  # a text's first sentences are enough to tell a version from a report
MIN_SENTENCE_LETTERS = 12  # shorter pieces ("AP", "Photo", a number) align with anything
MAX_SENTENCE_CHARS = 600
MARGIN_NEIGHBOURS = 4  # the ratio margin's "nearest few"

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_SEP = "\x1e"  # record separator between stored sentences


def split_sentences(text: str, lang: str | None = None, limit: int = MAX_SENTENCES) -> list[str]:
    """The first ``limit`` sentences of ``text`` with at least
    ``MIN_SENTENCE_LETTERS`` letters, paragraph by paragraph."""
    from sentencex import segment as _segment

    out: list[str] = []
    code = (lang or "en").split("-")[0]
    for paragraph in text.splitlines():
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for piece in _segment(code, paragraph):
            piece = piece.strip()
            if len(_LETTER.findall(piece)) < MIN_SENTENCE_LETTERS:
                continue
            out.append(piece[:MAX_SENTENCE_CHARS])
            if len(out) >= limit:
                return out
    return out


def pack(sentences: Sequence[str]) -> bytes:
    """Sentences kept compactly until the alignment needs them (texts are not kept)."""
    return zlib.compress(_SEP.join(sentences).encode("utf-8"), 1)


def unpack(blob: bytes) -> list[str]:
    text = zlib.decompress(blob).decode("utf-8") if blob else ""
    return text.split(_SEP) if text else []


@dataclass(frozen=True)
class Alignment:
    """How two texts' sentences align."""

    aligned: int  # mutual, margin-clear matches in order, with no figures or names that differ
    shorter: int  # sentences of the text with fewer
    share: float  # aligned / shorter (0 when a text has no sentence)
    similarity: float = 0.0  # mean centred cosine of the aligned sentence pairs
    differing: int = 0  # mutual, margin-clear matches whose sentences give other figures or names
    sentences: int = 0  # aligned pairs of sentences, headlines (lines without an end mark) not counted
    fewer_sentences: int = 0  # sentences (not headlines) of the text with fewer


Specifics = tuple[frozenset[str], frozenset[str], bool]  # a sentence's figures and names; whether it ends
# as a sentence does (a headline or a title does not)
_END_MARK = re.compile(r"[.!?\u2026\u0964\u06d4\u3002\uff01\uff1f][\"'\u00bb\u201d\u2019)\]]*$")


def specifics(sentence: str) -> Specifics:
    """What a sentence states that a translation keeps: its figures (as their
    significant digits: 25,000 = 2.5万) and its names (:mod:`clusterer.entities`);
    and whether it is a sentence rather than a headline (it ends with an end mark)."""
    return numbers(sentence), names(sentence), bool(_END_MARK.search(sentence.strip()))


class SpecificsMemo:
    """:func:`specifics` of sentences seen before, kept by a caller that aligns the
    same items again and again (the feed, post after post): at most ``size``
    sentences, all forgotten when it is full (what is asked again is soon back)."""

    def __init__(self, size: int = 100_000):
        if size < 1:
            raise ValueError(f"size={size}: a memo holds one sentence or more")
        self.size = size
        self._found: dict[str, Specifics] = {}

    def __len__(self) -> int:
        return len(self._found)

    def __call__(self, sentence: str) -> Specifics:
        found = self._found.get(sentence)
        if found is None:
            if len(self._found) >= self.size:
                self._found.clear()
            found = self._found[sentence] = specifics(sentence)
        return found


def differ(a: Specifics, b: Specifics, compare_names: bool) -> bool:
    """Two sentences state other specifics: both give figures and share none, or
    (``compare_names``: the two are in one language) both give two names or more
    and share none. Names are not compared across languages: a translation renders
    places and institutions in its own words (Lech-Hügel, Wzgórze Lecha), and German
    writes every noun with a capital."""
    (fa, na, _), (fb, nb, _) = a, b
    if fa and fb and not fa & fb:
        return True
    return compare_names and len(na) >= 2 and len(nb) >= 2 and not na & nb


def _longest_increasing(values: Sequence[int]) -> list[int]:
    """Positions of a longest strictly increasing run of ``values`` (the first found)."""
    tails: list[int] = []  # values
    at: list[int] = []  # their positions
    back = [-1] * len(values)
    for k, v in enumerate(values):
        t = bisect.bisect_left(tails, v)
        back[k] = at[t - 1] if t else -1
        if t == len(tails):
            tails.append(v)
            at.append(k)
        else:
            tails[t] = v
            at[t] = k
    out: list[int] = []
    k = at[-1] if at else -1
    while k >= 0:
        out.append(k)
        k = back[k]
    return out[::-1]


def align(
    a: np.ndarray,
    b: np.ndarray,
    min_margin: float,
    specifics_a: Sequence[Specifics] | None = None,
    specifics_b: Sequence[Specifics] | None = None,
    compare_names: bool = False,
) -> Alignment:
    """Align two texts given their sentence vectors (rows L2-normalised, centred
    by language): a match needs a similarity ``min_margin`` above the mean of
    the two sentences' nearest few in the other text, and, where the sentences'
    :func:`specifics` are given, the same figures (and names where
    ``compare_names``; see :func:`differ`):
    two reports written to one template align sentence by sentence, with other
    guests and other dates."""
    na, nb = len(a), len(b)
    shorter = min(na, nb)
    if shorter == 0:
        return Alignment(0, shorter, 0.0)
    sims = a @ b.T
    best_b = sims.argmax(axis=1)
    best_a = sims.argmax(axis=0)
    ka, kb = min(MARGIN_NEIGHBOURS, nb), min(MARGIN_NEIGHBOURS, na)
    # mean of each sentence's nearest few in the other text
    near_a = -np.sort(-sims, axis=1)[:, :ka].mean(axis=1)
    near_b = -np.sort(-sims, axis=0)[:kb, :].mean(axis=0)
    rows = np.flatnonzero(best_a[best_b] == np.arange(na))
    cols = best_b[rows]
    margin = sims[rows, cols] - (near_a[rows] + near_b[cols]) / 2.0
    rows, cols = rows[margin >= min_margin], cols[margin >= min_margin]
    if specifics_a is None or specifics_b is None:
        run = _longest_increasing(cols.tolist())  # rows are in order already
        similarity = float(sims[rows[run], cols[run]].mean()) if run else 0.0
        return Alignment(len(run), shorter, len(run) / shorter, similarity, 0, len(run), shorter)
    same = np.array(
        [not differ(specifics_a[r], specifics_b[c], compare_names) for r, c in zip(rows.tolist(), cols.tolist())],
        dtype=bool,
    )
    differing = int(len(rows) - same.sum())
    rows, cols = rows[same], cols[same]
    run = _longest_increasing(cols.tolist())
    similarity = float(sims[rows[run], cols[run]].mean()) if run else 0.0
    sentences = sum(1 for k in run if specifics_a[rows[k]][2] and specifics_b[cols[k]][2])
    fewer = min(sum(s[2] for s in specifics_a), sum(s[2] for s in specifics_b))
    return Alignment(len(run), shorter, len(run) / shorter, similarity, differing, sentences, fewer)


SentenceEmbed = Callable[[list[str]], np.ndarray]


class Aligner:
    """Aligns pairs of items, embedding each item's sentences once (through
    ``embed``, which is expected to cache) and only for the items asked about.

    Sentence vectors are centred by language with means estimated from the
    sentences of the first call, shrunk toward the language directions of
    reference sentences (``prior``, a callable asked on first need, so that a
    run with nothing to align embeds nothing): a few pages on one topic do not
    make their topic a language. The means are kept for later calls so that a
    verdict never depends on the order of calls. ``specifics`` gives a sentence's
    figures and names: :func:`specifics`, or a :class:`SpecificsMemo` of it."""

    def __init__(
        self,
        embed: SentenceEmbed,
        min_margin: float,
        prior: Callable[[], Prior | None] | None = None,
        shrink: float = 50.0,
        specifics: Callable[[str], Specifics] = specifics,
    ):
        self.embed = embed
        self.specifics = specifics  # a SpecificsMemo where the caller keeps one
        self.min_margin = min_margin
        self._prior = prior
        self.shrink = shrink
        self._means: dict | None = None
        self._vectors: dict[int, np.ndarray] = {}
        self._specifics: dict[int, list[Specifics]] = {}
        self.seconds = 0.0  # spent embedding sentences (the reference sentences included)

    def _load(self, wanted: dict[int, list[str]], langs: Sequence[str | None]) -> None:
        todo = [i for i in wanted if i not in self._vectors]
        self._specifics.update((i, [self.specifics(s) for s in wanted[i]]) for i in todo)
        flat = [s for i in todo for s in wanted[i]]
        if not flat:
            self._vectors.update((i, np.zeros((0, 1), dtype=np.float32)) for i in todo)
            return
        start = time.perf_counter()
        vecs = np.asarray(self.embed(flat), dtype=np.float32)
        prior = self._prior() if self._prior is not None else None  # embeds the reference once
        self.seconds += time.perf_counter() - start
        flat_langs = [langs[i] for i in todo for _ in wanted[i]]
        if self._means is None:
            self._means = language_means(vecs, flat_langs, self.shrink, prior)
        vecs = center_by_language(vecs, flat_langs, means=self._means, prior=prior)
        at = 0
        for i in todo:
            n = len(wanted[i])
            self._vectors[i] = vecs[at : at + n]
            at += n

    def pairs(
        self, pairs: Sequence[tuple[int, int]], sentences: Callable[[int], list[str]], langs: Sequence[str | None]
    ) -> list[Alignment]:
        """The alignment of each pair ``(i, j)``; ``sentences(i)`` gives item i's
        sentences and ``langs[i]`` its language."""
        items = sorted({i for p in pairs for i in p})
        self._load({i: sentences(i) for i in items}, langs)
        v, s = self._vectors, self._specifics
        return [
            align(v[i], v[j], self.min_margin, s[i], s[j], compare_names=langs[i] is not None and langs[i] == langs[j])
            for i, j in pairs
        ]
