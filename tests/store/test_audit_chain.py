import asyncio
import json
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.__main__ import main
from bot.store import AuditEntry, AuditRow, SQLiteStore, Store
from bot.store.chain import canonical, row_hash
from bot.store.records import SEED_KEYS


def entry(i: int, **kw) -> AuditEntry:
    return AuditEntry(user=f"@user{i % 7}", command=f"/deploy order-service v1.0.{i} staging", result="success",
                      channel="#deployments", duration_seconds=i / 10, extra={"service": "order-service", **kw})


async def test_concurrent_appends_keep_one_chain(store: Store):
    rows = await asyncio.gather(*(store.append(entry(i)) for i in range(1000)))
    assert sorted(r.id for r in rows) == list(range(1, 1001))
    result = await store.verify()
    assert result.ok and result.rows == 1000
    assert str(result) == "1000 rows, chain intact"


async def test_each_caller_gets_its_row_only_once_it_is_durable(sqlite_store: SQLiteStore):
    store = sqlite_store
    row = await store.append(entry(3, request_id="r-1"))
    conn = sqlite3.connect(store.path)  # another connection, as after a crash: the row is committed
    assert conn.execute("SELECT hash, request_id, service FROM audit_log WHERE id = ?", (row.id,)).fetchone() == (
        row.hash, "r-1", "order-service")
    conn.close()


async def test_database_refuses_update_delete_and_unchained_insert(sqlite_store: SQLiteStore):
    store = sqlite_store
    await store.append(entry(1))
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET result = 'failed' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    with pytest.raises(sqlite3.IntegrityError, match="hash chain"):
        conn.execute("INSERT INTO audit_log (id, timestamp, user, command, result, prev_hash, hash) "
                     "VALUES (2, 'x', '@m', '/x', 'success', 'bogus', 'h')")
    conn.close()


async def _fill(tmp_path, n=5):
    path = tmp_path / "audit.db"
    store = await SQLiteStore.open(path)
    for i in range(n):
        await store.append(entry(i))
    await store.close()
    return path


def _tamper(path, *statements):
    conn = sqlite3.connect(path)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
                                ).fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def _verify(path, capsys):
    code = main(["audit", "verify", "--db", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def filled(tmp_path):
    return asyncio.run(_fill(tmp_path))


def test_verify_intact(filled, capsys):
    code, text = _verify(filled, capsys)
    assert code == 0 and text.startswith("5 rows, chain intact\nwitness: none reached")


def test_verify_names_altered_row(filled, capsys):
    _tamper(filled, "UPDATE audit_log SET result = 'failed' WHERE id = 3")
    code, text = _verify(filled, capsys)
    assert code == 1 and "row 3" in text and "altered" in text


def test_verify_names_deleted_row(filled, capsys):
    _tamper(filled, "DELETE FROM audit_log WHERE id = 2")
    code, text = _verify(filled, capsys)
    assert code == 1 and "row 2 is missing" in text


def test_verify_names_inserted_row(filled, capsys):
    conn = sqlite3.connect(filled)
    last = conn.execute("SELECT hash FROM audit_log WHERE id = 5").fetchone()[0]
    conn.close()
    # A well-linked row appended out of band with a made-up hash is caught by its hash.
    _tamper(filled, f"INSERT INTO audit_log (id, timestamp, user, command, result, prev_hash, hash) "
                    f"VALUES (6, '2026-01-01T00:00:00Z', '@mallory', '/deploy x', 'success', '{last}', 'f00')")
    code, text = _verify(filled, capsys)
    assert code == 1 and "row 6" in text


def test_verify_names_row_inserted_in_the_middle(filled, capsys):
    # Shift rows 4..5 up and slip a forged row 4 in: row 4's hash no longer covers what it says.
    _tamper(filled, "UPDATE audit_log SET id = id + 10 WHERE id >= 4",
            "INSERT INTO audit_log (id, timestamp, user, command, result, prev_hash, hash) "
            "SELECT 4, '2026-01-01T00:00:00Z', '@mallory', '/x', 'success', hash, 'x' FROM audit_log WHERE id = 3")
    code, text = _verify(filled, capsys)
    assert code == 1 and "row 4" in text


def test_export_seed_format(filled, capsys):
    assert main(["audit", "export", "--db", str(filled)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert tuple(first)[:7] == SEED_KEYS
    assert first["user"] == "@user0" and first["channel"] == "#deployments" and first["approved_by"] is None
    assert first["timestamp"].endswith("Z") and first["service"] == "order-service"
    assert first["duration_seconds"] == 0


def test_export_since(filled, capsys):
    assert main(["audit", "export", "--db", str(filled), "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit):
        main(["audit", "export", "--db", str(filled), "--since", "yesterday"])


def test_missing_db(tmp_path, capsys):
    assert main(["audit", "verify", "--db", str(tmp_path / "none.db")]) == 2  # cannot check
    assert "no database at" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no database"):
        main(["audit", "export", "--db", str(tmp_path / "none.db")])


def test_hash_covers_every_field():
    import dataclasses
    row = AuditRow(1, "t", "@a", "/x", None, "success", 1.0, "#c", {"k": 1}, "0" * 64, "")
    base = row_hash(canonical(row))
    for change in ({"user": "@b"}, {"command": "/y"}, {"approved_by": "@c"}, {"result": "failed"},
                   {"duration_seconds": 2.0}, {"channel": "#d"}, {"extra": {"k": 2}}, {"id": 2}, {"timestamp": "u"},
                   {"prev_hash": "1" * 64}):
        assert row_hash(canonical(dataclasses.replace(row, **change))) != base


def test_verify_catches_an_indexed_column_that_disagrees_with_the_hashed_content(filled, capsys):
    """Rewriting a filter column would hide a row from /audit recent service:… — verify names it."""
    _tamper(filled, "UPDATE audit_log SET service = 'api-gateway' WHERE id = 2")
    code, text = _verify(filled, capsys)
    assert code == 1 and "row 2" in text and "indexed column" in text


def test_expect_must_be_row_and_hash(filled):
    with pytest.raises(SystemExit, match="is not ROW:HASH"):
        main(["audit", "verify", "--db", str(filled), "--expect", "3:abc"])


def test_expect_a_truncated_chain(filled, capsys):
    assert main(["audit", "verify", "--db", str(filled), "--expect", f"9:{'a' * 64}"]) == 1
    assert "chain broken at row 6: is missing, but the checkpoint given with --expect 9" in capsys.readouterr().err


@given(st.dictionaries(st.text(max_size=12), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8), max_size=6), st.text(max_size=30), st.one_of(st.none(), st.floats(allow_nan=False)))
def test_the_spliced_encoding_is_the_canonical_encoding(extra, command, duration):
    """What the writer hashes (extra encoded once, spliced in) equals encoding the whole row at once."""
    from bot.store.chain import canonical_with, encode_extra

    try:
        text, parsed = encode_extra(extra)
    except UnicodeEncodeError:
        return
    row = AuditRow(7, "2026-03-04T15:23:47Z", "@a", command, None, "success", duration, "#c", parsed, "0" * 64, "")
    try:
        assert canonical_with(row, text) == canonical(row)
    except UnicodeEncodeError:
        pass
    again, _ = encode_extra(parsed)
    assert again == text  # the stored text is a fixed point: a verifier parsing it hashes the same bytes
