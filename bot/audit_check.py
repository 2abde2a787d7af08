"""`audit verify` and `audit checkpoint` on the command line: the chain, its MACs and its outside witness.

`audit verify` exits 0 when the chain holds and matches every trusted checkpoint it reached, 1 when
it does not (naming the first bad row and how), 2 when it cannot check (no database; no witness
reached while `--require-witness` asks for one). The witness is read before the chain is walked:
the checkpoints typed in (`--expect ROW:HASH`), those in `--checkpoints FILE`s, and — with
`DISCORD_TOKEN` set — those the bot posted in the audit channel.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.settings import Settings
from bot.store import OPEN_ERRORS, Store, VerifyResult, open_store
from bot.store.chain import ChainKey
from bot.witness import Checkpoint, Witness, against, judge, read_channel, read_files, summary
from integrations.errors import IntegrationError
from integrations.http import HttpClient

DISCORD_API = "https://discord.com/api/v10"


class CannotCheck(Exception):
    """`audit verify` cannot give a verdict (exit 2); the message says why."""


@dataclass(frozen=True)
class VerifyRequest:
    """What `audit verify` was asked."""

    expect: Sequence[Checkpoint] = ()
    checkpoint_files: Sequence[Path] = ()
    require_witness: bool = False
    since_checkpoint: bool = False
    config_path: Path | None = None


def expected(values: Sequence[str]) -> list[Checkpoint]:
    """`--expect ROW:HASH` values as checkpoints the operator vouches for (SystemExit when malformed)."""
    found = []
    for value in values:
        row, sep, digest = value.partition(":")
        if not sep or not row.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise SystemExit(f"opscord: --expect {value[:80]!r} is not ROW:HASH (a row number and a 64-hex hash)")
        found.append(Checkpoint(int(row), digest.lower(), "", where=f"--expect {int(row)}:…", vouched=True))
    return found


@contextlib.asynccontextmanager
async def opened(db: Path | str) -> AsyncIterator[Store]:
    """The store at `db` (a SQLite path or a postgresql:// URL), or CannotCheck when there is none."""
    if isinstance(db, Path) and not db.is_file():  # noqa: ASYNC240 - one stat
        raise CannotCheck(f"no database at {db}")
    try:
        store = await open_store(db if isinstance(db, Path) else Path(), db if isinstance(db, str) else None)
    except OPEN_ERRORS as exc:  # StoreUnavailable among them
        raise CannotCheck(f"the database could not be opened ({exc})") from None
    try:
        yield store
    finally:
        await store.close()


async def gather(settings: Settings, request: VerifyRequest) -> Witness:
    """Every checkpoint reachable, judged: trusted (signed with the key, or typed in) or reported."""
    found, notes = list(request.expect), []
    for path in request.checkpoint_files:
        try:
            found += read_files([path])
        except OSError as exc:
            notes.append(f"witness: {path} could not be read ({exc.strerror or exc})")
    if settings.discord_token is not None:
        try:
            found += await _from_discord(settings, request.config_path or settings.opscord_config)
        except CannotCheck as exc:
            notes.append(f"witness: the audit channel could not be read ({exc})")
    return judge(found, settings.audit_key, notes)


async def _from_discord(settings: Settings, config_path: Path) -> list[Checkpoint]:
    from bot.config import ConfigError, load_config

    assert settings.discord_token is not None
    try:
        config = load_config(config_path)
    except ConfigError:
        raise CannotCheck(f"{config_path} is invalid; run check-config") from None
    async with aiohttp.ClientSession() as session:
        http = HttpClient(session, retries=2, default_timeout=10, default_deadline=30)
        try:
            return await read_channel(http, settings.discord_api_base_url or DISCORD_API,
                                      settings.discord_token.get_secret_value(), config.guild.id,
                                      config.channels.audit)
        except (IntegrationError, LookupError, KeyError, TypeError) as exc:
            raise CannotCheck(str(exc)) from None


async def verify(db: Path | str, settings: Settings, request: VerifyRequest) -> int:
    """Print the verdict; the exit code (0 intact, 1 tampered, 2 cannot check)."""
    key = settings.audit_key
    witness = await gather(settings, request)
    try:
        async with opened(db) as store:
            result, lines = await _verdict(store, witness, ChainKey(key) if key else None, settings, request)
    except CannotCheck as exc:
        print(f"opscord: cannot check: {exc}", file=sys.stderr)
        return 2
    for note in witness.notes:
        print(note, file=sys.stderr)
    if not result.ok:
        print(str(result), file=sys.stderr)
        return 1
    print("\n".join(lines))
    if request.require_witness and not witness.trusted:
        print("opscord: cannot check: no trusted checkpoint reached, and --require-witness asks for one",
              file=sys.stderr)
        return 2
    return 0


async def _verdict(store: Store, witness: Witness, key: ChainKey | None, settings: Settings,
                   request: VerifyRequest) -> tuple[VerifyResult, list[str]]:
    latest = witness.latest
    if request.since_checkpoint and latest is not None:
        head = (await store.audit_head())[0]
        result = await against(store, witness, head) or await store.verify(key=key, after=(latest.row, latest.hash))
    else:
        if request.since_checkpoint:
            witness.notes.append("witness: no trusted checkpoint to start from; the whole chain was verified")
        result = await store.verify(key=key)
        if result.ok:
            result = await against(store, witness, result.head[0] if result.head else 0) or result
    if not result.ok:
        return result, []
    head = result.head[0] if result.head else 0
    if settings.opscord_audit_keyed_chain and head and result.keyed_from is None:
        return VerifyResult(result.rows, False, head, "is the newest row and has no MAC, though "
                            "OPSCORD_AUDIT_KEYED_CHAIN is on (appended, or the chain rewritten, without the key?)"), []
    verdict = str(result) if not result.since else f"{result.rows} rows after row {result.since}, chain intact"
    lines = [verdict, *summary(witness, head)]
    if result.keyed_from is not None:
        checked = "checked with OPSCORD_AUDIT_KEY" if result.macs_checked else "not checked (OPSCORD_AUDIT_KEY " \
                                                                               "is not set)"
        lines.append(f"keyed chain: rows {max(result.keyed_from, result.since + 1)} to {head} carry MACs, {checked}")
    return result, lines


async def checkpoint(db: Path | str, settings: Settings) -> int:
    """Print a checkpoint line of the head (signed with OPSCORD_AUDIT_KEY) once the chain verified."""
    key = settings.audit_key
    try:
        async with opened(db) as store:
            result = await store.verify(key=ChainKey(key) if key else None)
    except CannotCheck as exc:
        print(f"opscord: cannot check: {exc}", file=sys.stderr)
        return 2
    if not result.ok:
        print(f"{result}; no checkpoint made", file=sys.stderr)
        return 1
    row, digest = result.head or (0, "")
    if row == 0:
        print("opscord: the audit log is empty: nothing to checkpoint", file=sys.stderr)
        return 1
    if key is None:
        print("opscord: OPSCORD_AUDIT_KEY is not set: the checkpoint is unsigned", file=sys.stderr)
    print(Checkpoint.of(row, digest, key).line)
    return 0
