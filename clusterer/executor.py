"""Where a run's per-record work happens: the interface between the pipeline and
an engine that spreads it over machines.

By default (``Clusterer(executor=None)``) everything runs in this process. An
executor takes over three things and nothing else: reading and splitting a
corpus (:meth:`Executor.prepare_corpus`, which gives the prepared items, their
embedding texts and duplicate features batch by batch, as
:meth:`~clusterer.pipeline.Clusterer.prepared` does locally; the nightly job
reads its corpus this way), reading, splitting and embedding a whole corpus
(:meth:`Executor.embed_corpus`, which gives back the items, their raw vectors and
duplicate features, as the local loop does), and computing batches of
embeddings the cache does not hold (:meth:`Executor.compute`, used by every
other embedding: the reference texts, the sentences of the alignment test, the
nightly job's new items). The clustering itself always runs here, with the same
code. :class:`clusterer.distributed.RayExecutor` is the one engine so far (Ray Data).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import ClusterError

if TYPE_CHECKING:
    from .duplicates import TextFeatures
    from .pipeline import Clusterer, Corpus, Source
    from .records import Item, Skipped

RAY_EXTRA_HINT = "pip install -e '.[ray]'"


class Executor(Protocol):
    def prepare_corpus(
        self, clusterer: Clusterer, source: Source, skipped: list[Skipped]
    ) -> Iterator[tuple[list[Item], list[str], list[TextFeatures]]]:
        """Read and split ``source`` as :meth:`Clusterer.prepared
        <clusterer.pipeline.Clusterer.prepared>` does locally: per ``read_batch``
        records, the items (copies without their texts, their opening in
        ``meta["snippet"]``), their embedding texts and duplicate features, in the
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


def ray_executor(address: str = "auto", **options: Any) -> Executor:
    """A :class:`~clusterer.distributed.RayExecutor` for the Ray cluster at ``address``
    (``auto``, ``host:port`` or ``ray://host:port``); ``ClusterError`` in one line
    when Ray is not installed."""
    try:
        import ray  # noqa: F401 - only whether it is there
    except ImportError:
        raise ClusterError(f"--ray needs Ray, which is not installed: {RAY_EXTRA_HINT}") from None
    from .distributed import RayExecutor

    return RayExecutor(address, **options)
