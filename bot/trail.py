"""The /audit family without Discord: recent rows, chain verification, export, DORA, and checkpoints."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import OpscordConfig
from bot.dora import DoraReport, dora
from bot.errors import ValidationFailed
from bot.pipeline import Actor, Invocation, Journal
from bot.store import AuditRow, Change, Store, VerifyResult
from bot.store.changes import PutFact
from bot.text import quoted

CHECKPOINT_FACT = "audit_checkpoint"


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

    def __init__(self, config: OpscordConfig, store: Store, journal: Journal) -> None:
        self._config = config
        self._store = store
        self._journal = journal

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
            result = await self._store.verify()
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

    async def dora(self, call: Invocation, days: int) -> DoraReport:
        """DORA metrics of the last `days` days."""
        async with self._journal.command(call, "audit") as notes:
            notes.add(days=days)
            return await dora(self._config, self._store, days)

    async def checkpoint_due(self) -> tuple[int, str] | None:
        """The chain's head when it moved since the last checkpoint posted, else None."""
        row_id, digest = await self._store.audit_head()
        if row_id == 0 or await self._store.fact(CHECKPOINT_FACT) == f"{row_id}:{digest}":
            return None
        return row_id, digest

    async def checkpoint_posted(self, row_id: int, digest: str) -> None:
        """Remember the checkpoint that reached the audit channel."""
        await self._store.apply(Change.of(PutFact(CHECKPOINT_FACT, f"{row_id}:{digest}")))
