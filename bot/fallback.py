"""The CLI fallback for when Discord (or the bot) is down: `run-op` and `approve`.

Same pipeline, policy, locks and audit as the slash commands. Who acts is the OS account of the
process's real uid — never an environment variable such as LOGNAME or USER — and `[fallback].users`
says which Discord member that account is and which roles they hold. So one person counts once
whether they click in Discord or type here, and nobody approves their own request either way.
Audit rows carry the channel `#cli`.
"""

from __future__ import annotations

import os
import pwd
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from bot.app import App
from bot.config import OpscordConfig
from bot.errors import UNSTORABLE, ValidationFailed
from bot.incidents import Opened
from bot.pipeline import Actor, ActorRole, Card, Click, Invocation, MessageRef, OpAction, OperationInput, Refused
from bot.pipeline.entries import call_entry, storable
from bot.pipeline.states import PENDING, TERMINAL

SUCCESS, FAILED, USAGE, WAITING = 0, 1, 2, 3
REQUEST_ID = re.compile(r"op-[0-9a-f]{10}")
CHANNEL = "cli"
USAGE_LINES = {
    "deploy": "run-op deploy SERVICE VERSION ENVIRONMENT",
    "rollback": "run-op rollback SERVICE ENVIRONMENT",
    "scale": "run-op scale SERVICE REPLICAS ENVIRONMENT",
    "migrate": "run-op migrate SERVICE ENVIRONMENT",
}


class FallbackError(Exception):
    """A one-line reason to stop with exit code 2."""


def os_account() -> str:
    """The login name of this process's real uid (from the password database, not the environment)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def _roles(refs: list[str | int]) -> tuple[ActorRole, ...]:
    return tuple(ActorRole(int(r), "") if isinstance(r, int) or r.isdigit() else ActorRole(0, r) for r in refs)


def cli_actor(config: OpscordConfig, account: str | None = None) -> Actor:
    """The person behind the OS account, as the Discord member `[fallback].users` names."""
    name = account or os_account()
    user = config.fallback.users.get(name)
    if user is None:
        raise FallbackError(f"the account {name!r} is not in [fallback].users of the config, so it cannot act "
                            f"through the CLI fallback; an admin adds it with its Discord member id and roles")
    return Actor(id=str(user.member_id), name=user.name or name, roles=_roles(user.roles))


class ConfigMembers:
    """Members' roles as `[fallback].users` states them (Discord may be down): the pipeline's `Members`."""

    def __init__(self, config: OpscordConfig) -> None:
        self._config = config

    async def actor(self, member_id: str) -> Actor | None:
        """The member with this id, if an account maps to them."""
        for login, user in self._config.fallback.users.items():
            if str(user.member_id) == member_id:
                return Actor(id=member_id, name=user.name or login, roles=_roles(user.roles))
        return None


class NoIncidentRoom:
    """The CLI fallback does not open incidents (they live in Discord threads)."""

    def role_id(self, ref: str | int) -> str | None:
        """No guild, no roles."""
        return None

    async def open(self, name: str, announcement: str, ping_role: str | None) -> Opened:
        """Refuse."""
        raise ValidationFailed("Incidents need Discord; the CLI fallback cannot open one.")

    async def edit(self, channel_id: str, message_id: str, content: str) -> None:
        """Refuse."""
        raise ValidationFailed("Incidents need Discord.")

    async def post(self, thread_id: str, content: str, *, pin: bool = False) -> str:
        """Refuse."""
        raise ValidationFailed("Incidents need Discord.")

    async def schedule(self, name: str, start: datetime, end: datetime, location: str, description: str) -> str:
        """Refuse."""
        raise ValidationFailed("Incidents need Discord.")


def cli_call(actor: Actor, command: str) -> Invocation:
    """A command typed at the CLI."""
    return Invocation(actor=actor, command=command, channel_name=CHANNEL, received_at=datetime.now(UTC), via="cli")


def parse_operation(words: list[str]) -> tuple[OperationInput, str]:
    """`deploy S V E`, `rollback S E`, `scale S N E` or `migrate S E` → the request and its slash form."""
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
        if not args[1].isdigit() or len(args[1]) > 6:
            raise FallbackError(f"REPLICAS must be a whole number, not {args[1][:20]!r}")
        replicas = int(args[1])
    inp = OperationInput(action=action, service=service, environment=environment, version=version, replicas=replicas)
    return inp, " ".join([f"/{action}", *args])


class ConsoleReply:
    """Prints what Discord would have shown (the pipeline's `FirstReply` and `ClickReply`)."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self._out = out
        self.refused: str | None = None

    async def show(self, card: Card) -> MessageRef | None:
        """Print the request's card."""
        self._out(card.text)
        return None

    async def recorded(self, card: Card, where: MessageRef) -> None:
        """The console has no message to decorate."""

    async def update(self, card: Card) -> None:
        """Print the request's new card."""
        self._out(card.text)

    async def tell(self, sentence: str) -> None:
        """Print a sentence meant for this person only."""
        self.refused = sentence
        self._out(sentence)


async def run_operation(app: App, inp: OperationInput, call: Invocation, out: Callable[[str], None], *,
                        phrase: str | None = None) -> int:
    """Request (with the step-up `phrase`, where typed); run it here when nothing is needed, else say how to
    approve or confirm."""
    try:
        op = await app.pipeline.request(inp, call, ConsoleReply(out), phrase=phrase)
    except Refused as exc:
        out(exc.message)
        return FAILED
    except UnicodeError:  # a lone surrogate (bytes that were no UTF-8): said and audited as in Discord
        await app.journal.record(storable(call_entry(call, "invalid", error=UNSTORABLE)))
        out(UNSTORABLE)
        return FAILED
    if op.status in PENDING:
        how = "approve it" if op.status == "pending_approval" else "confirm it (the requester)"
        out(f"Request {op.id}: {how} with `python -m bot approve {op.id}` (or reject with --reject).")
        return WAITING
    return await _finish(app, op.id, out)


async def decide(app: App, op_id: str, actor: Actor, reject: bool, out: Callable[[str], None]) -> int:
    """Approve, reject, confirm or cancel a waiting request; run it here when that completes it."""
    op = await app.store.operation(op_id) if REQUEST_ID.fullmatch(op_id) else None
    if op is None:
        out(f"No request {op_id if op_id.isprintable() else repr(op_id)}.")
        return FAILED
    if op.status == "pending_confirmation":
        kind = "cancel" if reject else "confirm"
    else:
        kind = "reject" if reject else "approve"
    reply = ConsoleReply(out)
    call = cli_call(actor, f"approve {op_id}" + (" --reject" if reject else ""))
    after = await app.pipeline.click(Click(op_id, kind, call), reply)  # type: ignore[arg-type]
    if reply.refused is not None or after is None:
        return FAILED
    if after.status in ("approved", "running"):
        return await _finish(app, op_id, out)
    return SUCCESS if after.status in TERMINAL else WAITING


async def _finish(app: App, op_id: str, out: Callable[[str], None]) -> int:
    done = await app.pipeline.runner.wait(op_id)
    if done is not None and done.outcome:
        out(done.outcome)
    return SUCCESS if done is not None and done.status == "succeeded" else FAILED


def print_line(text: str) -> None:
    """Write one line to stdout now."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
