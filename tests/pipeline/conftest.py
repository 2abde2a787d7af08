"""The pipeline without Discord: the real store (SQLite, and PostgreSQL), the real command provider running the demo script.

The `world` fixture runs each test on both backends; `world_for` takes the backend's URL (None: SQLite).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, compose, open_foundation
from bot.config import OpscordConfig, parse_config
from bot.fallback import NoIncidentRoom
from bot.pipeline import Actor, ActorRole, Card, Click, Invocation, MessageRef, OperationInput
from bot.settings import Settings
from tests.helpers import example_raw

OPS, LEAD, DBA, VIEW = ActorRole(1, "ops"), ActorRole(2, "team-lead"), ActorRole(3, "dba"), ActorRole(4, "engineering")
alice = Actor("11", "alice", (OPS,))
bob = Actor("12", "bob", (LEAD,))
carol = Actor("13", "carol", (DBA,))
dave = Actor("14", "dave", (VIEW,))
erin = Actor("15", "erin", (OPS,))
GUILD, CHANNEL = "900", "5"


class Directory:
    """Members' current roles as a test sets them (the pipeline's `Members` port)."""

    def __init__(self, *actors: Actor) -> None:
        self.actors = {a.id: a for a in actors}

    async def actor(self, member_id: str) -> Actor | None:
        return self.actors.get(member_id)


@dataclass
class Screen:
    """Records what the pipeline showed: first replies, click updates and sentences told."""

    shown: list[Card] = field(default_factory=list)
    told: list[str] = field(default_factory=list)
    next_message: int = 1000
    fail: bool = False

    async def show(self, card: Card) -> MessageRef | None:
        if self.fail:
            raise ConnectionError("Discord refused the reply")
        self.shown.append(card)
        self.next_message += 1
        return MessageRef(CHANNEL, str(self.next_message))

    async def recorded(self, card: Card, where: MessageRef) -> None:
        pass

    async def update(self, card: Card) -> None:
        self.shown.append(card)

    async def tell(self, sentence: str) -> None:
        self.told.append(sentence)


def call(actor: Actor, command: str = "/cmd", channel_name: str = "deployments", channel_id: str = CHANNEL,
         guild_id: str = GUILD) -> Invocation:
    return Invocation(actor=actor, command=command, guild_id=guild_id, channel_id=channel_id,
                      channel_name=channel_name, interaction_id=str(abs(hash((actor.id, command, datetime.now())))),
                      received_at=datetime.now(UTC))


def inp(action: str, service: str = "order-service", environment: str = "staging", **kw: Any) -> OperationInput:
    return OperationInput(action=action, service=service, environment=environment, **kw)  # type: ignore[arg-type]


def command_of(i: OperationInput) -> str:
    middle = [v for v in (i.version, i.replicas) if v is not None]
    return " ".join([f"/{i.action}", i.service, *(str(v) for v in middle), i.environment])


@dataclass
class World:
    """An app over a real store, acting as members."""

    app: App
    screen: Screen
    members: Directory
    state: Path

    async def request(self, actor: Actor, i: OperationInput, screen: Screen | None = None, *,
                      phrase: str | None = None, **where: Any):
        return await self.app.pipeline.request(i, call(actor, command_of(i), **where), screen or self.screen,
                                               phrase=phrase)

    async def click(self, actor: Actor, op_id: str, kind: str, *, message: MessageRef | None = None,
                    guild_id: str = GUILD) -> Screen:
        op = await self.app.store.operation(op_id)
        where = message or (MessageRef(op.message_channel_id, op.message_id) if op and op.message_id else None)
        screen = Screen()
        await self.app.pipeline.click(Click(op_id, kind, call(actor, f"click {kind} on {op_id}", guild_id=guild_id),
                                            where), screen)  # type: ignore[arg-type]
        return screen

    async def finish(self, op_id: str):
        return await self.app.pipeline.runner.wait(op_id)

    async def rows(self):
        return [r async for r in self.app.store.audit_rows()]


@contextlib.asynccontextmanager
async def world_for(tmp_path: Path, config: OpscordConfig, database_url: str | None = None) -> AsyncIterator[World]:
    settings = Settings(opscord_db=tmp_path / "opscord.db", opscord_database_url=database_url)
    members = Directory(alice, bob, carol, dave, erin)
    async with open_foundation(settings, config) as base:
        app = compose(base, members=members, room=NoIncidentRoom())
        try:
            yield World(app, Screen(), members, tmp_path / "state")
        finally:
            await app.pipeline.runner.abort()


def raw_config(tmp_path: Path) -> dict[str, Any]:
    raw = example_raw(tmp_path / "state")
    raw["guild"] = {"id": int(GUILD)}
    return raw


@pytest.fixture
async def world(tmp_path: Path, backend: str | None) -> AsyncIterator[World]:
    async with world_for(tmp_path, parse_config(raw_config(tmp_path)), backend) as w:
        yield w
