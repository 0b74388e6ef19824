"""Starting and stopping the service: the checks made before it listens, the
writer thread, the state read once, uvicorn."""

from __future__ import annotations

from ..nightly.feed import Feed
from . import require_server
from .auth import check_host
from .validation import DEFAULT_MAX_BODY
from .writer import Writer


def serve(
    feed: Feed,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    on_ready=None,
) -> None:
    """Serve ``feed`` until stopped (Ctrl-C, SIGTERM): ServeError before listening
    if the extra is missing or a host beyond loopback has no token; the state's
    errors (StateError, StateLocked) if it cannot be read. ``on_ready(url)`` is
    called once the state is read, before uvicorn starts."""
    require_server()
    check_host(host, token)
    import uvicorn

    from .app import create_app

    writer = Writer(idle=feed.refresh).start()
    try:
        writer.submit(feed.open).result()  # the state read on the writer's thread, which keeps its connection
        if on_ready is not None:
            on_ready(f"http://{host}:{port}")
        app = create_app(feed, writer, token=token, max_body=max_body)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        writer.stop()
