"""Result types: plain dataclasses the CLI serialises as they are."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from .records import Skipped


@dataclass
class ItemResult:
    id: str
    doc: str
    kind: str
    lang: Optional[str]
    title: Optional[str]
    date: Optional[str] = None
    url: Optional[str] = None
    story: Optional[str] = None
    duplicate_group: Optional[str] = None


@dataclass
class Story:
    id: str
    title: Optional[str]
    members: List[str]
    languages: List[str]
    articles: int
    teasers: int = 0

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class DuplicateGroup:
    id: str
    members: List[str]
    canonical: str
    languages: List[str]
    story: Optional[str] = None
    # the pairs that made the group, each with its evidence: ids ``a`` and ``b``,
    # ``cosine`` (language-centred), ``overlap`` and ``containment`` (same language:
    # word pairs in common, and the share of the shorter text's found in the other) and, where the sentence alignment
    # ran, ``aligned_sentences`` and ``aligned_share``
    evidence: List[dict] = field(default_factory=list)


@dataclass
class ClusterResult:
    items: List[ItemResult]
    stories: List[Story]
    duplicate_groups: List[DuplicateGroup]
    skipped: List[Skipped] = field(default_factory=list)
    model: str = ""
    truncated: List[dict] = field(default_factory=list)  # pages cut at max_chars: id, original chars
    unrecognised_lang: List[dict] = field(default_factory=list)  # given lang no tag: id, given, lang
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def noise(self) -> List[str]:
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
