"""Reporting a result: the readable terminal summary and the JSON file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

from .atomic import atomic_write
from .result import ClusterResult


def summary(result: ClusterResult, max_members: int = 12) -> str:
    """A readable summary: stories with titles, languages and members; duplicate
    groups; noise; skipped inputs."""
    by_id = {it.id: it for it in result.items}
    lines: List[str] = []
    n_items = len(result.items)
    n_teasers = sum(1 for it in result.items if it.kind == "teaser")
    lines.append(f"{n_items} items ({n_items - n_teasers} articles, {n_teasers} teasers), "
                 f"{len(result.stories)} stories, {len(result.duplicate_groups)} duplicate groups, "
                 f"{len(result.noise)} noise")
    if result.stories:
        lines.append("")
        lines.append("Stories")
    for story in result.stories:
        lines.append(f"  [{story.id}] {story.title or '(untitled)'}")
        lines.append(f"      {story.articles} articles, {story.teasers} teasers; "
                     f"languages: {', '.join(story.languages)}")
        for member in story.members[:max_members]:
            it = by_id[member]
            dup = f"  (duplicate group {it.duplicate_group})" if it.duplicate_group else ""
            lines.append(f"      - {member} [{it.lang or '?'}]{dup}")
        if len(story.members) > max_members:
            lines.append(f"      … and {len(story.members) - max_members} more")
    if result.duplicate_groups:
        lines.append("")
        lines.append("Duplicate groups")
    for group in result.duplicate_groups:
        lines.append(f"  [{group.id}] {', '.join(group.members)}  "
                     f"(languages: {', '.join(group.languages)}; keep {group.canonical})")
    noise = result.noise
    if noise:
        lines.append("")
        lines.append(f"Noise: {len(noise)} items "
                     f"({sum(1 for i in noise if by_id[i].kind == 'teaser')} teasers)")
    if result.skipped:
        lines.append("")
        lines.append(f"Skipped {len(result.skipped)} inputs")
        for s in result.skipped:
            lines.append(f"  {s}")
    return "\n".join(lines)


def write_json_atomic(data: dict, path: str | Path) -> None:
    """Write JSON to ``path`` so that a reader never sees half a file."""
    def write(fh):
        json.dump(data, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    atomic_write(path, write)


def write_json(result: ClusterResult, path: str | Path) -> None:
    write_json_atomic(result.to_dict(), path)
