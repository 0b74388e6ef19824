"""The pipeline every caller shares: read -> segment -> language -> embed ->
neighbours -> duplicates and stories -> result.

``Clusterer`` holds the settings (stored unchanged, as scikit-learn does) and
``run`` does the work, so the CLI, the evaluation and the nightly job call the
same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

from .align import Aligner, split_sentences
from .debias import Prior, center_by_language, reference_texts
from .duplicates import DuplicateParams, PairEvidence, TextFeatures, find_duplicates
from .embed.cache import DEFAULT_CACHE_DIR, Embedder
from .embed.encoders import Encoder, get_encoder
from .errors import CorpusError
from .language import LanguageIdentifier
from .neighbours import knn_with_queries
from .read import count_records, iter_records, read_corpus
from .records import ARTICLE, TEASER_MARK, Item, Record, Skipped, day_number, embedding_text
from .result import SNIPPET_CHARS, ClusterResult, build_result, snippet
from .segment import segment
from .stories.linkage import VectorSimilarity, knn_graph, merge_groups, sparse_average_linkage
from .stories.similarity import StoryParams, length_scale
from .stories.teasers import attach_teasers

Source = str | Path | Iterable[Record | dict]
Progress = Callable[[str, int, int], None]


def to_record(obj: Record | dict) -> Record:
    if isinstance(obj, Record):
        return obj
    if isinstance(obj, dict):
        if not isinstance(obj.get("id"), str) or not isinstance(obj.get("text"), str):
            raise CorpusError(f"a record needs string 'id' and 'text': {str(obj)[:80]}")
        return Record(
            id=obj["id"],
            text=obj["text"],
            title=obj.get("title"),
            lang=obj.get("lang"),
            date=obj.get("date"),
            url=obj.get("url"),
        )
    raise CorpusError(f"cannot use {type(obj).__name__} as a record; give a Record or a dict")


@dataclass
class Analysis:
    """Everything computed for a set of items, before ids are given out.

    Kept so the nightly job and the evaluation can reuse the vectors and the
    evidence without recomputing them.
    """

    items: list[Item]
    vectors: np.ndarray  # raw embeddings, L2-normalised
    centred: np.ndarray  # language-centred embeddings
    story_of: list[int | None]  # story label per item, None = noise
    dup_groups: list[list[int]]  # item indices
    days: list[float | None] = field(default_factory=list)
    dup_evidence: list[PairEvidence] = field(default_factory=list)  # the accepted pairs'
    align_seconds: float = 0.0  # of which: embedding sentences for the alignment test


class Clusterer:
    """Finds duplicate groups and stories in a multilingual news corpus.

    >>> result = Clusterer().run("corpus/")          # doctest: +SKIP
    >>> [s.title for s in result.stories]             # doctest: +SKIP
    """

    def __init__(
        self,
        encoder: Encoder | None = None,
        model: str | None = None,
        prefix: str | None = None,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        cache_embeddings: bool = True,
        stories: StoryParams = StoryParams(),
        duplicates: DuplicateParams = DuplicateParams(),
        language_shrink: float = 5.0,
        use_prior: bool = True,
        batch_size: int = 128,
        read_batch: int = 2048,
        story_neighbours: int = 20,
        teaser_neighbours: int = 30,
        max_chars: int = 100_000,
        progress: Progress | None = None,
        model_dir: str | Path | None = None,
    ):
        if max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, got {max_chars!r}")
        self.encoder = encoder
        self.model = model
        self.prefix = prefix
        self.cache_dir = cache_dir
        self.cache_embeddings = cache_embeddings
        self.stories = stories
        self.duplicates = duplicates
        self.language_shrink = language_shrink
        self.use_prior = use_prior
        self.batch_size = batch_size
        self.read_batch = read_batch
        self.story_neighbours = story_neighbours
        self.teaser_neighbours = teaser_neighbours
        self.max_chars = max_chars
        self.progress = progress
        self.model_dir = model_dir
        self.embedder_: Embedder | None = None
        self.prior_: Prior | None = None
        self.sentence_prior_: Prior | None = None
        self.language_id_: LanguageIdentifier | None = None

    # -- steps -----------------------------------------------------------
    def _embedder(self) -> Embedder:
        if self.embedder_ is None:
            encoder = self.encoder
            if encoder is None:  # loaded on first use: a bad corpus is reported before a model loads
                encoder = get_encoder(self.model, prefix=self.prefix, model_dir=self.model_dir)
            cache = self.cache_dir if self.cache_embeddings else None
            self.embedder_ = Embedder(encoder, cache_dir=cache, batch_size=self.batch_size)
        return self.embedder_

    def read(self, source: Source) -> tuple[list[Record], list[Skipped]]:
        """All records of a source, and the inputs skipped."""
        skipped: list[Skipped] = []
        if isinstance(source, (str, Path)):
            return read_corpus(source)
        return list(self.stream(source, skipped)), skipped

    @staticmethod
    def stream(source: Source, skipped: list[Skipped]) -> Iterator[Record]:
        """Records one at a time (a folder is read file by file); skipped inputs
        are appended to ``skipped`` as they are met."""
        if isinstance(source, (str, Path)):
            yield from iter_records(source, skipped)
            return
        seen = set()
        for obj in source:
            record = to_record(obj)
            if record.id in seen:
                raise CorpusError(f"duplicate record id {record.id!r}")
            if TEASER_MARK in record.id:
                raise CorpusError(
                    f"record id {record.id!r} contains {TEASER_MARK!r}, which names the teasers split off a page"
                )
            seen.add(record.id)
            yield record

    def split(self, records: Sequence[Record]) -> list[Item]:
        """Articles and teasers of ``records``, with their languages. A page longer
        than ``max_chars`` is cut there first (its article says so in
        ``meta["truncated_from"]``): what is embedded, and the time it takes, stays
        bounded whatever one record's size."""
        items: list[Item] = []
        if self.language_id_ is None:
            self.language_id_ = LanguageIdentifier()
        for record in records:
            size = len(record.text)
            if size > self.max_chars:
                record = replace(record, text=record.text[: self.max_chars])
            parts = segment(record)
            if size > self.max_chars:
                parts[0].meta["truncated_from"] = size
            items.extend(parts)
        self.language_id_.fill(items)
        return items

    def prior(self) -> Prior | None:
        """The model's generic and language directions, from the shipped reference
        texts (embedded once per model, then read from the cache)."""
        if not self.use_prior:
            return None
        if self.prior_ is None:
            ref = reference_texts()
            vectors = self._embedder().embed([text for _, text in ref], progress=self._step("reference texts"))
            self.prior_ = Prior.from_vectors(vectors, [lang for lang, _ in ref])
        return self.prior_

    def aligner(self) -> Aligner:
        """Sentence alignment for the duplicate test, with this clusterer's model
        and cache (sentences are embedded only when a pair needs them)."""
        return Aligner(
            lambda texts: self._embedder().embed(texts),
            self.duplicates.align_margin,
            prior=self.sentence_prior,
            shrink=self.duplicates.align_shrink,
        )

    def sentence_prior(self) -> Prior | None:
        """The language directions of single sentences: the reference texts split
        into sentences (embedded once per model, then read from the cache)."""
        if not self.use_prior:
            return None
        if self.sentence_prior_ is None:
            ref = [(lang, s) for lang, text in reference_texts() for s in split_sentences(text, lang)]
            vectors = self._embedder().embed([s for _, s in ref])
            self.sentence_prior_ = Prior.from_vectors(vectors, [lang for lang, _ in ref])
        return self.sentence_prior_

    def centre(self, vectors: np.ndarray, langs: Sequence[str | None]) -> np.ndarray:
        """Language-centred vectors (see :mod:`clusterer.debias`)."""
        return center_by_language(vectors, langs, shrink=self.language_shrink, prior=self.prior())

    def embed(self, items: Sequence[Item], progress=None) -> np.ndarray:
        """Raw embeddings of ``items`` (through the cache); ``progress(done, total)``
        counts the items computed."""
        return self._embedder().embed([embedding_text(it) for it in items], progress=progress)

    def _step(self, name: str):
        """``progress(done, total)`` reported as step ``name``; None without progress."""
        if self.progress is None:
            return None
        report = self.progress
        return lambda done, total: report(name, done, total)

    def analyse(
        self, items: Sequence[Item], vectors: np.ndarray | None = None, features: Sequence[TextFeatures] | None = None
    ) -> Analysis:
        """Embed (unless ``vectors`` are given, one row per item), then find duplicate
        groups and stories among ``items``. ``features`` (one per item) stand in for
        the texts when these were dropped while streaming."""
        items = list(items)
        n = len(items)
        if vectors is None:
            vectors = self.embed(items)
        elif len(vectors) != n:
            raise ValueError(f"{len(vectors)} vectors for {n} items")
        if n == 0:
            return Analysis(items, vectors, vectors, [], [])
        step = self.progress or (lambda *a: None)
        langs = [it.lang for it in items]
        centred = self.centre(vectors, langs)
        is_article = np.array([it.kind == ARTICLE for it in items])
        days = [day_number(it.date) for it in items]

        if features is None:
            features = [TextFeatures.of(embedding_text(it), it.lang, self.duplicates) for it in items]
        art = np.flatnonzero(is_article)
        teasers = np.flatnonzero(~is_article)
        xa = centred[art]
        a_days = [days[i] for i in art]
        # one neighbour index over the articles serves duplicates (the nearest
        # few), the story graph (columns are sorted, so a prefix is a smaller k)
        # and the teasers' search for their story
        dup_k = max(self.duplicates.neighbours, 1)
        step("neighbours", 0, 1)
        if len(art):
            (nbr_idx, nbr_sim), teaser_nearest = knn_with_queries(
                xa, max(dup_k, self.story_neighbours, 1), centred[teasers], min(self.teaser_neighbours, len(art))
            )
        else:
            nbr_idx, nbr_sim = np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1), dtype=np.float32)
            teaser_nearest = None
        step("neighbours", 1, 1)
        step("duplicates", 0, 1)
        aligner = self.aligner()
        groups, evidence = find_duplicates(
            nbr_idx[:, :dup_k],
            nbr_sim[:, :dup_k],
            [features[int(i)] for i in art],
            [langs[i] for i in art],
            [True] * len(art),
            self.duplicates,
            with_evidence=False,
            vectors=xa,
            aligner=aligner,
        )
        dup_groups = [[int(art[p]) for p in g] for g in groups]
        for e in evidence:  # positions among the articles -> item indices
            e.i, e.j = int(art[e.i]), int(art[e.j])
        step("duplicates", 1, 1)
        step("stories", 0, 1)
        scale = length_scale([features[int(i)].chars for i in art], self.stories)
        story_sim = nbr_sim * scale[:, None] * np.where(nbr_idx >= 0, scale[np.maximum(nbr_idx, 0)], 1.0)
        graph = knn_graph(nbr_idx, story_sim, a_days, self.stories)
        labels = sparse_average_linkage(
            len(art), *graph, self.stories.threshold, exact=VectorSimilarity(xa * scale[:, None], a_days, self.stories)
        )
        labels = merge_groups(labels, groups)
        counts = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
        kept = [lab for lab in range(len(counts)) if counts[lab] >= self.stories.min_articles]
        story_of: list[int | None] = [None] * n
        for p, i in enumerate(art):
            if counts[labels[p]] >= self.stories.min_articles:
                story_of[int(i)] = int(labels[p])
        step("stories", 1, 1)
        step("teasers", 0, 1)
        joined = attach_teasers(
            centred[teasers], xa, labels, kept, self.stories, neighbours=self.teaser_neighbours, nearest=teaser_nearest
        )
        for i, lab in zip(teasers, joined):
            story_of[int(i)] = lab
        step("teasers", 1, 1)
        return Analysis(items, vectors, centred, story_of, dup_groups, days, evidence, aligner.seconds)

    # -- the whole run ----------------------------------------------------
    def run(self, source: Source) -> ClusterResult:
        """Cluster a corpus folder/file, or an iterable of records (``Record`` or dicts).

        The corpus is read, split and embedded ``read_batch`` records at a time;
        only each item's metadata, vector and duplicate features are kept, never
        the texts, so memory grows with the number of items, not their length."""
        timings = {"read": 0.0, "embed": 0.0}
        t0 = time.perf_counter()
        skipped: list[Skipped] = []
        items: list[Item] = []
        chunks: list[np.ndarray] = []
        features: list[TextFeatures] = []
        records = self.stream(source, skipped)
        report = self.progress or (lambda *a: None)
        total = _record_count(source) if self.progress else 0
        read = 0
        report("embedding", 0, total)
        while True:
            t = time.perf_counter()
            batch = list(islice(records, self.read_batch))
            if not batch:
                break
            batch_items = self.split(batch)
            timings["read"] += time.perf_counter() - t
            t = time.perf_counter()

            def within(done: int, todo: int, before: int = read, size: int = len(batch)) -> None:
                report("embedding", before + size * done // max(todo, 1), total)

            chunks.append(self.embed(batch_items, progress=within if self.progress else None))
            read += len(batch)
            report("embedding", read, total)
            timings["embed"] += time.perf_counter() - t
            for it in batch_items:
                features.append(TextFeatures.of(embedding_text(it), it.lang, self.duplicates))
                it.meta["snippet"] = snippet(it.text, SNIPPET_CHARS)
                it.text = ""  # not kept: memory stays bounded by the batch
            items.extend(batch_items)
        report("embedding", read, read)  # exact now: the count took in bad lines and files
        if not items:
            raise CorpusError("no usable record in the corpus" + (f" ({len(skipped)} skipped)" if skipped else ""))
        t1 = time.perf_counter()
        analysis = self.analyse(items, vectors=np.concatenate(chunks), features=features)
        timings["analyse"] = time.perf_counter() - t1
        timings["align"] = analysis.align_seconds  # part of "analyse"
        result = build_result(analysis, skipped, self._embedder().encoder.name)
        timings["total"] = time.perf_counter() - t0
        result.timings = timings
        return result

    def close(self) -> None:
        if self.embedder_ is not None:
            self.embedder_.close()
            self.embedder_ = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _record_count(source: Source) -> int:
    """How many records ``source`` holds, for progress (0: not known without reading it)."""
    if isinstance(source, (str, Path)):
        return count_records(source)
    return len(source) if isinstance(source, Sized) else 0
