"""A deterministic fake encoder for the nightly tests: hashed bag of words.

French words of the test corpus are mapped to English through a small lexicon,
so a translation lands next to its original as a multilingual model would put
it. ``texts`` counts every text sent to ``encode``; ``sleep`` (seconds per
batch) lets the crash tests kill a run while it is embedding.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata

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


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


class FakeEncoder:
    name = "test/hash-bow-256"

    def __init__(self, dim: int = 256, sleep: float = 0.0):
        self.dim = dim
        self.sleep = sleep
        self.texts: list = []

    def encode(self, texts):
        if self.sleep:
            time.sleep(self.sleep)
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, text in enumerate(texts):
            for tok in re.findall(r"\w+", fold(text)):
                if tok in STOP or len(tok) < 2:
                    continue
                tok = LEXICON.get(tok, tok)
                h = hashlib.blake2b(tok.encode(), digest_size=8).digest()
                col = int.from_bytes(h[:4], "little") % self.dim
                out[r, col] += 1.0 if h[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms
