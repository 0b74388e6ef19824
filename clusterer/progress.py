"""Progress of a run on stderr, for people: tqdm bars on a terminal, plain lines in a log.

The pipeline reports ``progress(step, done, total)`` (see
:data:`clusterer.pipeline.Progress`): a named step (``embedding`` counts the
corpus's records; ``reference texts`` the model's reference set, once per model;
``neighbours``, ``duplicates``, ``stories``, ``teasers`` run once each) with how
much of it is done. ``total`` is 0 when it is not known.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

UNITS = {"embedding": "records", "reference texts": "texts"}
PLAIN_EVERY = 10.0  # seconds between two plain lines of one step


class TerminalProgress:
    """Renders the pipeline's progress on ``stream`` (stderr by default).

    On a terminal each step with a count is a tqdm bar (count, rate, ETA); in a
    log, a plain line when a step starts, every ten seconds, and when it ends,
    with the rate and the time left. Steps without a count are a line when they
    start and one when they end. ``quiet`` shows nothing.
    """

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bars: dict[str, Any] = {}  # step -> its tqdm bar
        self._closed: set = set()  # steps whose bar reached its end (until they start again)
        self._started: dict[str, float] = {}
        self._last: dict[str, tuple] = {}  # step -> (time, done) of its last line

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.quiet or (done == 0 and total == 0):  # nothing to do (all of it cached)
            return
        if self.tty and step in UNITS:
            self._bar(step, done, total)
        else:  # a step without a count is a line when it starts and when it ends
            self._line(step, done, total)

    def _bar(self, step: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(step)
        if bar is None and step in self._closed and (not total or done >= total):
            return  # the end of a step already shown as ended
        if bar is None:
            self._closed.discard(step)
            bar = tqdm(
                total=total or None,
                desc=step,
                unit=" " + UNITS.get(step, "steps"),
                file=self.stream,
                leave=True,
                dynamic_ncols=True,
                smoothing=0.1,
            )
            self._bars[step] = bar
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if total and done >= total:
            bar.close()
            del self._bars[step]
            self._closed.add(step)

    def _line(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        if step not in self._started:
            if step in self._closed and (finished or done):
                return  # the end of a step already shown as ended
            self._closed.discard(step)
            self._started[step] = now
        start = self._started[step]
        last_time, last_done = self._last.get(step, (start, -1))
        if done == last_done or (done and not finished and now - last_time < PLAIN_EVERY):
            return
        self._last[step] = (now, done)
        unit = UNITS.get(step)
        if unit is None:  # a step without a count: say when it starts and ends
            if done == 0 and not finished:
                print(f"{step}…", file=self.stream, flush=True)
            elif finished:
                print(f"{step}: done in {now - start:.1f} s", file=self.stream, flush=True)
                self._end(step)
            return
        elapsed = now - start
        rate = done / elapsed if elapsed > 0 else 0.0
        count = f"{done:,}/{total:,}" if total else f"{done:,}"
        line = f"{step}: {count} {unit}"
        if done and not finished:
            line += f", {rate:,.1f}/s"
            if total and rate > 0:
                line += f", about {_duration((total - done) / rate)} left"
        if finished:
            line += f" in {_duration(elapsed)}"
            self._end(step)
        print(line, file=self.stream, flush=True)

    def _end(self, step: str) -> None:
        self._started.pop(step, None)
        self._last.pop(step, None)
        self._closed.add(step)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
