"""Result types, plain dataclasses the CLI serialises as they are, and how an
analysis becomes one (:func:`build_result`: stable ids, canonical members,
story titles, snippets, the story map)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .labels import label, title_of
from .records import ARTICLE, Item, Skipped, date_span, reading_order

if TYPE_CHECKING:
    from .analysis import Analysis


@dataclass
class ItemResult:
    id: str
    doc: str
    kind: str
    lang: str | None
    title: str | None
    date: str | None = None
    url: str | None = None
    story: str | None = None
    duplicate_group: str | None = None
    snippet: str | None = None  # the opening of its text (about 200 characters)
    event: str | None = None  # the event (one occurrence, within its story) of an article in a story
    # where it lies on the story map: the first two principal components of the
    # language-centred vectors (None in a result written before the map existed)
    x: float | None = None
    y: float | None = None


@dataclass
class Story:
    id: str
    title: str | None
    members: list[str]
    languages: list[str]
    articles: int
    teasers: int = 0
    events: list[str] = field(default_factory=list)  # its events' ids, in time order
    keywords: list[str] = field(default_factory=list)  # a few names it is about (clusterer.labels)

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Event:
    """One occurrence inside a story (a meeting, a landing, a verdict), reported within
    days: the story's articles that report it (teasers join stories, not events)."""

    id: str
    story: str
    title: str | None
    members: list[str]
    languages: list[str]
    first_date: str | None = None
    last_date: str | None = None
    keywords: list[str] = field(default_factory=list)


@dataclass
class DuplicateGroup:
    id: str
    members: list[str]
    canonical: str
    languages: list[str]
    story: str | None = None
    # the pairs that made the group, each with its evidence: ids ``a`` and ``b``,
    # ``cosine`` (language-centred), ``overlap`` and ``containment`` (same language:
    # word pairs in common, and the share of the shorter text's found in the other) and, where the sentence alignment
    # ran, ``aligned_sentences``, ``aligned_not_headlines``, ``aligned_share``, ``aligned_similarity``
    # and ``differing_sentences``
    evidence: list[dict] = field(default_factory=list)


@dataclass
class ClusterResult:
    items: list[ItemResult]
    stories: list[Story]
    duplicate_groups: list[DuplicateGroup]
    skipped: list[Skipped] = field(default_factory=list)
    model: str = ""
    truncated: list[dict] = field(default_factory=list)  # pages cut at max_chars: id, original chars
    unrecognised_lang: list[dict] = field(default_factory=list)  # given lang no tag: id, given, lang
    timings: dict[str, float] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)  # by story, then in time order

    @property
    def noise(self) -> list[str]:
        """Ids of the items that belong to no story."""
        return [it.id for it in self.items if it.story is None]

    def item(self, item_id: str) -> ItemResult:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "items": [asdict(it) for it in self.items],
            "stories": [asdict(s) for s in self.stories],
            "events": [asdict(e) for e in self.events],
            "duplicate_groups": [asdict(g) for g in self.duplicate_groups],
            "noise": self.noise,
            "skipped": [asdict(s) for s in self.skipped],
            "truncated": list(self.truncated),
            "unrecognised_lang": list(self.unrecognised_lang),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> ClusterResult:
        """The result :meth:`to_dict` wrote (keys it does not know are ignored, so a
        result written by a later version still reads); ``ValueError`` if it is
        not one."""
        try:
            return cls(
                items=[ItemResult(**_known(ItemResult, it)) for it in data["items"]],
                stories=[Story(**_known(Story, s)) for s in data["stories"]],
                duplicate_groups=[DuplicateGroup(**_known(DuplicateGroup, g)) for g in data["duplicate_groups"]],
                skipped=[Skipped(**_known(Skipped, s)) for s in data.get("skipped", [])],
                model=data.get("model", ""),
                truncated=list(data.get("truncated", [])),
                unrecognised_lang=list(data.get("unrecognised_lang", [])),
                timings=dict(data.get("timings", {})),
                events=[Event(**_known(Event, e)) for e in data.get("events", [])],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a clusterer result ({type(exc).__name__}: {exc})") from None


def load_result(path) -> ClusterResult:
    """Read a result JSON written by ``cluster --out``; ``ValueError`` or ``OSError``."""
    import json

    with open(path, encoding="utf-8") as fh:
        return ClusterResult.from_dict(json.load(fh))


def _known(kind, row: dict) -> dict:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in row.items() if k in names}


