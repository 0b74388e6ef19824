"""Folding text for wording comparisons, and the numbers a text gives.

Two republications of one dispatch may differ in accents (Hanoi / Hanoï) or
in capitals; the word pairs compared for duplicates are taken from folded text.
A translation keeps its figures in every script (620, 1 200, ２０２７), where
names cannot agree across scripts; two reports of one event, or of two events
of one story, often round them or give others.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?")
# East Asian counting in myriads: 2万5000 (25,000), 3億2000万 (320 million); Korean 만, 억
_MYRIAD = re.compile(r"(?<![\d.,])(\d+)([億亿억])(\d{1,4})[万萬만]|(?<![\d.,])(\d+)[万萬만](\d{1,4})(?![\d.,])")


def _myriads(match: re.Match) -> str:
    if match.group(1):
        return str(int(match.group(1)) * 10**8 + int(match.group(3)) * 10**4)
    return str(int(match.group(4)) * 10**4 + int(match.group(5)))


def fold(text: str) -> str:
    """Lower-case and strip diacritics (đ -> d, é -> e, ...)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def numbers(text: str) -> frozenset[str]:
    """The figures of a text with two digits or more, as their significant digits:
    separators and leading and trailing zeros dropped (1,200 = 1 200 = 1.2 tys. =
    "12"; 75 million = 7,500万 = "75"; 25,000 = 2万5000 = "25"; full-width digits
    read as ASCII), so that a translation that counts in other units (万, 亿, lakh)
    keeps the figure."""
    out = set()
    for m in _NUMBER.finditer(_MYRIAD.sub(_myriads, unicodedata.normalize("NFKC", text))):
        digits = re.sub(r"\D", "", m.group(0)).lstrip("0")
        if len(digits) >= 2:
            out.add(digits.rstrip("0"))
    return frozenset(out)


def name_agreement(a: frozenset[str], b: frozenset[str], at_least: int = 5) -> float | None:
    """Share of the smaller set of names (:func:`names`) found in the other; None when
    either text gives fewer than ``at_least`` (no evidence either way)."""
    if min(len(a), len(b)) < at_least:
        return None
    return len(a & b) / min(len(a), len(b))


def number_agreement(a: frozenset[str], b: frozenset[str], at_least: int = 2) -> float | None:
    """Share of the smaller set of figures found in the other; None when either
    text gives fewer than ``at_least`` figures (no evidence either way)."""
    if min(len(a), len(b)) < at_least:
        return None
    return len(a & b) / min(len(a), len(b))


# Scripts whose words carry case: a capital inside a sentence marks a name there.
_CASED_LETTERS = "A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u052f"
_CASED_WORD = re.compile(f"[{_CASED_LETTERS}]+(?:['\u2019-][{_CASED_LETTERS}]+)*")
_LETTER = re.compile(r"[^\W\d_]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SENTENCE_ENDS = frozenset('.!?\u3002\uff01\uff1f:;"\u00ab\u00bb\u201c\u201d')
# Words that English and German capitalise by convention, not as names: the days and
# months (a date is no actor; two unrelated reports from one Wednesday share it). "May"
# stays: it is a name as often.
CALENDAR_WORDS = frozenset(
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "montag",
        "dienstag",
        "mittwoch",
        "donnerstag",
        "freitag",
        "samstag",
        "sonntag",
        "januar",
        "februar",
        "marz",
        "juni",
        "juli",
        "oktober",
        "dezember",
    ]
)
NAME_KEY_CHARS = 5
"""Names are compared on their first characters once folded and transliterated, so
that inflected forms (Wierzbicki, Wierzbickiego) and derived ones (Chile, Chilean,
chilien) meet."""


@functools.lru_cache(maxsize=1 << 16)
def name_key(word: str) -> str:
    """The form a name is compared in: folded, transliterated to ASCII (anyascii:
    Путин -> putin), its first :data:`NAME_KEY_CHARS` letters."""
    from anyascii import anyascii

    key = re.sub(r"[^a-z]", "", anyascii(fold(word)).lower())
    return key[:NAME_KEY_CHARS]


def names(text: str) -> frozenset[str]:
    """The keys (:func:`name_key`) of the names a text gives (:func:`name_words`)."""
    out = {name_key(word) for word in name_words(text)}
    out.discard("")
    return frozenset(out)


def name_words(text: str) -> list[str]:
    """The names a text gives, as written, in order: in scripts with case, words that
    start with a capital inside a sentence (not its first word) and acronyms; in a line
    of a script without case (Chinese, Arabic, Korean...), the words written in Latin
    letters. Lines in title case (headlines such as "Search Goes On For Missing Crew")
    are left out, as are words under three letters and the days and months
    (:data:`CALENDAR_WORDS`). These are the names that survive translation: an actor,
    a place or an object written the same way in the languages of one script, or
    transliterated alike."""
    out: list[str] = []
    for line in text.splitlines():
        words = [(m.group(0), m.start()) for m in _CASED_WORD.finditer(line)]
        if not words:
            continue
        cased_letters = sum(len(word) for word, _ in words)
        uncased = len(_LETTER.findall(line)) - cased_letters > cased_letters
        if not uncased and len(words) >= 4 and sum(word[0].isupper() for word, _ in words) >= 0.6 * len(words):
            continue  # a title-case headline: its capitals mark nothing
        for word, start in words:
            if len(word) < 3:
                continue
            if uncased:  # a word in Latin letters in a text of another script
                if _LATIN.match(word):
                    out.append(word)
                continue
            acronym = word.isupper()
            if not (acronym or word[0].isupper()) or _calendar(word):
                continue
            if not acronym and _opens_sentence(line, start):
                continue  # the first word of a sentence is capitalised anyway
            out.append(word)
    return out


@functools.lru_cache(maxsize=1 << 16)
def _calendar(word: str) -> bool:
    return fold(word) in CALENDAR_WORDS


def _opens_sentence(line: str, start: int) -> bool:
    """Whether the word at ``start`` of ``line`` is the first of its sentence: nothing
    but blanks before it, or one of :data:`_SENTENCE_ENDS` and blanks."""
    j = start - 1
    while j >= 0 and line[j].isspace():
        j -= 1
    return j < 0 or line[j] in _SENTENCE_ENDS
