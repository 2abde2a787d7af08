"""Incidents: a row, a thread named after it, PagerDuty and the status page kept in step, a postmortem.

Upstream failures never block an incident: they are posted into its thread as warnings.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from bot.config import OpscordConfig
from bot.db import Database
from bot.errors import ValidationFailed
from bot.operation_types import Actor
from bot.operations import Operation, iso, now_iso, parse_iso
from bot.providers import ProviderRegistry
from integrations.base import ComponentStatus, IncidentStatus, PagerSeverity
from integrations.errors import IntegrationError

Severity = Literal["sev1", "sev2", "sev3"]
PAGER_SEVERITY: dict[str, PagerSeverity] = {"sev1": "critical", "sev2": "error", "sev3": "warning"}
COMPONENT_STATUS: dict[str, ComponentStatus] = {"sev1": "major_outage", "sev2": "partial_outage",
                                                "sev3": "degraded_performance"}
UPDATE_STATUSES = ("identified", "monitoring")


@dataclass(frozen=True)
class Incident:
    """One incident."""

    id: str
    title: str
    severity: str
    service: str | None
    status: str
    commander_id: str
    commander_name: str
    thread_id: str | None
    pager_key: str | None
    statuspage_id: str | None
    created_at: str
    resolved_at: str | None
    postmortem_event: str | None


class IncidentRoom(Protocol):
    """Where an incident is worked: a thread, and the guild's scheduled events."""

    async def open(self, name: str, announcement: str) -> str:
        """Announce in the incidents channel and start a public thread from it; return the thread id."""

    async def post(self, thread_id: str, text: str) -> None:
        """Post in the thread."""

    async def schedule(self, name: str, start: datetime, end: datetime, location: str, description: str) -> str:
        """Create an external scheduled event; return its id."""


