"""The data a run passes between its stages, apart from the code that computes it:
what goes in (:data:`Source`), what reading and embedding a corpus gives the
clustering (:data:`Corpus`), and everything computed before ids are given out
(:class:`Analysis`). Both the pipeline, which makes them, and the result, the
executors and the nightly job, which take them, import them from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .duplicates import PairEvidence, TextFeatures
from .records import Item, Record, Skipped

Source = str | Path | Iterable[Record | dict]
# what reading and embedding a corpus gives the clustering: the items (without their
# texts), one raw vector and one TextFeatures per item, the inputs skipped, timings
Corpus = tuple[list[Item], np.ndarray, list[TextFeatures], list[Skipped], dict[str, float]]


@dataclass
class Analysis:
    """Everything computed for a set of items, before ids are given out.

    Kept so the nightly job and the evaluation can reuse the vectors, the
    evidence and the language means it centred with, without recomputing them.
    """

    items: list[Item]
    vectors: np.ndarray  # raw embeddings, L2-normalised
    centred: np.ndarray  # language-centred embeddings
    story_of: list[int | None]  # story label per item, None = noise
    dup_groups: list[list[int]]  # item indices
    event_of: list[int | None] = field(default_factory=list)  # event label per article in a story, else None
    days: list[float | None] = field(default_factory=list)
    dup_evidence: list[PairEvidence] = field(default_factory=list)  # the accepted pairs'
    align_seconds: float = 0.0  # of which: embedding sentences for the alignment test
    language_means: dict[str | None, np.ndarray] = field(default_factory=dict)  # subtracted in centring
