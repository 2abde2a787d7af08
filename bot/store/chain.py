"""The audit log's hash chain: the canonical bytes a row's hash covers, the keyed MAC, and the walk.

A row is stored as its **canonical bytes** (`body`), and its hash is SHA-256 over exactly those
bytes. A body is two lines of canonical JSON (no spaces, UTF-8):

    [id,"prev_hash","timestamp","user","result",user_id,service,environment,action,request_id,interaction_id,"command"]
    {"approved_by":…,"channel":…,"duration_seconds":…,"extra":{…the other keys, sorted…}}

The first line names the row's place in the chain, every value `/audit recent` filters on and the
command as typed — an array, so nothing in it can be said twice — and the columns beside the body
hold those same values (an index, and what `sqlite3`/`psql` show; the columns the second line holds
keep placeholders). The verifier hashes the stored bytes as they are (no parse, no re-encoding) and
checks that the columns are the first line's values (the backends do that in SQL, beside the walk);
a reader parses the same bytes once, refusing a duplicate key, so what it shows is what was hashed.

With a chain key (`ChainKey`, from the environment, never in the database) each row also carries
an HMAC-SHA256 of its hash: without the key nobody can rewrite the chain and make those MACs
match, so a rewrite shows even with no outside witness. Rows written before the key was set, and
"legacy" rows written before bodies existed (their hash covers `canonical(row)`, rebuilt from their
columns), keep what they have: nothing is ever re-hashed. Every backend uses these functions, so a
log copied between backends verifies the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

from bot.store.records import INDEXED_KEYS, AuditEntry, AuditRow, VerifyResult
from bot.times import utc_timestamp

GENESIS_HASH = "0" * 64
HEAD_FIELDS = ("id", "prev_hash", "timestamp", "user", "result", *INDEXED_KEYS, "command")
"""The first line of a body, in order: the row's place in the chain, its indexed values and its command."""
REST_KEYS = frozenset({"approved_by", "channel", "duration_seconds", "extra"})
PLACEHOLDERS = {"extra": "{}"}
"""What a row with a body stores in the columns its body holds (the body is the row; nothing reads these)."""
_KEY_MIN = 32


class UnsignedRow(NamedTuple):
    """A row's hashed fields before its hash is known (cheaper to build than an AuditRow)."""

    id: int
    timestamp: str
    user: str
    command: str
    approved_by: str | None
    result: str
    duration_seconds: float | None
    channel: str | None
    prev_hash: str


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(row: AuditRow) -> bytes:
    """The bytes a legacy row's hash covers (sorted keys, no spaces, UTF-8), rebuilt from its columns."""
    return canonical_with(row, _dumps(dict(row.extra)))


def canonical_with(row: AuditRow | UnsignedRow, extra_json: str) -> bytes:
    """`canonical(row)`, given `extra` already encoded as `encode_extra` does (what the writer stores).

    The body's keys sort as approved_by, channel, command, duration_seconds, extra, id, prev_hash,
    result, timestamp, user, so the encoded `extra` is spliced between the two halves — the same
    bytes as encoding the whole body at once, without encoding `extra` a second time.
    """
    head = _dumps({"approved_by": row.approved_by, "channel": row.channel, "command": row.command,
                   "duration_seconds": row.duration_seconds})
    tail = _dumps({"id": row.id, "prev_hash": row.prev_hash, "result": row.result, "timestamp": row.timestamp,
                   "user": row.user})
    return f'{head[:-1]},"extra":{extra_json},{tail[1:]}'.encode()


def row_hash(data: bytes) -> str:
    """SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


def encode_extra(extra: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`extra` as hashed (canonical JSON: sorted keys) and as a reader parses it back.

    The indexed keys are kept as text (what their columns hold), so the body and its index columns
    say the same thing on every backend. The text is a fixed point: parsing and encoding it again
    gives the same text. Raises UnicodeEncodeError for text UTF-8 cannot hold (a lone surrogate),
    before anything reaches the database.
    """
    values = dict(extra)
    for key in INDEXED_KEYS:
        if values.get(key) is not None and not isinstance(values[key], str):
            values[key] = str(values[key])
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    text.encode()
    loaded: dict[str, Any] = json.loads(text)
    return text, loaded


