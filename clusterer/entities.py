"""Folding text for wording comparisons, and the numbers a text gives.

Two republications of one dispatch may differ in accents (Hanoi / Hanoï) or
in capitals; the word pairs compared for duplicates are taken from folded text.
A translation keeps its figures in every script (620, 1 200, ２０２７), where
names cannot agree across scripts; two reports of one event, or of two events
of one story, often round them or give others.
"""

from __future__ import annotations

import re
import unicodedata

_NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?")


def fold(text: str) -> str:
    """Lower-case and strip diacritics (đ -> d, é -> e, ...)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def numbers(text: str) -> frozenset[str]:
    """The figures of a text with two digits or more, separators and leading zeros
    dropped (1,200 = 1 200 = 1200; full-width digits read as ASCII)."""
    out = set()
    for m in _NUMBER.finditer(unicodedata.normalize("NFKC", text)):
        digits = re.sub(r"\D", "", m.group(0)).lstrip("0")
        if len(digits) >= 2:
            out.add(digits)
    return frozenset(out)


def number_agreement(a: frozenset[str], b: frozenset[str], at_least: int = 2) -> float | None:
    """Share of the smaller set of figures found in the other; None when either
    text gives fewer than ``at_least`` figures (no evidence either way)."""
    if min(len(a), len(b)) < at_least:
        return None
    return len(a & b) / min(len(a), len(b))
