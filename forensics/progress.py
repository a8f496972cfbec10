"""Progress of long work, as one line on a terminal: which input, how far, how fast.

``load`` and ``write_parquet`` call a ``progress`` callback after each batch they read with
(path, bytes read, bytes in the file, lines read); ``Bar`` is the callback the CLI passes: it
stays silent for work that ends within ``delay`` seconds, then redraws one line in place, e.g.
``reading A920-0007.log  [#########...........]  45%  47 MB of 104 MB  0.9M lines  210k lines/s``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

#: (path, bytes read so far, bytes in the file or 0 when unknown, lines read so far)
Callback = Callable[[str, int, int, int], None]


def _count(n: float) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


class Bar:
    """A progress line on ``stream``, drawn once the work has lasted ``delay`` seconds."""

    def __init__(
        self,
        stream: TextIO | None = None,
        delay: float = 2.0,
        width: int = 20,
        clock: Callable[[], float] | None = None,
    ):
        self.stream = stream or sys.stderr
        self.delay, self.width = delay, width
        self.clock = clock or time.monotonic
        self.started = self.clock()
        self.shown = False
        self._path: str | None = None
        self._path_started = self.started

    def __call__(self, path: str, done: int, total: int, lines: int) -> None:
        """Show how far the reading of ``path`` is (see ``Callback``)."""
        now = self.clock()
        if path != self._path:
            self._path, self._path_started = path, now
        if now - self.started < self.delay:
            return
        elapsed = max(now - self._path_started, 1e-6)
        name = Path(path).name[-40:]
        if total > 0:
            share = min(done / total, 1.0)
            filled = round(share * self.width)
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%}  {_count(done)}B of {_count(total)}B"
        else:
            bar = f"{_count(done)}B"
        self._draw(f"reading {name}  {bar}  {_count(lines)} lines  {_count(lines / elapsed)} lines/s")

    def stage(self, message: str) -> None:
        """Say what the work is doing now (``building the timeline``), when the line is shown."""
        if self.shown or self.clock() - self.started >= self.delay:
            self._draw(message)

    def close(self) -> None:
        """End the progress line, so what follows starts on a line of its own."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def _draw(self, text: str) -> None:
        self.stream.write(f"\r\x1b[K{text[:119]}")
        self.stream.flush()
        self.shown = True