def slugify(title: str) -> str:
    """"Checkout 500s for EU users!" → "checkout-500s-for-eu-users" (ASCII, at most 40 characters)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40].rstrip("-")
    return slug or "incident"


def next_business_day(now: datetime, hour: int) -> datetime:
    """`hour`:00 on the next weekday after `now` (in `now`'s time zone)."""
    day = now + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def duration_text(seconds: float) -> str:
    """"2 h 05 min" / "14 min"."""
    minutes = max(0, round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


class Incidents:
    """Opens, updates and resolves incidents."""

    def __init__(self, config: OpscordConfig, db: Database, providers: ProviderRegistry, room: IncidentRoom) -> None:
        self.config = config
        self.db = db
        self.providers = providers
        self.room = room

    async def get(self, incident_id: str) -> Incident | None:
        """The incident with this id."""
        async with self.db.conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)) as cur:
            rec = await cur.fetchone()
        return Incident(*rec) if rec else None

    async def open_incidents(self) -> list[Incident]:
        """Unresolved incidents, oldest first."""
        async with self.db.conn.execute("SELECT * FROM incidents WHERE status != 'resolved' ORDER BY created_at") as c:
            return [Incident(*rec) async for rec in c]

    async def find(self, thread_id: str | None) -> Incident:
        """The incident of this thread; outside a thread, the only open incident."""
        open_now = await self.open_incidents()
        for incident in open_now:
            if thread_id is not None and incident.thread_id == thread_id:
                return incident
        if len(open_now) == 1:
            return open_now[0]
        if not open_now:
            raise ValidationFailed("There is no open incident.")
        ids = ", ".join(i.id for i in open_now)
        raise ValidationFailed(f"Run this in the incident's thread; open incidents: {ids}.")

    async def create(self, title: str, severity: Severity, actor: Actor, service: str | None) -> Incident:
        """Row, thread, page, status page; warnings go into the thread."""
        if service is not None and self.config.service(service) is None:
            raise ValidationFailed(f"Unknown service {service[:60]!r}. Known services: "
                                   f"{', '.join(s.name for s in self.config.services)}.")
        if not title.strip():
            raise ValidationFailed("An incident needs a title.")
        incident_id = await self._new_id(title)
        announcement = (f"🚨 **{severity.upper()}** · {title}\nCommander: @{actor.name} · status: investigating"
                        + (f" · service: {service}" if service else "") + f" · `{incident_id}`")
        thread_id = await self.room.open(incident_id, announcement)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO incidents (id, title, severity, service, status, commander_id, commander_name, thread_id,"
                " created_at) VALUES (?, ?, ?, ?, 'investigating', ?, ?, ?, ?)",
                (incident_id, title, severity, service, actor.id, actor.name, thread_id, now_iso()))
        notes = [f"Incident opened by @{actor.name}: {title}. Post updates with `/incident update` here."]
        if service is not None:
            notes += await self._page(incident_id, title, severity, service)
            notes += await self._status_page_open(incident_id, title, severity, service)
        await self.room.post(thread_id, "\n".join(notes))
        incident = await self.get(incident_id)
        assert incident is not None
        return incident

    async def update(self, incident: Incident, text: str, status: IncidentStatus | None, actor: Actor) -> None:
        """Post to the thread and the status page; move the status on."""
        if status is not None and status not in UPDATE_STATUSES:
            raise ValidationFailed("Status must be identified or monitoring; use /incident resolve to resolve.")
        if status is not None:
            async with self.db.transaction() as conn:
                await conn.execute("UPDATE incidents SET status = ? WHERE id = ?", (status, incident.id))
        lines = [f"📣 Update by @{actor.name}" + (f" — status: {status}" if status else "") + f"\n{text}"]
        if incident.statuspage_id and incident.service:
            try:
                page = self.providers.status_page(incident.service)
                if page is not None:
                    await page.update_incident(incident.statuspage_id, text, status=status)
            except IntegrationError as exc:
                lines.append(f"⚠️ The status page was not updated: {exc}")
        if incident.thread_id:
            await self.room.post(incident.thread_id, "\n".join(lines))

    async def resolve(self, incident: Incident, text: str, actor: Actor) -> tuple[str, datetime]:
        """Resolve everywhere and schedule the postmortem; returns (duration, postmortem start)."""
        resolved = datetime.now(UTC)
        duration = duration_text((resolved - parse_iso(incident.created_at)).total_seconds())
        settings = self.config.incidents
        zone = zoneinfo.ZoneInfo(settings.timezone)
        start = next_business_day(resolved.astimezone(zone), settings.postmortem_hour)
        lines = [f"✅ Resolved by @{actor.name} after {duration}.\n{text}"]
        if incident.service:
            lines += await self._close_upstreams(incident, text)
        event_id = None
        try:
            event_id = await self.room.schedule(
                f"Postmortem: {incident.title}"[:100], start, start + timedelta(minutes=settings.postmortem_minutes),
                f"thread {incident.id}", f"Postmortem of {incident.id} ({incident.severity.upper()}): {incident.title}")
            lines.append(f"🗓️ Postmortem scheduled {start:%a %d %b %H:%M} ({settings.timezone}).")
        except Exception as exc:  # scheduling is a courtesy; the incident is resolved regardless
            lines.append(f"⚠️ The postmortem could not be scheduled: {exc}")
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE incidents SET status = 'resolved', resolved_at = ?, postmortem_event = ? "
                               "WHERE id = ?", (iso(resolved), event_id, incident.id))
        if incident.thread_id:
            await self.room.post(incident.thread_id, "\n".join(lines))
        return duration, start

    async def operation_finished(self, op: Operation, text: str) -> None:
        """Post a deploy, rollback, scale or migration of a service into its open incidents' threads."""
        for incident in await self.open_incidents():
            if incident.service == op.service and incident.thread_id:
                await self.room.post(incident.thread_id, f"🔧 `{op.command}` by @{op.requester_name} "
                                                         f"in {op.environment}:\n{text}")

    async def _new_id(self, title: str) -> str:
        base = f"inc-{datetime.now(UTC):%Y%m%d}-{slugify(title)}"
        async with self.db.conn.execute("SELECT id FROM incidents WHERE id = ? OR id LIKE ?",
                                        (base, base + "-%")) as cur:
            taken = {str(rec[0]) async for rec in cur}
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    async def _page(self, incident_id: str, title: str, severity: str, service: str) -> list[str]:
        try:
            pager = self.providers.pager(service)
            if pager is None:
                return []
            key = await pager.trigger(incident_id, f"[{severity.upper()}] {title}", severity=PAGER_SEVERITY[severity],
                                      source=f"opscord/{service}", details={"incident": incident_id})
        except IntegrationError as exc:
            return [f"⚠️ PagerDuty was not paged: {exc}"]
        await self._set(incident_id, "pager_key", key)
        return ["📟 PagerDuty paged."]

    async def _status_page_open(self, incident_id: str, title: str, severity: str, service: str) -> list[str]:
        try:
            page = self.providers.status_page(service)
            if page is None:
                return []
            opened = await page.create_incident(title, f"We are investigating: {title}", status="investigating",
                                                components=page.components_for(service, COMPONENT_STATUS[severity]),
                                                correlation_id=incident_id)
        except IntegrationError as exc:
            return [f"⚠️ The status page was not updated: {exc}"]
        await self._set(incident_id, "statuspage_id", opened.id)
        return ["📢 Status page: investigating."]

    async def _close_upstreams(self, incident: Incident, text: str) -> list[str]:
        assert incident.service is not None
        notes = []
        try:
            pager = self.providers.pager(incident.service)
            if pager is not None and incident.pager_key:
                await pager.resolve(incident.pager_key)
                notes.append("📟 PagerDuty resolved.")
        except IntegrationError as exc:
            notes.append(f"⚠️ PagerDuty was not resolved: {exc}")
        try:
            page = self.providers.status_page(incident.service)
            if page is not None and incident.statuspage_id:
                await page.resolve_incident(incident.statuspage_id, text)
                notes.append("📢 Status page: resolved.")
        except IntegrationError as exc:
            notes.append(f"⚠️ The status page was not resolved: {exc}")
        return notes

    async def _set(self, incident_id: str, column: Literal["pager_key", "statuspage_id"], value: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(f"UPDATE incidents SET {column} = ? WHERE id = ?", (value, incident_id))  # noqa: S608
