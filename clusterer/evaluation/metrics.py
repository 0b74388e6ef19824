"""Clustering metrics and the SemEval pair report.

Pure functions over plain dicts. Nothing here runs the pipeline; the runner
(:mod:`clusterer.evaluation.runner`) runs it and hands the results to
:func:`evaluate`. Gold data is read by :mod:`clusterer.evaluation.gold`.

Label conventions shared by :func:`bcubed` and :func:`pairwise`: a ``None``
label is noise and is its own singleton cluster, on the gold side and on the
predicted side alike; a gold item missing from the prediction is a predicted
singleton; predicted items that are not in the gold are ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..records import ARTICLE, TEASER

__all__ = [
    "PRF",
    "EvalReport",
    "PairReport",
    "bcubed",
    "evaluate",
    "pair_scores_report",
    "pairwise",
]

Label = Hashable | None

_RECORD_FIELDS = ("title", "lang", "date", "url")
_MAX_PROBLEMS = 5


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
    # events (B-cubed over the gold's event labels; None where the gold has none)
    event: PRF | None = None

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
            "| dataset | items | languages | story B3 P / R / F1 | event B3 P / R / F1 "
            "| dup pairwise P / R / F1 | wall time | command |\n"
            "|---|---:|---:|---|---|---|---:|---|"
        )

    def format_table_row(self) -> str:
        """One Markdown table row: dataset | items | languages | story | event | dup | time | command."""
        languages = "?" if self.n_languages is None else f"{self.n_languages:,}"
        dup = "n/a" if self.dup is None else str(self.dup)
        wall = "?" if self.wall_seconds is None else f"{self.wall_seconds:.1f} s"
        command = f"`{self.command}`" if self.command else ""
        event = "n/a" if self.event is None else str(self.event)
        cells = [self.dataset, f"{self.n_items:,}", languages, str(self.story), event, dup, wall, command]
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
    gold_event: Mapping[str, str | None] | None = None,
) -> EvalReport:
    """Score pipeline results (objects with ``.id``, ``.story``, ``.duplicate_group``
    and ``.kind``; without ``kind``, an article; ``.event`` where ``gold_event`` is
    given: events are scored by B-cubed as stories are).

    Teasers (``kind`` :data:`~clusterer.records.TEASER`) are ignored: the gold
    holds documents, and a teaser is part of one, not a document of its own.
    An id given twice with different labels is a ValueError. An empty or None
    ``gold_dup`` means the gold has no dup labels, and ``dup`` is None.
    """
    pred_story: dict[str, Label] = {}
    pred_dup: dict[str, Label] = {}
    pred_event: dict[str, Label] = {}
    langs: dict[str, str] = {}
    n_extra = 0
    for item in result_items:
        item_id = item.id
        if item_id not in gold_story:
            if getattr(item, "kind", ARTICLE) != TEASER:
                n_extra += 1
            continue
        labels = (item.story, item.duplicate_group)
        if item_id in pred_story and (pred_story[item_id], pred_dup[item_id]) != labels:
            raise ValueError(f"result item {item_id!r} appears twice with different labels")
        pred_story[item_id], pred_dup[item_id] = labels
        langs[item_id] = getattr(item, "lang", None) or "?"
        pred_event[item_id] = getattr(item, "event", None)
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
        event=_prf(bcubed(gold_event, pred_event)) if gold_event else None,
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
