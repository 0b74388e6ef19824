"""The nightly job: cluster a growing corpus incrementally, with stable ids.

``Nightly(state_path, clusterer).update(corpus)`` runs one night in steps:

1. read the corpus in batches against the stored rows, embedding only new or
   changed items (changed = the content hash of the embedded text differs) and
   keeping no texts (:func:`~clusterer.nightly.tonight.read_tonight`);
2. compare it with the state: new, changed, deleted, kept
   (:func:`~clusterer.nightly.diff.diff`);
3. place the items (:mod:`clusterer.nightly.assign`): the first run on an empty
   state, and ``rebuild``, are full batch runs (:meth:`Clusterer.analyse` on the
   stored vectors plus the new ones) whose clusters get ids by maximum overlap
   with the stored ones; other nights place the new and changed items among the
   stored ones (:mod:`clusterer.nightly.placement`);
4. build the state's rows and the :class:`~clusterer.nightly.changes.ChangeReport`
   (:func:`~clusterer.nightly.outcome.build_outcome`), and write the state in one
   transaction.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..debias import center_by_language
from ..duplicates import TextFeatures
from ..errors import StateError, is_damaged_database, is_disk_full
from ..neighbours.saved import SavedGraphs
from ..pipeline import Clusterer
from ..result import ClusterResult, build_result, truncated_pages, unrecognised_languages
from .assign import Means, Placement, assign_batch, assign_incremental, batch_means, update_means
from .changes import ChangeReport
from .diff import Diff, Stored, diff, missing
from .outcome import build_outcome, features_to_store, seal
from .snapshot import state_result
from .state import State, StateLock, means_by_lang
from .tonight import Tonight, read_tonight

__all__ = ["Nightly", "ChangeReport"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------- the job


class Nightly:
    """Incremental clustering of a corpus that grows night after night.

    >>> report = Nightly("state.sqlite", Clusterer()).update("corpus/")   # doctest: +SKIP
    >>> print(report.summary())                                         # doctest: +SKIP

    ``candidates`` is how many stored nearest neighbours of a new item are
    looked at to find the stories it may join. ``graphs`` keeps the neighbour
    graphs of the stored items between nights (:mod:`clusterer.neighbours.saved`;
    by default in the folder ``<state>.graphs`` beside the state).
    """

    def __init__(
        self,
        state_path: str | Path,
        clusterer: Clusterer | None = None,
        candidates: int = 30,
        graphs: SavedGraphs | None = None,
    ):
        self.state_path = Path(state_path)
        self.clusterer = clusterer if clusterer is not None else Clusterer()
        self.candidates = candidates
        self.graphs = graphs if graphs is not None else SavedGraphs(graphs_folder(self.state_path))

    def update(self, corpus: str | Path, rebuild: bool = False) -> ChangeReport:
        """Bring the state up to date with ``corpus``; raise StateError if another
        run holds the state, or the state was built with another model."""
        with StateLock(self.state_path), State(self.state_path) as state:
            try:
                return self._run(state, corpus, rebuild)
            except sqlite3.DatabaseError as exc:  # the run's one transaction is rolled back
                raise StateError(_state_failure(self.state_path, exc)) from None

    def rebuild(self, corpus: str | Path) -> ChangeReport:
        """Re-cluster everything (stored vectors, new items embedded), keeping ids by overlap."""
        return self.update(corpus, rebuild=True)

    def result(self) -> ClusterResult:
        """The state as it stands, as a :class:`ClusterResult` (what the story browser
        shows; see :func:`clusterer.nightly.snapshot.state_result`). Read under the lock, so
        never halfway through a run: StateError while one holds it."""
        if not self.state_path.exists():
            raise StateError(f"no state at {self.state_path}")
        with StateLock(self.state_path), State(self.state_path) as state:
            try:
                return state_result(state)
            except sqlite3.DatabaseError as exc:
                raise StateError(_state_failure(self.state_path, exc)) from None

    # -- one run ---------------------------------------------------------------
    def _run(self, state: State, corpus, rebuild: bool) -> ChangeReport:
        t0 = time.perf_counter()
        started = _now()
        clusterer = self.clusterer
        model = clusterer._embedder().encoder.name
        state.check_model(model)
        run_id = state.next_run_id()
        clusterer.prior()  # embedded before counting, so `embedded` counts corpus items only
        full = rebuild or state.is_empty()
        kind = "rebuild" if rebuild else ("batch" if full else "update")
        report = ChangeReport(
            run=run_id, kind=kind, state=str(self.state_path), corpus=str(corpus), model=model, started=started
        )
        next_story, next_dup, next_event = state.counters()
        stored = Stored(
            state.items(), state.stories(), state.dup_groups(), next_story, next_dup, next_event, state.events()
        )

        held = state.feature_ids()
        stored_features = _features_of(state)
        tonight = read_tonight(
            clusterer,
            corpus,
            stored.rows,
            state.vectors,
            reuse_stored=full,
            stored_features=stored_features,
            held=None if full else held,  # a batch run takes every item's features in hand
        )
        then = state.skipped_in_runs(r.last_seen for r in missing(tonight.hashes, stored.rows))
        delta = diff(tonight.hashes, stored.rows, tonight.skipped, then)
        report.skipped = [asdict(s) for s in tonight.skipped]
        report.truncated = truncated_pages(tonight.items)
        report.unrecognised_lang = unrecognised_languages(tonight.items)
        report.timings["read"] = time.perf_counter() - t0 - tonight.embed_seconds  # with the model, prior, diff
        report.timings["embed"] = tonight.embed_seconds

        t2 = time.perf_counter()
        placement, means = self.place(
            state.means(),
            stored,
            tonight,
            delta,
            full,
            stored_features,
            None if full else state.places(),
            state.vectors,
        )
        report.timings["place"] = time.perf_counter() - t2

        changes = build_outcome(report, stored, tonight, delta, placement, means)
        # features of what is placed tonight, and of any item whose features the state lacks
        changes.features = features_to_store(tonight, delta.fresh | (tonight.position.keys() - held))
        report.timings["total"] = time.perf_counter() - t0
        seal(report, changes, _now())
        state.commit(model, changes)
        return report

    def place(
        self,
        stored_means: Means,
        stored: Stored,
        tonight: Tonight,
        delta: Diff,
        full: bool,
        fetch: Callable[[Sequence[str]], Mapping[str, TextFeatures]] | None = None,
        places: Mapping[str, int] | None = None,
        stored_vectors: Callable[[Sequence[str]], np.ndarray] | None = None,
    ) -> tuple[Placement, Means]:
        """Where tonight's items go, and the language means to store: a batch run over
        everything (``full``), or tonight's new and changed items placed among the rest
        (``stored_means``: the state's, :meth:`State.means`; ``fetch``: the stored
        features of the items tonight holds without, by id; ``places``: every state
        row's place, by which the stored items' neighbour graphs are kept,
        :attr:`graphs`, with ``stored_vectors`` giving the raw vectors of the rows not
        searched tonight, which stay in their graphs). A night's placement, and
        a post's where :class:`~clusterer.nightly.feed.Feed` cannot place it on what it
        keeps (the same steps, :func:`~clusterer.nightly.assign.place_among`)."""
        clusterer = self.clusterer
        kept = [stored.rows[i] for i in delta.kept]
        if full:
            analysis = clusterer.analyse(tonight.items, vectors=tonight.vectors, features=tonight.features_in_hand())
            result = build_result(analysis, tonight.skipped, clusterer._embedder().encoder.name)
            stories = [s.members for s in result.stories]
            dups = [g.members for g in result.duplicate_groups]
            events = [e.members for e in result.events]
            means = batch_means(tonight.langs, tonight.vectors, analysis.language_means)
            return assign_batch(stored, stories, dups, kept, events), means
        langs = tonight.langs
        means = update_means(stored_means, langs, tonight.vectors, clusterer.language_shrink, clusterer.prior())
        centred = center_by_language(tonight.vectors, langs, means=means_by_lang(means))
        fresh = [it.id in delta.fresh for it in tonight.items]
        index = None
        if places is not None and stored_vectors is not None:
            ids = [it.id for it in tonight.items]
            rows = [k for k, new in enumerate(fresh) if not new]
            searched = {ids[k] for k in rows}
            gone = [i for i in places if i not in searched]  # deleted, unread, or changed tonight
            gone_x = (
                center_by_language(
                    stored_vectors(gone), [stored.rows[i].lang for i in gone], means=means_by_lang(means)
                )
                if gone
                else centred[:0]
            )
            index = self.graphs.index(
                ids, centred, rows, [places[ids[k]] for k in rows], (gone, gone_x, [places[i] for i in gone])
            )
        placement = assign_incremental(
            stored,
            tonight.items,
            tonight.features,
            centred,
            fresh,
            kept,
            duplicates=clusterer.duplicates,
            stories=clusterer.stories,
            candidates=self.candidates,
            aligner=clusterer.aligner(),
            chars=tonight.chars or None,
            fetch=fetch,
            index=index,
        )
        return placement, means


def graphs_folder(state_path: Path) -> Path:
    """Where a state's saved neighbour graphs go: ``<state>.graphs`` beside it."""
    return state_path.with_name(state_path.name + ".graphs")


def _features_of(state: State) -> Callable[[Sequence[str]], dict[str, TextFeatures]]:
    """The stored duplicate features of ids (without their openings)."""
    return lambda ids: {i: f for i, (f, _) in state.features(ids).items()}


def _state_failure(path: Path, exc: sqlite3.DatabaseError) -> str:
    """One line for a state that could not be read or written, and what to do."""
    text = str(exc)
    if is_disk_full(exc):
        return (
            f"no room left to write the state {path} ({text}); nothing of tonight's run was written: "
            "free some space and run again"
        )
    if is_damaged_database(exc):
        return (
            f"the state {path} is damaged ({text}); restore it from a backup, or move it away "
            "to start again from an empty state"
        )
    return f"the state {path} could not be read or written ({text}); nothing of tonight's run was written"
