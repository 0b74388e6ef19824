"""Executors built at the edge (the CLI, a script): the one place that names an
engine, imported by nothing in the pipeline.

The interface, :class:`~clusterer.pipeline.Executor`, is the pipeline's (it is
re-exported here); :class:`clusterer.distributed.RayExecutor` (Ray Data) is the one
engine so far. Dependencies point one way: this module imports the engine (only when
one is asked for), the engine imports the pipeline, the pipeline imports neither.
"""

from __future__ import annotations

from typing import Any

from .errors import RAY_EXTRA_HINT, ClusterError
from .pipeline import Executor

__all__ = ["RAY_EXTRA_HINT", "Executor", "ray_executor"]


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
