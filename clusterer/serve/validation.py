"""What a ``POST /items`` body may hold: one JSONL record (a JSON object) or a JSON
list of them, each with string ``id`` and ``text``; other fields are ignored. Every
failure is a :class:`BadRequest` with a one-line message and its HTTP status."""

from __future__ import annotations

import json

from ..read import record_from_object
from ..records import Record

DEFAULT_MAX_BODY = 8 * 1024 * 1024  # bytes
MAX_ITEMS = 1000  # records in one request


class BadRequest(ValueError):
    """A request refused before anything is done: ``status`` and a one-line message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def too_large(limit: int) -> BadRequest:
    return BadRequest(f"request body over {limit} bytes; send fewer or shorter records at a time", 413)


def parse_records(body: bytes, max_items: int = MAX_ITEMS) -> list[Record]:
    """The records of a request body, in order. BadRequest for anything else."""
    if not body.strip():
        raise BadRequest("empty body: send a JSON record, or a list of them")
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    many = isinstance(data, list)
    objects = data if many else [data]
    if not objects:
        raise BadRequest("an empty list: send at least one record")
    if len(objects) > max_items:
        raise BadRequest(f"{len(objects)} records in one request; at most {max_items}", 413)
    records = []
    for k, obj in enumerate(objects):
        try:
            records.append(record_from_object(obj))
        except ValueError as exc:
            raise BadRequest(f"record {k}: {exc}" if many else str(exc)) from None
    return records
