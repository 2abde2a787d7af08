"""One bot per fuzz module, and the properties every input must keep.

For each input: it gets an answer (a plain sentence when refused), no ERROR is logged, Discord
refused nothing the bot sent (the emulator checks Discord's limits on every request: 2000
characters of content, embed and component limits, 25 choices of ≤100 characters, thread names…),
nothing pings @everyone, the fuzz target member or role (fuzzed text mentions them in every form),
no role outside the config's approver and on-call roles is pinged, and the audit chain verifies.
Checks compare against a snapshot taken before the input, so hypothesis can shrink a failure on the
same running bot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.emulator import InteractionHandle, Message
from bot.sandbox.emulator.interactions import COMPONENT
from tests.conftest import ErrorLogCollector
from tests.e2e.harness import Harness
from tests.fuzz.strategies import Vocabulary
from tests.helpers import example_raw

LOGGERS = ("discord", "bot", "cogs", "integrations", "asyncio")
ANSWER_TIMEOUT_S = 15.0
UNEXPECTED = ("Traceback", "Something went wrong", "Exception", "error reference")
PINGABLE_ROLES = ("team-lead", "dba", "oncall", "payment-oncall")  # approvers and on-call in the example config


def attach(collector: logging.Handler) -> None:
    """Collect ERROR records from Opscord's, discord.py's and asyncio's loggers."""
    for name in LOGGERS:
        logging.getLogger(name).addHandler(collector)


def detach(collector: logging.Handler) -> None:
    """Stop collecting."""
    for name in LOGGERS:
        logging.getLogger(name).removeHandler(collector)


def describe_errors(records: list[logging.LogRecord]) -> str:
    """ERROR records as text, tracebacks included."""
    return "\n".join(f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in records)


@dataclass
class Snapshot:
    """What existed before an input: messages, refused requests, ERROR records."""

    messages: set[int]
    violations: int
    errors: int


@dataclass(repr=False)
class FuzzWorld:
    """The running bot on the emulator, the members who act, and the targets nothing may ping."""

    harness: Harness
    errors: ErrorLogCollector
    vocab: Vocabulary
    actors: dict[str, int] = field(default_factory=dict)
    places: dict[str, int] = field(default_factory=dict)
    requests: dict[str, tuple[Message, str]] = field(default_factory=dict)
    plain: Message | None = None

    def __repr__(self) -> str:
        """Short: hypothesis prints the fixtures of a failing example."""
        return "FuzzWorld(...)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("FuzzWorld(...)")

    @property
    def emu(self) -> Any:
        """The emulator."""
        return self.harness.emu

    def snapshot(self) -> Snapshot:
        """Remember what exists now."""
        return Snapshot(set(self.emu.state.messages), len(self.emu.violations), len(self.errors.records))

    async def command(self, actor: str, place: str, path: str, options: Mapping[str, Any]) -> Message:
        """``actor`` runs ``/path`` with ``options`` in ``place``; checks every property; returns the answer."""
        async with self.checked():
            handle = await self.emu.run_command(self.harness.guild_id, self.places[place], self.actors[actor], path,
                                                options)
            return await answer(handle)

    async def click(self, actor: str, message_id: int, custom_id: str) -> Message:
        """``actor`` clicks the button ``custom_id`` on a message; checks every property; returns the answer."""
        async with self.checked():
            handle = await self.emu.click_button(message_id, custom_id, self.actors[actor])
            return await answer(handle)

    async def autocomplete(self, actor: str, place: str, path: str, options: Mapping[str, Any],
                           focused: str) -> list[Any]:
        """``actor`` types into an autocompleted option; the bot answers with ≤25 valid choices in time."""
        async with self.checked():
            return await self.emu.autocomplete(self.harness.guild_id, self.places[place], self.actors[actor], path,
                                               options, focused=focused, timeout=ANSWER_TIMEOUT_S)

    @asynccontextmanager
    async def checked(self) -> AsyncIterator[None]:
        """Run one input and check every property against what changed meanwhile."""
        before = self.snapshot()
        yield
        await self.harness.settle()
        await asyncio.sleep(0)  # let a reply's follow-up edits reach the emulator
        self.check_since(before)
        verified = await self.harness.app.store.verify()  # type: ignore[union-attr]
        assert verified.ok, f"audit chain broken: {verified}"

    def check_since(self, before: Snapshot) -> None:
        """No ERROR, no refused request, no forbidden ping since ``before``."""
        errors = self.errors.records[before.errors:]
        assert not errors, f"ERROR logged:\n{describe_errors(errors)}"
        refused = self.emu.violations[before.violations:]
        assert not refused, f"Discord refused what the bot sent: {refused}"
        for message_id, message in self.emu.state.messages.items():
            if message_id not in before.messages:
                self.check_pings(message)

    def check_pings(self, message: Message) -> None:
        """Nobody is pinged but approvers, on-call and members who asked; never the targets or @everyone."""
        pinged = message.pinged
        allowed_roles = {self.harness.roles[name] for name in PINGABLE_ROLES}
        where = f"message {message.id} {message.content[:200]!r} pinged {pinged}"
        assert not pinged["everyone"], where
        assert self.vocab.target_user not in pinged["users"], where
        assert self.vocab.target_role not in pinged["roles"], where
        assert set(pinged["roles"]) <= allowed_roles, where
        for text in (message.content or "", *(str(e.get("description") or "") for e in message.embeds)):
            for mention in self.vocab.mentions()[:3]:
                assert mention not in text, f"typed mention {mention!r} shown unescaped: {text[:300]!r}"


