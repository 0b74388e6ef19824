"""The routes of ``cluster serve`` (FastAPI): ``POST /items``, ``GET /items/{id}``,
``GET /stories/{id}``, ``GET /stories?since=…``, ``GET /healthz`` and the story
browser at ``/``. Writes go through the :class:`~.writer.Writer`, one at a time;
reads answer from the feed's memory. Every refusal is JSON ``{"error": "one line"}``."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ClustererError, CorpusError, StateLocked
from ..nightly.feed import Feed
from ..output.browser import render_html
from .auth import authorised
from .validation import DEFAULT_MAX_BODY, BadRequest, parse_records, too_large
from .writer import Writer

RETRY_AFTER = "5"  # seconds, when another process holds the state's lock


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _Page:
    """The story browser of the state as of one run, built again once a run has passed."""

    def __init__(self, feed: Feed, title: str):
        self.feed, self.title = feed, title
        self._run: int | None = None
        self._html = ""
        self._lock = threading.Lock()

    def html(self) -> str:
        with self._lock:
            run = self.feed.run
            if run != self._run or not self._html:
                self._html = render_html(self.feed.result(), title=self.title)
                self._run = run
            return self._html


def create_app(
    feed: Feed, writer: Writer, token: str | None = None, max_body: int = DEFAULT_MAX_BODY, title: str | None = None
) -> FastAPI:
    """The service over ``feed`` (already opened), writing through ``writer`` (started)."""
    app = FastAPI(title="clusterer", docs_url=None, redoc_url=None, openapi_url=None)
    page = _Page(feed, title or f"Stories in {feed.state_path}")

    @app.middleware("http")
    async def bearer(request: Request, call_next):
        if request.url.path != "/healthz" and not authorised(request.headers.get("authorization"), token):
            return error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
        return error(400, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail))

    @app.post("/items")
    async def post_items(request: Request):
        try:
            records = parse_records(await _body(request, max_body))
        except BadRequest as exc:
            return error(exc.status, str(exc))
        try:
            added = await asyncio.wrap_future(writer.submit(lambda: feed.add(records)))
        except CorpusError as exc:
            return error(400, str(exc))
        except StateLocked as exc:
            return error(503, str(exc), {"Retry-After": RETRY_AFTER})
        except ClustererError as exc:
            return error(500, str(exc))
        return asdict(added)

    @app.get("/items/{item_id:path}")
    def get_item(item_id: str):
        info = feed.item(item_id)
        if info is None:
            return error(404, f"no item {item_id!r}")
        return asdict(info)

    @app.get("/stories/{story_id}")
    def get_story(story_id: str):
        info = feed.story(story_id)
        if info is None:
            return error(404, f"no story {story_id!r}")
        return asdict(info)

    @app.get("/stories")
    def list_stories(since: str | None = None, limit: int = 100):
        if limit < 1:
            return error(400, "limit: must be 1 or more")
        try:
            found = feed.stories(since, limit)
        except ValueError as exc:
            return error(400, str(exc))
        return {"stories": [_summary(s) for s in found]}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "state": str(feed.state_path), "run": feed.run, "queued": writer.waiting}

    @app.get("/", response_class=HTMLResponse)
    def browser():
        return HTMLResponse(page.html())

    return app


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes without reading on."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _summary(story) -> dict[str, Any]:
    out = asdict(story)
    for key in ("members", "events", "duplicate_groups"):
        out.pop(key)
    return out
