"""``cluster serve``: the nightly state over HTTP, items placed as they arrive.

One module per responsibility: :mod:`.app` (the routes), :mod:`.writer` (the one
thread that writes), :mod:`.validation` (what a request may hold), :mod:`.auth`
(the bearer token and the hosts that need one). The placing itself is the
library's :class:`~clusterer.nightly.feed.Feed`. FastAPI and uvicorn come with the
``serve`` extra and are imported only here, when a service starts.
"""

from __future__ import annotations

from ..errors import ServeError

EXTRA_HINT = "pip install -e '.[serve]' (or clusterer[serve])"


def require_server() -> None:
    """ServeError, naming the extra, where FastAPI or uvicorn is not installed."""
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            raise ServeError(f"cluster serve needs {module}, which is not installed: {EXTRA_HINT}") from None


__all__ = ["require_server", "EXTRA_HINT"]
