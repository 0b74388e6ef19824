"""Evaluation: gold loading, clustering metrics and the SemEval pair report.

Pure functions over plain dicts, plus two loaders. Nothing here runs the
pipeline; a benchmark script runs it and hands the results to
:func:`evaluate`.

Gold format (JSONL, one object per line): the input record fields (``id``,
``text``, optional ``title``, ``lang``, ``date``, ``url``), ``story`` (string,
or null for noise, i.e. an item that belongs to no story) and optional ``dup``
(duplicate group id, or null for an item that is nobody's duplicate).

Pairs gold format (JSONL): ``{"id1", "id2", "lang1", "lang2", "text1",
"text2", "score"}`` where ``score`` is the SemEval-2022 Task 8 Overall
(1 = very similar ... 4 = very dissimilar).

Label conventions shared by :func:`bcubed` and :func:`pairwise`: a ``None``
label is noise and is its own singleton cluster, on the gold side and on the
predicted side alike; a gold item missing from the prediction is a predicted
singleton; predicted items that are not in the gold are ignored.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CorpusError
from .records import TEASER_MARK, Record

__all__ = [
    "PRF",
    "EvalReport",
    "GoldPair",
    "PairReport",
    "bcubed",
    "count_languages",
    "distinct_texts",
    "evaluate",
    "load_gold",
    "load_pairs",
    "pair_scores_report",
    "pairwise",
]

Label = Hashable | None

_RECORD_FIELDS = ("title", "lang", "date", "url")
_MAX_PROBLEMS = 5


# --------------------------------------------------------------------- loaders


def _read_jsonl(path: Path) -> Iterable[tuple[int, object, str | None]]:
    """Yield (line number, parsed object or None, error or None); skip blank lines."""
    if not path.is_file():
        raise CorpusError(f"{path}: gold file not found")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield number, None, f"bad JSON ({exc.msg} at column {exc.colno})"


def _raise_problems(path: Path, problems: list[str], total: int) -> None:
    shown = "; ".join(problems[:_MAX_PROBLEMS])
    more = f" (and {total - _MAX_PROBLEMS} more)" if total > _MAX_PROBLEMS else ""
    raise CorpusError(f"{path}: {total} bad line(s): {shown}{more}")


def _parse_lines(path: Path, parse) -> list:
    """``parse(obj)`` for every JSON object line; a line that is not an object, or
    that ``parse`` rejects with ValueError, is a problem, and any problem raises
    CorpusError listing the first few with their line numbers."""
    values: list = []
    problems: list[str] = []
    n_bad = 0
    for number, obj, error in _read_jsonl(path):
        try:
            if error:
                raise ValueError(error)
            if not isinstance(obj, dict):
                raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
            values.append(parse(obj))
        except ValueError as exc:
            n_bad += 1
            if len(problems) < _MAX_PROBLEMS:
                problems.append(f"line {number}: {exc}")
    if n_bad:
        _raise_problems(path, problems, n_bad)
    return values


def _optional_str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string or null, got {type(value).__name__}")
    return value


def load_gold(
    path: str | Path,
) -> tuple[list[Record], dict[str, str | None], dict[str, str | None]]:
    """Read a gold JSONL file: records, story label per id, dup group per id.

    ``story`` is required on every line (null = noise). ``dup`` is optional; if
    no line has a ``dup`` key the gold has no duplicate labels and the third
    dict is empty (``evaluate`` then reports no dup scores). Otherwise a
    missing ``dup`` means null.

    Raises CorpusError naming the file, the number of bad lines and the first
    few ``line N: reason`` problems (bad JSON, missing id/text/story, wrong
    types, repeated ids), or when the file is missing or holds no records.
    """
    path = Path(path)
    seen: set[str] = set()
    has_dup = False

    def parse(obj: dict) -> tuple[Record, str | None, str | None]:
        nonlocal has_dup
        rid, text = obj.get("id"), obj.get("text")
        if not isinstance(rid, str) or not rid:
            raise ValueError("'id' must be a non-empty string")
        if rid in seen:
            raise ValueError(f"id {rid!r} repeats an earlier line")
        if not isinstance(text, str):
            raise ValueError("'text' must be a string")
        if "story" not in obj:
            raise ValueError("'story' is missing (use null for noise)")
        label = _optional_str(obj, "story")
        group = _optional_str(obj, "dup")
        extra = {key: _optional_str(obj, key) for key in _RECORD_FIELDS}
        seen.add(rid)
        has_dup = has_dup or "dup" in obj
        return Record(id=rid, text=text, **extra), label, group

    rows = _parse_lines(path, parse)
    if not rows:
        raise CorpusError(f"{path}: no gold records")
    records = [r for r, _, _ in rows]
    story = {r.id: label for r, label, _ in rows}
    dup = {r.id: group for r, _, group in rows}
    return records, story, dup if has_dup else {}


@dataclass(frozen=True)
class GoldPair:
    """One SemEval pair: two articles and the gold Overall (1 similar .. 4 dissimilar)."""

    id1: str
    id2: str
    lang1: str | None
    lang2: str | None
    text1: str
    text2: str
    score: float


def load_pairs(path: str | Path) -> list[GoldPair]:
    """Read a pairs gold JSONL file; CorpusError lists the first bad lines."""
    path = Path(path)

    def parse(obj: dict) -> GoldPair:
        for key in ("id1", "id2", "text1", "text2"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise ValueError(f"'{key}' must be a non-empty string")
        score = obj.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise ValueError("'score' must be a number")
        if not 1.0 <= score <= 4.0:
            raise ValueError(f"'score' {score} is outside 1..4")
        return GoldPair(
            id1=obj["id1"],
            id2=obj["id2"],
            lang1=_optional_str(obj, "lang1"),
            lang2=_optional_str(obj, "lang2"),
            text1=obj["text1"],
            text2=obj["text2"],
            score=float(score),
        )

    pairs = _parse_lines(path, parse)
    if not pairs:
        raise CorpusError(f"{path}: no gold pairs")
    return pairs


def distinct_texts(pairs: Sequence[GoldPair]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The distinct texts of ``pairs`` and, per pair, the index of each side.

    Texts are deduplicated by their exact string, not by article id: in the
    multilingual SemEval set a few ids carry two different texts. Embed the
    returned list once, then ``sim = (v[i1] * v[i2]).sum(1)`` for unit vectors.
    """
    index: dict[str, int] = {}
    first = [index.setdefault(p.text1, len(index)) for p in pairs]
    second = [index.setdefault(p.text2, len(index)) for p in pairs]
    return list(index), np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)


