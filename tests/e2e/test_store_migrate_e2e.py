"""`python -m bot store migrate` moves a 100,000-row SQLite log into PostgreSQL; `audit verify` passes on the copy."""

import json
import subprocess
import sys
import time

import asyncpg

from bot.bench.product import bulk_load
from bot.bench.store import generate
from bot.store import Change, Operation, SQLiteStore
from bot.store.changes import CreateOperation, RecordDecision, StartDeploy
from tests.conftest import ROOT

ROWS = 100_000


def bot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


async def test_a_100k_row_sqlite_log_moves_to_postgresql_with_its_chain(tmp_path, pg_database):
    owner, _ = pg_database
    path = tmp_path / "opscord.db"
    await bulk_load(path, generate(ROWS))
    store = await SQLiteStore.open(path)
    op = Operation(id="op-00000000aa", action="deploy", policy_action="deploy", service="svc-0001",
                   environment="production", version="v1.2.3", previous_version=None, replicas=None,
                   current_replicas=None, command="/deploy svc-0001 v1.2.3 production", requester_id="11",
                   requester_name="alice", guild_id="1", channel_id="2", channel_name="deployments",
                   approvals_required=1, approver_roles=("team_lead",), confirm=False, status="pending_approval",
                   created_at="2026-03-04T15:23:47.000Z")
    await store.apply(Change.of(CreateOperation(op), RecordDecision(op.id, "12", "bob", "approve"), StartDeploy(op)))
    head = await store.audit_head()
    await store.close()

    started = time.monotonic()
    copied = bot("store", "migrate", "--from", f"sqlite:{path}", "--to", owner)
    took = time.monotonic() - started
    assert copied.returncode == 0, copied.stderr
    print(f"\n{copied.stdout.strip()} ({took:.1f} s)", flush=True)
    assert f"{ROWS:,} audit_log" in copied.stdout and f"{ROWS} rows, chain intact" in copied.stdout

    verified = bot("audit", "verify", "--db", owner, "--expect", f"{head[0]}:{head[1]}")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.splitlines()[0] == f"{ROWS} rows, chain intact"
    print(f"audit verify on PostgreSQL: {verified.stdout.strip()}", flush=True)

    conn = await asyncpg.connect(owner)
    try:
        assert await conn.fetchval("SELECT approver_name FROM approvals WHERE operation_id = $1", op.id) == "bob"
        assert await conn.fetchval("SELECT count(*) FROM deploys") == 1
    finally:
        await conn.close()
    exported = bot("audit", "export", "--db", owner, "--since", "2026-01-01T00:00:00Z")
    first = json.loads(exported.stdout.splitlines()[0])
    assert first["id"] == 1 and first["user"] == "@rare-user"

    again = bot("store", "migrate", "--from", f"sqlite:{path}", "--to", owner)
    assert again.returncode == 1 and "already holds an audit log" in again.stderr  # never into a non-empty one