def canonical_member(items: Sequence[Item], members: Sequence[int]) -> int:
    """The item a downstream system keeps: the earliest by date, then by id.

    Items without a date come after dated ones (:func:`~clusterer.records.reading_order`)."""
    return min(members, key=lambda i: reading_order(items[i].date, items[i].id))


def build_result(analysis: Analysis, skipped: Sequence[Skipped], model_name: str) -> ClusterResult:
    """Give stable, order-independent ids: stories by size then first member id,
    duplicate groups by first member id."""
    items = analysis.items
    by_label: dict[int, list[int]] = {}
    for i, lab in enumerate(analysis.story_of):
        if lab is not None:
            by_label.setdefault(lab, []).append(i)
    ordered = sorted(by_label.values(), key=lambda m: (-len(m), min(items[i].id for i in m)))
    story_id = {}
    stories: list[Story] = []
    for k, members in enumerate(ordered, start=1):
        sid = f"s{k}"
        members = sorted(members, key=lambda i: items[i].id)
        for i in members:
            story_id[i] = sid
        arts = [i for i in members if items[i].kind == ARTICLE]
        stories.append(
            Story(
                id=sid,
                title=None,  # clusterer.labels.label gives the titles
                members=[items[i].id for i in members],
                languages=sorted({items[i].lang or "?" for i in members}),
                articles=len(arts),
                teasers=len(members) - len(arts),
            )
        )
    groups = sorted((sorted(g, key=lambda i: items[i].id) for g in analysis.dup_groups), key=lambda g: items[g[0]].id)
    dup_id = {}
    for k, g in enumerate(groups, start=1):
        for i in g:
            dup_id[i] = f"d{k}"
    ids = [it.id for it in items]
    pairs_of: dict = {}
    for e in analysis.dup_evidence:
        if dup_id.get(e.i) is not None and dup_id.get(e.i) == dup_id.get(e.j):
            pairs_of.setdefault(dup_id[e.i], []).append(e.to_dict(ids))
    dup_groups: list[DuplicateGroup] = []
    for k, g in enumerate(groups, start=1):
        gid = f"d{k}"
        dup_groups.append(
            DuplicateGroup(
                id=gid,
                members=[items[i].id for i in g],
                canonical=items[canonical_member(items, g)].id,
                languages=sorted({items[i].lang or "?" for i in g}),
                story=story_id.get(g[0]),
                evidence=sorted(pairs_of.get(gid, []), key=lambda d: (d["a"], d["b"])),
            )
        )
    events, event_id = _events(analysis, stories, story_id)
    xy = map_coordinates(analysis.centred)
    results = [
        ItemResult(
            id=it.id,
            doc=it.doc,
            kind=it.kind,
            lang=it.lang,
            title=it.title,
            date=it.date,
            url=it.url,
            story=story_id.get(i),
            duplicate_group=dup_id.get(i),
            snippet=it.meta.get("snippet", snippet(it.text, SNIPPET_CHARS)),
            event=event_id.get(i),
            x=float(xy[i, 0]),
            y=float(xy[i, 1]),
        )
        for i, it in enumerate(items)
    ]
    result = ClusterResult(
        items=results,
        stories=stories,
        duplicate_groups=dup_groups,
        skipped=list(skipped),
        model=model_name,
        truncated=truncated_pages(items),
        unrecognised_lang=unrecognised_languages(items),
        events=events,
    )
    return label(result)


