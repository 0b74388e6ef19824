"""The service's one writer: a thread that runs the writes one at a time, in the
order they came, and between them, when idle, looks whether another process
(``cluster update``) wrote the state."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class Writer:
    """Runs submitted calls one at a time on its own thread; ``idle`` is called
    whenever no call has come for ``idle_every`` seconds."""

    def __init__(self, idle: Callable[[], Any] | None = None, idle_every: float = 2.0):
        self._jobs: queue.Queue = queue.Queue()
        self._idle = idle
        self._idle_every = idle_every
        self._thread = threading.Thread(target=self._loop, name="clusterer-writer", daemon=True)
        self._stopping = False

    def start(self) -> Writer:
        self._thread.start()
        return self

    def submit(self, call: Callable[[], Any]) -> Future:
        """Queue ``call``; its Future holds what it returns or raises."""
        future: Future = Future()
        if self._stopping:
            future.set_exception(RuntimeError("the service is stopping"))
        else:
            self._jobs.put((call, future))
        return future

    @property
    def waiting(self) -> int:
        """Calls queued and not yet started."""
        return self._jobs.qsize()

    def stop(self, timeout: float | None = None) -> None:
        """Finish the call under way and those queued, then end the thread."""
        self._stopping = True
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_every)
            except queue.Empty:
                if self._idle is not None:
                    with contextlib.suppress(Exception):  # a failed look is tried again when next idle
                        self._idle()
                continue
            if job is None:
                return
            call, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)
