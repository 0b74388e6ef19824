"""Reporting a result: the readable terminal summary and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from .atomic import atomic_write
from .records import TEASER
from .result import ClusterResult


def printable(text: str) -> str:
    """``text`` with control characters escaped (a newline in a file name stays on one line)."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def count(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the word in the number it needs: "1 story", "2 stories"."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def summary(result: ClusterResult, max_members: int = 12) -> str:
    """A readable summary: stories with titles, languages and members; duplicate
    groups; noise; skipped inputs."""
    by_id = {it.id: it for it in result.items}
    lines: list[str] = []
    n_items = len(result.items)
    n_teasers = sum(1 for it in result.items if it.kind == TEASER)
    lines.append(
        f"{count(n_items, 'item')} ({count(n_items - n_teasers, 'article')}, "
        f"{count(n_teasers, 'teaser')}), {count(len(result.stories), 'story', 'stories')}, "
        f"{count(len(result.duplicate_groups), 'duplicate group')}, {len(result.noise)} noise"
    )
    if result.stories:
        lines.append("")
        lines.append("Stories")
    for story in result.stories:
        lines.append(f"  [{story.id}] {printable(story.title or '(untitled)')}")
        lines.append(
            f"      {count(story.articles, 'article')}, {count(story.teasers, 'teaser')}"
            + (f", {count(len(story.events), 'event')}" if len(story.events) > 1 else "")
            + f"; languages: {', '.join(story.languages)}"
        )
        if story.keywords:
            lines.append(f"      keywords: {printable(', '.join(story.keywords))}")
        lines.extend(_story_members(result, story, by_id, max_members))
    if result.duplicate_groups:
        lines.append("")
        lines.append("Duplicate groups")
    for group in result.duplicate_groups:
        lines.append(
            f"  [{group.id}] {', '.join(printable(m) for m in group.members)}  "
            f"(languages: {', '.join(group.languages)}; keep {printable(group.canonical)})"
        )
    noise = result.noise
    if noise:
        lines.append("")
        lines.append(f"Noise: {count(len(noise), 'item')} ({sum(1 for i in noise if by_id[i].kind == TEASER)} teasers)")
    if result.truncated:
        lines.append("")
        lines.append(
            f"Cut short {count(len(result.truncated), 'page')} (only their beginning was read; see --max-chars)"
        )
        for t in result.truncated[:max_members]:
            lines.append(f"  {printable(t['id'])}: {t['chars']:,} characters")
    if result.unrecognised_lang:
        lines.append("")
        lines.append(
            f"Language not recognised in {count(len(result.unrecognised_lang), 'record')} "
            "(identified from the text instead)"
        )
        for u in result.unrecognised_lang[:max_members]:
            lines.append(f"  {printable(u['id'])}: lang {printable(repr(u['given']))} -> {u['lang'] or '?'}")
    if result.skipped:
        lines.append("")
        lines.append(f"Skipped {count(len(result.skipped), 'input')}")
        for s in result.skipped:
            lines.append(f"  {printable(str(s))}")
    return "\n".join(lines)


def _levels(a: dict, b: dict) -> list[str]:
    """Whether two items share a story and an event (nothing where either is in no story)."""
    if not a.get("story") or not b.get("story"):
        return []
    if a["story"] != b["story"]:
        return [f"Different stories ({a['story']}, {b['story']})."]
    if a.get("event") and a.get("event") == b.get("event"):
        return [f"One story ({a['story']}), one event ({a['event']}): the same occurrence."]
    if a.get("event") and b.get("event"):
        return [f"One story ({a['story']}), two of its events ({a['event']}, {b['event']})."]
    return [f"One story ({a['story']})."]