def count_languages(records: Iterable[Record]) -> int:
    """Number of distinct non-null ``lang`` values."""
    return len({r.lang for r in records if r.lang})


# --------------------------------------------------------------------- metrics


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2 * precision * recall / total


def _cluster_keys(gold: Mapping[str, Label], pred: Mapping[str, Label]) -> tuple[list[tuple], list[tuple]]:
    """Cluster keys per gold item; None or missing becomes a key unique to the item."""
    gold_keys, pred_keys = [], []
    for item, label in gold.items():
        gold_keys.append(("noise", item) if label is None else ("label", label))
        guess = pred.get(item)
        pred_keys.append(("noise", item) if guess is None else ("label", guess))
    if not gold_keys:
        raise ValueError("gold is empty: nothing to score")
    return gold_keys, pred_keys


def bcubed(gold: Mapping[str, Label], pred: Mapping[str, Label]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 over the items of ``gold``.

    Per item i with gold cluster G and predicted cluster P (P restricted to
    gold items): precision_i = |G & P| / |P|, recall_i = |G & P| / |G|. Both
    are averaged over items; F1 is the harmonic mean of the two averages.
    Computed from contingency counts: a cell of n items sharing (G, P)
    contributes n * n / |P| to the precision sum and n * n / |G| to recall.
    """
    gold_keys, pred_keys = _cluster_keys(gold, pred)
    cells = Counter(zip(gold_keys, pred_keys))
    gold_size = Counter(gold_keys)
    pred_size = Counter(pred_keys)
    p_sum = sum(n * n / pred_size[p] for (_, p), n in cells.items())
    r_sum = sum(n * n / gold_size[g] for (g, _), n in cells.items())
    count = len(gold_keys)
    precision, recall = p_sum / count, r_sum / count
    return precision, recall, _f1(precision, recall)


def _pairs_in(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def pairwise(gold: Mapping[str, Label], pred: Mapping[str, Label]) -> tuple[float, float, float]:
    """Pairwise ("standard") precision, recall and F1 over the items of ``gold``.

    A pair of items is a true positive when both gold and prediction put it in
    one cluster. TP = sum of C(n, 2) over contingency cells, gold pairs = sum
    of C(|G|, 2), predicted pairs = sum of C(|P|, 2). Noise (None) and missing
    items are singletons and form no pairs.

    Empty denominators: with no predicted pairs P = 1.0 (nothing wrong was
    claimed); with no gold pairs R = 1.0 (nothing was there to find). So an
    all-singleton prediction on an all-singleton gold scores (1, 1, 1).
    """
    gold_keys, pred_keys = _cluster_keys(gold, pred)
    true_pos = _pairs_in(Counter(zip(gold_keys, pred_keys)).values())
    gold_pairs = _pairs_in(Counter(gold_keys).values())
    pred_pairs = _pairs_in(Counter(pred_keys).values())
    precision = true_pos / pred_pairs if pred_pairs else 1.0
    recall = true_pos / gold_pairs if gold_pairs else 1.0
    return precision, recall, _f1(precision, recall)


@dataclass(frozen=True)
class PairReport:
    """Pair similarity against the SemEval gold Overall (1 similar .. 4 dissimilar).

    ``pearson_similarity`` is Pearson r of the system's similarity with gold
    Overall; it is negative for a good system. ``pearson`` is its negation,
    comparable with the task's figures (r of predicted with gold Overall).
    ``auc`` is ROC AUC of the similarity separating gold Overall <= 1.5
    (positive, same story) from >= 3.5 (negative); pairs in between are left
    out. A figure that cannot be computed (constant input, an empty class) is
    None.
    """

    n_pairs: int
    pearson_similarity: float | None
    pearson: float | None
    auc: float | None
    n_positive: int
    n_negative: int

    def to_dict(self) -> dict:
        return asdict(self)


POSITIVE_MAX = 1.5
NEGATIVE_MIN = 3.5


def pair_scores_report(scores: Sequence[float], gold_overall: Sequence[float]) -> PairReport:
    """Pearson r and ROC AUC of per-pair similarities against gold Overall."""
    from sklearn.metrics import roc_auc_score

    sim = np.asarray(scores, dtype=np.float64).ravel()
    gold = np.asarray(gold_overall, dtype=np.float64).ravel()
    if sim.shape != gold.shape:
        raise ValueError(f"{sim.size} scores for {gold.size} gold values")
    if not (np.isfinite(sim).all() and np.isfinite(gold).all()):
        raise ValueError("scores and gold must be finite numbers")
    r: float | None = None
    if sim.size >= 2 and sim.std() > 0 and gold.std() > 0:
        r = float(np.corrcoef(sim, gold)[0, 1])
    positive = gold <= POSITIVE_MAX
    negative = gold >= NEGATIVE_MIN
    n_pos, n_neg = int(positive.sum()), int(negative.sum())
    auc: float | None = None
    if n_pos and n_neg:
        keep = positive | negative
        auc = float(roc_auc_score(positive[keep].astype(int), sim[keep]))
    return PairReport(
        n_pairs=int(sim.size),
        pearson_similarity=r,
        pearson=None if r is None else -r,
        auc=auc,
        n_positive=n_pos,
        n_negative=n_neg,
    )


# ---------------------------------------------------------------------- report


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1."""

    precision: float
    recall: float
    f1: float

    def __str__(self) -> str:
        return f"{self.precision:.3f} / {self.recall:.3f} / {self.f1:.3f}"


@dataclass
class EvalReport:
    """Scores of one run on one gold set.

    ``story`` is B-cubed over gold items (noise = singletons); ``story_pairwise``
    is the standard pairwise metric on the same labels. ``dup`` is pairwise
    over gold dup groups: most items have no duplicate, and B-cubed would be
    dominated by those singletons. ``dup`` is None when the gold has no dup
    labels. ``n_missing`` counts gold items absent from the results (scored as
    singletons); ``n_extra`` counts result items that are neither in the gold
    nor teasers (ignored).
    """

    dataset: str
    n_items: int
    n_languages: int | None
    story: PRF
    story_pairwise: PRF
    dup: PRF | None
    n_gold_stories: int
    n_pred_stories: int
    n_missing: int = 0
    n_extra: int = 0
    wall_seconds: float | None = None
    command: str = ""
    # gold duplicate pairs found, by the two items' languages (as the run found
    # them, "?" where none): {"en/ru": [found, total], ...}
    dup_recall_by_languages: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def format_recall_by_languages(self) -> str:
        """The per-language-pair recall of gold duplicate pairs as a Markdown table."""
        rows = ["| languages | gold pairs | found | recall |", "|---|---:|---:|---:|"]
        for key, (found, total) in sorted(self.dup_recall_by_languages.items(), key=lambda kv: (-kv[1][1], kv[0])):
            rows.append(f"| {key} | {total} | {found} | {found / total:.3f} |")
        return "\n".join(rows)

    @staticmethod
    def table_header() -> str:
        """Markdown header (two lines) matching :meth:`format_table_row`."""
        return (
            "| dataset | items | languages | story B3 P / R / F1 "
            "| dup pairwise P / R / F1 | wall time | command |\n"
            "|---|---:|---:|---|---|---:|---|"
        )

    def format_table_row(self) -> str:
        """One Markdown table row: dataset | items | languages | story | dup | time | command."""
        languages = "?" if self.n_languages is None else f"{self.n_languages:,}"
        dup = "n/a" if self.dup is None else str(self.dup)
        wall = "?" if self.wall_seconds is None else f"{self.wall_seconds:.1f} s"
        command = f"`{self.command}`" if self.command else ""
        cells = [self.dataset, f"{self.n_items:,}", languages, str(self.story), dup, wall, command]
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _prf(triple: tuple[float, float, float]) -> PRF:
    return PRF(*triple)


def evaluate(
    result_items: Iterable[Any],
    gold_story: Mapping[str, str | None],
    gold_dup: Mapping[str, str | None] | None = None,
    *,
    dataset: str = "",
    n_languages: int | None = None,
    wall_seconds: float | None = None,
    command: str = "",
) -> EvalReport:
    """Score pipeline results (objects with ``.id``, ``.story``, ``.duplicate_group``).

    Teaser items (``<doc>#teaser-k``) are ignored: the gold holds documents
    only. An id given twice with different labels is a ValueError. An empty or
    None ``gold_dup`` means the gold has no dup labels, and ``dup`` is None.
    """
    pred_story: dict[str, Label] = {}
    pred_dup: dict[str, Label] = {}
    langs: dict[str, str] = {}
    n_extra = 0
    for item in result_items:
        item_id = item.id
        if item_id not in gold_story:
            if TEASER_MARK not in item_id:
                n_extra += 1
            continue
        labels = (item.story, item.duplicate_group)
        if item_id in pred_story and (pred_story[item_id], pred_dup[item_id]) != labels:
            raise ValueError(f"result item {item_id!r} appears twice with different labels")
        pred_story[item_id], pred_dup[item_id] = labels
        langs[item_id] = getattr(item, "lang", None) or "?"
    dup = _prf(pairwise(gold_dup, pred_dup)) if gold_dup else None
    gold_stories = {label for label in gold_story.values() if label is not None}
    pred_stories = {label for label in pred_story.values() if label is not None}
    return EvalReport(
        dataset=dataset,
        n_items=len(gold_story),
        n_languages=n_languages,
        story=_prf(bcubed(gold_story, pred_story)),
        story_pairwise=_prf(pairwise(gold_story, pred_story)),
        dup=dup,
        n_gold_stories=len(gold_stories),
        n_pred_stories=len(pred_stories),
        n_missing=sum(1 for item in gold_story if item not in pred_story),
        n_extra=n_extra,
        wall_seconds=wall_seconds,
        command=command,
        dup_recall_by_languages=recall_by_languages(gold_dup or {}, pred_dup, langs),
    )


def recall_by_languages(
    gold_dup: Mapping[str, str | None], pred_dup: Mapping[str, Label], langs: Mapping[str, str]
) -> dict:
    """Gold duplicate pairs and how many the prediction groups too, by the pair's
    languages (sorted, "en/ru"): where recall is lost, script by script."""
    members: dict[str, list[str]] = {}
    for item, group in gold_dup.items():
        if group is not None:
            members.setdefault(group, []).append(item)
    out: dict[str, list[int]] = {}
    for ids in members.values():
        ids = sorted(ids)
        for k, a in enumerate(ids):
            for b in ids[k + 1 :]:
                key = "/".join(sorted((langs.get(a, "?"), langs.get(b, "?"))))
                found = pred_dup.get(a) is not None and pred_dup.get(a) == pred_dup.get(b)
                cell = out.setdefault(key, [0, 0])
                cell[0] += int(found)
                cell[1] += 1
    return out
