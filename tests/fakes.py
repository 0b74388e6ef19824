"""The tests' one fake encoder: a deterministic hashed bag of words.

Nothing is learned and nothing is downloaded, so logic can be tested apart from
any model: texts that share words get close vectors. Each word adds +1 or -1 to
one of ``dim`` columns (both from a hash of the word), and each row is
L2-normalised. The options are what the tests need of it:

- ``min_len``: the shortest word that counts (5 by default: content words only);
- ``shared``: the weight of a direction every text shares, as real sentence
  embeddings have (1.0 by default; 0 for none);
- ``translate``: accents folded, stop words dropped and the French words of the
  nightly corpus mapped to English through a small lexicon, so that a
  translation lands next to its original as a multilingual model puts it;
- ``topics``: the pull of the keywords of :data:`TOPICS` along their topic's
  axis (0 for none), so that texts on one topic are close whatever their other
  words, as with a real model;
- ``sleep``: seconds per batch; ``before_batch(n)``: called before the n-th batch
  (from 1) is encoded: raise to fail there, block to stall there.

:func:`bilingual` and :func:`topical` are the two set-ups the tests use besides
the default. ``calls`` counts the batches, ``texts`` lists every text encoded.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Callable

import numpy as np

LEXICON = {
    "crue": "flood",
    "crues": "flood",
    "inondation": "flood",
    "inondations": "flood",
    "riviere": "river",
    "fleuve": "river",
    "village": "village",
    "villages": "village",
    "evacuation": "evacuation",
    "evacues": "evacuated",
    "habitants": "residents",
    "pluie": "rain",
    "pluies": "rain",
    "digue": "dam",
    "barrage": "dam",
    "eau": "water",
    "niveau": "level",
    "secours": "rescue",
    "sauveteurs": "rescue",
    "maisons": "homes",
    "greve": "strike",
    "ouvriers": "workers",
    "usine": "factory",
    "salaires": "wages",
    "syndicat": "union",
    "sommet": "summit",
    "climat": "climate",
    "ministres": "ministers",
    "accord": "agreement",
    "emissions": "emissions",
    "carbone": "carbon",
    "dirigeants": "leaders",
    "echecs": "chess",
    "tournoi": "tournament",
    "partie": "game",
    "champion": "champion",
    "mardi": "tuesday",
    "mercredi": "wednesday",
    "jeudi": "thursday",
    "lundi": "monday",
    "milliers": "thousands",
    "personnes": "people",
    "autorites": "authorities",
    "regionales": "regional",
    "ecoles": "schools",
    "ordonne": "ordered",
    "onze": "eleven",
    "vallee": "valley",
    "jours": "days",
    "trois": "three",
    "abondantes": "heavy",
    "reduire": "cut",
    "signe": "signed",
    "pays": "countries",
    "objectif": "target",
    "gagne": "won",
    "finale": "final",
    "joueurs": "players",
}
STOP = {
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "and",
    "to",
    "for",
    "at",
    "by",
    "with",
    "is",
    "was",
    "le",
    "la",
    "les",
    "de",
    "des",
    "du",
    "un",
    "une",
    "et",
    "au",
    "aux",
    "en",
    "sur",
    "par",
    "pour",
    "dans",
    "que",
    "qui",
    "il",
    "elle",
    "ont",
    "est",
    "its",
    "their",
    "has",
    "have",
    "had",
    "that",
    "from",
    "as",
    "after",
    "l",
    "d",
}
TOPICS = {
    "earthquake": 0,
    "rescue": 0,
    "rubble": 0,
    "aftershocks": 0,
    "election": 1,
    "voters": 1,
    "candidates": 1,
    "presidential": 1,
    "bakery": 2,
    "bread": 2,
    "pastry": 2,
    "football": 3,
    "goalless": 3,
    "penalties": 3,
    "recipe": 4,
    "flour": 2,
}


def fold(text: str) -> str:
    """``text`` lower-cased, its accents dropped."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


class FakeEncoder:
    """A deterministic hashed bag of words with the encoder interface (see the module)."""

    def __init__(
        self,
        dim: int = 256,
        name: str = "fake/bow-256",
        *,
        min_len: int = 5,
        shared: float = 1.0,
        translate: bool = False,
        topics: float = 0.0,
        sleep: float = 0.0,
        before_batch: Callable[[int], None] | None = None,
    ):
        self.dim = dim
        self.name = name
        self.min_len = min_len
        self.shared = shared
        self.translate = translate
        self.topics = topics
        self.sleep = sleep
        self.before_batch = before_batch
        self.calls = 0
        self.texts: list[str] = []

    def words(self, text: str) -> list[str]:
        """The words of ``text`` that count, as they are hashed."""
        if not self.translate:
            return [w for w in re.findall(r"\w+", text.lower()) if len(w) >= self.min_len]
        found = re.findall(r"\w+", fold(text))
        return [LEXICON.get(w, w) for w in found if w not in STOP and len(w) >= self.min_len]

    def encode(self, texts):
        self.calls += 1
        if self.before_batch is not None:
            self.before_batch(self.calls)
        if self.sleep:
            time.sleep(self.sleep)
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in self.words(text):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        if self.shared:
            for row in range(len(texts)):
                norm = np.linalg.norm(out[row])
                if norm:
                    out[row] /= norm
                out[row, -1] += self.shared
                out[row] /= np.linalg.norm(out[row])
        else:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            out = out / norms
        if self.topics:
            for row, text in enumerate(texts):
                for word in re.findall(r"\w+", text.lower()):
                    if word in TOPICS:
                        out[row, TOPICS[word]] += self.topics
                out[row] /= np.linalg.norm(out[row])
        return out


def bilingual(**options) -> FakeEncoder:
    """The nightly tests' encoder: French folded onto English (``translate``), words
    of two letters or more, no shared direction."""
    return FakeEncoder(**{"name": "test/hash-bow-256", "min_len": 2, "shared": 0.0, "translate": True, **options})


def topical(weight: float = 0.6, **options) -> FakeEncoder:
    """The default encoder with topic keywords pulling ``weight`` along their axis."""
    return FakeEncoder(**{"name": "fake/topic", "topics": weight, **options})
