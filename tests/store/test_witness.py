"""`audit verify` against its outside witness, on both backends: each way of tampering exits 1 naming what it
found; the untouched log exits 0; what cannot be checked exits 2; a checkpoint whose signature fails is
reported, never trusted; a keyed chain shows a rewrite with no witness at all."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.store import AuditEntry, PostgresStore, SQLiteStore, Store
from bot.store.chain import ChainKey, row_hash
from bot.witness import Checkpoint
from tests.audit_tamper import KEY, RawLog

ROWS = 5


def entry(i: int) -> AuditEntry:
    return AuditEntry(user=f"@user{i % 3}", command=f"/deploy order-service v1.0.{i} staging", result="success",
                      channel="#deployments", duration_seconds=1.5,
                      extra={"service": "order-service", "user_id": str(100 + i % 3), "request_id": f"op-{i:010x}"})


@dataclass
class Log:
    """A five-row log on one backend, and signed checkpoints of rows 4 and 5 in a file kept elsewhere."""

    path: Path
    url: str | None
    tmp: Path
    hashes: dict[int, str]

    @property
    def db(self) -> str:
        return self.url or str(self.path)

    def raw(self) -> RawLog:
        return RawLog(self.path, self.url)

    async def store(self, chain_key: ChainKey | None = None) -> Store:
        if self.url is None:
            return await SQLiteStore.open(self.path, chain_key=chain_key)
        return await PostgresStore.open(self.url, chain_key=chain_key)

    def checkpoints(self, *lines: str, name: str = "checkpoints.txt") -> Path:
        path = self.tmp / name
        path.write_text("".join(f"{line}\n" for line in lines))
        return path

    def signed(self, row: int) -> str:
        return Checkpoint.of(row, self.hashes[row], KEY.encode()).line


@pytest.fixture
async def log(backend, tmp_path, monkeypatch) -> Log:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ("DISCORD_TOKEN", "OPSCORD_AUDIT_KEYED_CHAIN", "OPSCORD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPSCORD_AUDIT_KEY", KEY)
    made = Log(tmp_path / "opscord.db", backend, tmp_path, {})
    store = await made.store()
    for i in range(ROWS):
        await store.append(entry(i))
    made.hashes = await store.audit_hashes(range(1, ROWS + 1))
    await store.close()
    made.checkpoints(made.signed(4), made.signed(5))
    return made


async def verify(log: Log, capsys, *args: str, witness: bool = True) -> tuple[int, str, str]:
    files = ["--checkpoints", str(log.tmp / "checkpoints.txt")] if witness else []
    code = await asyncio.to_thread(main, ["audit", "verify", "--db", log.db, *files, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_the_untouched_log_verifies_against_its_witness(log, capsys):
    code, out, err = await verify(log, capsys)
    assert (code, err) == (0, "")
    assert out.splitlines() == ["5 rows, chain intact",
                                f"witness: rows 1 to 5 match the signed checkpoint of "
                                f"{out.split('checkpoint of ')[1].split(' ')[0]} (checkpoints.txt:2), and 1 earlier "
                                "checkpoint(s)"]


async def _shift_and_insert(raw: RawLog, hashes: dict[int, str]) -> None:
    await raw.execute("UPDATE audit_log SET id = id + 100 WHERE id >= 3")
    await raw.execute("UPDATE audit_log SET id = id - 99 WHERE id >= 100")
    await raw.execute("DELETE FROM audit_log WHERE id = 0")  # nothing: the ids are 1, 2, 4, 5, 6 now
    forged = AuditEntry(user="@mallory", command="/deploy order-service v6.6.6 production", result="success")
    from bot.store.chain import seal

    sealed = seal(forged, 3, hashes[2])
    await raw.execute('INSERT INTO audit_log (id, timestamp, "user", command, result, extra, prev_hash, hash, body) '
                      "VALUES (?, ?, ?, '', ?, '{}', ?, ?, ?)", 3, sealed.row.timestamp, sealed.row.user,
                      sealed.row.result, sealed.row.prev_hash, sealed.row.hash, sealed.body)
    await raw.put(sealed.row, sealed.body, mac=None)


async def _edit_body(raw: RawLog, row_id: int, old: bytes, new: bytes) -> None:
    body = next(r["body"] for r in await raw.rows() if r["id"] == row_id)
    assert old in body
    await raw.execute("UPDATE audit_log SET body = ? WHERE id = ?", bytes(body).replace(old, new, 1), row_id)


TAMPERS = {
    "edit a column": (lambda raw, h: raw.execute("UPDATE audit_log SET result = 'failed' WHERE id = 3"),
                      "chain broken at row 3: an indexed column (result) differs from the row's hashed content"),
    "edit a body": (lambda raw, h: _edit_body(raw, 3, b"v1.0.2", b"v9.9.9"),
                    "chain broken at row 3: content does not match its hash (altered?)"),
    "delete a row": (lambda raw, h: raw.execute("DELETE FROM audit_log WHERE id = 2"),
                     "chain broken at row 3: row 2 is missing (deleted?)"),
    "insert a row": (_shift_and_insert, "chain broken at row 4: does not link to the previous row's hash"),
    "forge the tail row": (lambda raw, h: raw.rewrite(5, lambda r: dataclasses.replace(r, result="rejected")),
                           "chain broken at row 5: hash differs from the signed checkpoint of "),
    "truncate": (lambda raw, h: raw.execute("DELETE FROM audit_log WHERE id >= 4"),
                 "chain broken at row 4: is missing, but the signed checkpoint of "),
    "empty the log": (lambda raw, h: raw.execute("DELETE FROM audit_log"),
                      "chain broken at row 1: is missing, but the signed checkpoint of "),
    "re-hash the whole chain": (lambda raw, h: raw.rewrite(1, lambda r: dataclasses.replace(r, user="@mallory")),
                                "chain broken at row 4: hash differs from the signed checkpoint of "),
}


@pytest.mark.parametrize("kind", TAMPERS)
async def test_each_way_of_tampering_exits_1_naming_what_it_found(log, capsys, kind):
    tamper, finding = TAMPERS[kind]
    async with log.raw() as raw:
        await tamper(raw, log.hashes)
    code, out, err = await verify(log, capsys)
    assert code == 1 and out == ""
    assert finding in err, err
    if kind == "forge the tail row":
        assert "(the chain was rewritten at or before row 5, after row 4, which still matches)" in err
    if kind == "truncate":
        assert "covers rows up to 5 (truncated?)" in err
    if kind == "empty the log":
        assert "(emptied?)" in err


async def test_the_chain_alone_passes_what_only_the_witness_catches(log, capsys):
    """Why the witness exists: a chain re-hashed end to end is self-consistent."""
    async with log.raw() as raw:
        await raw.rewrite(1, lambda r: dataclasses.replace(r, user="@mallory"))
    code, out, _ = await verify(log, capsys, witness=False)
    assert code == 0 and out.startswith("5 rows, chain intact\nwitness: none reached")


async def test_no_witness_when_one_is_required_cannot_be_checked(log, capsys):
    code, out, err = await verify(log, capsys, "--require-witness", witness=False)
    assert code == 2 and "5 rows, chain intact" in out
    assert "cannot check: no trusted checkpoint reached, and --require-witness asks for one" in err


async def test_a_bad_signature_is_reported_and_not_trusted(log, capsys, monkeypatch):
    good = Checkpoint.of(5, log.hashes[5], KEY.encode())
    lying = dataclasses.replace(good, hash="f" * 64)  # the signature no longer covers what it says
    log.checkpoints(lying.line, Checkpoint.of(5, "e" * 64, b"another-key-0123456789abcdef0123456789").line,
                    Checkpoint(5, "d" * 64, good.at).line)
    code, out, err = await verify(log, capsys)
    assert code == 0 and "witness: none reached" in out  # none of them is trusted, none fails the log
    assert err.count("has a bad signature: not trusted") == 2 and "is unsigned: not trusted" in err
    code, _, err = await verify(log, capsys, "--require-witness")
    assert code == 2 and "bad signature" in err
    monkeypatch.delenv("OPSCORD_AUDIT_KEY")  # without the key nothing can be checked: taken, and said so
    code, _, err = await verify(log, capsys)
    assert code == 1 and "taken without checking a signature (OPSCORD_AUDIT_KEY is not set)" in err


async def test_a_missing_database_cannot_be_checked(log, capsys, tmp_path):
    code = await asyncio.to_thread(main, ["audit", "verify", "--db", str(tmp_path / "none.db")])
    assert code == 2 and f"cannot check: no database at {tmp_path / 'none.db'}" in capsys.readouterr().err


async def test_since_checkpoint_walks_only_the_rows_after_the_latest_trusted_one(log, capsys):
    store = await log.store()
    await store.append(entry(7))
    await store.append(entry(8))
    await store.close()
    code, out, _ = await verify(log, capsys, "--since-checkpoint")
    assert code == 0 and out.splitlines()[0] == "2 rows after row 5, chain intact"
    async with log.raw() as raw:
        await _edit_body(raw, 7, b"v1.0.8", b"v6.6.6")
    code, _, err = await verify(log, capsys, "--since-checkpoint")
    assert code == 1 and "chain broken at row 7: content does not match its hash" in err


async def test_a_checkpoint_line_from_audit_checkpoint_is_a_witness(log, capsys):
    code = await asyncio.to_thread(main, ["audit", "checkpoint", "--db", log.db])
    line = capsys.readouterr().out.strip()
    assert code == 0 and line.startswith(f"opscord-checkpoint v1 row=5 hash={log.hashes[5]} at=") and " hmac=" in line
    log.checkpoints(line)
    async with log.raw() as raw:
        await raw.rewrite(2, lambda r: dataclasses.replace(r, result="failed"))
    code, _, err = await verify(log, capsys)
    assert code == 1 and "chain broken at row 5: hash differs from the signed checkpoint" in err


async def test_a_keyed_chain_shows_a_rewrite_with_no_witness(log, capsys, monkeypatch):
    monkeypatch.setenv("OPSCORD_AUDIT_KEYED_CHAIN", "1")
    store = await log.store(ChainKey(KEY.encode()))
    for i in range(3):
        await store.append(entry(10 + i))  # rows 6-8 carry MACs: the chain is keyed from row 6
    await store.close()
    code, out, _ = await verify(log, capsys, witness=False)
    assert code == 0 and "keyed chain: rows 6 to 8 carry MACs, checked with OPSCORD_AUDIT_KEY" in out

    async with log.raw() as raw:
        await raw.rewrite(2, lambda r: dataclasses.replace(r, result="failed"))  # MACs cannot follow
    code, _, err = await verify(log, capsys, witness=False)
    assert code == 1 and "chain broken at row 6: its MAC does not match (rewritten without the key?)" in err

    async with log.raw() as raw:
        await raw.rewrite(2, strip_macs=True)  # ... nor be left out
    code, _, err = await verify(log, capsys, witness=False)
    assert code == 1 and "chain broken at row 8: is the newest row and has no MAC" in err


async def test_a_row_appended_without_the_key_shows_in_a_keyed_chain(log, capsys, monkeypatch):
    store = await log.store(ChainKey(KEY.encode()))
    await store.append(entry(9))
    await store.close()
    async with log.raw() as raw:
        await raw.append(AuditEntry(user="@mallory", command="/deploy x v1 production", result="success"))
    code, _, err = await verify(log, capsys)
    assert code == 1 and "chain broken at row 7: has no MAC, though the chain is keyed from row 6" in err
    async with log.raw() as raw:
        await raw.execute("UPDATE audit_log SET mac = ? WHERE id = 7", "0" * 64)
    code, _, err = await verify(log, capsys)
    assert code == 1 and "chain broken at row 7: its MAC does not match" in err
    monkeypatch.delenv("OPSCORD_AUDIT_KEY")  # without the key a made-up MAC cannot be told, a missing one can
    async with log.raw() as raw:
        await raw.execute("UPDATE audit_log SET mac = NULL WHERE id = 7")
    code, _, err = await verify(log, capsys, witness=False)
    assert code == 1 and "row 7: has no MAC" in err


async def test_a_duplicate_key_cannot_hide_in_a_row(log, capsys):
    """Bytes a reader would parse differently are bytes the hash no longer covers; a re-hashed one the reader
    refuses, and the witness catches."""
    async with log.raw() as raw:
        await _edit_body(raw, 3, b'"channel":', b'"channel":"#ops","channel":')
    code, _, err = await verify(log, capsys, witness=False)
    assert code == 1 and "chain broken at row 3: content does not match its hash (altered?)" in err

    async with log.raw() as raw:
        body = next(r["body"] for r in await raw.rows() if r["id"] == 3)
        await raw.execute("UPDATE audit_log SET hash = ? WHERE id = 3", row_hash(bytes(body)))
        await raw.rewrite(4)  # the rows after it re-linked over it: a self-consistent chain again
    store = await log.store()
    with pytest.raises(ValueError, match="duplicate key 'channel'"):
        await store.audit_recent(5)
    await store.close()
    code, _, err = await verify(log, capsys)
    assert code == 1 and "hash differs from the signed checkpoint" in err
