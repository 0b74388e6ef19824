"""The prepare job's tasks, on the workers: parse, split and describe each input of a
block (:func:`_prepare`), and the driver's reading of the rows they give back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from ..duplicates import TextFeatures
from ..embed.cache import text_key
from ..read import RawInput, parse_input
from ..records import Item, Record, Skipped

if TYPE_CHECKING:
    import pyarrow as pa


_splitters: dict = {}  # per worker process: (max_chars, duplicates) -> Clusterer (its language model loaded once)


def _prepare(table: pa.Table, params: dict) -> pa.Table:
    """A prepare task: parse, split and describe each input of the block (one row
    per item, or one row with ``skip`` for an input that cannot be used)."""
    import pyarrow as pa

    from ..pipeline import Clusterer

    key = (params["max_chars"], params["duplicates"])
    if key not in _splitters:
        _splitters[key] = Clusterer(encoder=None, cache_embeddings=False, max_chars=key[0], duplicates=key[1])
    splitter = _splitters[key]
    out: dict[str, list] = {name: [] for name in _OUTPUT_FIELDS}

    def emit(**fields) -> None:
        for name in _OUTPUT_FIELDS:
            out[name].append(fields.get(name))

    for row in table.to_pylist():
        unit, path, line = row["unit"], row["path"], row["line"]
        if row["skip"] is not None:
            emit(unit=unit, path=path, line=line, skip=row["skip"])
            continue
        if row["record"] is not None:
            parsed: Record | Skipped = Record(**json.loads(row["record"]))
        else:
            parsed = parse_input(RawInput(path, row["data"], line))
            if isinstance(parsed, Record):
                parsed.source = path
        if isinstance(parsed, Skipped):
            emit(unit=unit, path=path, line=line, skip=json.dumps(asdict(parsed)))
            continue
        items, texts, features = splitter.prepare([parsed])
        for it, text, f in zip(items, texts, features):
            emit(
                unit=unit,
                path=path,
                line=line,
                id=it.id,
                doc=it.doc,
                kind=it.kind,
                title=it.title,
                lang=it.lang,
                date=it.date,
                url=it.url,
                source=it.source,
                meta=json.dumps(it.meta),
                key=text_key(params["model"], text),
                text=text,
                sketch=np.asarray(f.sketch, dtype=np.uint64).tobytes(),
                grams=f.grams,
                chars=f.chars,
                sentences=f.sentences,
                figures=sorted(f.figures),
                names=sorted(f.names),
            )
    return pa.table(out, schema=_OUTPUT_SCHEMA())


_OUTPUT_FIELDS = (
    "unit",
    "path",
    "line",
    "skip",
    "id",
    "doc",
    "kind",
    "title",
    "lang",
    "date",
    "url",
    "source",
    "meta",
    "key",
    "text",
    "sketch",
    "grams",
    "chars",
    "sentences",
    "figures",
    "names",
)


def _INPUT_SCHEMA():  # noqa: N802 - a constant, built when pyarrow is imported
    import pyarrow as pa

    return pa.schema(
        [
            ("unit", pa.int64()),
            ("path", pa.string()),
            ("line", pa.int64()),
            ("data", pa.binary()),
            ("record", pa.string()),
            ("skip", pa.string()),
        ]
    )


def _OUTPUT_SCHEMA():  # noqa: N802 - a constant, built when pyarrow is imported
    import pyarrow as pa

    text = {"path", "skip", "id", "doc", "kind", "title", "lang", "date", "url", "source", "meta", "key", "text"}
    types = {"unit": pa.int64(), "line": pa.int64(), "grams": pa.int64(), "chars": pa.int64()}
    types.update({"sketch": pa.binary(), "sentences": pa.binary()})
    types.update({"figures": pa.list_(pa.string()), "names": pa.list_(pa.string())})
    return pa.schema([(name, pa.string() if name in text else types[name]) for name in _OUTPUT_FIELDS])


def _units(table: pa.Table) -> Iterator[list[dict]]:
    """The rows of a prepare block, grouped by input (consecutive rows of one unit)."""
    rows = table.to_pylist()
    start = 0
    for end in range(1, len(rows) + 1):
        if end == len(rows) or rows[end]["unit"] != rows[start]["unit"]:
            yield rows[start:end]
            start = end


def _item(row: dict) -> Item:
    return Item(
        id=row["id"],
        doc=row["doc"],
        kind=row["kind"],
        text="",
        title=row["title"],
        lang=row["lang"],
        date=row["date"],
        url=row["url"],
        meta=json.loads(row["meta"]),
        source=row["source"],
    )


def _features(row: dict) -> TextFeatures:
    return TextFeatures(
        np.frombuffer(row["sketch"], dtype=np.uint64).copy(),
        row["grams"],
        row["chars"],
        row["sentences"],
        frozenset(row["figures"]),
        frozenset(row["names"]),
    )
