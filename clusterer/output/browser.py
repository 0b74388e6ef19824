"""The story browser: a result as one self-contained HTML page.

The page holds the result as JSON (a ``<script type="application/json">`` block)
and the script and style that show it, inline: it opens from disk, offline, with
no server and nothing fetched. It lists the stories (title, languages, dates,
size; filters by language, dates and text; sorted by size or date), opens one
on its events in time order, each with its duplicate groups (and their evidence)
and its other articles, then the story's teasers, and draws a timeline of the stories and a map of the items (the
``x``/``y`` the pipeline gives each item). Noise is listed apart: teasers, and
strays (articles in no story). Given a nightly run's
:class:`~clusterer.nightly.changes.ChangeReport`, a "Tonight" panel on top lists what
the run changed; a story id there opens the story.

The JSON is column-wise (one list per field, items referred to by position) so
that a result of 200,000 items stays a file the browser parses in a moment.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from pathlib import Path

from ..atomic import atomic_write
from ..nightly.changes import ChangeReport
from ..records import TEASER, day_number
from ..result import ClusterResult

DEFAULT_TITLE = "Story browser"

# the page may load nothing: no script, style, font or image from anywhere
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _asset(name: str) -> str:
    return resources.files("clusterer").joinpath("data", name).read_text(encoding="utf-8")


def _day(date: str | None) -> int | None:
    day = day_number(date)
    return None if day is None else math.floor(day)


def _coordinate(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def browser_data(result: ClusterResult, changes: ChangeReport | None = None) -> dict:
    """The result in the shape the page reads: items column-wise, stories and
    duplicate groups referring to items and languages by position; with
    ``changes``, a ``changes`` block too (:func:`changes_data`)."""
    items = result.items
    position = {it.id: k for k, it in enumerate(items)}
    langs = sorted(
        {it.lang or "?" for it in items}
        | {lang for s in result.stories for lang in s.languages}
        | {lang for g in result.duplicate_groups for lang in g.languages}
    )
    lang_code = {lang: k for k, lang in enumerate(langs)}
    story_pos = {s.id: k for k, s in enumerate(result.stories)}
    group_pos = {g.id: k for k, g in enumerate(result.duplicate_groups)}
    days = [_day(it.date) for it in items]
    columns = {
        "id": [it.id for it in items],
        "kind": "".join("t" if it.kind == TEASER else "a" for it in items),
        "lang": [lang_code[it.lang or "?"] for it in items],
        "title": [it.title or "" for it in items],
        "date": [it.date or "" for it in items],
        "day": days,
        "url": [it.url or "" for it in items],
        "snippet": [it.snippet or "" for it in items],
        "story": [story_pos.get(it.story, -1) if it.story else -1 for it in items],
        "group": [group_pos.get(it.duplicate_group, -1) if it.duplicate_group else -1 for it in items],
        "x": [_coordinate(it.x) for it in items],
        "y": [_coordinate(it.y) for it in items],
    }
    groups_of: dict[str, list[int]] = {}
    for k, g in enumerate(result.duplicate_groups):
        if g.story is not None:
            groups_of.setdefault(g.story, []).append(k)
    event_pos = {e.id: k for k, e in enumerate(result.events)}
    groups_in: dict[str, list[int]] = {}  # event id -> its duplicate groups (a group lies in one event)
    for k, g in enumerate(result.duplicate_groups):
        first = items[position[g.members[0]]] if g.members and g.members[0] in position else None
        if first is not None and first.event is not None:
            groups_in.setdefault(first.event, []).append(k)
    events = []
    for e in result.events:
        members = [position[m] for m in e.members if m in position]
        dated = [d for d in (days[i] for i in members) if d is not None]
        events.append(
            {
                "id": e.id,
                "title": e.title or "",
                "keywords": e.keywords,
                "members": members,
                "langs": [lang_code[lang] for lang in e.languages],
                "start": min(dated) if dated else None,
                "end": max(dated) if dated else None,
                "groups": groups_in.get(e.id, []),
            }
        )
    stories = []
    for s in result.stories:
        members = [position[m] for m in s.members if m in position]
        dated = [d for d in (days[i] for i in members) if d is not None]
        stories.append(
            {
                "id": s.id,
                "title": s.title or "",
                "keywords": s.keywords,
                "members": members,
                "langs": [lang_code[lang] for lang in s.languages],
                "articles": s.articles,
                "teasers": s.teasers,
                "start": min(dated) if dated else None,
                "end": max(dated) if dated else None,
                "groups": groups_of.get(s.id, []),
                "events": [event_pos[e] for e in s.events if e in event_pos],  # in time order
            }
        )
    groups = []
    for g in result.duplicate_groups:
        evidence = [
            {**e, "a": position.get(str(e.get("a")), e.get("a")), "b": position.get(str(e.get("b")), e.get("b"))}
            for e in g.evidence
        ]
        groups.append(
            {
                "id": g.id,
                "members": [position[m] for m in g.members if m in position],
                "canonical": position.get(g.canonical, -1),
                "langs": [lang_code[lang] for lang in g.languages],
                "story": story_pos.get(g.story, -1) if g.story else -1,
                "evidence": evidence,
            }
        )
    data = {
        "model": result.model,
        "langs": langs,
        "items": columns,
        "stories": stories,
        "groups": groups,
        "events": events,
    }
    if changes is not None:
        data["changes"] = changes_data(changes, position)
    return data


def changes_data(report: ChangeReport, position: dict[str, int]) -> dict:
    """What the Tonight panel lists: the report's counts line, its new items (with
    their story and duplicate group), new duplicates (item, canonical, group),
    stories created (id, title, size) and merged (into, ids merged), deleted
    items (with their previous story and group) and kept-unread items. Items
    are referred to by position where the result has them (``position``), else
    by id (a deleted item); stories by id."""

    def ref(item_id: str):
        return position.get(item_id, item_id)

    return {
        "run": report.run,
        "kind": report.kind,
        "finished": report.finished,
        "line": report.summary().partition("\n")[0],  # the summary opens with the counts
        "new_items": [[ref(c.id), c.story, c.duplicate_group] for c in report.new_items],
        "new_duplicates": [[ref(d.id), ref(d.canonical), d.group] for d in report.new_duplicates],
        "stories_created": [[s.id, s.title or "", len(s.members)] for s in report.stories_created],
        "stories_merged": [[m.into, m.merged] for m in report.stories_merged],
        "deleted_items": [[c.id, c.previous_story, c.previous_duplicate_group] for c in report.deleted_items],
        "kept_unread": [ref(i) for i in report.kept_unread],
    }


def script_json(data) -> str:
    """JSON that can sit inside a ``<script>`` element: every ``<`` escaped, so no
    text of the result can close the element (``</script>``) or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def render_html(result: ClusterResult, title: str = DEFAULT_TITLE, changes: ChangeReport | None = None) -> str:
    """The whole page as one string (with a Tonight panel given ``changes``)."""
    js, css = _asset("browser.js"), _asset("browser.css")
    head = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
