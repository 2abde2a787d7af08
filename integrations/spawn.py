"""Starting a child process without stalling the event loop.

``asyncio.create_subprocess_exec`` forks on the event loop's thread: from a process of ~100 MiB
that blocks every other command for about a millisecond per spawn (copying page tables, then
Python 3.11's child watcher starting a thread per child). Here the fork happens on a worker
thread, and the loop only learns of the exit through a pidfd (Linux ≥ 5.3) it watches like any
socket; where pidfds are missing a worker thread waits for the child instead.

The child is started exactly as ``subprocess.Popen`` starts it (never a shell, ``close_fds``);
its output arrives on an ``asyncio.StreamReader``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Child", "start"]


@dataclass
class Child:
    """A running (or finished) child process and its merged stdout/stderr."""

    pid: int
    stdout: asyncio.StreamReader | None
    _exited: asyncio.Future[int] = field(repr=False)
    _transport: asyncio.BaseTransport | None = field(default=None, repr=False)

    @property
    def returncode(self) -> int | None:
        """Exit status (negative: the signal that ended it), None while it runs."""
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        """Wait for the child to exit; its exit status."""
        return await asyncio.shield(self._exited)

    def close(self) -> None:
        """Close the output pipe early (it closes itself at end of file; the child is not signalled)."""
        if self._transport is not None:
            self._transport.close()


def _status(raw: int) -> int:
    return os.waitstatus_to_exitcode(raw)


def _watch(loop: asyncio.AbstractEventLoop, popen: subprocess.Popen[bytes], exited: asyncio.Future[int]) -> None:
    """Resolve ``exited`` when the child ends: a pidfd on the loop, or a thread blocked in waitpid."""
    pid = popen.pid
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfds here: a worker thread waits instead
        def reaped(done: asyncio.Future[int]) -> None:
            if not exited.done():
                if done.exception() is not None:
                    exited.set_exception(done.exception())  # type: ignore[arg-type]
                else:
                    exited.set_result(done.result())
        asyncio.ensure_future(asyncio.to_thread(popen.wait)).add_done_callback(reaped)
        return

    def readable() -> None:
        try:
            reaped, raw = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # somebody else reaped it: its status is lost
            reaped, raw = pid, 255 << 8
        if reaped == 0:
            return
        loop.remove_reader(pidfd)
        os.close(pidfd)
        popen.returncode = _status(raw)  # so Popen never waits for (or warns about) it again
        if not exited.done():
            exited.set_result(popen.returncode)

    loop.add_reader(pidfd, readable)


async def start(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None = None,
                start_new_session: bool = False, capture: bool = True) -> Child:
    """Start ``argv`` (stdin from /dev/null; stdout and stderr merged into ``Child.stdout`` when ``capture``).

    Raises ``OSError`` as ``subprocess.Popen`` does when the program cannot be started.
    """
    loop = asyncio.get_running_loop()
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    # The caller's preparation (templates, environment, scrubber) ran in this loop step: hand the fork to
    # its thread in a step of its own, so no one step does both (each stays well under 0.2 ms).
    await asyncio.sleep(0)
    popen = await asyncio.to_thread(
        subprocess.Popen, list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        env=dict(env), cwd=cwd, start_new_session=start_new_session, close_fds=True)
    exited: asyncio.Future[int] = loop.create_future()
    _watch(loop, popen, exited)
    if not capture or popen.stdout is None:
        return Child(popen.pid, None, exited)
    await asyncio.sleep(0)  # the pidfd's reader and the pipe's transport in separate steps too
    reader = asyncio.StreamReader(loop=loop)
    try:
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                                    popen.stdout)
    except BaseException:
        with contextlib.suppress(OSError):
            popen.stdout.close()
        raise
    return Child(popen.pid, reader, exited, transport)
