"""Language identification of items, with py3langid (model bundled in the package)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import langcodes

from .errors import ModelError
from .records import Item

MIN_LETTERS = 3
MIN_CONFIDENCE = 0.5
MAX_CHARS = 4000  # enough for a reliable guess; keeps long pages cheap
PROSE_MIN_LETTERS = 40  # a line with fewer letters (menu, share row, byline) is not used while
# the text has lines of prose
# py3langid labels that are dialects or varieties of an ISO 639-1 language.
_MACRO = {
    "arz": "ar",
    "ary": "ar",
    "yue": "zh",
    "wuu": "zh",
    "uzs": "uz",
    "gug": "gn",
    "hbo": "he",
    "grc": "el",
    "fuv": "ff",
}
_NO_LANGUAGE = {"und", "zxx", "mis", "mul"}


class LanguageIdentifier:
    """Detects the language of a text as an ISO 639-1 code.

    The py3langid model is loaded once per object, on first use. ``languages``
    restricts the candidates (e.g. ``["fr", "vi", "en"]``); ``min_confidence``
    (normalised probability) and ``min_letters`` decide when to answer None.
    """

    def __init__(
        self,
        languages: Iterable[str] | None = None,
        min_confidence: float = MIN_CONFIDENCE,
        min_letters: int = MIN_LETTERS,
    ) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence!r}")
        if min_letters < 1:
            raise ValueError(f"min_letters must be at least 1, got {min_letters!r}")
        self.languages = sorted(set(languages)) if languages is not None else None
        self.min_confidence = min_confidence
        self.min_letters = min_letters
        self._model = None

    def _identifier(self):
        if self._model is None:
            try:
                from py3langid.langid import MODEL_FILE
                from py3langid.langid import LanguageIdentifier as _PyLangId
            except ImportError as exc:
                raise ModelError(f"language identification needs py3langid ({exc})") from None
            try:
                model = _PyLangId.from_model_file(MODEL_FILE, norm_probs=True)
            except Exception as exc:  # corrupt or missing bundled model
                raise ModelError(f"cannot load the py3langid model: {exc}") from exc
            if self.languages is not None:
                try:
                    model.set_languages(self.languages)
                except ValueError as exc:
                    raise ValueError(f"unsupported language in {self.languages}: {exc}") from None
            self._model = model
        return self._model

    def classify(self, text: str) -> tuple[str | None, float]:
        """(code or None, confidence) for ``text``."""
        if not text or sum(ch.isalpha() for ch in text) < self.min_letters:
            return None, 0.0
        code, confidence = self._identifier().classify(prose(text)[:MAX_CHARS])
        if confidence < self.min_confidence:
            return None, confidence
        return normalise_code(code), confidence

    def detect(self, text: str) -> str | None:
        """ISO 639-1 code of ``text``, or None when too short or unreliable."""
        return self.classify(text)[0]

    def fill(self, items: Iterable[Item]) -> None:
        """Set ``item.lang`` where it is None; a given value is normalised ("fr-FR",
        "FR" -> "fr"), and one that is no language tag ("xx", "FRENCH", "??") is
        identified from the text like a missing one, the given value kept in
        ``item.meta["lang_given"]`` so that the result can report it."""
        for item in items:
            if item.lang is not None:
                code = normalise_code(item.lang)
                if code is None and item.lang.strip().lower() not in _NO_LANGUAGE:
                    item.meta["lang_given"] = item.lang
                item.lang = code
            if item.lang is None:
                text = item.text if item.text.strip() else (item.title or "")
                item.lang = self.detect(text)


def prose(text: str) -> str:
    """The lines of ``text`` that read as prose (``PROSE_MIN_LETTERS`` letters or
    more), or the whole text where none does: a language selector or a row of
    English share buttons at the top of a German page does not decide its language."""
    lines = [line for line in text.splitlines() if sum(ch.isalpha() for ch in line) >= PROSE_MIN_LETTERS]
    return "\n".join(lines) if lines else text


@lru_cache(maxsize=4096)
def normalise_code(code: str | None) -> str | None:
    """The lower-cased primary subtag of a language tag, varieties folded
    ("PT_br" -> "pt", "yue" -> "zh", "zh-classical" -> "zh").

    Validity is langcodes' reading of the IANA registry, of the whole tag or else
    of its primary subtag: a value that is no language tag ("xx", "FRENCH", "??")
    gives None, as do "und"/"zxx" (no linguistic content). Codes without an
    ISO 639-1 equivalent are kept.
    """
    if not code:
        return None
    tag = code.strip().replace("_", "-")
    primary = tag.split("-")[0].lower()
    if not primary or primary in _NO_LANGUAGE:
        return None
    if not (langcodes.tag_is_valid(tag) or langcodes.tag_is_valid(primary)):
        return None
    return _MACRO.get(primary, primary)


def detect_language(text: str, identifier: LanguageIdentifier | None = None) -> str | None:
    """One-off detection; pass an ``identifier`` to reuse its loaded model across calls."""
    return (identifier or LanguageIdentifier()).detect(text)
