"""Process identities that survive pid reuse, and finding a provider process left behind by a crash.

An identity is `host:pid:start`, where `start` is the boot id and the process's start time in
clock ticks since boot (Linux `/proc/<pid>/stat`, field 22). A pid that is reused after the
process ended has a different start time, so a dead holder is never mistaken for a live one.
Where /proc is missing the start part is empty and only the pid is checked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_HOST = socket.gethostname()


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


_BOOT = _boot_id()


def _start_ticks(pid: int) -> str | None:
    """The process's start time in ticks since boot; None when it does not exist or has exited (a zombie)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = stat[stat.rfind(")") + 2:].split()
    if fields and fields[0] in ("Z", "X"):  # exited, not yet reaped by its parent
        return None
    return fields[19] if len(fields) > 19 else ""


@dataclass(frozen=True)
class ProcessIdentity:
    """A process on a host, told apart from any later process that reuses its pid."""

    host: str
    pid: int
    start: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}"

    @classmethod
    def parse(cls, text: str) -> ProcessIdentity | None:
        """Read `host:pid:start` (or the older `host:pid`)."""
        parts = text.split(":")
        if len(parts) >= 3 and parts[-2].isdigit():
            return cls(":".join(parts[:-2]), int(parts[-2]), parts[-1])
        if len(parts) >= 2 and parts[-1].isdigit():
            return cls(":".join(parts[:-1]), int(parts[-1]), "")
        return None

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        """The identity of a running process on this host."""
        ticks = _start_ticks(pid)
        return cls(_HOST, pid, f"{_BOOT}.{ticks}" if ticks else "")

    def alive(self) -> bool:
        """Whether this very process still runs (on another host: cannot be seen from here, so no)."""
        if self.host != _HOST:
            return False
        if self.start:
            ticks = _start_ticks(self.pid)
            if ticks is None:
                return False
            if ticks:
                return self.start == f"{_BOOT}.{ticks}"
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


THIS_PROCESS = ProcessIdentity.of(os.getpid())


def holder_alive(holder: str | None) -> bool:
    """Whether the process recorded as `holder` is another live process (this one counts as not)."""
    if not holder:
        return False
    identity = ProcessIdentity.parse(holder)
    return identity is not None and identity != THIS_PROCESS and identity.alive()


def processes_with_env(name: str, value: str) -> list[ProcessIdentity]:
    """Live processes of this user whose environment has `name=value` (a provider and its children)."""
    marker = f"{name}={value}".encode()
    found = []
    with contextlib.suppress(OSError):
        for entry in _PROC.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(ProcessIdentity.of(int(entry.name)))
    return [p for p in found if p.start or p.alive()]


def terminate(processes: list[ProcessIdentity], sig: int = signal.SIGTERM) -> None:
    """Signal each process (and its process group, when it leads one) that is still the same process."""
    for process in processes:
        if not process.alive():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, sig)
            else:
                os.kill(process.pid, sig)
