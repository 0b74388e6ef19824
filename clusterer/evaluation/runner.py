"""Running the pipeline on labelled data: what ``cluster eval`` does.

Two kinds of gold (see :mod:`clusterer.evaluation.metrics` for the formats): a labelled
corpus (stories and duplicate groups), scored with B-cubed and pairwise
metrics; and SemEval-style pairs with a graded similarity, scored by how well
the pipeline's similarity ranks and correlates with the grades.
"""

from __future__ import annotations

import enum
import json
import time
from pathlib import Path

from ..errors import CorpusError
from ..pipeline import Clusterer
from ..records import ARTICLE, Record
from ..result import ClusterResult
from .gold import distinct_texts, load_events, load_gold, load_pairs
from .metrics import EvalReport, evaluate, pair_scores_report


class GoldKind(enum.Enum):
    CORPUS = "corpus"  # records labelled with their story and duplicate group
    PAIRS = "pairs"  # SemEval-style pairs of texts with a graded similarity


def gold_kind(path: str | Path) -> GoldKind:
    """What kind of gold the file at ``path`` holds, from its first record."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{path}: line 1 is not JSON ({exc})") from None
                return GoldKind.PAIRS if isinstance(obj, dict) and "id1" in obj else GoldKind.CORPUS
    raise CorpusError(f"{path}: empty gold file")


def evaluate_corpus(
    clusterer: Clusterer, gold_path: str | Path, dataset: str | None = None, command: str = ""
) -> tuple[EvalReport, ClusterResult]:
    """Cluster the gold's records and score stories and events (B-cubed) and
    duplicates (pairwise)."""
    records, gold_story, gold_dup = load_gold(gold_path)
    gold_event = load_events(gold_path)
    start = time.perf_counter()
    result = clusterer.run(records)
    wall = time.perf_counter() - start
    report = evaluate(
        result.items,
        gold_story,
        gold_dup or None,
        dataset=dataset or Path(gold_path).stem,
        n_languages=len({it.lang for it in result.items if it.kind == ARTICLE and it.lang}),
        wall_seconds=wall,
        command=command,
        gold_event=gold_event or None,
    )
    return report, result


def evaluate_pairs(clusterer: Clusterer, pairs_path: str | Path) -> dict:
    """Similarity of each gold pair as the pipeline sees it, against the gold grades.

    Each distinct text is embedded once, as an article (teasers and page
    furniture split off, as in a run), and centred by language over all the
    texts of the file. Reports the centred cosine (what stories use) and the
    raw cosine, each with Pearson r and ROC AUC.
    """
    pairs = load_pairs(pairs_path)
    texts, first, second = distinct_texts(pairs)
    langs: dict[str, str | None] = {}
    for p in pairs:
        langs.setdefault(p.text1, p.lang1)
        langs.setdefault(p.text2, p.lang2)
    records = [Record(id=f"t{i}", text=t, lang=langs.get(t)) for i, t in enumerate(texts)]
    items = [it for it in clusterer.split(records) if it.kind == ARTICLE]
    start = time.perf_counter()
    vectors = clusterer.embed(items)
    centred = clusterer.centre(vectors, [it.lang for it in items])
    wall = time.perf_counter() - start
    gold = [p.score for p in pairs]
    out = {"dataset": Path(pairs_path).stem, "pairs": len(pairs), "texts": len(texts), "wall_seconds": round(wall, 2)}
    for name, vecs in (("centred_cosine", centred), ("raw_cosine", vectors)):
        sims = (vecs[first] * vecs[second]).sum(axis=1)
        out[name] = pair_scores_report(sims, gold).to_dict()
    return out


def format_pairs(report: dict) -> str:
    lines = [f"{report['dataset']}: {report['pairs']} pairs, {report['texts']} texts, {report['wall_seconds']} s"]
    for name in ("centred_cosine", "raw_cosine"):
        r: dict = report[name]
        pearson = "n/a" if r["pearson"] is None else f"{r['pearson']:.3f}"
        auc = "n/a" if r["auc"] is None else f"{r['auc']:.3f}"
        lines.append(
            f"  {name}: Pearson (vs -Overall) {pearson}, ROC AUC {auc} "
            f"({r['n_positive']} similar vs {r['n_negative']} dissimilar pairs)"
        )
    return "\n".join(lines)
