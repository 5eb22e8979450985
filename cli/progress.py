"""Progress of long work (a ten-million-row feed, a morning run) on a terminal: one line on
stderr, rewritten in place a few times a second. Nothing at all when stderr is not a terminal
(piped, redirected, in CI): the output of a command is then exactly its result."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from storage.db import Progress

REFRESH_S = 0.2


class TerminalProgress:
    """A :data:`storage.db.Progress` that rewrites one status line of a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last_s = 0.0
        self.shown = False

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last_s < REFRESH_S:
            return
        self.last_s = now
        self.stream.write(f"\r\x1b[K{message}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


@contextmanager
def terminal_progress(stream: TextIO | None = None) -> Iterator[Progress | None]:
    """A progress reporter for the block if ``stream`` (stderr) is a terminal, else None; the
    status line is cleared when the block ends."""
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():
        yield None
        return
    progress = TerminalProgress(stream)
    try:
        yield progress
    finally:
        progress.clear()
