"""Nearest neighbours by cosine similarity: the only package that knows about kNN.

Vectors are L2-normalised float32 rows (what every :class:`~clusterer.embed.encoders.Encoder`
returns), so cosine similarity is a dot product.

Two ways to search, one result shape:

* **exact**: blocked matrix products, ``chunk`` query rows at a time against all
  base rows, so memory stays O(chunk * n) and never n x n. Ties are broken by the
  lower index, so the answer is fully determined by the data.
* **hnsw**: HNSW graphs (faiss's ``IndexHNSWSQ`` on fp16 copies of the rows, or
  ``IndexHNSWFlat``; inner product; from the ``faiss-cpu`` wheels), each built in
  one go from all its rows with a fixed seed, so the same rows always give the
  same graphs and the same answer whatever the number of cores: one graph of all
  rows for the searches here (n log n), shards of 100k consecutive rows for the
  nightly job's growing :class:`NeighbourIndex` (:data:`GROWING`);
  queries run on several threads (they only read).
  Candidates are sorted like the exact path and their similarities are the true
  float32 dot products (computed here from the rows); only the recall is approximate: >= 0.97 at
  k = 10..30 on clustered 384-d data (tests, ``benchmarks/bench_ann.py``).

``method="auto"`` is exact up to :data:`EXACT_MAX_ITEMS` base rows and hnsw above.

Padding: results always have exactly ``k`` columns. When fewer than ``k``
neighbours exist (``n - 1 < k`` for :func:`knn`), the missing columns hold index
``-1`` and similarity ``-inf``, so array code (means over the top k, margins) can
mask them with ``np.isfinite``. Results are sorted, so ``idx[:, :j]`` of a call
with ``k`` is the answer for any ``j <= k``: call once with the largest k needed.

Its parts: :mod:`.exact` (the checks, the exact search, :func:`top_k`, the result shape),
:mod:`.hnsw` (the sharded faiss graphs and :class:`HnswParams`), :mod:`.search` (the
three searches) and :mod:`.index` (:class:`NeighbourIndex`, the nightly job's).
"""

from .exact import EXACT_MAX_ITEMS, METHODS, _exact, top_k
from .hnsw import HnswParams, _ShardedGraph
from .index import GROWING, NeighbourIndex
from .search import knn, knn_between, knn_with_queries

__all__ = [
    "EXACT_MAX_ITEMS",
    "GROWING",
    "METHODS",
    "HnswParams",
    "NeighbourIndex",
    "knn",
    "knn_between",
    "knn_with_queries",
    "top_k",
    "_ShardedGraph",  # tests count its builds
    "_exact",  # tests compare the fast path against it
]
