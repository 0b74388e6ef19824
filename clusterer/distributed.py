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

from .debias import reference_texts
from .duplicates import TextFeatures
from .embed.cache import text_key
from .embed.encoders import LazyEncoder
from .embed.select import ENGINE_ENV
from .errors import RAY_EXTRA_HINT, ClustererError, ClusterError, CorpusError
from .read import Admission, RawInput, iter_inputs, parse_input
from .records import Item, Record, Skipped

if TYPE_CHECKING:
    import pyarrow as pa

    from .analysis import Corpus, Source
    from .embed.cache import Embedder
    from .pipeline import Clusterer

UNITS_PER_BLOCK = 256  # inputs in one prepare task
CONNECT_TIMEOUT = 10.0  # seconds to wait for the cluster's address to answer
# the driver's settings the workers need, read by them where set on the driver (they do not
# inherit its environment); CLUSTERER_ENGINE, where not set, is the driver's engine choice (worker_env)
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", ENGINE_ENV)


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


class _Plan:
    """The driver's side of the embed job: which texts the cache lacks, in the
    batches a local run would compute, and where each item's vector comes from."""

    def __init__(self, embedder: Embedder, ray: Any) -> None:
        self.embedder = embedder
        self.ray = ray
        self.blocks: list = []  # one Arrow block of texts per batch, in the object store
        self.sizes: list[int] = []
        self.keys: list[list[str]] = []  # per batch
        self.results: dict[int, np.ndarray] = {}
        self.source: dict[int, np.ndarray | tuple[int, int]] = {}  # item -> vector, or (batch, row)
        self.pending: dict[str, tuple[int, int]] = {}  # key -> (batch, row) of texts sent earlier

    def add(self, positions: list[int] | None, texts: list[str]) -> None:
        """Plan one group's texts (``positions``: its items; None: texts no item needs)."""
        cached = self.embedder.cache is not None  # a local run finds an earlier group's texts in its cache
        keys, found, batches = self.embedder.plan(texts, known=self.pending if cached else ())
        where = dict(self.pending) if cached else {}
        for idx in batches:
            n = len(self.blocks)
            self.blocks.append(self.ray.put(_text_block(n, [texts[i] for i in idx])))
            self.sizes.append(len(idx))
            self.keys.append([keys[i] for i in idx])
            for row, i in enumerate(idx):
                where[keys[i]] = (n, row)
        if cached:
            self.pending.update(where)
        for p, key in zip(positions or (), keys):
            self.source[p] = found[key] if key in found else where[key]

    def size(self) -> int:
        return sum(self.sizes)

    def done(self, n: int, vectors: np.ndarray) -> None:
        self.embedder.store(self.keys[n], vectors)
        self.results[n] = vectors

    def vectors(self, count: int) -> np.ndarray:
        rows = []
        for p in range(count):
            got = self.source[p]
            rows.append(self.results[got[0]][got[1]] if isinstance(got, tuple) else got)
        return np.stack(rows).astype(np.float32)