def _events(analysis: Analysis, stories: list[Story], story_id: dict[int, str]) -> tuple[list[Event], dict[int, str]]:
    """The events of the stories, numbered e1, e2... story by story (in the stories'
    order) and, inside a story, by first date (undated last), then by first member
    id; each story's ``events`` filled in that order. Also the event id per item."""
    items = analysis.items
    by_label: dict[int, list[int]] = {}
    for i, lab in enumerate(analysis.event_of):
        if lab is not None and i in story_id:
            by_label.setdefault(lab, []).append(i)
    of_story: dict[str, list[list[int]]] = {}
    for members in by_label.values():
        of_story.setdefault(story_id[members[0]], []).append(sorted(members, key=lambda i: items[i].id))

    events: list[Event] = []
    event_id: dict[int, str] = {}
    for story in stories:
        spans = [(members, date_span(items[i].date for i in members)) for members in of_story.get(story.id, [])]
        for members, (first, last) in sorted(spans, key=lambda ms: reading_order(ms[1][0], items[ms[0][0]].id)):
            eid = f"e{len(events) + 1}"
            events.append(
                Event(
                    id=eid,
                    story=story.id,
                    title=None,  # clusterer.labels.label gives the titles
                    members=[items[i].id for i in members],
                    languages=sorted({items[i].lang or "?" for i in members}),
                    first_date=first,
                    last_date=last,
                )
            )
            story.events.append(eid)
            for i in members:
                event_id[i] = eid
    return events, event_id


def truncated_pages(items: Sequence[Item]) -> list[dict]:
    """The pages cut at ``max_chars``: id and original length in characters."""
    return [{"id": it.id, "chars": it.meta["truncated_from"]} for it in items if "truncated_from" in it.meta]


def unrecognised_languages(items: Sequence[Item]) -> list[dict]:
    """Records whose given ``lang`` is no language tag: id, the value given, and
    the language identified from the text instead (one row a record)."""
    return [
        {"id": it.doc, "given": it.meta["lang_given"], "lang": it.lang}
        for it in items
        if "lang_given" in it.meta and it.id == it.doc
    ]


class _Titled(NamedTuple):
    """What :func:`~clusterer.labels.title_of` reads of an item."""

    id: str
    kind: str
    lang: str | None
    date: str | None
    title: str | None
    snippet: str


def story_title(items: Sequence[Item], members: Sequence[int]) -> str:
    """A story's title by :func:`clusterer.labels.title_of` (the one rule), from items."""
    return (
        title_of(
            [
                _Titled(it.id, it.kind, it.lang, it.date, it.title, it.meta.get("snippet") or it.text)
                for it in (items[i] for i in members)
            ]
        )
        or ""
    )


def map_coordinates(centred: np.ndarray, fit_rows: int = 20_000, block: int = 16_384) -> np.ndarray:
    """The story map: the first two principal components of the language-centred
    vectors, one row per item, rounded to 4 decimals (zeros for fewer than two
    items). Fitted on at most ``fit_rows`` rows (a seeded sample), then applied
    ``block`` rows at a time, so that memory stays small at 200k items.
    Deterministic: the sample and the solver are seeded, sklearn fixes the signs."""
    from sklearn.decomposition import PCA

    xy = np.zeros((len(centred), 2))
    if len(centred) < 2 or centred.ndim != 2 or centred.shape[1] < 2:
        return xy
    rows = np.arange(len(centred))
    if len(rows) > fit_rows:
        rows = np.sort(np.random.default_rng(0).choice(rows, fit_rows, replace=False))
    pca = PCA(n_components=2, random_state=0).fit(np.asarray(centred[rows], dtype=np.float64))
    for lo in range(0, len(centred), block):
        xy[lo : lo + block] = pca.transform(np.asarray(centred[lo : lo + block], dtype=np.float64))
    return np.round(xy, 4)


SNIPPET_CHARS = 200  # of an item's text, kept in the result


def snippet(text: str, n: int = 80) -> str:
    """The opening words of a text, at most ``n`` characters (its blanks made one space)."""
    # the blanks of an opening made one space are the start of the whole text's so made:
    # where an opening four times as long gives more than n characters, the rest is not read
    opening = " ".join(text[: 4 * n].split())
    if len(opening) <= n and len(text) > 4 * n:
        opening = " ".join(text.split())
    return opening if len(opening) <= n else opening[: n - 1] + "…"
