"""The pipeline's value types: who acts, what they asked for and where, and what the pipeline shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple, Protocol

from bot.errors import OpscordError

OpAction = Literal["deploy", "rollback", "scale", "migrate"]
ClickKind = Literal["approve", "reject", "confirm", "cancel", "acknowledge"]
CLICK_LABELS: dict[str, str] = {"approve": "Approve", "reject": "Reject", "confirm": "Confirm", "cancel": "Cancel",
                                "acknowledge": "Acknowledge"}


class ActorRole(NamedTuple):
    """A Discord role, by id and name (either may be unknown: 0 or "").

    A named tuple: a member's roles are a key every command looks up (`Access`), and a tuple hashes in C.
    """

    id: int
    name: str


@dataclass(frozen=True)
class Actor:
    """A person: keyed by their Discord member id, whether they click in Discord or type in the CLI."""

    id: str
    name: str
    roles: tuple[ActorRole, ...] = ()

    @property
    def label(self) -> str:
        """`@name`, as the audit log shows people."""
        return f"@{self.name}"


@dataclass(frozen=True)
class Invocation:
    """One command or click as it arrived: who, what they typed, where and when."""

    actor: Actor
    command: str
    guild_id: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    interaction_id: str | None = None
    received_at: datetime | None = None
    via: Literal["discord", "cli"] = "discord"

    @property
    def channel_label(self) -> str | None:
        """`#name` (or `#id`) of where it was typed."""
        if self.channel_name:
            return f"#{self.channel_name}"
        return f"#{self.channel_id}" if self.channel_id else None

    def seconds(self, now: datetime | None = None) -> float:
        """Seconds since it arrived."""
        if self.received_at is None:
            return 0.0
        return round(max(0.0, ((now or datetime.now(UTC)) - self.received_at).total_seconds()), 3)


@dataclass(frozen=True)
class OperationInput:
    """A mutating command: what to do to which service where."""

    action: OpAction
    service: str
    environment: str
    version: str | None = None
    replicas: int | None = None
    break_glass: str | None = None
    """The reason, when an incident commander breaks glass (bot.pipeline.breakglass)."""


@dataclass(frozen=True)
class MessageRef:
    """A Discord message, by channel and id."""

    channel_id: str
    message_id: str


@dataclass(frozen=True)
class Card:
    """What an operation's message shows: its text and which buttons (greyed out when `disabled`)."""

    op_id: str
    text: str
    buttons: Literal["approval", "confirmation", "review"] | None = None
    disabled: bool = False
    ping_roles: tuple[str, ...] = ()
    """Capabilities whose Discord roles this card calls on to act (the approvers of a new request)."""


@dataclass(frozen=True)
class Click:
    """An Approve/Reject/Confirm/Cancel — a button in Discord, or `approve` in the CLI (no message)."""

    op_id: str
    kind: ClickKind
    call: Invocation
    message: MessageRef | None = None
    answers: str | None = None
    """The interaction the clicked message answered (how a message whose id was never stored is recognised)."""


class FirstReply(Protocol):
    """How a new request's first message reaches the requester (the interaction response, the console)."""

    async def show(self, card: Card) -> MessageRef | None:
        """Show the card; the message it became (None where there is none). Raises when it was not shown."""

    async def recorded(self, card: Card, where: MessageRef) -> None:
        """The request now knows its message: what may act on that message (reactions) can be offered."""


class ClickReply(Protocol):
    """How the answer to a click reaches the clicker."""

    async def update(self, card: Card) -> None:
        """Show the clicked request's new card (as the click's answer)."""

    async def tell(self, sentence: str) -> None:
        """Tell only the clicker (an ephemeral message)."""


class Refused(OpscordError):
    """A refusal the pipeline has already written to the audit log; the caller only shows it."""

    audited = True

    def __init__(self, message: str, result: str) -> None:
        super().__init__(message)
        self.result = result


class AlreadyHandled(Exception):
    """This interaction was already handled by another delivery of it (another replica took it first).

    Nothing was written and nothing is answered: the delivery that claimed it answers.
    """
