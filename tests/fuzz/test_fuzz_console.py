"""Every console command of the sandbox, with fuzzed words, on the sandbox as `python -m bot sandbox` builds it.

The sandbox wires local fakes of Prometheus, Loki, PagerDuty, Statuspage and Grafana, so fuzzed
/status, /logs and /incident lines reach the real adapters too. Each line must either act or be
refused with a one-line console error (a `ConsoleError`, never another exception: the console
would show it as "error: KeyError: …"), log no ERROR, make Discord refuse nothing, ping nobody it
should not, and leave the audit chain intact.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import discord
import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from bot.app import redirect_discord
from bot.config import parse_config
from bot.sandbox.app import EMULATOR_TOKEN, running_bot
from bot.sandbox.console import Console
from bot.sandbox.emulator import DiscordEmulator
from bot.sandbox.parsing import USAGE, ConsoleError, parse_line
from bot.sandbox.slash import command_paths
from bot.sandbox.upstreams import SandboxUpstreams
from bot.sandbox.world import build_world
from bot.settings import Settings
from tests.conftest import ErrorLogCollector
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.probe import attach, describe_errors, detach
from tests.fuzz.strategies import DURATIONS, VERSIONS, Vocabulary, hostile_text
from tests.helpers import example_raw

pytestmark = pytest.mark.asyncio(loop_scope="module")
VERBS = (*USAGE, "help", "?", "quit", "exit")
MESSAGE = "<message:"
LABELS = ("Approve", "Reject", "Confirm", "Cancel", "✅ Approve", "approve")


class ConsoleWorld:
    """The sandbox's emulator, demo guild, bot and console, and what the console printed."""

    def __init__(self, emu: DiscordEmulator, console: Console, errors: ErrorLogCollector, vocab: Vocabulary,
                 store: Any) -> None:
        self.emu, self.console, self.errors, self.vocab, self.store = emu, console, errors, vocab, store
        self.printed: list[str] = []

    def __repr__(self) -> str:
        return "ConsoleWorld(...)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("ConsoleWorld(...)")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("fuzz-console")
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    errors = ErrorLogCollector()
    attach(errors)
    upstreams = SandboxUpstreams()
    await upstreams.start()
    config = upstreams.wire(parse_config(example_raw(tmp / "state")))
    emu = DiscordEmulator(EMULATOR_TOKEN)
    demo = build_world(emu, config)
    target_role = emu.add_role(demo.guild_id, "fuzz-target-role").id
    target_user = emu.add_member(demo.guild_id, "fuzz-target", roles=[target_role]).id
    await emu.start()
    redirect_discord(emu.api_base_url, emu.gateway_url)
    settings = Settings(discord_token=None, opscord_db=tmp / "sandbox.db", discord_api_base_url=emu.api_base_url,
                        discord_gateway_url=emu.gateway_url)
    vocab = Vocabulary(tuple(s.name for s in config.services), tuple(e.name for e in config.environments),
                       target_user, target_role)
    try:
        async with running_bot(settings, demo, emu, upstreams.environ) as app:
            fuzz = ConsoleWorld(emu, Console(emu, demo, app.store, lambda line: None), errors, vocab, app.store)
            fuzz.console.out = fuzz.printed.append
            yield fuzz
    finally:
        await emu.stop()
        await upstreams.stop()
        detach(errors)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    assert not errors.records, describe_errors(errors.records)
    assert not emu.violations, emu.violations


def words(world: ConsoleWorld) -> st.SearchStrategy[str]:
    """A word a person might type: a member, channel, service, label, id, number, or something hostile."""
    known = [*world.console.world.users, *(f"#{c}" for c in world.console.world.channels), *world.vocab.services,
             *world.vocab.environments, *VERSIONS, *DURATIONS, *LABELS, "5", "0", "-1", "99999999999999999999",
             "²", "①", "٣", "limit:5", "service:order-service", "status:monitoring", "severity:sev1", "title:x"]
    ids = st.integers(0, 40).map(lambda i: f"{MESSAGE}{i}>")  # the id of an existing message (see with_ids)
    return st.one_of(st.sampled_from(known), ids, hostile_text(world.vocab, max_size=80))


def with_ids(world: ConsoleWorld, line: str) -> str:
    """Message placeholders replaced by ids of messages that exist now (newest first)."""
    newest = sorted(world.emu.state.messages, reverse=True) or [0]
    return re.sub(f"{MESSAGE}(\\d+)>", lambda m: str(newest[int(m.group(1)) % len(newest)]), line)


@st.composite
def lines(draw: st.DrawFn, world: ConsoleWorld) -> str:
    """A console line: a verb or a slash command with fuzzed words, quoted or not; or anything at all."""
    kind = draw(st.sampled_from(["verb", "slash", "raw"]))
    if kind == "raw":
        return draw(hostile_text(world.vocab, max_size=300))
    head = (draw(st.sampled_from(VERBS)) if kind == "verb" else
            "/" + draw(st.sampled_from(command_paths(world.emu.synced_commands(world.console.world.guild_id)))))
    typed = draw(st.lists(words(world), max_size=5))
    quote = draw(st.sampled_from([str, shlex.quote, lambda w: f'"{w}']))  # as is, quoted, or an unbalanced quote
    return " ".join([head, *(quote(w) if " " in w or quote is not str else w for w in typed)])


@fuzz_settings(150)
@given(data=st.data())
async def test_every_console_line_acts_or_says_why(world: ConsoleWorld, data: st.DataObject) -> None:
    line = with_ids(world, data.draw(lines(world), label="line"))
    before_errors, before_violations = len(world.errors.records), len(world.emu.violations)
    before_messages = set(world.emu.state.messages)
    start = len(world.printed)
    try:
        action = parse_line(line)
        if action is not None:
            await world.console.execute(action)
    except ConsoleError as exc:
        reason = str(exc)
        assert reason.strip() and "\n" not in reason and "Traceback" not in reason, reason
    printed = world.printed[start:]
    assert all("Traceback" not in p for p in printed), printed
    errors = world.errors.records[before_errors:]
    assert not errors, describe_errors(errors)
    assert world.emu.violations[before_violations:] == []
    for message_id, message in world.emu.state.messages.items():
        if message_id not in before_messages:
            assert not message.pinged["everyone"], message.content
            assert world.vocab.target_user not in message.pinged["users"], message.content
            assert world.vocab.target_role not in message.pinged["roles"], message.content
    verified = await world.store.verify()
    assert verified.ok, str(verified)