async def answer(handle: InteractionHandle) -> Message:
    """The message that answers an interaction; a refusal must be a plain sentence."""
    callback = await handle.wait_response(timeout=ANSWER_TIMEOUT_S)
    if handle.type == COMPONENT and callback.type == 7:  # the clicked message became the new card
        message = handle.original
        assert message is not None and message.has_body(), f"{handle}: the card was emptied"
        return message
    message = await handle.wait_message(timeout=ANSWER_TIMEOUT_S)
    text = message.content or ""
    assert message.has_body(), f"{handle}: an empty answer"
    assert not any(word in text for word in UNEXPECTED), f"{handle}: not a plain answer: {text[:300]!r}"
    if message.ephemeral and not message.embeds and not message.attachments:
        assert text.strip(), f"{handle}: an ephemeral answer without a sentence"
    return message


@asynccontextmanager
async def fuzz_world(tmp_path: Any) -> AsyncIterator[FuzzWorld]:
    """The example config's bot on the emulator, plus a member without roles and the ping targets."""
    collector = ErrorLogCollector()
    attach(collector)
    harness = Harness(tmp_path, example_raw(tmp_path / "state"))
    await harness.start()
    try:
        emu = harness.emu
        target_role = emu.add_role(harness.guild_id, "fuzz-target-role").id
        target_user = emu.add_member(harness.guild_id, "fuzz-target", roles=[target_role]).id
        nobody = emu.add_member(harness.guild_id, "zed").id  # a member without any role
        config = harness.config
        assert config is not None
        vocab = Vocabulary(tuple(s.name for s in config.services), tuple(e.name for e in config.environments),
                           target_user, target_role)
        actors = {name: harness.users[name] for name in ("alice", "bob", "carol", "dave", "frank")} | {"zed": nobody}
        places = {name: harness.channels[name] for name in ("deployments", "incidents", "general")}
        await asyncio.sleep(0.1)  # the bot sees the new member and role
        yield FuzzWorld(harness, collector, vocab, actors, places)
    finally:
        await harness.stop()
        detach(collector)
    assert not collector.records, f"ERROR logged:\n{describe_errors(collector.records)}"
    assert not harness.emu.violations, harness.emu.violations
