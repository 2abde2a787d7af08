"""Incidents: a row, a thread named after it, PagerDuty and the status page kept in step, a postmortem.

The store allocates the incident's id (unique, with a suffix on collision) before the thread is
created, so concurrent creates never collide. Each state change is committed with its audit row
before anyone sees it; upstream failures never block an incident: they are posted into its thread.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from bot.config import OpscordConfig
from bot.errors import ValidationFailed
from bot.pipeline import Invocation, Journal
from bot.pipeline.entries import Notes, call_entry
from bot.providers import ProviderRegistry
from bot.store import Change, Incident, Store
from bot.store.changes import ReserveIncident, UpdateIncident
from bot.times import iso, parse_iso
from integrations.base import ComponentStatus, IncidentStatus, PagerSeverity
from integrations.errors import IntegrationError

Severity = Literal["sev1", "sev2", "sev3"]
PAGER_SEVERITY: dict[str, PagerSeverity] = {"sev1": "critical", "sev2": "error", "sev3": "warning"}
COMPONENT_STATUS: dict[str, ComponentStatus] = {"sev1": "major_outage", "sev2": "partial_outage",
                                                "sev3": "degraded_performance"}
UPDATE_STATUSES = ("identified", "monitoring")


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

    def __init__(self, config: OpscordConfig, store: Store, providers: ProviderRegistry, journal: Journal,
                 room: IncidentRoom) -> None:
        self.config = config
        self.store = store
        self.providers = providers
        self.journal = journal
        self.room = room

    async def find(self, thread_id: str | None) -> Incident:
        """The incident of this thread; outside a thread, the only open incident."""
        open_now = await self.store.incidents(open_only=True)
        for incident in open_now:
            if thread_id is not None and incident.thread_id == thread_id:
                return incident
        if len(open_now) == 1:
            return open_now[0]
        if not open_now:
            raise ValidationFailed("There is no open incident.")
        ids = ", ".join(i.id for i in open_now)
        raise ValidationFailed(f"Run this in the incident's thread; open incidents: {ids}.")

    async def create(self, call: Invocation, title: str, severity: Severity, service: str | None) -> Incident:
        """Row, thread, page, status page; warnings go into the thread."""
        async with self.journal.command(call, "incident") as notes:
            notes.add(service=service, severity=severity)
            if service is not None and self.config.service(service) is None:
                raise ValidationFailed(f"Unknown service {service[:60]!r}. Known services: "
                                       f"{', '.join(s.name for s in self.config.services)}.")
            if not title.strip():
                raise ValidationFailed("An incident needs a title.")
            actor = call.actor
            reserved = await self.store.apply(Change.of(
                ReserveIncident(f"inc-{datetime.now(UTC):%Y%m%d}-{slugify(title)}", title, severity, service,
                                actor.id, actor.name)))
            incident_id = reserved.incident_id
            assert incident_id is not None
            notes.add(incident=incident_id)
            await self.journal.record(call_entry(call, "opening", incident=incident_id, service=service,
                                                 severity=severity))
            announcement = (f"🚨 **{severity.upper()}** · {title}\nCommander: @{actor.name} · status: investigating"
                            + (f" · service: {service}" if service else "") + f" · `{incident_id}`")
            try:
                thread_id = await self.room.open(incident_id, announcement)
            except BaseException:
                await self.store.apply(Change.of(UpdateIncident(incident_id, {"status": "failed"})))
                raise
            notes.include(UpdateIncident(incident_id, {"status": "investigating", "thread_id": thread_id}))
            lines = [f"Incident opened by @{actor.name}: {title}. Post updates with `/incident update` here."]
            if service is not None:
                lines += await self._page(incident_id, title, severity, service, notes)
                lines += await self._status_page_open(incident_id, title, severity, service, notes)
        await self.room.post(thread_id, "\n".join(lines))
        incident = await self.store.incident(incident_id)
        assert incident is not None
        return incident

    async def update(self, call: Invocation, text: str, status: IncidentStatus | None) -> Incident:
        """Post to the thread and the status page; move the status on."""
        async with self.journal.command(call, "incident") as notes:
            incident = await self.find(_thread_of(call))
            notes.add(incident=incident.id, service=incident.service)
            if status is not None and status not in UPDATE_STATUSES:
                raise ValidationFailed("Status must be identified or monitoring; use /incident resolve to resolve.")
            if status is not None:
                notes.include(UpdateIncident(incident.id, {"status": status}))
        lines = [f"📣 Update by @{call.actor.name}" + (f" — status: {status}" if status else "") + f"\n{text}"]
        if incident.statuspage_id and incident.service:
            try:
                page = self.providers.status_page(incident.service)
                if page is not None:
                    await page.update_incident(incident.statuspage_id, text, status=status)
            except IntegrationError as exc:
                lines.append(f"⚠️ The status page was not updated: {exc}")
        if incident.thread_id:
            await self.room.post(incident.thread_id, "\n".join(lines))
        return incident

    async def resolve(self, call: Invocation, text: str) -> tuple[Incident, str, datetime]:
        """Resolve everywhere and schedule the postmortem; returns (incident, duration, postmortem start)."""
        resolved = datetime.now(UTC)
        settings = self.config.incidents
        async with self.journal.command(call, "incident") as notes:
            incident = await self.find(_thread_of(call))
            notes.add(incident=incident.id, service=incident.service)
            duration = duration_text((resolved - parse_iso(incident.created_at)).total_seconds())
            notes.include(UpdateIncident(incident.id, {"status": "resolved", "resolved_at": iso(resolved)}))
        zone = zoneinfo.ZoneInfo(settings.timezone)
        start = next_business_day(resolved.astimezone(zone), settings.postmortem_hour)
        lines = [f"✅ Resolved by @{call.actor.name} after {duration}.\n{text}"]
        if incident.service:
            lines += await self._close_upstreams(incident, text)
        try:
            event_id = await self.room.schedule(
                f"Postmortem: {incident.title}"[:100], start, start + timedelta(minutes=settings.postmortem_minutes),
                f"thread {incident.id}", f"Postmortem of {incident.id} ({incident.severity.upper()}): {incident.title}")
            await self.store.apply(Change.of(UpdateIncident(incident.id, {"postmortem_event": event_id})))
            lines.append(f"🗓️ Postmortem scheduled {start:%a %d %b %H:%M} ({settings.timezone}).")
        except Exception as exc:  # scheduling is a courtesy; the incident is resolved regardless
            lines.append(f"⚠️ The postmortem could not be scheduled: {exc}")
        if incident.thread_id:
            await self.room.post(incident.thread_id, "\n".join(lines))
        return incident, duration, start

    async def _page(self, incident_id: str, title: str, severity: str, service: str, notes: Notes) -> list[str]:
        try:
            pager = self.providers.pager(service)
            if pager is None:
                return []
            key = await pager.trigger(incident_id, f"[{severity.upper()}] {title}", severity=PAGER_SEVERITY[severity],
                                      source=f"opscord/{service}", details={"incident": incident_id})
        except IntegrationError as exc:
            return [f"⚠️ PagerDuty was not paged: {exc}"]
        notes.include(UpdateIncident(incident_id, {"pager_key": key}))
        return ["📟 PagerDuty paged."]

    async def _status_page_open(self, incident_id: str, title: str, severity: str, service: str,
                                notes: Notes) -> list[str]:
        try:
            page = self.providers.status_page(service)
            if page is None:
                return []
            opened = await page.create_incident(title, f"We are investigating: {title}", status="investigating",
                                                components=page.components_for(service, COMPONENT_STATUS[severity]),
                                                correlation_id=incident_id)
        except IntegrationError as exc:
            return [f"⚠️ The status page was not updated: {exc}"]
        notes.include(UpdateIncident(incident_id, {"statuspage_id": opened.id}))
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


def _thread_of(call: Invocation) -> str | None:
    """The channel a command was typed in, as the thread id to look an incident up by."""
    return call.channel_id


__all__ = ["Incident", "IncidentRoom", "Incidents"]
