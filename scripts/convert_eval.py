"""Convert the external evaluation sets in ../shared/eval/ to clusterer's gold formats.

    python scripts/convert_eval.py --shared ../shared --out eval_data

Writes (the output folder is git-ignored; the data never enters the repo):

- ``itn.jsonl``: records gold from ``itn_wikipedia_blurbs/docs.jsonl``, one
  line per blurb, in the source order: ``id, lang, title, text, date`` (date
  only when the source has one), ``story`` = the source ``label`` and ``dup``.

  ``dup`` rule. The source dropped exact repeats but kept near-duplicate
  revisions of a blurb ("(pictured)" removed, a death toll updated), which the
  source README says serve as near-duplicate positives. Two blurbs are linked
  when they have the same ``label``, the same ``lang`` and
  ``difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.8`` on
  their lowercased, whitespace-collapsed texts, ``a`` being the blurb that
  comes first in the file. Groups are the connected
  components of these links (union-find); a group of two or more gets the id
  ``dup:<id of its first member in file order>``, every other blurb gets
  ``dup: null``. Blurbs in different languages are never duplicates here:
  each Wikipedia edition writes its own blurb, they are not translations.
  (On the 2023-04-14 corpus no group has a pair below ratio 0.6, so chaining
  does not join unrelated blurbs.)

- ``semeval_en.jsonl`` and ``semeval_ml.jsonl``: the SemEval-2022 Task 8
  pairs, validated and kept as they are, one pair per line:
  ``{"id1","id2","lang1","lang2","text1","text2","score"}`` (score = gold
  Overall, 1 similar .. 4 dissimilar), in the source order. No separate
  articles file is written: a few multilingual article ids carry two different
  texts, so ``clusterer.evaluation.gold.distinct_texts`` deduplicates by text, which
  lets a pairs evaluation embed each distinct text once.

- ``wmt.jsonl``: the WMT news articles and their human translations from
  ``wmt_news_translations/docs.jsonl`` as records gold, in the source order:
  ``id, text`` and ``dup`` (the source ``dup``: an article and its
  translations). ``lang`` is left out on purpose, as real users' records come
  without it, so language identification is part of what is measured; WMT
  gives no dates and no story labels, so ``story`` is null everywhere and only
  the duplicate figures of this set mean anything.

- ``seeds.jsonl``: the five raw pages of ``seeds/`` as records (id = file
  name, text = the page as saved, teasers and all), labelled as
  ``seeds/README.md`` says a correct run must come out: one story of the five,
  one duplicate group {000, 003}.

Prints counts per set. Output is deterministic (same input, same bytes).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

DUP_RATIO = 0.8
ITN_SOURCE = Path("eval/itn_wikipedia_blurbs/docs.jsonl")
WMT_SOURCE = Path("eval/wmt_news_translations/docs.jsonl")
PAIR_SOURCES = {
    "semeval_en.jsonl": Path("eval/semeval2022_task8_en_en/pairs.jsonl"),
    "semeval_ml.jsonl": Path("eval/semeval2022_task8_multilingual_mtnoisy/pairs.jsonl"),
}
PAIR_KEYS = ("id1", "id2", "lang1", "lang2", "text1", "text2", "score")


class ConvertError(Exception):
    """The source data is missing or not in the expected shape."""


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise ConvertError(f"{path}: not found")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConvertError(f"{path}:{number}: bad JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ConvertError(f"{path}:{number}: not a JSON object")
            rows.append(row)
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def near_duplicate_groups(rows: list[dict], ratio: float = DUP_RATIO) -> dict[str, str]:
    """Map id -> dup group id for blurbs in a group of two or more (rule: module doc)."""
    parent = {row["id"]: row["id"] for row in rows}

    def find(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    buckets: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        buckets[(row["label"], row["lang"])].append(row)
    for members in buckets.values():
        texts = [_normalise(row["text"]) for row in members]
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                matcher.set_seqs(texts[i], texts[j])  # ratio is not symmetric: earlier first
                if matcher.real_quick_ratio() < ratio or matcher.quick_ratio() < ratio:
                    continue
                if matcher.ratio() >= ratio:
                    a, b = find(members[i]["id"]), find(members[j]["id"])
                    if a != b:
                        parent[b] = a
    components: dict[str, list[str]] = defaultdict(list)
    for row in rows:  # file order, so the first member names the group
        components[find(row["id"])].append(row["id"])
    groups: dict[str, str] = {}
    for ids in components.values():
        if len(ids) > 1:
            for item in ids:
                groups[item] = f"dup:{ids[0]}"
    return groups


def convert_itn(source: Path, target: Path) -> dict:
    """Write the ITN records gold; return its counts."""
    rows = _read_jsonl(source)
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        for key in ("id", "lang", "text", "label"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise ConvertError(f"{source}: record {number}: '{key}' missing or empty")
        if row["id"] in seen:
            raise ConvertError(f"{source}: record {number}: id {row['id']!r} repeats")
        seen.add(row["id"])
    groups = near_duplicate_groups(rows)
    out = []
    for row in rows:
        record = {"id": row["id"], "lang": row["lang"], "title": row.get("title"), "text": row["text"]}
        if row.get("date"):
            record["date"] = row["date"]
        record["story"] = row["label"]
        record["dup"] = groups.get(row["id"])
        out.append(record)
    _write_jsonl(target, out)
    return {
        "items": len(out),
        "stories": len({row["label"] for row in rows}),
        "languages": len({row["lang"] for row in rows}),
        "dup_groups": len(set(groups.values())),
        "dup_items": len(groups),
    }


def convert_pairs(source: Path, target: Path) -> dict:
    """Validate a SemEval pairs file and write it unchanged in shape; return counts."""
    rows = _read_jsonl(source)
    out = []
    for number, row in enumerate(rows, start=1):
        missing = [key for key in PAIR_KEYS if key not in row]
        if missing:
            raise ConvertError(f"{source}: pair {number}: missing {', '.join(missing)}")
        for key in ("id1", "id2", "text1", "text2"):
            if not isinstance(row[key], str) or not row[key].strip():
                raise ConvertError(f"{source}: pair {number}: '{key}' empty or not a string")
        score = row["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 1 <= score <= 4:
            raise ConvertError(f"{source}: pair {number}: score {score!r} not in 1..4")
        out.append({key: row[key] for key in PAIR_KEYS})
    _write_jsonl(target, out)
    languages = Counter(f"{row['lang1']}-{row['lang2']}" for row in out)
    return {
        "pairs": len(out),
        "articles": len({row[k] for row in out for k in ("id1", "id2")}),
        "distinct_texts": len({row[k] for row in out for k in ("text1", "text2")}),
        "positive (<=1.5)": sum(row["score"] <= 1.5 for row in out),
        "negative (>=3.5)": sum(row["score"] >= 3.5 for row in out),
        "language_pairs": dict(sorted(languages.items())),
    }


def convert_wmt(source: Path, target: Path) -> dict:
    """Write the WMT translations gold (duplicates only, no language given); return its counts."""
    rows = _read_jsonl(source)
    seen: set[str] = set()
    out = []
    for number, row in enumerate(rows, start=1):
        for key in ("id", "text", "dup"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise ConvertError(f"{source}: record {number}: '{key}' missing or empty")
        if row["id"] in seen:
            raise ConvertError(f"{source}: record {number}: id {row['id']!r} repeats")
        seen.add(row["id"])
        out.append({"id": row["id"], "text": row["text"], "story": None, "dup": row["dup"]})
    _write_jsonl(target, out)
    return {
        "items": len(out),
        "dup_groups": len({row["dup"] for row in out}),
        "languages": len({row.get("lang") for row in rows}),
    }


SEEDS_DUPLICATES = ("000_", "003_")  # seeds/README.md: the one duplicate group


def convert_seeds(seeds: Path, dest: Path) -> dict:
    """The seed pages as a gold corpus: one story, one duplicate group (per seeds/README.md)."""
    pages = sorted(p for p in seeds.glob("*.txt"))
    if len(pages) != 5:
        raise ConvertError(f"expected the 5 seed pages in {seeds}, found {len(pages)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as fh:
        for page in pages:
            dup = "dup:000-003" if page.name.startswith(SEEDS_DUPLICATES) else None
            fh.write(
                json.dumps(
                    {
                        "id": page.name,
                        "text": page.read_text(encoding="utf-8"),
                        "story": "vn-ru-e-government",
                        "dup": dup,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    return {"items": len(pages), "stories": 1, "dup_groups": 1}


def convert_all(shared: Path, out: Path) -> dict[str, dict]:
    """Convert every set; return counts per output file name."""
    counts = {
        "itn.jsonl": convert_itn(shared / ITN_SOURCE, out / "itn.jsonl"),
        "wmt.jsonl": convert_wmt(shared / WMT_SOURCE, out / "wmt.jsonl"),
        "seeds.jsonl": convert_seeds(shared / "seeds", out / "seeds.jsonl"),
    }
    for name, source in PAIR_SOURCES.items():
        counts[name] = convert_pairs(shared / source, out / name)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path("../shared"),
        help="the shared data folder holding eval/ (default ../shared)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("eval_data"), help="output folder, git-ignored (default eval_data)"
    )
    args = parser.parse_args(argv)
    try:
        counts = convert_all(args.shared, args.out)
    except ConvertError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, figures in counts.items():
        shown = ", ".join(f"{key} {value}" for key, value in figures.items())
        print(f"{args.out / name}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
