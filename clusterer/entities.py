"""Names, numbers and dates that survive translation, for confirming duplicates.

A translation keeps its proper names (mostly in Latin script, up to
diacritics) and its numbers. The signature of a text is the set of such
tokens, diacritics folded and lower-cased; two versions of one article share
most of theirs, two articles about one event share far fewer.
"""
from __future__ import annotations

import re
import unicodedata
from typing import FrozenSet

_WORD = re.compile(r"[^\W\d_][\w'’-]*|\d+(?:[.,]\d+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?:;…\"«»“”()\[\]–—-]\s*$")


def fold(text: str) -> str:
    """Lower-case and strip diacritics (đ -> d, é -> e, ...)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def signature(text: str) -> FrozenSet[str]:
    """Proper-name and number tokens of a text.

    A name token is a capitalised word that does not start a sentence or line
    (so ordinary words capitalised by position are left out), at least three
    letters long. A number is any digit run; separators are dropped so 70,000
    and 70.000 agree, and leading zeros are dropped (05 = 5).
    """
    tokens = set()
    for line in text.splitlines():
        for m in _WORD.finditer(line):
            tok = m.group(0)
            if tok[0].isdigit():
                digits = re.sub(r"\D", "", tok).lstrip("0") or "0"
                tokens.add("#" + digits)
            elif tok[0].isupper() and len(tok) >= 3:
                before = line[:m.start()]
                starts_sentence = not before.strip() or _SENTENCE_END.search(before) is not None
                if not starts_sentence:
                    tokens.add(fold(tok.strip("'’-")))
    return frozenset(tokens)


def agreement(a: FrozenSet[str], b: FrozenSet[str]) -> float:
    """Overlap coefficient |a & b| / min(|a|, |b|); 0 when either is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))
