"""Every slash command with fuzzed options, run by members with and without roles, in every kind of channel.

Each command (enumerated from the cogs, so new ones are covered) gets its own bounded budget of
examples; each example must get an answer, log no ERROR, stay within Discord's limits, ping nobody
it should not and leave the audit chain intact (tests/fuzz/probe.py). Autocomplete is fuzzed the
same way: every autocompleted option answers in time with choices Discord accepts.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from bot.sandbox.slash import command_paths
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.commands import autocompleted_paths, leaf, options_for, slash_paths
from tests.fuzz.probe import FuzzWorld, fuzz_world
from tests.fuzz.strategies import hostile_text

pytestmark = pytest.mark.asyncio(loop_scope="module")
PATHS = slash_paths()
PLACES = ("deployments", "incidents", "general", "thread")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    async with fuzz_world(tmp_path_factory.mktemp("fuzz-commands")) as fuzz:
        # an open incident, so the thread-only /incident commands have a thread to run in
        await fuzz.command("alice", "incidents", "incident create", {"title": "Fuzzing", "severity": "sev3"})
        yield fuzz


def place_of(world: FuzzWorld, place: str) -> str:
    """`thread` is the newest incident thread (fuzzed /incident create opens more)."""
    if place == "thread":
        world.places["thread"] = world.emu.threads[-1].id
    return place


async def test_the_fuzzed_commands_are_the_synced_ones(world: FuzzWorld) -> None:
    assert len(PATHS) >= 14
    assert command_paths(world.emu.synced_commands(world.harness.guild_id)) == PATHS


@pytest.mark.parametrize("path", PATHS)
@fuzz_settings(15)
@given(data=st.data())
async def test_every_option_value_gets_an_answer(world: FuzzWorld, path: str, data: st.DataObject) -> None:
    definition = leaf(world.emu.synced_commands(world.harness.guild_id), path)
    members = [i for name, i in world.actors.items()] + [world.emu.bot_user.id]
    options = data.draw(options_for(world.vocab, definition, members, list(world.places.values())), label="options")
    actor = data.draw(st.sampled_from(sorted(world.actors)), label="actor")
    place = place_of(world, data.draw(st.sampled_from(PLACES), label="place"))
    await world.command(actor, place, path, options)


@pytest.mark.parametrize("path", autocompleted_paths())
@fuzz_settings(6)
@given(data=st.data())
async def test_autocomplete_answers_within_discord_limits(world: FuzzWorld, path: str, data: st.DataObject) -> None:
    definition = leaf(world.emu.synced_commands(world.harness.guild_id), path)
    completed = [o for o in definition.get("options") or [] if o.get("autocomplete")]
    focused = data.draw(st.sampled_from(completed), label="focused")
    members = list(world.actors.values())
    others = data.draw(options_for(world.vocab, {"options": [o for o in definition["options"]
                                                              if o is not focused and not o.get("required")]},
                                   members, list(world.places.values())), label="others")
    typed = data.draw(hostile_text(world.vocab, focused["name"], max_size=100), label="typed")
    actor = data.draw(st.sampled_from(sorted(world.actors)), label="actor")
    choices = await world.autocomplete(actor, "deployments", path, {**others, focused["name"]: typed},
                                       focused["name"])
    assert len(choices) <= 25
