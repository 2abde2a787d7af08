"""Signed checkpoints posted to #audit by the real bot are the witness `audit verify` reads back through Discord's
REST API (the emulator's): they catch a chain rewritten end to end, which the chain alone cannot; a checkpoint
someone else posts is not the bot's and does not count; a rewrite under the running bot withholds the next one."""

import asyncio
import dataclasses

import pytest

from bot.__main__ import main
from bot.witness import parse
from tests.audit_tamper import KEY, RawLog
from tests.helpers import write_example_config

from .harness import TOKEN


@pytest.fixture
async def signing(harness, monkeypatch):
    """The bot restarted with OPSCORD_AUDIT_KEY (settings not given read the environment), and the environment
    `audit verify` needs to read #audit back."""
    for name in ("OPSCORD_AUDIT_KEYED_CHAIN", "OPSCORD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPSCORD_AUDIT_KEY", KEY)
    await harness.restart_bot()
    config = write_example_config(harness.tmp_path / "opscord.toml", harness.tmp_path / "state",
                                  guild_id=harness.guild_id)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("DISCORD_API_BASE_URL", harness.emu.api_base_url)
    monkeypatch.setenv("OPSCORD_CONFIG", str(config))
    return harness


async def _verify(harness, capsys, *args):
    db = str(harness.tmp_path / "opscord.db")
    code = await asyncio.to_thread(main, ["audit", "verify", "--db", db, *args])  # the CLI runs its own loop
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_the_witness_in_audit_catches_a_chain_rewritten_end_to_end(signing, capsys):
    harness = signing
    await harness.run("dave", "audit recent")
    await harness.run("alice", "deploy", {"service": "order-service", "version": "v9.9.9", "environment": "qa"})
    await harness.settle()
    assert await harness.bot.post_checkpoint()
    assert not await harness.bot.post_checkpoint()  # nothing moved since
    note = harness.emu.messages(harness.channels["audit"])[-1]
    [checkpoint] = parse(note.content, "#audit")
    assert checkpoint.signed_by(KEY.encode()) and KEY not in note.content
    assert note.content.startswith(f"🔏 Audit checkpoint: row {checkpoint.row}, hash `{checkpoint.hash}`.")
    assert f"--expect {checkpoint.row}:{checkpoint.hash}" in note.content
    # someone else's message with a checkpoint line in it is not the bot's: it is not read at all
    forged = dataclasses.replace(checkpoint, hash="f" * 64)
    await harness.emu.post_message(harness.channels["audit"], harness.users["dave"], f"`{forged.line}`")

    await harness.stop_bot()
    code, out, err = await _verify(harness, capsys, "--require-witness")
    assert (code, err) == (0, "")
    assert f"witness: rows 1 to {checkpoint.row} match the signed checkpoint of {checkpoint.at} (#audit)" in out

    async with RawLog(harness.tmp_path / "opscord.db", None) as raw:
        await raw.rewrite(1, lambda row: dataclasses.replace(row, user="@mallory"))
    assert (await _verify(harness, capsys, "--db", str(harness.tmp_path / "none.db")))[0] == 2
    code, out, err = await _verify(harness, capsys)
    assert code == 1 and out == ""
    assert (f"chain broken at row {checkpoint.row}: hash differs from the signed checkpoint of {checkpoint.at} "
            f"(#audit) (the chain was rewritten at or before row {checkpoint.row})") in err
    await harness.start_bot()


async def test_an_unreachable_witness_is_said_and_fails_only_when_required(signing, capsys, monkeypatch):
    harness = signing
    await harness.run("dave", "audit recent")
    await harness.stop_bot()
    monkeypatch.setenv("DISCORD_API_BASE_URL", "http://127.0.0.1:9/api/v10")  # nothing listens there
    code, out, err = await _verify(harness, capsys)
    assert code == 0 and "1 rows, chain intact" in out
    assert "witness: the audit channel could not be read (Discord could not be reached" in err and TOKEN not in err
    code, _, err = await _verify(harness, capsys, "--require-witness")
    assert code == 2 and "no trusted checkpoint reached" in err
    await harness.start_bot()


async def test_a_rewrite_under_the_running_bot_withholds_the_next_checkpoint(signing):
    harness = signing
    await harness.run("dave", "audit recent")
    await harness.settle()
    assert await harness.bot.post_checkpoint()
    async with RawLog(harness.tmp_path / "opscord.db", None) as raw:
        await raw.rewrite(1, lambda row: dataclasses.replace(row, result="failed"))
    await harness.run("dave", "audit recent")
    await harness.settle()
    assert await harness.bot.post_checkpoint()
    alarm = harness.emu.messages(harness.channels["audit"])[-1].content
    assert alarm.startswith("⚠️ Audit checkpoint withheld: chain broken at row 1: hash differs from the trusted "
                            "checkpoint") and "opscord-checkpoint" not in alarm
    assert not await harness.bot.post_checkpoint()  # said once, not every hour


async def test_audit_checkpoint_posts_one_now(signing):
    harness = signing
    await harness.run("dave", "audit recent")
    handle = await harness.run("dave", "audit checkpoint")
    reply = await handle.wait_message(timeout=5, predicate=lambda m: "Posted" in (m.content or ""))
    [checkpoint] = parse(harness.emu.messages(harness.channels["audit"])[-1].content, "#audit")
    assert reply.content == f"🔏 Posted to the audit channel: row {checkpoint.row}, hash `{checkpoint.hash}`."
    assert checkpoint.row == 1 and checkpoint.signed_by(KEY.encode())  # before the command's own row
    rows = await harness.audit_rows()
    assert rows[-1].command == "/audit checkpoint" and rows[-1].extra["checkpoint_row"] == 1


async def test_a_graceful_stop_leaves_a_checkpoint_of_the_last_row(signing):
    harness = signing
    await harness.run("dave", "audit recent")
    await harness.settle()
    head = await harness.app.store.audit_head()
    await harness.bot.shutdown()
    [checkpoint] = parse(harness.emu.messages(harness.channels["audit"])[-1].content, "#audit")
    assert (checkpoint.row, checkpoint.hash) == head and checkpoint.signed_by(KEY.encode())
    await harness.restart_bot()


async def test_a_keyed_chain_starts_with_a_marker_row(harness, monkeypatch, capsys):
    await harness.run("dave", "audit recent")
    monkeypatch.setenv("OPSCORD_AUDIT_KEY", KEY)
    monkeypatch.setenv("OPSCORD_AUDIT_KEYED_CHAIN", "true")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    await harness.restart_bot()
    rows = await harness.audit_rows()
    marker = next(r for r in rows if r.command == "audit keyed chain")
    assert marker.result == "keyed" and marker.mac is not None and marker.extra["keyed_from"] == marker.id
    await harness.run("dave", "audit recent")
    assert (await harness.audit_rows())[-1].mac is not None
    await harness.stop_bot()
    code, out, _ = await _verify(harness, capsys)
    assert code == 0 and f"keyed chain: rows {marker.id} to {marker.id + 1} carry MACs, checked" in out
    await harness.start_bot()
