"""The corridor through Discord: foreign clicks, one person in Discord and the CLI, bad text, incident ids."""

import asyncio
import json
import os
import pwd
import subprocess
import sys

from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from tests.conftest import ROOT
from tests.helpers import write_example_config


async def test_a_click_from_another_guild_changes_nothing(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "production"})
    request = await h.wait_message(timeout=5)
    emu = harness.emu
    other = emu.add_guild("Elsewhere")
    lead = emu.add_role(other.id, "team-lead")  # a role of the same name, in a guild Opscord does not serve
    channel = emu.add_channel(other.id, "deployments")
    mallory = emu.add_member(other.id, "mallory", roles=[lead.id])
    copy = emu.state.create_message(channel.id, emu.bot_user.id, {"content": request.content,
                                                                 "components": request.components}, [])
    for label in ("Reject", "Approve"):
        button = next(b for b in copy.buttons() if b["label"] == label)
        click = await emu.click_button(copy.id, button["custom_id"], mallory.id)
        reply = await click.wait_message(timeout=5)
        assert reply.flags & EPHEMERAL_FLAG and "does not belong to this request's message" in reply.content
    assert "Requires approval from a team lead" in emu.get_message(request.id).content
    rows = await harness.export()
    assert [(r["result"], r["user"]) for r in rows[-2:]] == [("denied", "@mallory"), ("denied", "@mallory")]
    ok = await harness.click("bob", emu.get_message(request.id), "Approve")  # the real one still works
    assert ok.response_type == 7


async def test_a_command_that_cannot_be_stored_fails_alone(harness):
    """A lone surrogate in one option: that member gets a sentence and a row; twenty others are unaffected."""
    emu = harness.emu
    bad = await emu.run_command(harness.guild_id, harness.channels["deployments"], harness.users["alice"], "deploy",
                                {"service": "order-service", "version": "v1.0.0\ud800", "environment": "staging"})
    others = await asyncio.gather(*(emu.run_command(harness.guild_id, harness.channels["deployments"],
                                                    harness.users["dave"], "audit recent", {"limit": 1})
                                    for _ in range(20)))
    reply = await bad.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG and reply.content == ("That text cannot be stored (it is not valid Unicode); "
                                                                "nothing was done.")
    for handle in others:
        await handle.wait_response(timeout=5)
    rows = await harness.export()
    assert len(rows) == 21 and sum(r["command"] == "/audit recent 1" for r in rows) == 20
    [odd] = [r for r in rows if r["command"].startswith("/deploy")]
    assert odd["result"] == "invalid" and odd["command"] == "/deploy order-service v1.0.0\\ud800 staging"
    assert (await harness.app.store.verify()).ok


async def test_twenty_concurrent_incidents_that_slug_alike(harness):
    titles = [f"Payment{'!' * (i % 3)} down{'?' * (i % 4)}" for i in range(20)]
    handles = await asyncio.gather(*(harness.emu.run_command(
        harness.guild_id, harness.channels["incidents"], harness.users["erin"], "incident create",
        {"title": title, "severity": "sev2"}) for title in titles))
    replies = [await h.wait_message(timeout=20, predicate=lambda m: "Opened" in (m.content or "")) for h in handles]
    assert all(r.content.startswith("Opened inc-") for r in replies)
    names = sorted(t.name for t in harness.emu.threads)
    assert len(names) == 20 and len(set(names)) == 20 and all("-payment-down" in n for n in names)
    incidents = await harness.app.store.incidents(open_only=True)
    assert sorted(i.id for i in incidents) == names and all(i.thread_id for i in incidents)


async def test_one_person_approving_in_discord_and_in_the_cli_counts_once(harness, tmp_path):
    """bob approves in Discord; bob's OS account (mapped to his member id) approving again is a repeat."""
    me = pwd.getpwuid(os.getuid()).pw_name
    users = {"users = {}": f'users = {{ {json.dumps(me)} = {{ member_id = {harness.users["bob"]}, '
                           f'roles = ["team-lead"], name = "bob" }} }}'}
    config = write_example_config(tmp_path / "cli.toml", tmp_path / "state", guild_id=harness.guild_id, replace=users)
    h = await harness.run("alice", "migrate", {"service": "payment-service", "environment": "production"})
    request = await h.wait_message(timeout=5)
    await harness.click("bob", request, "Approve")
    op_id = (await harness.app.store.operations("pending_approval"))[0].id
    env = {**os.environ, "OPSCORD_CONFIG": str(config), "OPSCORD_DB": str(tmp_path / "opscord.db")}
    env.pop("DISCORD_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "bot", "approve", op_id], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and "You already approved — 1 of 2." in done.stdout, done.stdout + done.stderr
    assert "1/2 approved: @bob" in harness.emu.get_message(request.id).content
    results = [(r["result"], r["user"]) for r in await harness.export()]
    assert results[-2:] == [("approved", "@bob"), ("duplicate", "@bob")]


async def test_a_request_decided_in_the_cli_shows_its_outcome_in_discord(harness, tmp_path):
    """Discord's message is brought up to date when the bot sees what the CLI did."""
    me = pwd.getpwuid(os.getuid()).pw_name
    users = {"users = {}": f'users = {{ {json.dumps(me)} = {{ member_id = {harness.users["bob"]}, '
                           f'roles = ["team-lead"], name = "bob" }} }}'}
    config = write_example_config(tmp_path / "cli.toml", tmp_path / "state", guild_id=harness.guild_id, replace=users)
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "production"})
    request = await h.wait_message(timeout=5)
    op_id = (await harness.app.store.operations("pending_approval"))[0].id
    env = {**os.environ, "OPSCORD_CONFIG": str(config), "OPSCORD_DB": str(tmp_path / "opscord.db")}
    env.pop("DISCORD_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "bot", "approve", op_id], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = await harness.wait_message(request.id, "Deploy complete", timeout=15)
    assert shown.buttons() == []