def index_values(extra: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The indexed columns' values, as stored beside the row."""
    return tuple(None if extra.get(key) is None else str(extra[key]) for key in INDEXED_KEYS)


def hash_of(row: AuditRow) -> str:
    """The hash a legacy row should carry."""
    return row_hash(canonical(row))


def body_of(row: AuditRow | UnsignedRow, extra: Mapping[str, Any]) -> bytes:
    """A row's canonical bytes (its hash is SHA-256 over them); `extra` as `encode_extra` parses it back."""
    head = [row.id, row.prev_hash, row.timestamp, row.user, row.result, *index_values(extra), row.command]
    rest = {"approved_by": row.approved_by, "channel": row.channel, "duration_seconds": row.duration_seconds,
            "extra": {key: value for key, value in extra.items() if key not in INDEXED_KEYS}}
    return (json.dumps(head, ensure_ascii=False, separators=(",", ":")) + "\n" + _dumps(rest)).encode()


class ChainKey:
    """The key of a keyed chain: a row's MAC is HMAC-SHA256(key, its hash as hex).

    HMAC (RFC 2104) computed from the two padded key states once, so a MAC costs two SHA-256 block
    updates (a verify of a million rows checks a million of them).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < _KEY_MIN:
            raise ValueError(f"a chain key needs at least {_KEY_MIN} bytes")
        block = hashlib.sha256(key).digest() if len(key) > 64 else key
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def mac(self, digest: str) -> str:
        """The MAC of the row whose hash is `digest`."""
        inner = self._inner.copy()
        inner.update(digest.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def __repr__(self) -> str:
        return "ChainKey(***)"


class Sealed(NamedTuple):
    """An entry turned into the next row: the row, its canonical bytes, and what its columns hold."""

    row: AuditRow
    body: bytes
    indexed: tuple[str | None, ...]


def seal(entry: AuditEntry, row_id: int, prev_hash: str, key: ChainKey | None = None) -> Sealed:
    """The row `entry` becomes after (`row_id - 1`, `prev_hash`): body, hash and (with a key) MAC.

    Raises (UnicodeEncodeError) for text UTF-8 cannot hold, before anything reaches the database.
    """
    _, parsed = encode_extra(entry.extra)
    extra = {key: value for key, value in parsed.items() if value is not None or key not in INDEXED_KEYS}
    duration = None if entry.duration_seconds is None else round(float(entry.duration_seconds), 3)
    fields = UnsignedRow(row_id, entry.timestamp or utc_timestamp(), entry.user, entry.command, entry.approved_by,
                         entry.result, duration, entry.channel, prev_hash)
    body = body_of(fields, extra)  # UnicodeEncodeError here for a lone surrogate anywhere
    digest = row_hash(body)
    row = AuditRow(*fields[:8], extra, prev_hash, digest, key.mac(digest) if key is not None else None)
    return Sealed(row, body, index_values(extra))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key[:40]!r}")
        found[key] = value
    return found


def strict_json(text: str | bytes) -> Any:
    """JSON parsed once, refusing what two parsers could read differently (a duplicate key); ValueError if so."""
    return json.loads(text, object_pairs_hook=_unique)


def row_of_body(row_id: int, body: bytes, digest: str, mac: str | None) -> AuditRow:
    """The row its canonical bytes say (ValueError when they are not a row, or name another id)."""
    first, sep, second = bytes(body).partition(b"\n")
    head, rest = strict_json(first.decode()), strict_json(second.decode()) if sep else None
    if not isinstance(head, list) or len(head) != len(HEAD_FIELDS) or not isinstance(rest, dict) \
            or set(rest) != REST_KEYS or not isinstance(rest["extra"], dict):
        raise ValueError("the body is not an audit row")
    said = dict(zip(HEAD_FIELDS, head, strict=True))
    if said["id"] != row_id:
        raise ValueError(f"the body is row {str(said['id'])[:20]}'s")
    if any(not isinstance(said[name], str) for name in ("prev_hash", "timestamp", "user", "result", "command")) or \
            any(said[key] is not None and not isinstance(said[key], str) for key in INDEXED_KEYS):
        raise ValueError("the body's first line is not an audit row's")
    if rest["extra"].keys() & set(INDEXED_KEYS):
        raise ValueError("the body says an indexed value twice")
    extra = dict(sorted({**rest["extra"], **{key: said[key] for key in INDEXED_KEYS if said[key] is not None}}
                        .items()))
    duration = rest["duration_seconds"]
    return AuditRow(id=row_id, timestamp=said["timestamp"], user=said["user"], command=said["command"],
                    approved_by=rest["approved_by"], result=said["result"],
                    duration_seconds=float(duration) if duration is not None else None, channel=rest["channel"],
                    extra=extra, prev_hash=said["prev_hash"], hash=digest, mac=mac)


class Columns(Protocol):
    """A stored row as a backend reads it: its values by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class ColumnMismatch(ValueError):
    """A column stored beside a row's body says something else than the body."""

    def __init__(self, column: str) -> None:
        super().__init__(f"its {column} column differs from its hashed content")
        self.column = column


def _check_columns(row: AuditRow, rec: Columns) -> None:
    said = {"timestamp": row.timestamp, "user": row.user, "result": row.result, "prev_hash": row.prev_hash,
            "command": row.command, **dict(zip(INDEXED_KEYS, index_values(row.extra), strict=True))}
    for name, value in said.items():
        if rec[name] != value:
            raise ColumnMismatch(name)


def row_of_record(rec: Columns) -> AuditRow:
    """A stored row, from its body or (written before bodies) its columns; ValueError/TypeError when it is
    unreadable, or (`ColumnMismatch`) when a column beside its body says something else."""
    if rec["body"] is not None:
        row = row_of_body(int(rec["id"]), rec["body"], str(rec["hash"]), rec["mac"])
        _check_columns(row, rec)
        return row
    duration = rec["duration_seconds"]
    extra = strict_json(rec["extra"])
    if not isinstance(extra, dict):
        raise ValueError("extra is not a JSON object")
    row = AuditRow(
        id=int(rec["id"]), timestamp=str(rec["timestamp"]), user=str(rec["user"]), command=str(rec["command"]),
        approved_by=rec["approved_by"], result=str(rec["result"]),
        duration_seconds=float(duration) if duration is not None else None, channel=rec["channel"],
        extra=extra, prev_hash=str(rec["prev_hash"]), hash=str(rec["hash"]), mac=rec["mac"])
    _check_columns(row, rec)
    return row


_SHOWN_ROWS = 4096
_shown_rows: dict[tuple[Any, ...], AuditRow] = {}


def remembered_row(rec: Columns) -> AuditRow:
    """`row_of_record`, remembered for rows read again exactly as before (every value of every column the same).

    `/audit recent` shows the same newest rows to everyone who asks, so a burst of it would parse and check
    those bodies thousands of times over; a row that changed in any column is read afresh. Only for the
    few rows a query shows — a scan (verify, export) reads each row once and would only churn this.
    """
    key = tuple(rec)
    row = _shown_rows.get(key)
    if row is None:
        row = row_of_record(rec)
        if len(_shown_rows) >= _SHOWN_ROWS:
            _shown_rows.clear()
        _shown_rows[key] = row
    return row


def column_finding(rec: Columns) -> str | None:
    """What is wrong with a stored row's columns (or body as a row), said for `audit verify`; None if nothing."""
    try:
        row_of_record(rec)
    except ColumnMismatch as exc:
        return f"an indexed column ({exc.column}) differs from the row's hashed content (altered?)"
    except (ValueError, TypeError) as exc:
        if rec["body"] is None:
            return f"unreadable row ({exc})"
        return f"its body cannot be read as a row ({exc})"
    if rec["body"] is not None:
        stale = [name for name, value in PLACEHOLDERS.items() if rec[name] != value]
        stale += [name for name in ("approved_by", "duration_seconds", "channel") if rec[name] is not None]
        if stale:
            return f"its {stale[0]} column holds a value its body does not (altered?)"
    return None


class ChainRecord(NamedTuple):
    """A stored row as the walk reads it: a body (the fast path), or a legacy row already parsed."""

    id: int
    prev_hash: str
    hash: str
    mac: str | None
    body: bytes | None
    legacy: AuditRow | None = None
    finding: str | None = None
    """Why a legacy row could not be parsed (said as `audit verify` says it)."""


def legacy_record(rec: Columns) -> ChainRecord:
    """A row stored as columns, parsed for the walk (or with what is wrong with it)."""
    legacy, finding = None, None
    try:
        legacy = row_of_record(rec)
    except (ValueError, TypeError):
        finding = column_finding(rec) or "unreadable row"
    return ChainRecord(int(rec["id"]), str(rec["prev_hash"]), str(rec["hash"]), rec["mac"], rec["body"], legacy,
                       finding)


class Walker:
    """Checks the chain in id order, a chunk at a time, from the genesis or from a trusted row.

    Rows with a body are checked without parsing them: the next id, linked to the previous hash,
    SHA-256 of the stored bytes equal to the stored hash, and — once a row carries a MAC — a MAC on
    every later row, checked when the key is given. (That the body itself names this id and that
    previous hash, and that the index columns agree with it, the backend checks in SQL beside the
    walk.) A legacy row is re-encoded from its columns and hashed; it may not follow a body row.
    """

    def __init__(self, key: ChainKey | None = None, start: tuple[int, str, str | None] | None = None) -> None:
        """`start`: a trusted row (id, hash, its MAC or None) to walk on from instead of the genesis."""
        self.key = key
        row_id, digest, mac = start or (0, GENESIS_HASH, None)
        self.since = row_id
        self.expected_id, self.prev, self.count = row_id + 1, digest, 0
        self.keyed_from: int | None = row_id if mac is not None else None
        self.keyed = mac is not None
        self.first_body: int | None = None

    def feed(self, records: Iterable[tuple[int, str, str, str | None, bytes | None]]) -> VerifyResult | None:
        """Check the next rows, each (id, prev_hash, hash, mac, body); the first failure, or None while it holds."""
        expected, prev, keyed, key, count, first_body = (self.expected_id, self.prev, self.keyed, self.key,
                                                          self.count, self.first_body)
        sha = hashlib.sha256
        for record in records:
            row_id, prev_col, digest, mac, body = record
            if body is None or row_id != expected or prev_col != prev or sha(body).hexdigest() != digest:
                self.expected_id, self.prev, self.count, self.keyed, self.first_body = (expected, prev, count, keyed,
                                                                                         first_body)
                failed = self._slow(ChainRecord(row_id, prev_col, digest, mac, body))
                if failed is not None:
                    return failed
                expected, prev, count, keyed = self.expected_id, self.prev, self.count, self.keyed
                continue
            if mac is not None or keyed:
                if mac is None:
                    return self._fail(count + 1, row_id, f"has no MAC, though the chain is keyed from row "
                                                         f"{self.keyed_from} (written without the key?)")
                if not keyed:
                    keyed, self.keyed_from = True, row_id
                if key is not None and key.mac(digest) != mac:
                    return self._fail(count + 1, row_id, "its MAC does not match (rewritten without the key?)")
            if first_body is None:
                first_body = row_id
            count += 1
            prev, expected = digest, expected + 1
        self.expected_id, self.prev, self.count, self.keyed, self.first_body = expected, prev, count, keyed, first_body
        return None

    def feed_legacy(self, records: Iterable[ChainRecord]) -> VerifyResult | None:
        """Check rows stored as columns (each already parsed, or why it could not be)."""
        for record in records:
            failed = self._slow(record)
            if failed is not None:
                return failed
        return None

    def _fail(self, count: int, row_id: int, reason: str) -> VerifyResult:
        return VerifyResult(count, False, row_id, reason, since=self.since)

    def _slow(self, record: ChainRecord) -> VerifyResult | None:
        """A row the fast path did not pass: a legacy row to re-hash, or the failure to name."""
        count = self.count + 1
        if record.id != self.expected_id:
            return self._fail(count, record.id, f"row {self.expected_id} is missing (deleted?)")
        if record.prev_hash != self.prev:
            return self._fail(count, record.id, "does not link to the previous row's hash")
        if record.body is not None:
            return self._fail(count, record.id, "content does not match its hash (altered?)")
        if self.first_body is not None:
            return self._fail(count, record.id, f"is stored without its canonical bytes, though row "
                                                f"{self.first_body} before it has them (written out of band?)")
        if record.legacy is None:
            return self._fail(count, record.id, record.finding or "unreadable row")
        if hash_of(record.legacy) != record.hash:
            return self._fail(count, record.id, "content does not match its hash (altered?)")
        if record.mac is not None or self.keyed:
            if record.mac is None:
                return self._fail(count, record.id, f"has no MAC, though the chain is keyed from row "
                                                    f"{self.keyed_from} (written without the key?)")
            if self.keyed_from is None:
                self.keyed_from = record.id
            self.keyed = True
            if self.key is not None and self.key.mac(record.hash) != record.mac:
                return self._fail(count, record.id, "its MAC does not match (rewritten without the key?)")
        self.count, self.prev, self.expected_id = count, record.hash, self.expected_id + 1
        return None

    def result(self) -> VerifyResult:
        """The verdict once every row was fed without a failure."""
        head = (self.expected_id - 1, self.prev)
        return VerifyResult(self.count, True, head=head, keyed_from=self.keyed_from,
                            macs_checked=self.key is not None and self.keyed_from is not None, since=self.since)


def start_of(seal: tuple[str, str | None] | None, row_id: int, digest: str
             ) -> tuple[int, str, str | None] | VerifyResult:
    """A walk's trusted start from the stored (hash, MAC) of the row a trusted checkpoint names, or the failure."""
    if seal is None:
        return VerifyResult(0, False, row_id, "is missing, but the trusted checkpoint names it (truncated?)")
    if seal[0] != digest.lower():
        return VerifyResult(0, False, row_id, "hash differs from the trusted checkpoint (the chain was rewritten)")
    return row_id, seal[0], seal[1]


def first_finding(walked: VerifyResult, columns: tuple[int, str] | None) -> VerifyResult:
    """The walk's verdict, or the column check's when it names an earlier row (or the walk passed)."""
    if columns is None or (not walked.ok and walked.bad_row is not None and walked.bad_row <= columns[0]):
        return walked
    row_id, reason = columns
    return VerifyResult(max(0, row_id - walked.since - 1), False, row_id, reason, since=walked.since)
