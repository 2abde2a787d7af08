"""The one error path: an unexpected failure is one plain ephemeral sentence, logged and audited."""

import logging

from bot.sandbox.emulator.models import EPHEMERAL_FLAG


async def test_unexpected_failure_is_one_sentence_logged_and_audited(harness, error_logs, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    harness.app.store.audit_recent = broken
    h = await harness.run("dave", "audit recent")
    msg = await h.wait_message(timeout=5)
    assert msg.flags & EPHEMERAL_FLAG
    assert msg.content.startswith("Something went wrong running /audit; it was logged as error ")
    assert "fire" not in msg.content
    rows = await harness.audit_rows()
    assert rows[-1].result == "error" and rows[-1].user == "@dave"
    [record] = error_logs.records
    assert "database on fire" in logging.Formatter().formatException(record.exc_info)
    error_logs.records.clear()  # expected here; any other ERROR still fails the test

    h = await harness.run("dave", "audit verify")  # the bot keeps running
    assert "chain intact" in (await h.wait_message(timeout=5, predicate=lambda m: "chain" in m.content)).content


async def test_user_text_never_pings(harness):
    h = await harness.run("alice", "deploy", {"service": "@everyone", "version": "v1.0.0", "environment": "staging"})
    msg = await h.wait_message(timeout=5)
    assert "'@\u200beveryone'" in msg.content and "@everyone" not in msg.content  # named, shown escaped
    assert msg.allowed_mentions == {"parse": []} or msg.allowed_mentions.get("parse") == []
    assert msg.pinged == {"everyone": False, "roles": [], "users": []}


async def test_a_request_whose_first_reply_is_too_late_never_runs(harness, error_logs):
    import asyncio

    store = harness.app.store
    real = store.target

    async def slow_target(*args):
        await asyncio.sleep(3.2)  # e.g. a stalled disk: the 3 s for the first reply run out
        return await real(*args)

    store.target = slow_target
    h = await harness.emu.run_command(harness.guild_id, harness.channels["deployments"], harness.users["alice"],
                                      "deploy", {"service": "order-service", "version": "v1.0.0",
                                                 "environment": "staging"})
    await harness.emu.wait_until(lambda: h.refused, timeout=6)
    assert h.refused[0]["code"] == 10062
    await harness.settle()
    store.target = real
    rows = await harness.export()
    assert rows[-1]["result"] == "abandoned" and "its first message could not be shown" in rows[-1]["error"]
    [op] = await store.operations("abandoned")
    assert op.id == rows[-1]["request_id"]
    assert op.shown_revision == op.revision  # no message shows it: nothing is left for the message sync
    assert len(h.refused) == 1  # the interaction is gone: no second callback trying to tell anyone
    assert not (harness.tmp_path / "state" / "calls.jsonl").exists()
    harness.emu.violations.clear()  # the late callback was the point
    error_logs.records.clear()
