"""Folding text for wording comparisons: case and diacritics do not count.

Two republications of one dispatch may differ in accents (Hanoi / Hanoï) or
in capitals; the word pairs compared for duplicates are taken from folded text.
"""
from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower-case and strip diacritics (đ -> d, é -> e, ...)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
