"""Checkpoints posted to #audit catch a chain rewritten end to end, which the chain alone cannot."""

import asyncio
import json
import re
import sqlite3

from bot.__main__ import main
from bot.store import AuditRow
from bot.store.chain import GENESIS_HASH, canonical, row_hash


def rewrite_chain(path, row_id, **changes):
    """What an attacker with write access to the DB file could do: change a row and re-hash everything."""
    conn = sqlite3.connect(path)
    for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_log_chain"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.row_factory = sqlite3.Row
    prev = GENESIS_HASH
    for rec in conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall():
        values = dict(rec)
        if values["id"] == row_id:
            values.update(changes)
        row = AuditRow(values["id"], values["timestamp"], values["user"], values["command"], values["approved_by"],
                       values["result"], values["duration_seconds"], values["channel"], json.loads(values["extra"]),
                       prev, "")
        digest = row_hash(canonical(row))
        conn.execute("UPDATE audit_log SET user = ?, result = ?, prev_hash = ?, hash = ? WHERE id = ?",
                     (values["user"], values["result"], prev, digest, row.id))
        prev = digest
    conn.commit()
    conn.close()


async def test_checkpoint_is_posted_and_catches_a_rewritten_chain(harness, capsys):
    await harness.run("dave", "audit recent")
    await harness.run("alice", "deploy", {"service": "order-service", "version": "v9.9.9", "environment": "qa"})
    await harness.settle()
    assert await harness.bot.post_checkpoint()
    assert not await harness.bot.post_checkpoint()  # nothing moved since
    note = harness.emu.messages(harness.channels["audit"])[-1].content
    row_id, digest = re.search(r"row (\d+), hash `([0-9a-f]{64})`", note).groups()
    assert f"--expect {row_id}:{digest}" in note

    await harness.stop_bot()
    db = str(harness.tmp_path / "opscord.db")
    rewrite_chain(db, 1, user="@mallory")
    # the CLI runs its own event loop, so it runs in a thread here
    assert await asyncio.to_thread(main, ["audit", "verify", "--db", db]) == 0  # self-consistent again
    assert await asyncio.to_thread(main, ["audit", "verify", "--db", db, "--expect", f"{row_id}:{digest}"]) == 1
    assert f"chain broken at row {row_id}: hash differs from its checkpoint" in capsys.readouterr().err
    await harness.start_bot()