def _story_members(result: ClusterResult, story, by_id: dict, max_members: int) -> list[str]:
    """A story's members, event by event (each with its date and title) where the
    result has events, then its teasers; at most ``max_members`` member lines."""
    events = {e.id: e for e in result.events}
    blocks: list[tuple[str | None, list[str]]] = [(eid, events[eid].members) for eid in story.events if eid in events]
    listed = {m for _, members in blocks for m in members}
    rest = [m for m in story.members if m not in listed]
    if rest:
        blocks.append((None, rest))
    lines: list[str] = []
    shown = 0
    for eid, members in blocks:
        if shown >= max_members:
            break
        if eid is not None and len(story.events) > 1:
            e = events[eid]
            lines.append(f"      ({eid}) {e.first_date or 'undated'}: {printable(e.title or '(untitled)')}")
        for member in members[: max_members - shown]:
            it = by_id[member]
            dup = f"  (duplicate group {it.duplicate_group})" if it.duplicate_group else ""
            lines.append(f"      - {printable(member)} [{it.lang or '?'}]{dup}")
            shown += 1
    if len(story.members) > shown:
        lines.append(f"      … and {len(story.members) - shown} more")
    return lines


def write_json_atomic(data: dict, path: str | Path) -> None:
    """Write JSON to ``path`` so that a reader never sees half a file."""

    def write(fh):
        json.dump(data, fh, ensure_ascii=False, indent=2)
        fh.write("\n")

    atomic_write(path, write)


def write_json(result: ClusterResult, path: str | Path) -> None:
    write_json_atomic(result.to_dict(), path)


_EVIDENCE_LABELS = [
    ("cosine", "language-centred cosine"),
    ("overlap", "word pairs in common (Jaccard)"),
    ("containment", "share of the shorter text's word pairs found in the other"),
    ("aligned_sentences", "sentences aligned, in order"),
    ("aligned_not_headlines", "of which sentences, not headlines"),
    ("aligned_share", "share of the shorter text's sentences aligned"),
    ("aligned_similarity", "mean centred cosine of the aligned sentences"),
    ("differing_sentences", "sentence matches left out: their figures (or names) differ"),
    ("figures_in_common", "share of figures in common"),
    ("names_in_common", "share of names in common (of the fewer)"),
    ("same_figures", "same language: share of figures in common (of the fewer)"),
]


def explain_pair(data: dict, a: str, b: str) -> str:
    """Why two items of a result (the JSON ``--out`` writes, or ``cluster eval``'s)
    are, or are not, one duplicate group, from the evidence the result keeps."""
    data = data.get("result", data)
    items = {it["id"]: it for it in data.get("items", [])}
    for item_id in (a, b):
        if item_id not in items:
            raise KeyError(item_id)
    lines = []
    for item_id in (a, b):
        it = items[item_id]
        lines.append(
            f"{item_id}: {it['kind']}, language {it.get('lang') or '?'}, story {it.get('story') or '-'}, "
            f"event {it.get('event') or '-'}, duplicate group {it.get('duplicate_group') or '-'}"
        )
    lines.extend(_levels(items[a], items[b]))
    group_a, group_b = items[a].get("duplicate_group"), items[b].get("duplicate_group")
    if group_a is None or group_a != group_b:
        lines.append(
            "Not one duplicate group: no test passed for this pair, or it was not among the "
            "pairs compared (each item's nearest neighbours)."
        )
        return "\n".join(lines)
    [group] = [g for g in data.get("duplicate_groups", []) if g["id"] == group_a]
    pair = tuple(sorted((a, b)))
    found = [e for e in group.get("evidence", []) if (e["a"], e["b"]) == pair]
    if not found:
        lines.append(f"One duplicate group ({group_a}), joined through other members; the pairs that made it:")
        for e in group.get("evidence", []):
            lines.append(f"  {e['a']} ~ {e['b']}")
        return "\n".join(lines)
    lines.append(f"One duplicate group ({group_a}); the evidence for this pair:")
    e = found[0]
    lines.append(f"  {'same language' if e['same_language'] else 'different languages'}")
    for key, label in _EVIDENCE_LABELS:
        if key in e:
            lines.append(f"  {label}: {e[key]}")
    return "\n".join(lines)
