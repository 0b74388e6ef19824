"""The per-record work of a run on a Ray cluster, with Ray Data.

``Clusterer(executor=RayExecutor("auto"))`` (``cluster PATH --ray``) runs a corpus in
two Ray Data jobs, and the clustering on the driver (this process) as a local run does:

1. **prepare**: ``map_batches`` tasks over the corpus's inputs, one row per page
   file or JSONL line (its bytes, read here; the cluster needs no shared storage),
   parse, cut at ``max_chars``, split into article and teasers, identify the
   language, and compute each item's embedding text, its content hash (the cache
   key) and its duplicate features. The rows come back in input order, as Arrow
   blocks; the driver checks ids across the corpus (repeated ids, reserved ones) as
   the local reader does.
2. **embed**: the driver looks the hashes up in its own SQLite cache and plans the
   misses exactly as the local run does (``read_batch`` records at a time, each
   text once, similar lengths together, ``batch_size`` texts a batch); only those
   batches go to an actor pool whose actors each load the model once, and each
   batch's vectors are stored in the cache as they come back. The reference texts
   of the language prior go in the same job, so a cold run starts its actors once.

The nightly job (``cluster update --ray``) runs the prepare job alone
(:meth:`RayExecutor.prepare_corpus`, ``read_batch`` records at a time to the
driver), then takes unchanged items' vectors from its state.

Every later embedding (the sentences of the alignment test, the nightly job's new
items) goes through :meth:`RayExecutor.compute`: the driver's cache first, the
misses to the actors. A batch whose actor dies (a killed process, a lost node) is
run again by Ray on a new actor; a batch's vectors do not depend on which actor
ran it. Every worker runs the driver's embedding engine (:func:`worker_env`), so the
vectors are those of a run on the driver whatever the workers' CPUs, up to the last
bits where the thread counts differ (a worker runs as many as its CPUs; docs/ray.md's
"Same result" says where matrix products round differently).

Why the driver's cache and not a store on shared storage: it needs no shared
storage at all (SQLite must not live on NFS, and a Parquet store there would need
its own compaction and locking), a lookup is local and exact, and a vector is
1.5 KB, small beside the text that must reach the actor anyway.

Its parts: :mod:`.driver` (:class:`RayExecutor`: the connection, the two jobs),
:mod:`.prepare` (the prepare job's tasks and its rows), :mod:`.embedding` (the embed
job's plan and actors) and :mod:`.cluster` (what driver and workers share: the
workers' environment, a job's output and failures). Only :mod:`clusterer.executor`
imports this package (when ``--ray`` asks for it); it imports the pipeline, never
the other way.
"""

from .cluster import FORWARDED_ENV, _portable, worker_env
from .driver import CONNECT_TIMEOUT, UNITS_PER_BLOCK, RayExecutor

__all__ = ["RayExecutor", "worker_env", "FORWARDED_ENV", "CONNECT_TIMEOUT", "UNITS_PER_BLOCK", "_portable"]
