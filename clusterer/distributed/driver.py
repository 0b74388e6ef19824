"""The executor, on the driver: :class:`RayExecutor` connects to the cluster, runs the
prepare and embed jobs, and gives the pipeline what a local run gives.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..debias import reference_texts
from ..duplicates import TextFeatures
from ..errors import RAY_EXTRA_HINT, ClusterError, CorpusError
from ..read import Admission, RawInput, iter_inputs
from ..records import Item, Record, Skipped
from .cluster import _first_line, _portable, _run, worker_env
from .embedding import _Encode, _Plan, _text_block, _vectors
from .prepare import _INPUT_SCHEMA, _features, _item, _prepare, _units

if TYPE_CHECKING:
    from ..analysis import Corpus, Source
    from ..pipeline import Clusterer

UNITS_PER_BLOCK = 256  # inputs in one prepare task
CONNECT_TIMEOUT = 10.0  # seconds to wait for the cluster's address to answer


class RayExecutor:
    """Runs a run's reading, splitting and embedding on the Ray cluster at ``address``
    (``auto``: the cluster started on this machine, or ``RAY_ADDRESS``; ``host:port``;
    ``ray://host:port`` for Ray Client). ``workers`` is the number of embedding
    actors (default: the cluster's CPUs), each with ``cpus_per_worker`` CPUs.

    The connection is made on first use; an address where nothing answers is a
    :class:`~clusterer.errors.ClusterError` within ``connect_timeout`` seconds. Each
    node needs clusterer installed (with the same model available, or the default
    model converted on the node's first use)."""

    def __init__(
        self,
        address: str = "auto",
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        self.address = address or "auto"
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.connect_timeout = connect_timeout
        self._connected_here = False  # this executor called ray.init (and so ray.shutdown)
        self._ray: Any = None

    # -- the cluster ---------------------------------------------------------
    def _connect(self, encoder: Any = None):
        """Ray, connected on first use; ``encoder`` (the run's) tells the workers'
        environment which engine to run (see :func:`worker_env`)."""
        if self._ray is not None:
            return self._ray
        try:
            import ray
            import ray.data  # noqa: F401 - Ray Data is the part used
        except ImportError:
            raise ClusterError(f"--ray needs Ray Data, which is not installed: {RAY_EXTRA_HINT}") from None
        if not ray.is_initialized():
            self._check_address(ray)
            env = worker_env(encoder)
            # the driver's own C++ log lines (Ray's hints on actor arguments) stay off stderr;
            # what fails reaches the driver as an exception all the same
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
            try:
                ray.init(
                    address=self.address,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    runtime_env={"env_vars": env} if env else None,
                )
            except Exception as exc:  # noqa: BLE001 - whatever Ray raises becomes one line
                raise ClusterError(f"cannot connect to the Ray cluster at {self.address}: {_first_line(exc)}") from None
            self._connected_here = True
        for name in ("ray", "ray.data"):  # the jobs' own progress, plans and hints stay quiet
            logging.getLogger(name).setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.enable_auto_log_stats = False
        self._ray = ray
        return ray

    def _check_address(self, ray) -> None:
        """A ClusterError at once (not Ray's endless retries) when nothing answers."""
        address = self.address
        if address.startswith("ray://"):
            target = address[len("ray://") :]
        else:
            try:
                from ray._private.services import canonicalize_bootstrap_address

                target = canonicalize_bootstrap_address(address) or ""
            except ConnectionError as exc:  # "auto" and no cluster started on this machine
                raise ClusterError(f"no Ray cluster found ({_first_line(exc)})") from None
            except ValueError:
                raise ClusterError(
                    f"--ray {address}: not a Ray address (give auto, host:port or ray://host:port)"
                ) from None
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit():
            raise ClusterError(f"--ray {address}: not a Ray address (give auto, host:port or ray://host:port)")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=self.connect_timeout):
                pass
        except OSError as exc:
            shown = address if address == target else f"{address} ({target})"
            raise ClusterError(
                f"no Ray cluster answers at {shown}: {exc.strerror or exc}; start one with `ray start --head` "
                "or give its address"
            ) from None

    def _pool_size(self, batches: int) -> int:
        ray = self._connect()
        if self.workers:
            size = self.workers
        else:
            size = int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_worker)
        return max(1, min(size, batches))

    def close(self) -> None:
        if self._ray is not None and self._connected_here:
            self._ray.shutdown()
        self._ray = None
        self._connected_here = False

    # -- embedding batches -----------------------------------------------------
    def compute(self, encoder: Any, batches: Sequence[Sequence[str]]) -> Iterator[tuple[int, np.ndarray]]:
        """Encode ``batches`` on the actor pool; yield ``(index, vectors)`` as each is done."""
        if not batches:
            return
        ray = self._connect(encoder)
        blocks = [ray.put(_text_block(n, batch)) for n, batch in enumerate(batches)]
        yield from self._encode(encoder, blocks, [len(b) for b in batches])

    def _encode(self, encoder: Any, blocks: list, sizes: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        ray = self._connect()
        # the encoder travels in the actor class (not as a constructor argument, which Ray
        # keeps in the object store, where a restarted actor could miss it)
        actor = type("Encode", (_Encode,), {"encoder": _portable(encoder)})
        dataset = ray.data.from_arrow_refs(blocks).map_batches(
            actor,
            batch_size=None,  # one block, one batch: the batch the local run would encode
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=self._pool_size(len(blocks))),
            num_cpus=self.cpus_per_worker,
        )
        dataset.context.execution_options.preserve_order = False
        parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        got: dict[int, int] = {}
        for table in _run(dataset):
            ids = table.column("batch").to_numpy()
            rows = table.column("row").to_numpy()
            vectors = _vectors(table.column("vector"))
            for n in np.unique(ids):
                mine = ids == n
                parts.setdefault(int(n), []).append((rows[mine], vectors[mine]))
                got[int(n)] = got.get(int(n), 0) + int(mine.sum())
                if got[int(n)] == sizes[int(n)]:
                    order = np.concatenate([r for r, _ in parts[int(n)]])
                    stacked = np.concatenate([v for _, v in parts.pop(int(n))])
                    out = np.empty_like(stacked)
                    out[order] = stacked
                    yield int(n), out

    # -- a whole corpus ----------------------------------------------------------
    def prepare_corpus(
        self, clusterer: Clusterer, source: Source, skipped: list[Skipped]
    ) -> Iterator[tuple[list[Item], list[str], list[TextFeatures]]]:
        """Read and split ``source`` on the cluster (the prepare job of the module's
        docstring), ``read_batch`` records at a time, as ``Clusterer.prepared`` does
        locally."""
        ray = self._connect(clusterer._embedder().encoder)
        blocks, _ = self._input_blocks(clusterer, source, ray)
        yield from self._prepared(clusterer, source, blocks, skipped)

    def _prepared(
        self, clusterer: Clusterer, source: Source, blocks: list, skipped: list[Skipped]
    ) -> Iterator[tuple[list[Item], list[str], list[TextFeatures]]]:
        """The prepare job over the input ``blocks``: its rows admitted in reading
        order (ids checked across the corpus as the local reader checks them) and
        grouped into ``read_batch`` records."""
        ray = self._connect()
        params = {
            "max_chars": clusterer.max_chars,
            "duplicates": clusterer.duplicates,
            "model": clusterer._embedder().encoder.name,
        }
        dataset = ray.data.from_arrow_refs(blocks).map_batches(
            _prepare, fn_kwargs={"params": params}, batch_size=None, batch_format="pyarrow", num_cpus=1
        )
        dataset.context.execution_options.preserve_order = True  # the driver admits records in reading order
        admission = Admission() if isinstance(source, (str, Path)) else None
        items: list[Item] = []  # of the read_batch records read since the last batch given
        texts: list[str] = []  # their embedding texts
        features: list[TextFeatures] = []
        records = 0
        for table in _run(dataset):
            for unit in _units(table):
                first = unit[0]
                if first["skip"] is not None:
                    skipped.append(Skipped(**json.loads(first["skip"])))
                    continue
                if admission is not None:
                    refused = admission.check(Record(id=first["doc"], text=""), first["path"], first["line"])
                    if refused is not None:
                        skipped.append(refused)
                        continue
                for row in unit:
                    items.append(_item(row))
                    features.append(_features(row))
                    texts.append(row["text"])
                records += 1
                if records == clusterer.read_batch:
                    yield items, texts, features
                    items, texts, features, records = [], [], [], 0
        if records:
            yield items, texts, features
        if admission is not None:
            admission.finish(Path(str(source)), skipped)

    def embed_corpus(self, clusterer: Clusterer, source: Source) -> Corpus:
        """Read, split and embed ``source`` on the cluster (see the module's docstring)."""
        t0 = time.perf_counter()
        report = clusterer.progress or (lambda *a: None)
        embedder = clusterer._embedder()
        encoder = embedder.encoder
        ray = self._connect(encoder)
        timings = {"connect": time.perf_counter() - t0, "read": 0.0, "embed": 0.0}

        # 1. prepare: the inputs, read here, parsed and split on the cluster
        t = time.perf_counter()
        report("reading", 0, 1)
        blocks, total = self._input_blocks(clusterer, source, ray)
        items: list[Item] = []
        features: list[TextFeatures] = []
        skipped: list[Skipped] = []
        plan = _Plan(embedder, ray)
        # each read_batch records' texts planned as the local run embeds them
        for batch_items, texts, batch_features in self._prepared(clusterer, source, blocks, skipped):
            plan.add(list(range(len(items), len(items) + len(batch_items))), texts)
            items.extend(batch_items)
            features.extend(batch_features)
        if not items:
            raise CorpusError("no usable record in the corpus" + (f" ({len(skipped)} skipped)" if skipped else ""))
        # the reference texts of the language prior: in the same job (cached as a local run caches them)
        if clusterer.use_prior and clusterer.prior_ is None and embedder.cache is not None:
            plan.add(None, [text for _, text in reference_texts()])
        timings["read"] = time.perf_counter() - t
        report("reading", 1, 1)

        # 2. embed: the cache's misses on the actor pool, stored as they come back
        t = time.perf_counter()
        todo = plan.size()
        done = 0
        report("embedding", 0, total)
        for n, vectors in self._encode(encoder, plan.blocks, plan.sizes) if plan.blocks else ():
            plan.done(n, vectors)
            done += len(vectors)
            report("embedding", total * done // max(todo, 1) if todo else total, total)
        report("embedding", len({it.doc for it in items}), len({it.doc for it in items}))
        timings["embed"] = time.perf_counter() - t
        return items, plan.vectors(len(items)), features, skipped, timings

    def _input_blocks(self, clusterer: Clusterer, source: Source, ray) -> tuple[list, int]:
        """The corpus's inputs as Arrow blocks in the object store, in reading
        order, and how many records they hold at most (for progress)."""
        import pyarrow as pa

        entries: Iterable[RawInput | Skipped | Record]
        if isinstance(source, (str, Path)):
            entries = iter_inputs(source)
        else:  # records in memory: checked here as the local run checks them
            entries = clusterer.stream(source, [])
        blocks: list = []
        rows: dict[str, list] = {"unit": [], "path": [], "line": [], "data": [], "record": [], "skip": []}
        total = 0
        for n, entry in enumerate(entries):
            rows["unit"].append(n)
            rows["path"].append(entry.path if isinstance(entry, (RawInput, Skipped)) else None)
            rows["line"].append(entry.line if isinstance(entry, (RawInput, Skipped)) else None)
            rows["data"].append(entry.data if isinstance(entry, RawInput) else None)
            rows["record"].append(json.dumps(asdict(entry)) if isinstance(entry, Record) else None)
            rows["skip"].append(json.dumps(asdict(entry)) if isinstance(entry, Skipped) else None)
            total += not isinstance(entry, Skipped)
            if len(rows["unit"]) == UNITS_PER_BLOCK:
                blocks.append(ray.put(pa.table(rows, schema=_INPUT_SCHEMA())))
                rows = {k: [] for k in rows}
        if rows["unit"] or not blocks:
            blocks.append(ray.put(pa.table(rows, schema=_INPUT_SCHEMA())))
        return blocks, total
