"""The bots under test as real processes: Opscord (`python -m bot`) and the bare baseline.

Each process gets its own emulator (see :mod:`bot.bench.world`), its own log file and, for
Opscord, a fresh config and SQLite database in the run's temporary directory. Both are started
with the same interpreter, outside the repository (so no `.env` is read), and stopped with SIGINT
(a graceful close), SIGKILL if that does not end them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.bench.config import service_names, write_config
from bot.bench.world import TOKEN, BenchGuild

Side = Literal["bare", "opscord", "floor"]
SIDES: tuple[Side, Side] = ("bare", "opscord")
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def child_env() -> dict[str, str]:
    """The bench's environment without anything that would point a bot elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "OPSCORD_", "BENCH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def command_for(side: Side, guild: BenchGuild, workdir: Path, services: int) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run ``side`` against ``guild``'s emulator."""
    env = child_env() | {"DISCORD_TOKEN": TOKEN, "DISCORD_API_BASE_URL": guild.emu.api_base_url,
                         "DISCORD_GATEWAY_URL": guild.emu.gateway_url}
    if side == "bare":
        return [sys.executable, "-m", "bot.bench.bare"], env | {"BENCH_GUILD_ID": str(guild.guild_id)}
    if side == "floor":  # the bare bot, each answer after one durable audit row in Opscord's store
        workdir.mkdir(parents=True, exist_ok=True)
        return [sys.executable, "-m", "bot.bench.bare"], env | {"BENCH_GUILD_ID": str(guild.guild_id),
                                                                  "BENCH_AUDIT_DB": str(workdir / "floor.db")}
    config = write_config(workdir / "opscord.toml", guild.guild_id, service_names(services))
    env |= {"OPSCORD_CONFIG": str(config), "OPSCORD_DB": str(workdir / "opscord.db"),
            "OPSCORD_HTTP_LISTEN": "127.0.0.1:0"}
    return [sys.executable, "-m", "bot"], env


@dataclass(frozen=True)
class StartSample:
    """One process start, in seconds since spawn, and its RSS once it answered."""

    synced_s: float
    connected_s: float
    first_answer_s: float
    rss: int


@dataclass
class BotProcess:
    """One bot process, its emulator and how many commands it has been sent."""

    side: Side
    guild: BenchGuild
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    commands_sent: int = 0
    start_sample: StartSample = field(default_factory=lambda: StartSample(math.nan, math.nan, math.nan, 0))
    rss_samples: list[tuple[int, int]] = field(default_factory=list)
    """(commands sent so far, RSS bytes) after each measured burst."""

    @property
    def log_path(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.workdir / f"{self.side}.log"

    async def start(self, services: int) -> None:
        """Spawn the process; the clock for start-up times starts here."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv, env = command_for(self.side, self.guild, self.workdir, services)
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                *argv, cwd=self.workdir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT)

    @property
    def pid(self) -> int:
        """The process id (it must have been started)."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.returncode is None

    def rss(self) -> int:
        """Resident set size in bytes, from /proc (0 if the process is gone)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used, from /proc (0 if it is gone)."""
        return process_cpu_seconds(self.pid)

    def sample_rss(self) -> None:
        """Remember the RSS at the current command count."""
        self.rss_samples.append((self.commands_sent, self.rss()))

    def rss_after(self, commands: int) -> tuple[int, int] | None:
        """The first sample taken once at least ``commands`` had been sent, as (commands, bytes)."""
        return next(((n, rss) for n, rss in self.rss_samples if n >= commands), None)

    def log_tail(self, lines: int = 15) -> str:
        """The end of the process's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _error_lines(self) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback")]

    def logged_errors(self) -> int:
        """How many ERROR lines and tracebacks the process has logged so far."""
        return len(self._error_lines())

    def first_error(self) -> str | None:
        """The first ERROR line it logged (shortened), if any."""
        lines = [line for line in self._error_lines() if " ERROR " in line]
        return lines[0][:200] if lines else None

    async def stop(self) -> None:
        """SIGINT, then SIGKILL after a grace period; then stop its emulator."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        await self.guild.stop()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ProcessStartError(RuntimeError):
    """A bot did not come up; the message carries the end of its log."""


async def wait_for(proc: BotProcess, what: str, predicate: object, timeout: float = START_TIMEOUT_S) -> float:  # noqa: ASYNC109
    """Wait until ``predicate()`` holds (re-checked on every emulator change); seconds since spawn."""
    assert callable(predicate)

    def done() -> bool:
        if not proc.alive():
            return True
        return bool(predicate())

    try:
        await proc.guild.emu.wait_until(done, timeout)
    except TimeoutError:
        raise ProcessStartError(f"{proc.side} did not reach '{what}' within {timeout:g}s:\n{proc.log_tail()}") from None
    if not proc.alive():
        raise ProcessStartError(f"{proc.side} exited before '{what}':\n{proc.log_tail()}")
    return time.monotonic() - proc.started_at
