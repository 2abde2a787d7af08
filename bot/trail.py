"""The /audit family without Discord: recent rows, chain verification, export, DORA, and checkpoints."""

from __future__ import annotations

import gzip
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import OpscordConfig
from bot.dora import DoraFigures, figures
from bot.dora_chart import render_async
from bot.errors import ValidationFailed
from bot.pipeline import Actor, Invocation, Journal
from bot.store import AuditEntry, AuditRow, Change, Store, VerifyResult
from bot.store.changes import PutFact
from bot.text import quoted, shown
from bot.witness import Checkpoint

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)
CHECKPOINT_FACT = "audit_checkpoint"
METRICS_DAYS = 30
"""The window of the DORA figures on /metrics."""
METRICS_MAX_AGE = 60.0
"""Seconds the DORA figures on /metrics are reused between scrapes (they read the whole deploy history)."""
ALARM_FACT = "audit_checkpoint_alarm"


@dataclass(frozen=True)
class CheckpointNote:
    """What goes to the audit channel: a new checkpoint, or (`checkpoint` None) why none was made."""

    text: str
    checkpoint: Checkpoint | None = None


def checkpoint_message(checkpoint: Checkpoint) -> str:
    """The post: the head for people, the signed line for `audit verify`, and how to check against it."""
    return (f"🔏 Audit checkpoint: row {checkpoint.row}, hash `{checkpoint.hash}`.\n`{checkpoint.line}`\n"
            f"To check a copy of the log against it: `python -m bot audit verify` (reads this channel) or "
            f"`--expect {checkpoint.row}:{checkpoint.hash}`")


def alarm_message(result: VerifyResult) -> str:
    """The post when the chain failed its check since the last checkpoint (so nothing was signed)."""
    return (f"⚠️ Audit checkpoint withheld: {shown(str(result), 300)}. Run `python -m bot audit verify` on the "
            "Opscord host.")


def parse_since(text: str) -> str:
    """An ISO date or time → the stored timestamp format; a clear refusal otherwise."""
    problem = ValidationFailed(f"`since` must be an ISO date or time like 2026-03-01 or 2026-03-01T12:00:00Z, "
                               f"not {quoted(text, 40)}.")
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError):
        raise problem from None


