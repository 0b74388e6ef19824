"""What one nightly run changed: the :class:`ChangeReport` and its rows.

Plain dataclasses, so the CLI can print ``summary()`` or write ``to_dict()`` as
JSON, and the state can keep the report of every run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..report import count, printable


@dataclass
class ItemChange:
    id: str
    kind: str
    lang: str | None
    story: str | None = None
    duplicate_group: str | None = None
    previous_story: str | None = None
    previous_duplicate_group: str | None = None


@dataclass
class NewDuplicate:
    id: str
    group: str
    canonical: str


@dataclass
class GroupInfo:
    id: str
    members: list[str]
    canonical: str | None = None  # duplicate groups
    title: str | None = None  # stories
    story: str | None = None  # events: the story it lies in


@dataclass
class Merge:
    into: str
    merged: list[str]


@dataclass
class Split:
    source: str
    into: list[str]


@dataclass
class ChangeReport:
    """What one run changed. ``to_dict()`` is the JSON report; ``summary()`` the text."""

    run: int
    kind: str  # batch | update | rebuild
    state: str
    corpus: str
    model: str
    started: str = ""
    finished: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    new_items: list[ItemChange] = field(default_factory=list)
    changed_items: list[ItemChange] = field(default_factory=list)
    deleted_items: list[ItemChange] = field(default_factory=list)
    noise_placed: list[ItemChange] = field(default_factory=list)  # stored noise now in a story
    new_duplicates: list[NewDuplicate] = field(default_factory=list)
    duplicate_groups_created: list[GroupInfo] = field(default_factory=list)
    duplicate_groups_merged: list[Merge] = field(default_factory=list)
    duplicate_groups_split: list[Split] = field(default_factory=list)
    duplicate_groups_dissolved: list[str] = field(default_factory=list)
    stories_created: list[GroupInfo] = field(default_factory=list)
    stories_merged: list[Merge] = field(default_factory=list)
    stories_split: list[Split] = field(default_factory=list)
    stories_dissolved: list[str] = field(default_factory=list)
    events_created: list[GroupInfo] = field(default_factory=list)
    events_merged: list[Merge] = field(default_factory=list)
    events_split: list[Split] = field(default_factory=list)
    events_dissolved: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    kept_unread: list[str] = field(default_factory=list)  # missing, but their file was not fully read
    truncated: list[dict] = field(default_factory=list)  # pages cut at max_chars: id, original chars
    unrecognised_lang: list[dict] = field(default_factory=list)  # given lang no tag: id, given, lang
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return data

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"run {self.run} ({self.kind}) on {self.state}: {count(c.get('items', 0), 'item')}; "
            f"{c.get('new', 0)} new, {c.get('changed', 0)} changed, {c.get('deleted', 0)} deleted, "
            f"{c.get('unchanged', 0)} unchanged; {c.get('embedded', 0)} embedded; "
            f"{count(c.get('stories', 0), 'story', 'stories')}, {count(c.get('events', 0), 'event')}, "
            f"{count(c.get('duplicate_groups', 0), 'duplicate group')}"
        ]

        def section(title, rows):
            if rows:
                lines.append(f"{title} ({len(rows)})")
                lines.extend("  " + printable(r) for r in rows[:50])
                if len(rows) > 50:
                    lines.append(f"  … and {len(rows) - 50} more")

        def where(ch: ItemChange) -> str:
            return f"story {ch.story or '-'}, dup {ch.duplicate_group or '-'}"

        section("New items", [f"{ch.id} [{ch.lang or '?'}, {ch.kind}]: {where(ch)}" for ch in self.new_items])
        section(
            "Changed items",
            [
                f"{ch.id}: {where(ch)} (was story {ch.previous_story or '-'}, dup {ch.previous_duplicate_group or '-'})"
                for ch in self.changed_items
            ],
        )
        section(
            "Deleted items",
            [
                f"{ch.id} (was story {ch.previous_story or '-'}, dup {ch.previous_duplicate_group or '-'})"
                for ch in self.deleted_items
            ],
        )
        section(
            "Noise placed in a story",
            [f"{ch.id} [{ch.lang or '?'}, {ch.kind}]: story {ch.story}" for ch in self.noise_placed],
        )
        section("New duplicates", [f"{d.id} -> {d.canonical} ({d.group})" for d in self.new_duplicates])
        section(
            "Duplicate groups created",
            [f"{g.id}: {', '.join(g.members)} (keep {g.canonical})" for g in self.duplicate_groups_created],
        )
        section("Duplicate groups merged", [f"{', '.join(m.merged)} -> {m.into}" for m in self.duplicate_groups_merged])
        section("Duplicate groups split", [f"{s.source} -> {', '.join(s.into)}" for s in self.duplicate_groups_split])
        section("Duplicate groups dissolved", list(self.duplicate_groups_dissolved))
        section(
            "Stories created",
            [f"{s.id}: {s.title or '(untitled)'} ({len(s.members)} items)" for s in self.stories_created],
        )
        section("Stories merged", [f"{', '.join(m.merged)} -> {m.into}" for m in self.stories_merged])
        section("Stories split", [f"{s.source} -> {', '.join(s.into)}" for s in self.stories_split])
        section("Stories dissolved", list(self.stories_dissolved))
        section(
            "Events created",
            [f"{e.id} in story {e.story or '-'}: {', '.join(e.members)}" for e in self.events_created],
        )
        section("Events merged", [f"{', '.join(m.merged)} -> {m.into}" for m in self.events_merged])
        section("Events split", [f"{s.source} -> {', '.join(s.into)}" for s in self.events_split])
        section("Events dissolved", list(self.events_dissolved))
        section("Kept, not deleted: missing, but their file could not be fully read tonight", list(self.kept_unread))
        section(
            "Cut short (only their beginning was read; see --max-chars)",
            [f"{t['id']}: {t['chars']:,} characters" for t in self.truncated],
        )
        section(
            "Language not recognised (identified from the text instead)",
            [f"{u['id']}: lang {u['given']!r} -> {u['lang'] or '?'}" for u in self.unrecognised_lang],
        )
        section(
            "Skipped",
            [f"{s['path']}{':' + str(s['line']) if s.get('line') else ''}: {s['reason']}" for s in self.skipped],
        )
        return "\n".join(lines)
