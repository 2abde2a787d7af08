"""What only PostgreSQL has to show: durability across connections, the database's own refusals
(triggers, and the bot role's missing privileges), tamper detection, migrations, fencing by epoch,
and one chain when two processes write at once."""

import asyncio

import asyncpg
import pytest

from bot.store import AuditEntry, Change
from bot.store.changes import Append, ClaimInteraction, Fenced, StartExecution
from bot.store.migration_files import Migration
from bot.store.postgres import PostgresStore
from bot.store.postgres.connection import bundled_migrations


def entry(i: int, **extra) -> AuditEntry:
    return AuditEntry(user=f"@user{i % 3}", command=f"/deploy svc v1.0.{i} staging", result="success",
                      extra={"service": "svc", **extra})


@pytest.fixture
async def pg(pg_database):
    store = await PostgresStore.open(pg_database[0])
    yield store, pg_database
    await store.close()


async def test_a_row_is_durable_when_its_caller_gets_it(pg):
    store, (owner, _) = pg
    row = await store.append(entry(1, request_id="r-1"))
    conn = await asyncpg.connect(owner)
    assert tuple(await conn.fetchrow("SELECT hash, request_id, service FROM audit_log WHERE id = $1", row.id)) == (
        row.hash, "r-1", "svc")
    await conn.close()


async def test_the_database_refuses_update_delete_truncate_and_an_unchained_insert(pg):
    store, (owner, bot) = pg
    await store.append(entry(1))
    conn = await asyncpg.connect(owner)  # even the owner: the triggers refuse
    for sql in ("UPDATE audit_log SET result = 'failed'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
            await conn.execute(sql)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="hash chain"):
        await conn.execute("INSERT INTO audit_log (id, timestamp, \"user\", command, result, prev_hash, hash) "
                           "VALUES (2, 'x', '@m', '/x', 'success', 'bogus', 'h')")
    await conn.close()
    role = await asyncpg.connect(bot)  # the bot's role has no UPDATE, DELETE or TRUNCATE at all
    for sql in ("UPDATE audit_log SET result = 'failed'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await role.execute(sql)
    await role.close()


async def test_the_bot_role_runs_the_store(pg):
    _, (_, bot) = pg
    store = await PostgresStore.open(bot)  # migrated already: opening needs no DDL
    try:
        await store.apply(Change.of(ClaimInteraction("i-1"), Append(entry(1))))
        assert (await store.verify()).ok
    finally:
        await store.close()


async def _tamper(owner: str, *statements: str) -> None:
    conn = await asyncpg.connect(owner)
    await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    for sql in statements:
        await conn.execute(sql)
    await conn.close()


@pytest.mark.parametrize(("sql", "row", "words"), [
    ("UPDATE audit_log SET result = 'failed' WHERE id = 3", 3, "altered"),
    ("DELETE FROM audit_log WHERE id = 2", 2, "row 2 is missing"),
    ("UPDATE audit_log SET service = 'other' WHERE id = 4", 4, "indexed column"),
])
async def test_verify_names_the_tampered_row(pg, sql, row, words):
    store, (owner, _) = pg
    for i in range(5):
        await store.append(entry(i))
    await _tamper(owner, sql)
    result = await store.verify()
    assert not result.ok and f"row {row}" in str(result) and words in str(result)


async def test_migrations_apply_once_roll_back_whole_and_refuse_a_newer_database(pg_database):
    owner, _ = pg_database
    good = Migration(1, "good", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(asyncpg.UndefinedTableError):
        await PostgresStore.open(owner, [good, bad])
    conn = await asyncpg.connect(owner)
    assert await conn.fetchval("SELECT to_regclass('a')") is None  # nothing of it stayed
    await conn.close()
    for _ in range(2):
        store = await PostgresStore.open(owner)
        await store.close()
    conn = await asyncpg.connect(owner)
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(bundled_migrations())
    await conn.close()
    with pytest.raises(RuntimeError, match="newer than this Opscord"):
        await PostgresStore.open(owner, bundled_migrations()[:1])


async def _take_over(owner: str) -> int:
    conn = await asyncpg.connect(owner)
    epoch = await conn.fetchval("UPDATE leader_lease SET epoch = epoch + 1 RETURNING epoch")
    await conn.close()
    return int(epoch)


async def test_a_write_of_an_older_epoch_is_refused_by_the_database(pg):
    store, (owner, _) = pg
    refused = []
    store.on_fenced = refused.append
    store.fence(await _take_over(owner))
    await store.append(entry(1))
    await _take_over(owner)  # another replica took the lease
    with pytest.raises(Fenced, match="fenced"):
        await store.append(entry(2))
    assert store.fenced_writes == 1 and refused and (await store.audit_head())[0] == 1
    store.standby()
    with pytest.raises(Fenced, match="standby"):
        await store.append(entry(3))


async def test_two_processes_appending_at_once_keep_one_chain(pg):
    store, (owner, _) = pg
    other = await PostgresStore.open(owner)
    try:
        await asyncio.gather(*(s.append(entry(i)) for i in range(600) for s in (store, other)))
    finally:
        await other.close()
    result = await store.verify()
    assert result.ok and result.rows == 1200


async def test_an_interaction_and_an_execution_attempt_are_recorded_once(store):
    first = await store.apply(Change.of(ClaimInteraction("1234", "op-1"), Append(entry(1))))
    again = await store.apply(Change.of(ClaimInteraction("1234", "op-1"), Append(entry(2))))
    assert first.ok and again.conflict.reason == "duplicate" and (await store.audit_head())[0] == 1
    assert (await store.apply(Change.of(StartExecution("op-1", "h")))).ok
    assert (await store.apply(Change.of(StartExecution("op-1", "h")))).conflict.reason == "duplicate"
    assert (await store.apply(Change.of(StartExecution("op-1", "h", attempt=2)))).ok


async def test_text_postgresql_cannot_hold_fails_alone(store):
    nul = AuditEntry(user="@a", command="/x a\x00b", result="success")
    results = await asyncio.gather(store.append(nul), store.append(entry(2, note="in extra \x00 is escaped")),
                                   return_exceptions=True)
    if isinstance(store, PostgresStore):
        assert isinstance(results[0], ValueError) and results[1].id == 1
    assert (await store.verify()).ok
