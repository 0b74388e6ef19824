"""Labels people can scan: each story's and event's title, in the reader's language
where one of its articles has a headline in it, and a few keywords.

Everything here reads a :class:`~clusterer.result.ClusterResult` alone (the items'
titles, languages, dates and snippets), so a saved result can be labelled again for
another reader (``cluster report result.json --display-lang en``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .entities import name_key, name_words
from .errors import ClustererError
from .language import normalise_code
from .records import ARTICLE, reading_order

__all__ = ["KEYWORDS", "display_language", "keywords", "label", "title_of"]

KEYWORDS = 4
"""Keywords per story or event, at most."""

TITLE_CHARS = 80  # the opening of a text that stands in for a missing headline
_POSSESSIVE = re.compile(r"['\u2019]s$")


def _opening(text: str, n: int = TITLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _earliest(members: Sequence) -> Any:
    """The member a reader meets first (:func:`~clusterer.records.reading_order`)."""
    return min(members, key=lambda m: reading_order(m.date, m.id))


def title_of(members: Sequence, display_lang: str | None = None) -> str | None:
    """The title of a story or an event from its members (objects with ``id``, ``kind``,
    ``lang``, ``date``, ``title`` and ``snippet``, such as
    :class:`~clusterer.result.ItemResult`): the headline of its earliest article in
    ``display_lang`` where one has a headline; otherwise that of its earliest article
    (by date, then id), or of the next one in that order that has one; where no article
    has a headline, the opening words of the earliest one's text."""
    arts = [m for m in members if m.kind == ARTICLE] or list(members)
    if not arts:
        return None
    if display_lang:
        own = [m for m in arts if m.title and normalise_code(m.lang) == display_lang]
        if own:
            return _earliest(own).title
    first = _earliest(arts)
    if first.title:
        return first.title
    titled = [m for m in arts if m.title]
    if titled:
        return _earliest(titled).title
    return _opening(first.snippet or "")


def _names_of(member) -> dict[str, list[str]]:
    """The names an item's headline and opening give, by key (:func:`~clusterer.entities.name_key`)."""
    out: dict[str, list[str]] = {}
    for word in name_words(f"{member.title or ''}\n{member.snippet or ''}"):
        key = name_key(word)
        if key:
            out.setdefault(key, []).append(_POSSESSIVE.sub("", word.rstrip("…")))
    return out


def keywords(
    members: Sequence, doc_freq: Counter, n_docs: int, k: int = KEYWORDS, names_of: dict | None = None
) -> list[str]:
    """A few names that say what a story or an event is about: those its articles'
    headlines and openings give most often (in two articles at least, where it has two),
    weighted by how rare they are in the whole result (``doc_freq``: articles per name
    key, of ``n_docs``); each written as its articles write it most often. ``names_of``:
    each member's names by id, where the caller has them already."""
    arts = [m for m in members if m.kind == ARTICLE] or list(members)
    counts: Counter = Counter()
    forms: dict[str, Counter] = {}
    for member in arts:
        found = names_of[member.id] if names_of is not None and member.id in names_of else _names_of(member)
        counts.update(found.keys())
        for key, words in found.items():
            forms.setdefault(key, Counter()).update(words)
    need = 2 if len(arts) >= 2 else 1
    scored = sorted(
        (-count * math.log1p(n_docs / max(doc_freq.get(key, 1), 1)), key)
        for key, count in counts.items()
        if count >= need
    )
    out = []
    for _, key in scored[:k]:
        word, _ = min(forms[key].items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))
        out.append(word)
    return out


def display_language(tag: str) -> str:
    """The language a reader asks titles in (a tag read as :func:`~clusterer.language.normalise_code`
    reads it); :class:`~clusterer.errors.ClustererError` where it is no language tag."""
    wanted = normalise_code(tag)
    if wanted is None:
        raise ClustererError(f"--display-lang {tag!r} is no language tag (try en, fr, pt-BR)")
    return wanted


def label(result, display_lang: str | None = None, story_titles: bool = True):
    """``result`` with its stories' and events' titles and keywords worked out again
    (a copy; the given result is left as it is), titles in ``display_lang`` (any
    language tag: ``en``, ``pt-BR``) where an article has a headline in it.
    ``story_titles=False`` keeps the stories' titles as they are (the nightly state's,
    which its change reports name).

    Raises :class:`~clusterer.errors.ClustererError` for a ``display_lang`` that is
    no language tag."""
    wanted = None if display_lang is None else display_language(display_lang)
    by_id = {it.id: it for it in result.items}
    in_groups = {m for s in result.stories for m in s.members} | {m for e in result.events for m in e.members}
    names_of = {it.id: _names_of(it) for it in result.items if it.kind == ARTICLE and it.id in in_groups}
    doc_freq: Counter = Counter()
    for found in names_of.values():
        doc_freq.update(found.keys())
    n_docs = max(len(names_of), 1)

    def labelled(group, titled: bool = True):
        members = [by_id[m] for m in group.members if m in by_id]
        title = (title_of(members, wanted) or group.title) if titled else group.title
        return replace(group, title=title, keywords=keywords(members, doc_freq, n_docs, names_of=names_of))

    stories = [labelled(s, story_titles) for s in result.stories]
    events = [labelled(e) for e in result.events]
    return replace(result, stories=stories, events=events)
