"""integrations.spawn: children started off the event loop, their output, exit status and reaping."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from integrations import spawn

ENV = {"PATH": "/usr/bin:/bin"}


async def test_output_and_exit_status_arrive_on_the_loop():
    child = await spawn.start(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], env=ENV)
    assert child.stdout is not None
    output = await child.stdout.read()
    assert await child.wait() == 3
    assert child.returncode == 3
    assert output.splitlines() == [b"out", b"err"]
    with pytest.raises(ChildProcessError):  # reaped: no zombie is left behind
        os.waitpid(child.pid, os.WNOHANG)


async def test_a_signal_is_a_negative_status_and_a_new_session_leads_its_group():
    child = await spawn.start(["/bin/sleep", "30"], env=ENV, start_new_session=True, capture=False)
    assert os.getpgid(child.pid) == child.pid
    assert child.returncode is None
    os.killpg(child.pid, signal.SIGTERM)
    assert await asyncio.wait_for(child.wait(), 5) == -signal.SIGTERM


async def test_a_missing_program_raises_as_popen_does(tmp_path):
    with pytest.raises(FileNotFoundError):
        await spawn.start([str(tmp_path / "nope")], env=ENV)


async def test_without_pidfds_a_thread_waits(monkeypatch):
    def no_pidfd(pid: int) -> int:
        raise OSError("pidfd_open not supported")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    child = await spawn.start(["/bin/sh", "-c", "echo hi; exit 4"], env=ENV)
    assert child.stdout is not None
    assert await child.stdout.read() == b"hi\n"
    assert await child.wait() == 4

