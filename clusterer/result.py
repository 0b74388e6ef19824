"""Result types: plain dataclasses the CLI serialises as they are."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .records import Skipped


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

    @property
    def size(self) -> int:
        return len(self.members)


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
    # ran, ``aligned_sentences`` and ``aligned_share``
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
