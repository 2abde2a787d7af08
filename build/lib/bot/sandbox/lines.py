"""Where console lines come from: a script file (echoed with its prompt) or standard input.

Standard input is read on a daemon thread, one line per request, so the event loop keeps running
(the bot answers, operations progress) while the console waits, and Ctrl-C or the end of the
session never waits for a blocked read.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class LineSource(Protocol):
    """Gives the console its next line, or None at the end."""

    stops_on_error: bool
    """Whether a console error ends the session (a script) or is only shown (a person typing)."""

    async def read(self, prompt: str) -> str | None:
        """The next line (without its newline), or None at the end of input."""

    @property
    def location(self) -> str:
        """Where the last line came from, for error messages (``demo.txt line 7``)."""


class ScriptLines:
    """Lines of a file; ``#`` comments and blank lines are echoed and skipped, commands echoed with the prompt."""

    stops_on_error = True

    def __init__(self, path: Path, out: Callable[[str], None]) -> None:
        self.path = path
        self.out = out
        self._lines = path.read_text(encoding="utf-8").splitlines()
        self._index = 0

    @property
    def location(self) -> str:
        """``demo.txt line 7``."""
        return f"{self.path.name} line {self._index}"

    async def read(self, prompt: str) -> str | None:
        """The next command line, echoed after ``prompt`` as if typed."""
        while self._index < len(self._lines):
            line = self._lines[self._index].rstrip()
            self._index += 1
            if not line.strip() or line.lstrip().startswith("#"):
                self.out(line)
                continue
            self.out(prompt + line)
            return line
        return None


class StdinLines:
    """Standard input: with readline editing on a terminal; echoed after the prompt when piped."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.stops_on_error = False
        self._tty = sys.stdin.isatty()
        self._count = 0
        self._requests: queue.Queue[tuple[str, asyncio.Future[str | None]]] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="sandbox-stdin", daemon=True)
        self._thread.start()

    @property
    def location(self) -> str:
        """``stdin line 3``."""
        return f"stdin line {self._count}"

    async def read(self, prompt: str) -> str | None:
        """Ask the reader thread for one line."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._requests.put((prompt, future))
        line = await future
        if line is None:
            if self._tty:
                self.out("")
            return None
        self._count += 1
        if not self._tty:
            self.out(prompt + line)
        return line

    def _serve(self) -> None:
        while True:
            prompt, future = self._requests.get()
            line: str | None
            try:
                if self._tty:
                    line = input(prompt)
                else:
                    raw = sys.stdin.readline()
                    line = raw.rstrip("\r\n") if raw else None
            except (EOFError, OSError, ValueError):
                line = None
            loop = future.get_loop()
            with contextlib.suppress(RuntimeError):  # the loop has closed: the session is over
                loop.call_soon_threadsafe(_resolve, future, line)


def _resolve(future: asyncio.Future[str | None], line: str | None) -> None:
    if not future.done():
        future.set_result(line)


def enable_line_editing() -> None:
    """Arrow keys and history at an interactive prompt, where the platform has readline."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - importing it is what enables editing in input()
