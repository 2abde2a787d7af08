"""The pipeline's value types: who acts, what they asked for, and what happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.errors import OpscordError
from bot.operations import Operation

OpAction = Literal["deploy", "rollback", "scale", "migrate"]


@dataclass(frozen=True)
class ActorRole:
    """A Discord role, by ID and name."""

    id: int
    name: str


@dataclass(frozen=True)
class Actor:
    """Who is acting: a Discord member (or the CLI fallback's named user)."""

    id: str
    name: str
    roles: tuple[ActorRole, ...] = ()

    @property
    def label(self) -> str:
        """`@name`."""
        return f"@{self.name}"


@dataclass(frozen=True)
class OperationInput:
    """A mutating command as typed."""

    action: OpAction
    service: str
    environment: str
    command: str
    version: str | None = None
    replicas: int | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    guild_id: str | None = None


@dataclass(frozen=True)
class Submitted:
    """What happened to a new request: it waits for approval or confirmation, or runs now."""

    op: Operation
    state: Literal["approval", "confirmation", "run"]


@dataclass(frozen=True)
class ClickOutcome:
    """The answer to an Approve/Reject/Confirm/Cancel click."""

    op: Operation
    text: str
    run: bool = False
    finished: bool = False
    refused: bool = False


class Notifier(Protocol):
    """Shows an operation's progress where people see it (Discord)."""

    async def show(self, op: Operation, text: str, *, final: bool, disable: bool = False) -> None:
        """Edit the operation's message to `text`; `final` removes the buttons, `disable` greys them out."""

    async def announce(self, text: str) -> None:
        """Post a message to the deployments channel."""


class PipelineRefusal(OpscordError):
    """A refusal that the pipeline already wrote to the audit log."""

    audited = True

    def __init__(self, error: OpscordError) -> None:
        super().__init__(error.message)
        self.result = error.result
