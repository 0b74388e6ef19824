"""What the driver and the cluster's workers share: the environment the workers run in
(:func:`worker_env`), the encoder as sent to them, and a Ray Data job's output with
its failures as one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..embed.encoders import LazyEncoder
from ..embed.select import ENGINE_ENV
from ..errors import ClustererError, ClusterError

if TYPE_CHECKING:
    import pyarrow as pa


# the driver's settings the workers need, read by them where set on the driver (they do not
# inherit its environment); CLUSTERER_ENGINE, where not set, is the driver's engine choice (worker_env)
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", ENGINE_ENV)


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