"""
    body = f"""</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1><div id="summary"></div></header>
<div id="controls">
  <label>Language <select id="f-lang"></select></label>
  <label>From <input type="date" id="f-from"></label>
  <label>To <input type="date" id="f-to"></label>
  <label>Search <input type="search" id="f-text" placeholder="words of titles, texts, ids or links"></label>
  <label>Sort <select id="f-sort">
    <option value="size">largest first</option>
    <option value="newest">newest first</option>
    <option value="oldest">oldest first</option>
  </select></label>
  <button id="f-clear" type="button">Clear filters</button>
</div>
<div id="viz">
  <div class="panel"><h3>Timeline</h3><svg id="timeline"></svg><div class="caption" id="timeline-caption"></div></div>
  <div class="panel"><h3>Map</h3><canvas id="map"></canvas><div class="caption" id="map-caption"></div></div>
</div>
<div id="main">
  <div id="tabs">
    <button id="tab-stories" type="button">Stories</button><button id="tab-noise" type="button">Noise</button>
  </div>
  <div id="stories-view">
    <div class="panel"><div class="pager" id="story-pager"></div><ul class="list" id="story-list"></ul></div>
    <div class="panel" id="detail"></div>
  </div>
  <div id="noise-view" hidden>
    <div class="panel"><h3>Teasers in no story</h3>
      <div class="pager" id="teaser-pager"></div><div id="teaser-list"></div></div>
    <div class="panel"><h3>Strays: articles in no story</h3>
      <div class="pager" id="stray-pager"></div><div id="stray-list"></div></div>
  </div>
</div>
<script type="application/json" id="result-data">"""
    return "".join(
        [
            head,
            css,
            body,
            script_json(browser_data(result, changes)),
            "</script>\n<script>\n",
            js,
            "</script>\n</body>\n</html>\n",
        ]
    )


def write_html(result: ClusterResult, path, title: str = DEFAULT_TITLE, changes: ChangeReport | None = None) -> None:
    """Write the story browser for ``result`` to ``path`` (atomically: a reader
    never sees half a page); given a nightly run's ``changes``, with its Tonight
    panel on top."""
    page = render_html(result, title=title, changes=changes)

    def write(fh) -> None:
        fh.write(page)

    atomic_write(Path(path), write)