def size_text(n: int) -> str:
    """Bytes in a unit people read: 512 B, 3.9 KB, 10.0 MB."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


@dataclass(frozen=True)
class Export:
    """An export ready to attach."""

    data: bytes
    filename: str
    rows: int
    since: str | None

    @property
    def summary(self) -> str:
        """"41 audit rows since 2026-03-01T00:00:00Z"."""
        return f"{self.rows} audit rows" + (f" since {self.since}" if self.since else "")


class AuditTrail:
    """Reads of the audit log, each itself audited."""

    def __init__(self, config: OpscordConfig, store: Store, journal: Journal, settings: Settings | None = None) -> None:
        self._config = config
        self._store = store
        self._journal = journal
        self._cached: tuple[float, DoraFigures] | None = None
        self._key = settings.audit_key if settings is not None else None
        self._chain_key = settings.chain_key if settings is not None else None
        self._last: tuple[int, str] | None = None
        """The last checkpoint this process posted (the stored fact is only read when there is none)."""

    async def recent(self, call: Invocation, *, member: Actor | None, service: str | None,
                     limit: int) -> list[AuditRow]:
        """The latest rows, newest first, filtered by member and/or service."""
        async with self._journal.command(call, "audit") as notes:
            if service is not None and self._config.service(service) is None:
                raise ValidationFailed(f"Unknown service {quoted(service, 60)}. Known: "
                                       f"{', '.join(s.name for s in self._config.services)}.")
            rows = await self._store.audit_recent(limit, user_id=member.id if member else None,
                                                  user=member.label if member else None, service=service)
            notes.add(rows=len(rows), filter_user_id=member.id if member else None, filter_service=service)
            return rows

    async def verify(self, call: Invocation) -> tuple[VerifyResult, tuple[int, str]]:
        """Walk the chain; (result, head row and hash)."""
        async with self._journal.command(call, "audit") as notes:
            result = await self._store.verify(key=self._chain_key)
            head = await self._store.audit_head()
            notes.add(chain_ok=result.ok, rows=result.rows)
            return result, head

    async def export(self, call: Invocation, since: str | None, size_limit: int) -> Export:
        """The rows as JSON lines (gzip'd when that is what fits under `size_limit`)."""
        async with self._journal.command(call, "audit") as notes:
            since_norm = parse_since(since) if since else None
            lines, count = [], 0
            async for row in self._store.audit_rows(since_norm):
                lines.append(json.dumps(row.export(), ensure_ascii=False))
                count += 1
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            data, name = ("\n".join(lines) + ("\n" if lines else "")).encode(), f"opscord-audit-{stamp}.jsonl"
            if len(data) > size_limit:
                data, name = gzip.compress(data), name + ".gz"
            export = Export(data, name, count, since_norm)
            notes.add(rows=count)
            if len(data) > size_limit:
                raise ValidationFailed(f"The export ({export.summary}) is {size_text(len(data))} compressed, over "
                                       f"Discord's {size_text(size_limit)} limit; narrow it with `since`, or run "
                                       f"`python -m bot audit export` on the Opscord host.")
            return export

    async def dora(self, call: Invocation, days: int) -> tuple[DoraFigures, bytes]:
        """DORA metrics of the last `days` days, and their chart (a PNG, drawn off the event loop)."""
        async with self._journal.command(call, "audit") as notes:
            notes.add(days=days)
            data = await figures(self._config, self._store, days)
            chart = await render_async(data)
            notes.add(chart_bytes=len(chart))
            return data, chart

    async def metrics_figures(self) -> DoraFigures:
        """The figures /metrics shows (the last 30 days), read at most once a minute."""
        if self._cached is not None and time.monotonic() - self._cached[0] < METRICS_MAX_AGE:
            return self._cached[1]
        data = await figures(self._config, self._store, METRICS_DAYS)
        self._cached = (time.monotonic(), data)
        return data

    async def checkpoint_due(self, *, force: bool = False) -> CheckpointNote | None:
        """A signed checkpoint of the chain's head when it moved since the last one (or `force`), else None.

        The rows since the last checkpoint are verified first (with the chain key, if any): a chain
        that no longer holds, or no longer has the last checkpoint's row, gets an alarm instead of a
        signature — once per finding, unless forced.
        """
        row_id, digest = await self._store.audit_head()
        last = self._last or _checkpoint_fact(await self._store.fact(CHECKPOINT_FACT))
        if (row_id == 0 and last is None) or (not force and last == (row_id, digest)):
            return None
        result = await self._store.verify(key=self._chain_key, after=last)
        if not result.ok:
            log.warning("audit checkpoint withheld: %s", result)
            if not force and await self._store.fact(ALARM_FACT) == str(result):
                return None
            await self._store.apply(Change.of(PutFact(ALARM_FACT, str(result))))
            return CheckpointNote(alarm_message(result))
        checkpoint = Checkpoint.of(row_id, digest, self._key)
        return CheckpointNote(checkpoint_message(checkpoint), checkpoint)

    async def checkpoint_posted(self, checkpoint: Checkpoint) -> None:
        """Remember the checkpoint that reached the audit channel."""
        self._last = (checkpoint.row, checkpoint.hash)
        await self._store.apply(Change.of(PutFact(CHECKPOINT_FACT, f"{checkpoint.row}:{checkpoint.hash}")))

    async def checkpoint_now(self, call: Invocation) -> CheckpointNote:
        """`/audit checkpoint`: a checkpoint of the head now, moved or not (the command is audited)."""
        async with self._journal.command(call, "audit") as notes:
            note = await self.checkpoint_due(force=True)
            if note is None:
                raise ValidationFailed("The audit log is empty: there is nothing to checkpoint yet.")
            notes.add(checkpoint_row=note.checkpoint.row if note.checkpoint else None)
            return note

    async def start_keyed_chain(self) -> None:
        """With a keyed chain, make sure the newest row carries a MAC (a marker row when it does not yet), so
        `audit verify` can insist on it; without one, warn when the chain already is keyed."""
        row_id, _ = await self._store.audit_head()
        seal = await self._store.audit_seal(row_id) if row_id else None
        keyed = seal is not None and seal[1] is not None
        if self._chain_key is not None and row_id and not keyed:
            await self._store.append(AuditEntry(user="@opscord", command="audit keyed chain", result="keyed",
                                                extra={"keyed_from": row_id + 1}))
            log.info("audit rows are keyed from row %d on", row_id + 1)
        elif self._chain_key is None and keyed:
            log.warning("the audit chain is keyed (row %d carries a MAC) but OPSCORD_AUDIT_KEYED_CHAIN is off: "
                        "rows written now carry none, and audit verify will report them", row_id)


def _checkpoint_fact(value: str | None) -> tuple[int, str] | None:
    row, sep, digest = (value or "").partition(":")
    return (int(row), digest) if sep and row.isdigit() else None
