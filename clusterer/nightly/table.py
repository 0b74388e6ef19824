"""The items a placement sees (:class:`~clusterer.nightly.placement.Placer`), in
order, with what it reads of each: position, metadata, duplicate features, centred
vector, content length and the length scale of story similarities, day, and
whether it is an article.

A night builds one table over its corpus. A feed (:mod:`clusterer.nightly.feed`)
keeps one between posts and changes only the rows a post brings (:meth:`ItemTable.set`,
:meth:`ItemTable.append`), so that a post costs what it touches, not what the state
holds; the rows are those a table built afresh would hold, computed the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..duplicates import TextFeatures
from ..length import content_length
from ..records import ARTICLE, Item, day_number, embedding_text
from ..stories.similarity import StoryParams, length_scale


class ItemTable:
    """``items`` and their ``centred`` vectors, a row each, with their duplicate
    ``features`` where the caller has them, else None: taken when first needed
    (:meth:`features_of`) from ``fetch`` (ids -> the features it holds of them: the
    state's) or computed from the item's text. ``chars`` is the content length of
    each item's text where the caller has it (else taken from its features, or its
    text). ``x`` is the centred vectors, ``xs(rows)`` the same rows scaled by their
    length (:func:`~clusterer.stories.similarity.length_scale`).

    A writeable C-contiguous ``centred`` is handed over, not copied: the table's
    rows are that array until it grows, and :meth:`set` writes into it."""

    def __init__(
        self,
        items: Sequence[Item],
        centred: np.ndarray,
        sparams: StoryParams,
        features: Sequence[TextFeatures | None] | None = None,
        chars: Sequence[int] | None = None,
        fetch: Callable[[Sequence[str]], Mapping[str, TextFeatures]] | None = None,
    ):
        self.sparams = sparams
        self.fetch = fetch
        self.items: list[Item] = []
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.features: list[TextFeatures | None] = []
        self.chars: list[int] = []
        self.days: list[float | None] = []
        self.article = np.zeros(0, dtype=bool)
        self.scale = np.zeros(0, dtype=np.float32)
        centred = np.asarray(centred)
        self._x = np.zeros((0, centred.shape[1] if centred.ndim == 2 else 0), dtype=centred.dtype)
        if centred.ndim == 2 and centred.flags.c_contiguous and centred.flags.writeable:
            self._x = centred  # handed over, not copied (a night's is a gigabyte at 1M items)
        self.append(items, centred, features, chars)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def x(self) -> np.ndarray:
        """The centred vectors, a row per item."""
        return self._x[: len(self.items)]

    def xs(self, rows) -> np.ndarray:
        """The centred vectors of ``rows`` scaled by their length, as story similarities take them."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.x[rows] * self.scale[rows][:, None]

    def append(
        self,
        items: Sequence[Item],
        centred: np.ndarray,
        features: Sequence[TextFeatures | None] | None = None,
        chars: Sequence[int] | None = None,
    ) -> None:
        """Items after the last, with their centred vectors (and features, lengths)."""
        items = list(items)
        feats: list[TextFeatures | None] = list(features) if features is not None else [None] * len(items)
        if len(feats) != len(items):
            raise ValueError(f"{len(feats)} features for {len(items)} items")
        if chars is not None and len(chars) != len(items):
            raise ValueError(f"{len(chars)} lengths for {len(items)} items")
        if len(centred) != len(items):
            raise ValueError(f"{len(centred)} vectors for {len(items)} items")
        if not items:
            return
        n = len(self.items)
        for k, it in enumerate(items):
            self.pos[it.id] = n + k
        self.items.extend(items)
        self.ids.extend(it.id for it in items)
        self.features.extend(feats)
        chars = list(chars) if chars is not None else [_chars(it, f) for it, f in zip(items, feats)]
        self.chars.extend(chars)
        self.days.extend(day_number(it.date) for it in items)
        self.article = np.concatenate([self.article, [it.kind == ARTICLE for it in items]])
        self.scale = np.concatenate([self.scale, length_scale(chars, self.sparams)]).astype(np.float32)
        if self._x is centred:  # the rows the table was built on
            return
        if self._x.shape[1] != centred.shape[1] or self._x.shape[0] < n + len(items):
            grown = np.zeros((max(n + len(items), 2 * n), centred.shape[1]), dtype=self._x.dtype)
            if n:
                grown[:n] = self._x[:n]
            self._x = grown
        self._x[n : n + len(items)] = centred

    def features_of(self, rows: Iterable[int]) -> list[TextFeatures]:
        """The duplicate features of ``rows``: those held; else those ``fetch`` gives
        (one call for all the rows lacking them); else computed from the item's text.
        Kept for the next call."""
        rows = [int(r) for r in rows]
        found: dict[int, TextFeatures] = {}
        lacking = []
        for r in dict.fromkeys(rows):
            if (f := self.features[r]) is not None:
                found[r] = f
            else:
                lacking.append(r)
        got = self.fetch([self.ids[r] for r in lacking]) if lacking and self.fetch is not None else {}
        for r in lacking:
            it = self.items[r]
            self.features[r] = found[r] = got.get(it.id) or TextFeatures.of(embedding_text(it), it.lang)
        return [found[r] for r in rows]

    def set(self, k: int, item: Item, centred: np.ndarray, features: TextFeatures | None = None) -> None:
        """Row ``k`` holds ``item`` now (the same id, another text)."""
        if self.ids[k] != item.id:
            raise ValueError(f"row {k} holds {self.ids[k]!r}, not {item.id!r}")
        self.items[k], self.features[k] = item, features
        self.chars[k] = _chars(item, features)
        self.days[k] = day_number(item.date)
        self.article[k] = item.kind == ARTICLE
        self.scale[k] = length_scale([self.chars[k]], self.sparams)[0]
        self._x[k] = centred

    def recentre(self, centred: np.ndarray) -> None:
        """Every row's centred vector anew (the language means changed)."""
        if len(centred) != len(self.items):
            raise ValueError(f"{len(centred)} vectors for {len(self.items)} items")
        self._x = np.array(centred, dtype=self._x.dtype)


def _chars(item: Item, features: TextFeatures | None) -> int:
    return content_length(embedding_text(item)) if features is None else features.chars
