"""The pipeline every caller shares: read -> segment -> language -> embed ->
neighbours -> duplicates and stories -> result.

``Clusterer`` holds the settings (stored unchanged, as scikit-learn does) and
``run`` does the work, so the CLI, the evaluation and the nightly job call the
same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .align import Aligner, Specifics, specifics, split_sentences
from .analysis import Analysis, Corpus, Source
from .debias import Prior, center_by_language, language_means, reference_texts
from .duplicates import DuplicateParams, TextFeatures, find_duplicates
from .embed.cache import DEFAULT_CACHE_DIR, Embedder
from .embed.encoders import Encoder, get_encoder
from .errors import CorpusError
from .language import LanguageIdentifier
from .neighbours import knn_with_queries
from .read import count_records, iter_records, read_corpus
from .records import ARTICLE, TEASER_MARK, Item, Record, Skipped, day_number, embedding_text
from .result import SNIPPET_CHARS, ClusterResult, build_result, snippet
from .segment import segment
from .stories.similarity import StoryParams
from .stories.teasers import attach_teasers
from .stories.threads import link_stories

Progress = Callable[[str, int, int], None]


class Executor(Protocol):
    """Where a run's per-record work happens: the interface between the pipeline and
    an engine that spreads it over machines (the pipeline defines it; an engine, such
    as :class:`clusterer.distributed.RayExecutor`, implements it and imports this
    module, never the other way; :mod:`clusterer.executor` builds one at the edge).

    By default (``Clusterer(executor=None)``) everything runs in this process. An
    executor takes over three things and nothing else: reading and splitting a
    corpus (:meth:`prepare_corpus`, which gives the prepared items, their embedding
    texts and duplicate features batch by batch, as :meth:`Clusterer.prepared` does
    locally; the nightly job reads its corpus this way), reading, splitting and
    embedding a whole corpus (:meth:`embed_corpus`, which gives back the items, their
    raw vectors and duplicate features, as the local loop does), and computing
    batches of embeddings the cache does not hold (:meth:`compute`, used by every
    other embedding: the reference texts, the sentences of the alignment test, the
    nightly job's new items). The clustering itself always runs here, with the same
    code.
    """

    def prepare_corpus(
        self, clusterer: Clusterer, source: Source, skipped: list[Skipped]
    ) -> Iterator[tuple[list[Item], list[str], list[TextFeatures]]]:
        """Read and split ``source`` as :meth:`Clusterer.prepared` does locally: per
        ``read_batch`` records, the items (copies without their texts, their opening
        in ``meta["snippet"]``), their embedding texts and duplicate features, in the
        same order; the inputs skipped appended to ``skipped`` as the local reader
        appends them."""
        ...

    def embed_corpus(self, clusterer: Clusterer, source: Source) -> Corpus:
        """Read, split and embed ``source`` as ``Clusterer.run`` does locally: the
        same items in the same order, with their vectors and features."""
        ...

    def compute(self, encoder: Any, batches: Sequence[Sequence[str]]) -> Iterator[tuple[int, np.ndarray]]:
        """Encode each batch (``encoder`` names the model); yield ``(index, vectors)``
        for each batch as it is done, in any order."""
        ...

    def close(self) -> None: ...


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
        executor: Executor | None = None,
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
        self.executor = executor  # None: every step runs in this process
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
            compute = self.executor.compute if self.executor is not None else None
            self.embedder_ = Embedder(encoder, cache_dir=cache, batch_size=self.batch_size, compute=compute)
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
            record, cut = self._cut(record)
            parts = segment(record)
            if cut:
                parts[0].meta.update(cut)
            items.extend(parts)
        self.language_id_.fill(items)
        return items

    def _cut(self, record: Record) -> tuple[Record, dict]:
        """``record`` cut at ``max_chars`` (a copy; the given one is left as it is),
        and the meta its article carries: ``truncated_from`` (the original length)
        where it was cut, nothing otherwise."""
        size = len(record.text)
        if size <= self.max_chars:
            return record, {}
        return replace(record, text=record.text[: self.max_chars]), {"truncated_from": size}

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

    def aligner(
        self, specifics: Callable[[str], Specifics] = specifics, known: dict[str, np.ndarray] | None = None
    ) -> Aligner:
        """Sentence alignment for the duplicate test, with this clusterer's model
        and cache (sentences are embedded only when a pair needs them);
        ``specifics``: a :class:`~clusterer.align.SpecificsMemo` the caller keeps;
        ``known``: sentences embedded already (by :meth:`Embedder.embed`), taken as they are."""
        return Aligner(
            lambda texts: _embed_unknown(self._embedder(), texts, known or {}),
            self.duplicates.align_margin,
            prior=self.sentence_prior,
            shrink=self.duplicates.align_shrink,
            specifics=specifics,
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

    def centring_means(self, vectors: np.ndarray, langs: Sequence[str | None]) -> dict[str | None, np.ndarray]:
        """The mean :meth:`centre` subtracts from the vectors of each language (shrunk
        toward the prior; see :mod:`clusterer.debias`)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        return language_means(vectors, langs, shrink=self.language_shrink, prior=self.prior())

    def centre(
        self,
        vectors: np.ndarray,
        langs: Sequence[str | None],
        means: dict | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Language-centred vectors (see :mod:`clusterer.debias`), by ``means`` where
        given (else those of :meth:`centring_means`); only ``rows`` where given."""
        return center_by_language(
            vectors, langs, shrink=self.language_shrink, means=means, prior=self.prior(), rows=rows
        )

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
        means = self.centring_means(vectors, langs)
        is_article = np.array([it.kind == ARTICLE for it in items])
        days = [day_number(it.date) for it in items]

        if features is None:
            features = [TextFeatures.of(embedding_text(it), it.lang) for it in items]
        art = np.flatnonzero(is_article)
        teasers = np.flatnonzero(~is_article)
        # the articles' and the teasers' centred rows, each centred on its own: the
        # whole centred matrix is put together at the end, so the search and the
        # linkage never hold it next to a copy of the articles' rows (issue 25)
        xa = self.centre(vectors, langs, means, rows=art)
        xt = self.centre(vectors, langs, means, rows=teasers)
        a_days = [days[i] for i in art]
        # one neighbour index over the articles serves duplicates (the nearest
        # few), the story graph (columns are sorted, so a prefix is a smaller k)
        # and the teasers' search for their story
        dup_k = max(self.duplicates.neighbours, 1)
        step("neighbours", 0, 1)
        if len(art):
            (nbr_idx, nbr_sim), teaser_nearest = knn_with_queries(
                xa, max(dup_k, self.story_neighbours, 1), xt, min(self.teaser_neighbours, len(art))
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
        chars = [features[int(i)].chars for i in art]
        names = [features[int(i)].names for i in art]
        labels, events = link_stories(xa, chars, a_days, nbr_idx, nbr_sim, self.stories, groups, names)
        counts = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
        kept = [lab for lab in range(len(counts)) if counts[lab] >= self.stories.min_articles]
        story_of: list[int | None] = [None] * n
        event_of: list[int | None] = [None] * n
        for p, i in enumerate(art):
            if counts[labels[p]] >= self.stories.min_articles:
                story_of[int(i)] = int(labels[p])
                event_of[int(i)] = int(events[p])
        step("stories", 1, 1)
        step("teasers", 0, 1)
        joined = attach_teasers(
            xt, xa, labels, kept, self.stories, neighbours=self.teaser_neighbours, nearest=teaser_nearest
        )
        for i, lab in zip(teasers, joined):
            story_of[int(i)] = lab
        step("teasers", 1, 1)
        centred = np.empty((n, xa.shape[1]), dtype=np.float32)
        centred[art], centred[teasers] = xa, xt
        return Analysis(items, vectors, centred, story_of, dup_groups, event_of, days, evidence, aligner.seconds, means)

    # -- the whole run ----------------------------------------------------
    def run(self, source: Source) -> ClusterResult:
        """Cluster a corpus folder/file, or an iterable of records (``Record`` or dicts).

        The corpus is read, split and embedded ``read_batch`` records at a time
        (by ``executor``, where one is given); only each item's metadata, vector
        and duplicate features are kept, never the texts, so memory grows with the
        number of items, not their length."""
        t0 = time.perf_counter()
        if self.executor is not None:
            items, vectors, features, skipped, timings = self.executor.embed_corpus(self, source)
        else:
            items, vectors, features, skipped, timings = self._embed_corpus(source)
        if not items:
            raise CorpusError("no usable record in the corpus" + (f" ({len(skipped)} skipped)" if skipped else ""))
        t1 = time.perf_counter()
        analysis = self.analyse(items, vectors=vectors, features=features)
        timings["analyse"] = time.perf_counter() - t1
        timings["align"] = analysis.align_seconds  # part of "analyse"
        result = build_result(analysis, skipped, self._embedder().encoder.name)
        timings["total"] = time.perf_counter() - t0
        result.timings = timings
        return result

    def prepare(self, records: Sequence[Record]) -> tuple[list[Item], list[str], list[TextFeatures]]:
        """The items of ``records`` with their embedding texts (:meth:`prepare_texts`)
        and duplicate features."""
        items, texts = self.prepare_texts(records)
        return items, texts, [TextFeatures.of(text, it.lang) for text, it in zip(texts, items)]

    def prepare_texts(self, records: Sequence[Record]) -> tuple[list[Item], list[str]]:
        """The items of ``records`` (see :meth:`split`) and their embedding texts; the
        items without their text (memory stays bounded by the batch), its opening kept
        in ``meta["snippet"]``."""
        items = self.split(records)
        texts = [embedding_text(it) for it in items]
        for it in items:  # the split's own items, which nothing else holds: no copies
            it.meta["snippet"] = snippet(it.text, SNIPPET_CHARS)
            it.text = ""
        return items, texts

    def prepared(
        self, source: Source, skipped: list[Skipped]
    ) -> Iterator[tuple[list[Item], list[str], list[TextFeatures]]]:
        """The corpus prepared ``read_batch`` records at a time: per batch, what
        :meth:`prepare` gives (the items without their texts, their embedding texts,
        their duplicate features), in reading order; skipped inputs are appended to
        ``skipped`` as they are met. The local run's reading; an executor's
        :meth:`Executor.prepare_corpus` gives the same."""
        for batch in self._record_batches(source, skipped):
            yield self.prepare(batch)

    def prepared_texts(self, source: Source, skipped: list[Skipped]) -> Iterator[tuple[list[Item], list[str]]]:
        """:meth:`prepared` without the duplicate features (the nightly job's reading,
        which takes an unchanged item's from the state)."""
        for batch in self._record_batches(source, skipped):
            yield self.prepare_texts(batch)

    def _record_batches(self, source: Source, skipped: list[Skipped]) -> Iterator[list[Record]]:
        records = self.stream(source, skipped)
        while batch := list(islice(records, self.read_batch)):
            yield batch

    def _embed_corpus(self, source: Source) -> Corpus:
        """The local run's reading and embedding: ``read_batch`` records at a time."""
        timings = {"read": 0.0, "embed": 0.0}
        skipped: list[Skipped] = []
        items: list[Item] = []
        chunks: list[np.ndarray] = []
        features: list[TextFeatures] = []
        batches = self.prepared(source, skipped)
        report = self.progress or (lambda *a: None)
        total = _record_count(source) if self.progress else 0
        read = 0
        report("embedding", 0, total)
        while True:
            t = time.perf_counter()
            prepared = next(batches, None)
            if prepared is None:
                break
            batch_items, texts, batch_features = prepared
            size = sum(it.kind == ARTICLE for it in batch_items)  # records: one article each
            timings["read"] += time.perf_counter() - t
            t = time.perf_counter()

            def within(done: int, todo: int, before: int = read, size: int = size) -> None:
                report("embedding", before + size * done // max(todo, 1), total)

            chunks.append(self._embedder().embed(texts, progress=within if self.progress else None))
            read += size
            report("embedding", read, total)
            timings["embed"] += time.perf_counter() - t
            features.extend(batch_features)
            items.extend(batch_items)
        report("embedding", read, read)  # exact now: the count took in bad lines and files
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)
        return items, vectors, features, skipped, timings

    def from_embeddings(self, records: Iterable[Record | dict], vectors: np.ndarray | Sequence) -> ClusterResult:
        """Cluster records whose embeddings were computed already: ``vectors`` holds
        one row per record, in the order of ``records`` (``Record`` or dicts).

        Each record is one article, as given: a page is not split into its article
        and teasers (a teaser would need a vector of its own), and its text is not
        embedded, only read for the duplicate test and the snippets (cut at
        ``max_chars``, as ``run`` cuts a page). A record without ``lang`` gets one
        identified from its text. Rows are L2-normalised here (a copy: ``vectors``
        is not changed). The vectors must come from this clusterer's model: its
        language directions (the reference texts, unless ``use_prior=False``) and
        the sentence alignment of duplicate candidates are computed with it.

        Raises :class:`~clusterer.errors.CorpusError` for a record ``run`` would
        refuse (not a Record or dict, a repeated or reserved id) or for none at all,
        and ``ValueError`` for vectors that do not fit the records.
        """
        if isinstance(records, (str, Path)):
            raise TypeError("from_embeddings takes records (Record or dict), not a path; run() reads a corpus")
        t0 = time.perf_counter()
        given = list(self.stream(records, []))
        if not given:
            raise CorpusError("no record given")
        matrix = _unit_rows(vectors, [r.id for r in given])
        prior = self.prior()
        if prior is not None and prior.overall.shape[-1] != matrix.shape[1]:
            raise ValueError(
                f"the vectors have {matrix.shape[1]} dimensions, the model {self._embedder().encoder.name!r} "
                f"gives {prior.overall.shape[-1]}: give Clusterer the encoder that made them"
            )
        items: list[Item] = []
        for record in given:
            record, meta = self._cut(record)
            items.append(
                Item(
                    id=record.id,
                    doc=record.id,
                    kind=ARTICLE,
                    text=record.text,
                    title=record.title,
                    lang=record.lang,
                    date=record.date,
                    url=record.url,
                    meta=meta,
                    source=record.source,
                )
            )
        if self.language_id_ is None:
            self.language_id_ = LanguageIdentifier()
        self.language_id_.fill(items)
        t1 = time.perf_counter()
        analysis = self.analyse(items, vectors=matrix)
        result = build_result(analysis, [], self._embedder().encoder.name)
        result.timings = {
            "analyse": time.perf_counter() - t1,
            "align": analysis.align_seconds,
            "total": time.perf_counter() - t0,
        }
        return result

    def close(self) -> None:
        """Close the embeddings cache, and the executor's connection (a cluster's
        driver disconnects; the cluster itself goes on)."""
        if self.embedder_ is not None:
            self.embedder_.close()
            self.embedder_ = None
        if self.executor is not None:
            self.executor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _unit_rows(vectors: np.ndarray | Sequence, ids: Sequence[str]) -> np.ndarray:
    """``vectors`` as float32 rows of length one, one per id; ValueError, naming the
    record, for a shape that does not fit or a row that cannot be normalised."""
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"vectors must be a 2-D array of numbers, one row per record ({exc})") from None
    if matrix.ndim != 2 or (len(matrix) and matrix.shape[1] == 0):
        raise ValueError(f"vectors must be a 2-D array, one row per record; got shape {matrix.shape}")
    if len(matrix) != len(ids):
        raise ValueError(f"{len(matrix)} vectors for {len(ids)} records; give one row per record")
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"the vector of record {ids[row]!r} (row {row}) holds NaN or infinity")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise ValueError(f"the vector of record {ids[row]!r} (row {row}) is all zeros; it has no direction")
    return matrix / norms


def _record_count(source: Source) -> int:
    """How many records ``source`` holds, for progress (0: not known without reading it)."""
    if isinstance(source, (str, Path)):
        return count_records(source)
    return len(source) if isinstance(source, Sized) else 0


def _embed_unknown(embedder: Embedder, texts: list[str], known: dict[str, np.ndarray]) -> np.ndarray:
    """``embedder.embed(texts)``, with the vectors of ``known`` texts taken from it."""
    if not known:
        return embedder.embed(texts)
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    vectors = dict(zip(missing, embedder.embed(missing))) if missing else {}
    vectors.update((t, known[t]) for t in texts if t in known)
    return np.stack([vectors[t] for t in texts]).astype(np.float32, copy=False)
