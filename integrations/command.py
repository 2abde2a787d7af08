"""A provider that runs a configured local command for each operation.

Each action has an argv template such as ``["./deploy.sh", "--service={service}", "{version}"]``.
The command is started off the event loop (``integrations.spawn``, never a shell) and each
placeholder is replaced inside its own argv element only, so a value like ``v1; rm -rf /`` reaches
the program as one literal argument and is never interpreted. A value that would start an argv
element with ``-`` is refused, so it cannot be read as an option either. The request is also
available to the command as ``OPSCORD_*`` environment variables.

Exit status 0 means success; any other status gives a failed ``OperationResult`` whose sentence
gives the exit status ("The deploy of api v2 to staging failed (exit 1)."). A command that outruns
its timeout is stopped (its whole process group) and raises ``UpstreamTimeout``. Health commands
follow the Nagios convention: 0 healthy, 1 degraded, 2 down, anything else unknown.

A script may print what it must not (a secret from its environment, a ``set -x`` trace), so its
output is always scrubbed of every value of its environment except ``PATH`` and of anything
credential-shaped (``integrations.scrub``), and the sentences show it only when the provider opts
in with ``show_output``: then the last output line follows the exit status, and is a health
command's summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from integrations import spawn
from integrations.base import Action, HealthReport, HealthStatus, OperationRequest, OperationResult, ProviderPlan
from integrations.errors import ConfigurationError, ProviderFailed, UpstreamTimeout
from integrations.progress import report_spawn
from integrations.scrub import Scrubber
from integrations.templates import TemplateError, render, validate

__all__ = ["COMMAND_KINDS", "CommandProvider"]

COMMAND_KINDS: Final = frozenset({"deploy", "rollback", "scale", "migrate", "health", "current_replicas",
                                   "pending_migration"})
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_NAGIOS = {0: HealthStatus.HEALTHY, 1: HealthStatus.DEGRADED, 2: HealthStatus.DOWN}


def _label(kind: str) -> str:
    """How sentences name a command: "deploy command", "replica-count command"."""
    return {"current_replicas": "replica-count command", "pending_migration": "pending-migration command"}.get(
        kind, f"{kind} command")


@dataclass(frozen=True)
class _Finished:
    """A command that ran to completion."""

    exit_code: int
    output: str
    seconds: float

    @property
    def last_line(self) -> str:
        """The last non-empty output line, shortened (unscrubbed: for parsing, not for people)."""
        return _last_line(self.output)

    @property
    def ending(self) -> str:
        """How the command ended, for a sentence: "exit 3", "killed by signal 9"."""
        return f"exit {self.exit_code}" if self.exit_code >= 0 else f"killed by signal {-self.exit_code}"


def _last_line(output: str) -> str:
    """The last non-empty line of ``output``, shortened."""
    line = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "")
    return line if len(line) <= 200 else line[:199] + "…"


class CommandProvider:
    """Runs argv templates per action; implements Deployer, Scaler, Migrator and HealthChecker.

    Args:
        templates: argv template per kind: ``deploy``, ``rollback``, ``scale``, ``migrate``,
            ``health``, ``current_replicas`` (its last output line is the replica count) and
            ``pending_migration`` (its last output line names the migration ``migrate`` would run).
        timeout: Seconds a command may run before its process group is stopped.
        env: The command's base environment (``PATH`` only when None); never the bot's own
            environment, so the bot's secrets do not leak into scripts.
        cwd: Working directory.
        output_limit: Bytes of output kept (the last ones).
        kill_grace: Seconds between SIGTERM and SIGKILL when stopping a command.
        system: Name of the system in errors (sentences name the command: "The deploy command …").
        show_output: Whether sentences show the command's last output line (scrubbed); off, they
            give the exit status only. ``OperationResult.output`` always holds the scrubbed output.

    Attributes:
        scrubber: Removes every value of ``env`` except ``PATH`` (and credential shapes) from what
            the command printed.
    """

    def __init__(
        self,
        templates: Mapping[str, Sequence[str]],
        *,
        timeout: float = 600.0,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        output_limit: int = 64 * 1024,
        kill_grace: float = 2.0,
        system: str = "Command provider",
        show_output: bool = False,
    ) -> None:
        for kind, argv in templates.items():
            if kind not in COMMAND_KINDS:
                raise ConfigurationError(system, f"The command provider has an unknown command kind {kind!r}")
            if not argv:
                raise ConfigurationError(system, f"The {_label(kind)} is empty")
            try:
                for element in argv:
                    validate(element)
            except TemplateError as exc:
                raise ConfigurationError(system, f"The {_label(kind)} is invalid: {exc}") from None
        self.templates = {kind: list(argv) for kind, argv in templates.items()}
        self.timeout = timeout
        self.env = dict(env) if env is not None else {"PATH": _DEFAULT_PATH}
        self.cwd = cwd
        self.output_limit = output_limit
        self.kill_grace = kill_grace
        self.system = system
        self.show_output = show_output
        self.scrubber = Scrubber(value for name, value in self.env.items() if name != "PATH")

    @property
    def supported_actions(self) -> frozenset[Action]:
        """The operations that have a command configured."""
        actions: tuple[Action, ...] = ("deploy", "rollback", "scale", "migrate")
        return frozenset(a for a in actions if a in self.templates)

    @property
    def has_health_check(self) -> bool:
        """Whether a ``health`` command is configured (``check`` answers "unknown" otherwise)."""
        return "health" in self.templates

    async def deploy(self, request: OperationRequest) -> OperationResult:
        """Run the ``deploy`` command."""
        return await self._operate("deploy", request)

    async def rollback(self, request: OperationRequest) -> OperationResult:
        """Run the ``rollback`` command."""
        return await self._operate("rollback", request)

    async def scale(self, request: OperationRequest) -> OperationResult:
        """Run the ``scale`` command."""
        return await self._operate("scale", request)

    async def migrate(self, request: OperationRequest) -> OperationResult:
        """Run the ``migrate`` command."""
        return await self._operate("migrate", request)

    async def current_replicas(self, service: str, environment: str) -> int | None:
        """Run the ``current_replicas`` command and parse its last line; None when not configured."""
        if "current_replicas" not in self.templates:
            return None
        values = {"service": service, "environment": environment, "action": "current_replicas"}
        done = await self._execute("current_replicas", values)
        if done.exit_code != 0:
            raise ProviderFailed(self.system, f"The {_label('current_replicas')} failed ({self._reason(done)})",
                                 output=self._output(done))
        try:
            return int(done.last_line)
        except ValueError:
            printed = (f"printed {self._shown_line(done)!r} instead of a number" if self.show_output
                       else "did not print a number on its last line")
            raise ProviderFailed(self.system, f"The {_label('current_replicas')} {printed}",
                                 output=self._output(done)) from None

    async def plan(self, request: OperationRequest) -> ProviderPlan:
        """For a migration: the name the ``pending_migration`` command prints on its last line (it must change
        nothing). Other operations have no plan beyond the request itself."""
        if request.action != "migrate" or "pending_migration" not in self.templates:
            return ProviderPlan()
        values = {"service": request.service, "environment": request.environment, "action": "pending_migration"}
        done = await self._execute("pending_migration", values)
        if done.exit_code != 0:
            raise ProviderFailed(self.system, f"The {_label('pending_migration')} failed ({self._reason(done)})",
                                 output=self._output(done))
        return ProviderPlan(migration=self._shown_line(done) or "(none pending)")

    async def check(self, service: str, environment: str) -> HealthReport:
        """Run the ``health`` command (0 healthy, 1 degraded, 2 down, else unknown)."""
        if "health" not in self.templates:
            return HealthReport(HealthStatus.UNKNOWN, f"No health command is configured for {service}")
        values = {"service": service, "environment": environment, "action": "health"}
        try:
            done = await self._execute("health", values)
        except UpstreamTimeout as exc:
            return HealthReport(HealthStatus.UNKNOWN, str(exc))
        status = _NAGIOS.get(done.exit_code, HealthStatus.UNKNOWN)
        shown = self._shown_line(done) if self.show_output else ""
        return HealthReport(status, shown or f"{service} in {environment} is {status.value}")

    async def _operate(self, kind: Action, request: OperationRequest) -> OperationResult:
        """Run the command for ``kind`` and turn its exit status into a result."""
        if kind not in self.templates:
            raise ConfigurationError(self.system, f"No {_label(kind)} is configured")
        values = {
            "service": request.service,
            "environment": request.environment,
            "version": request.version,
            "replicas": None if request.replicas is None else str(request.replicas),
            "request_id": request.request_id,
            "action": request.action,
            "previous_version": request.previous_version,
        }
        extra_env = {"OPSCORD_REQUESTER": request.requester}
        done = await self._execute(kind, values, extra_env)
        what = request.describe()
        details = {"exit_code": done.exit_code, "duration_seconds": round(done.seconds, 3)}
        output = self._output(done)
        if done.exit_code == 0:
            return OperationResult(True, f"The {what} succeeded.", output=output, details=details)
        return OperationResult(False, f"The {what} failed ({self._reason(done)}).", output=output, details=details)

    async def _execute(
        self, kind: str, values: Mapping[str, str | None], extra_env: Mapping[str, str] | None = None
    ) -> _Finished:
        """``_run``; a command that timed out leaves with its output scrubbed."""
        try:
            return await self._run(kind, values, extra_env)
        except UpstreamTimeout as exc:
            self.scrubber.error(exc)
            raise

    def _output(self, done: _Finished) -> str:
        """The command's output, scrubbed. Output cut to its last ``output_limit`` bytes starts with a
        piece of a line (perhaps of a secret no longer recognisable): that piece is dropped."""
        output = done.output
        if len(output.encode(errors="replace")) >= self.output_limit:
            output = output.partition("\n")[2]
        return self.scrubber.text(output)

    def _shown_line(self, done: _Finished) -> str:
        """The last output line as sentences show it: scrubbed first, then shortened."""
        return _last_line(self._output(done))

    def _reason(self, done: _Finished) -> str:
        """How the command ended, for a sentence: the exit status, and the last line when shown."""
        line = self._shown_line(done) if self.show_output else ""
        return f"{done.ending}: {line}" if line else done.ending

    def _argv(self, kind: str, values: Mapping[str, str | None]) -> list[str]:
        """Render the argv template; each placeholder stays inside its own element."""
        argv: list[str] = []
        for element in self.templates[kind]:
            try:
                rendered = render(element, values)
            except TemplateError as exc:
                raise ConfigurationError(
                    self.system, f"The {_label(kind)} cannot run: {exc} in this request"
                ) from None
            if "\0" in rendered:
                raise ProviderFailed(self.system, f"Refusing to run the {_label(kind)}: a value contains NUL")
            if rendered.startswith("-") and element.startswith("{"):
                raise ProviderFailed(
                    self.system,
                    f"Refusing to run the {_label(kind)}: the value {rendered[:40]!r} starts with '-' "
                    "and could be read as an option",
                )
            argv.append(rendered)
        return argv

    async def _run(
        self, kind: str, values: Mapping[str, str | None], extra_env: Mapping[str, str] | None = None
    ) -> _Finished:
        """Start the command, collect its output and wait for it within the timeout."""
        argv = self._argv(kind, values)
        env = {**self.env, **{f"OPSCORD_{k.upper()}": v for k, v in values.items() if v is not None}}
        env.update(extra_env or {})
        started = time.monotonic()
        try:
            process = await spawn.start(argv, env=env, cwd=self.cwd, start_new_session=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigurationError(
                self.system, f"The {_label(kind)} could not start {argv[0]!r} ({reason.lower()})"
            ) from None
        report_spawn(process.pid)
        output = bytearray()
        reader = asyncio.create_task(self._collect(process, output))
        try:
            async with asyncio.timeout(self.timeout):
                exit_code = await process.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), 1.0)
        except TimeoutError:
            await self._stop(process)
            raise UpstreamTimeout(
                self.system,
                f"The {_label(kind)} did not finish within {self.timeout:g} s and was stopped",
                output=output.decode(errors="replace"),
            ) from None
        finally:
            if process.returncode is None:
                await self._stop(process)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            process.close()
        return _Finished(exit_code, output.decode(errors="replace"), time.monotonic() - started)

    async def _collect(self, process: spawn.Child, output: bytearray) -> None:
        """Read merged stdout/stderr, keeping only the last ``output_limit`` bytes."""
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            output.extend(chunk)
            if len(output) > self.output_limit:
                del output[: len(output) - self.output_limit]

    async def _stop(self, process: spawn.Child) -> None:
        """SIGTERM the command's process group, then SIGKILL whatever is left after the grace."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), self.kill_grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
