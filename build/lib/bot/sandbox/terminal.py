"""Leaving the terminal as it was found, even when Ctrl-C ends the session in the middle of a read."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def restored_terminal() -> Iterator[None]:
    """Save the terminal's settings on entry and put them back on exit (no-op when stdin is no terminal).

    Line editing switches the terminal out of its usual mode while it waits for a line; if the session
    ends during that wait, the terminal would otherwise stay without echo.
    """
    try:
        import termios
    except ImportError:  # not on this platform
        yield
        return
    saved = None
    with contextlib.suppress(OSError, ValueError, termios.error):
        if sys.stdin.isatty():
            saved = termios.tcgetattr(sys.stdin.fileno())
    try:
        yield
    finally:
        if saved is not None:
            with contextlib.suppress(OSError, ValueError, termios.error):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