# -- what runs on the cluster ------------------------------------------------------
class _Encode:
    """An embedding actor: loads the model once (on its first batch), then encodes
    whole batches. ``encoder`` is set on a subclass per job."""

    encoder: Any = None

    def __call__(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        ids = table.column("batch").to_numpy()
        rows = table.column("row").to_numpy()
        texts = table.column("text").to_pylist()
        out_ids, out_rows, out_vecs = [], [], []
        for n in dict.fromkeys(ids.tolist()):  # a block holds one batch; more if Ray joined blocks
            mine = np.flatnonzero(ids == n)
            vectors = np.asarray(self.encoder.encode([texts[i] for i in mine]), dtype=np.float32)
            out_ids.append(ids[mine])
            out_rows.append(rows[mine])
            out_vecs.append(vectors)
        vectors = np.concatenate(out_vecs)
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        return pa.table(
            {
                "batch": np.concatenate(out_ids),
                "row": np.concatenate(out_rows),
                "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )


_splitters: dict = {}  # per worker process: (max_chars, duplicates) -> Clusterer (its language model loaded once)


def _prepare(table: pa.Table, params: dict) -> pa.Table:
    """A prepare task: parse, split and describe each input of the block (one row
    per item, or one row with ``skip`` for an input that cannot be used)."""
    import pyarrow as pa

    from .pipeline import Clusterer

    key = (params["max_chars"], params["duplicates"])
    if key not in _splitters:
        _splitters[key] = Clusterer(encoder=None, cache_embeddings=False, max_chars=key[0], duplicates=key[1])
    splitter = _splitters[key]
    out: dict[str, list] = {name: [] for name in _OUTPUT_FIELDS}

    def emit(**fields) -> None:
        for name in _OUTPUT_FIELDS:
            out[name].append(fields.get(name))

    for row in table.to_pylist():
        unit, path, line = row["unit"], row["path"], row["line"]
        if row["skip"] is not None:
            emit(unit=unit, path=path, line=line, skip=row["skip"])
            continue
        if row["record"] is not None:
            parsed: Record | Skipped = Record(**json.loads(row["record"]))
        else:
            parsed = parse_input(RawInput(path, row["data"], line))
            if isinstance(parsed, Record):
                parsed.source = path
        if isinstance(parsed, Skipped):
            emit(unit=unit, path=path, line=line, skip=json.dumps(asdict(parsed)))
            continue
        items, texts, features = splitter.prepare([parsed])
        for it, text, f in zip(items, texts, features):
            emit(
                unit=unit,
                path=path,
                line=line,
                id=it.id,
                doc=it.doc,
                kind=it.kind,
                title=it.title,
                lang=it.lang,
                date=it.date,
                url=it.url,
                source=it.source,
                meta=json.dumps(it.meta),
                key=text_key(params["model"], text),
                text=text,
                sketch=np.asarray(f.sketch, dtype=np.uint64).tobytes(),
                grams=f.grams,
                chars=f.chars,
                sentences=f.sentences,
                figures=sorted(f.figures),
                names=sorted(f.names),
            )
    return pa.table(out, schema=_OUTPUT_SCHEMA())


_OUTPUT_FIELDS = (
    "unit",
    "path",
    "line",
    "skip",
    "id",
    "doc",
    "kind",
    "title",
    "lang",
    "date",
    "url",
    "source",
    "meta",
    "key",
    "text",
    "sketch",
    "grams",
    "chars",
    "sentences",
    "figures",
    "names",
)


def _INPUT_SCHEMA():  # noqa: N802 - a constant, built when pyarrow is imported
    import pyarrow as pa

    return pa.schema(
        [
            ("unit", pa.int64()),
            ("path", pa.string()),
            ("line", pa.int64()),
            ("data", pa.binary()),
            ("record", pa.string()),
            ("skip", pa.string()),
        ]
    )


def _OUTPUT_SCHEMA():  # noqa: N802 - a constant, built when pyarrow is imported
    import pyarrow as pa

    text = {"path", "skip", "id", "doc", "kind", "title", "lang", "date", "url", "source", "meta", "key", "text"}
    types = {"unit": pa.int64(), "line": pa.int64(), "grams": pa.int64(), "chars": pa.int64()}
    types.update({"sketch": pa.binary(), "sentences": pa.binary()})
    types.update({"figures": pa.list_(pa.string()), "names": pa.list_(pa.string())})
    return pa.schema([(name, pa.string() if name in text else types[name]) for name in _OUTPUT_FIELDS])


# -- helpers -------------------------------------------------------------------------
def worker_env(encoder: Any = None) -> dict[str, str]:
    """The environment the workers run in: the driver's ``FORWARDED_ENV`` where set,
    and ``CLUSTERER_ENGINE``, where not set here, the engine ``encoder`` runs on this
    machine (the default model's choice for this CPU, as a local run loads it: cached,
    or measured once): every worker then runs the driver's engine, whatever its CPU,
    and the vectors are those of a run here."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    choice = getattr(encoder, "engine_choice", None)
    if ENGINE_ENV not in env and callable(choice):
        env[ENGINE_ENV] = choice()
    return env


def _text_block(n: int, texts: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table({"batch": [n] * len(texts), "row": list(range(len(texts))), "text": list(texts)})


def _vectors(column) -> np.ndarray:
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    return np.asarray(array.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(array), -1)


def _units(table: pa.Table) -> Iterator[list[dict]]:
    """The rows of a prepare block, grouped by input (consecutive rows of one unit)."""
    rows = table.to_pylist()
    start = 0
    for end in range(1, len(rows) + 1):
        if end == len(rows) or rows[end]["unit"] != rows[start]["unit"]:
            yield rows[start:end]
            start = end


def _item(row: dict) -> Item:
    return Item(
        id=row["id"],
        doc=row["doc"],
        kind=row["kind"],
        text="",
        title=row["title"],
        lang=row["lang"],
        date=row["date"],
        url=row["url"],
        meta=json.loads(row["meta"]),
        source=row["source"],
    )


def _features(row: dict) -> TextFeatures:
    return TextFeatures(
        np.frombuffer(row["sketch"], dtype=np.uint64).copy(),
        row["grams"],
        row["chars"],
        row["sentences"],
        frozenset(row["figures"]),
        frozenset(row["names"]),
    )


def _portable(encoder: Any) -> Any:
    """The encoder as sent to each actor: a lazy one not yet loaded (a loaded model
    is not shipped; each actor loads its own)."""
    if isinstance(encoder, LazyEncoder):
        return LazyEncoder(encoder.name, encoder._load)
    return encoder


def _run(dataset) -> Iterator[pa.Table]:
    """The output blocks of ``dataset``; a failure on the cluster as one error line
    (a clusterer error raised on a worker, such as a model that cannot load, as itself)."""
    try:
        yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")
    except ClustererError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever Ray raises becomes one line
        cause: BaseException | None = exc
        while cause is not None:
            inner = getattr(cause, "cause", None)
            if isinstance(inner, ClustererError):
                raise inner from None
            if isinstance(cause, ClustererError):
                raise cause from None
            cause = inner if isinstance(inner, BaseException) else cause.__cause__
        raise ClusterError(f"the Ray cluster failed the work: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
