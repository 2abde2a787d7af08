"""What the fuzz suite (tests/fuzz) found, each pinned as it was found: the input, and what must happen instead."""

import asyncio

from bot.client.buttons import UNKNOWN_BUTTON
from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from cogs.audit import render_row

NOBODY = {"everyone": False, "roles": [], "users": []}


async def test_a_typed_mention_in_a_refusal_is_shown_escaped(harness):
    target = harness.users["dave"]
    for command, options in [("audit export", {"since": f"<@{target}>"}),
                             ("status", {"service": f"<@{target}>"}),
                             ("logs", {"service": "order-service", "last": f"<@{target}>"}),
                             ("deploy", {"service": "order-service", "version": f"<@{target}>",
                                         "environment": "staging"})]:
        h = await harness.run("alice", command, options)
        msg = await h.wait_message(timeout=5)
        assert f"<@{target}>" not in msg.content and "<@" in msg.content, msg.content  # named, never as a mention
        assert msg.pinged == NOBODY


async def test_audit_recent_shows_typed_backticks_and_mentions_escaped(harness):
    target = harness.users["dave"]
    await harness.run("alice", "status", {"service": f"a`b <@{target}> **x**"})
    h = await harness.run("alice", "audit recent", {"limit": 1})
    [embed] = (await h.wait_message(timeout=5)).embeds
    line = embed["description"]
    assert f"<@{target}>" not in line and "\\`" in line and "\\*\\*x\\*\\*" in line, line


def test_an_audit_line_cannot_open_a_code_span():
    class Row:
        id, timestamp, result, user, approved_by, duration_seconds = 7, "2026-03-04T15:23:47Z", "success", "@a_b", "", 1
        command = "/deploy x` <@&1> ||y||"

    line = render_row(Row())  # type: ignore[arg-type]
    assert line.count("`") == 2 + line.count("\\`")  # only the row number's own pair is unescaped
    assert "<@&1>" not in line and "@a\\_b" in line


async def test_a_typed_nul_leaves_the_audit_chain_verifiable(harness):
    for service in ("\x00", "order-service\x00", "a\x00b"):
        h = await harness.run("alice", "status", {"service": service})
        await h.wait_message(timeout=5)
    assert (await harness.app.store.verify()).ok  # once "an indexed column differs from the row's hashed content"
    rows = await harness.export()
    assert [r["service"] for r in rows[-3:]] == ["\\x00", "order-service\\x00", "a\\x00b"]


async def test_a_refusal_naming_many_open_incidents_fits_in_a_message(harness):
    handles = await asyncio.gather(*(harness.emu.run_command(
        harness.guild_id, harness.channels["incidents"], harness.users["alice"], "incident create",
        {"title": f"{i} " + "a long incident title " * 4, "severity": "sev3"}) for i in range(40)))
    for handle in handles:
        await handle.wait_message(timeout=10)
    h = await harness.run("alice", "incident resolve", {"text": "fixed"})  # not in a thread: which incident?
    msg = await h.wait_message(timeout=5)
    assert msg.flags & EPHEMERAL_FLAG and len(msg.content) <= 2000
    assert msg.content.startswith("Run this in the incident's thread; open incidents: inc-")
    assert msg.content.endswith(" and 30 more.")
    assert not harness.emu.violations  # the reply was once 2,500 characters, refused by Discord: no answer at all


async def test_a_button_no_item_answers_still_gets_a_sentence_and_a_row(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.0",
                                              "environment": "production"})
    request = await h.wait_message(timeout=5)
    emu = harness.emu
    old = emu.state.create_message(harness.channels["deployments"], emu.bot_user.id, {
        "content": "from an older version", "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "Approve", "custom_id": "opscord:approve:op-NOT-HEX"},
            {"type": 2, "style": 1, "label": "Old", "custom_id": "deploy-approve-42"}]}]}, [])
    for custom_id in ("opscord:approve:op-NOT-HEX", "deploy-approve-42"):
        click = await emu.click_button(old.id, custom_id, harness.users["bob"])
        reply = await click.wait_message(timeout=5)  # discord.py answers no DynamicItem match: once no answer at all
        assert reply.flags & EPHEMERAL_FLAG and reply.content == UNKNOWN_BUTTON
    rows = await harness.export()
    assert [(r["user"], r["command"], r["result"]) for r in rows[-2:]] == [
        ("@bob", "[component] opscord:approve:op-NOT-HEX", "invalid"), ("@bob", "[component] deploy-approve-42",
                                                                        "invalid")]
    assert "Requires approval" in emu.get_message(request.id).content  # nothing was decided


async def test_version_autocomplete_of_undecodable_text_answers_nothing(harness):
    for typed in ("\ud800", "v1\x00", "v1.0"):
        choices = await harness.emu.autocomplete(harness.guild_id, harness.channels["deployments"],
                                                 harness.users["alice"], "deploy",
                                                 {"service": "order-service", "version": typed}, focused="version")
        assert choices == []  # once an aiosqlite UnicodeEncodeError: ERROR logged, no answer
