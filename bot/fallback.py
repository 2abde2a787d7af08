"""The CLI fallback for when Discord (or the bot) is down: `run-op` and `approve`.

Same pipeline, policy, locks and audit as the slash commands. The actor is the login name of the
shell user on the Opscord host, and `[fallback].users` in the config says which Discord roles that
name holds here; nobody else can act. Audit rows carry the channel `#cli`.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable

from bot.config import OpscordConfig
from bot.errors import OpscordError
from bot.operation_types import Actor, ActorRole, ClickOutcome, OpAction, OperationInput
from bot.operations import Operation
from bot.pipeline import Pipeline
from bot.render import doing_line, needs_sentence, request_line

SUCCESS, FAILED, USAGE, WAITING = 0, 1, 2, 3
CHANNEL = "cli"
USAGE_LINES = {
    "deploy": "run-op deploy SERVICE VERSION ENVIRONMENT",
    "rollback": "run-op rollback SERVICE ENVIRONMENT",
    "scale": "run-op scale SERVICE REPLICAS ENVIRONMENT",
    "migrate": "run-op migrate SERVICE ENVIRONMENT",
}


class FallbackError(Exception):
    """A one-line reason to stop with exit code 2."""


class ConsoleNotifier:
    """Prints what Discord would have shown."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self._out = out

    async def show(self, op: Operation, text: str, *, final: bool, disable: bool = False) -> None:
        """Print the operation's new state."""
        self._out(text)

    async def announce(self, text: str) -> None:
        """Print an announcement."""
        self._out(text)


def cli_actor(config: OpscordConfig, login: str | None = None) -> Actor:
    """The shell user, with the roles `[fallback].users` gives that login name."""
    name = login or getpass.getuser()
    refs = config.fallback.users.get(name)
    if refs is None:
        raise FallbackError(f"the login name {name!r} is not in [fallback].users of the config, so it cannot act "
                            f"through the CLI fallback; an admin adds it with the Discord roles it should hold")
    roles = tuple(ActorRole(int(r), "") if isinstance(r, int) or r.isdigit() else ActorRole(0, r) for r in refs)
    return Actor(id=f"cli:{name}", name=name, roles=roles)


def parse_operation(words: list[str]) -> OperationInput:
    """`deploy S V E`, `rollback S E`, `scale S N E` or `migrate S E` → the pipeline's input."""
    if not words or words[0] not in USAGE_LINES:
        raise FallbackError(f"say which operation: {'; '.join(USAGE_LINES.values())}")
    action: OpAction = words[0]  # type: ignore[assignment]
    args = words[1:]
    expected = 3 if action in ("deploy", "scale") else 2
    if len(args) != expected:
        raise FallbackError(f"usage: python -m bot {USAGE_LINES[action]}")
    service, environment = args[0], args[-1]
    version = args[1] if action == "deploy" else None
    replicas = None
    if action == "scale":
        if not args[1].isdigit():
            raise FallbackError(f"REPLICAS must be a whole number, not {args[1]!r}")
        replicas = int(args[1])
    command = " ".join([f"/{action}", *args])
    return OperationInput(action=action, service=service, environment=environment, command=command,
                          version=version, replicas=replicas, channel_name=CHANNEL)


async def run_operation(pipeline: Pipeline, inp: OperationInput, actor: Actor,
                        out: Callable[[str], None]) -> int:
    """Submit; run it here when nothing is needed, else say how to approve or confirm."""
    try:
        submitted = await pipeline.submit(inp, actor)
    except OpscordError as exc:
        out(exc.message)
        return FAILED
    op = submitted.op
    if submitted.state == "run":
        out(f"{request_line(op)} — {doing_line(op)}")
        return await _execute(pipeline, op, out)
    how = "approve it" if submitted.state == "approval" else "confirm it (the requester)"
    out(f"{request_line(op)} — {needs_sentence(op)}")
    out(f"Request {op.id}: {how} with `python -m bot approve {op.id}` (or reject with --reject).")
    return WAITING


async def decide(pipeline: Pipeline, op_id: str, actor: Actor, reject: bool, out: Callable[[str], None]) -> int:
    """Approve, reject, confirm or cancel a pending request; run it here when that completes it."""
    op = await pipeline.store.get(op_id)
    if op is None:
        out(f"No request {op_id}.")
        return FAILED
    outcome: ClickOutcome
    if op.status == "pending_confirmation":
        outcome = await pipeline.confirm(op_id, actor, not reject)
    elif reject:
        outcome = await pipeline.reject(op_id, actor)
    else:
        outcome = await pipeline.approve(op_id, actor)
    out(outcome.text)
    if outcome.refused:
        return FAILED
    if outcome.run:
        return await _execute(pipeline, outcome.op, out)
    return SUCCESS if outcome.finished else WAITING


async def _execute(pipeline: Pipeline, op: Operation, out: Callable[[str], None]) -> int:
    done = await pipeline.execute(op.id)
    return SUCCESS if done.status == "succeeded" else FAILED


def print_line(text: str) -> None:
    """Write one line to stdout now."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
