"""Incidents: a row, a thread named after it, the on-call pinged, PagerDuty and the status page kept in step,
a commander who can hand over, a timeline, a postmortem.

The store allocates the incident's id (unique, with a suffix on collision) before the thread is
created, so concurrent creates never collide. Each state change is committed with its audit row
(and its timeline event) before anyone sees it. An upstream that fails never blocks an incident:
the call is retried in the background with backoff and the thread is told when it lands; the
announcement in the incidents channel and the pinned opener are re-rendered from the stored
incident after every change (`bot.incident_text`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from bot import incident_text as text
from bot.config import OpscordConfig, RoleRef
from bot.errors import ValidationFailed
from bot.pipeline import Access, Actor, ActorRole, Invocation, Journal
from bot.pipeline.entries import call_entry
from bot.providers import ProviderRegistry
from bot.retry import Retries
from bot.store import Change, Incident, Store
from bot.store.changes import RecordIncidentEvent, ReserveIncident, UpdateIncident
from bot.text import clip, shown, thread_name
from bot.times import iso, parse_iso
from integrations.base import ComponentStatus, IncidentStatus, PagerSeverity
from integrations.errors import IntegrationError

log = logging.getLogger(__name__)

Severity = Literal["sev1", "sev2", "sev3"]
PAGER_SEVERITY: dict[str, PagerSeverity] = {"sev1": "critical", "sev2": "error", "sev3": "warning"}
COMPONENT_STATUS: dict[str, ComponentStatus] = {"sev1": "major_outage", "sev2": "partial_outage",
                                                "sev3": "degraded_performance"}
UPDATE_STATUSES = ("identified", "monitoring")
CLOSED = ("resolved", "failed", "opening")
OPEN_LISTED = 10  # a refusal names at most this many open incidents (a message holds 2000 characters)


@dataclass(frozen=True)
class Opened:
    """Where a new incident lives: its thread, and its announcement in the incidents channel."""

    thread_id: str
    channel_id: str
    message_id: str


class IncidentRoom(Protocol):
    """Where an incident is worked: the incidents channel, a thread, the guild's roles and scheduled events."""

    def role_id(self, ref: RoleRef) -> str | None:
        """The id of the guild role a config reference (name or id) names; None when the guild has none."""

    async def open(self, name: str, announcement: str, ping_role: str | None) -> Opened:
        """Announce in the incidents channel (pinging only `ping_role`) and start a public thread from it."""

    async def edit(self, channel_id: str, message_id: str, content: str) -> None:
        """Edit a message the bot posted (nobody is pinged by an edit)."""

    async def post(self, thread_id: str, content: str, *, pin: bool = False) -> str:
        """Post in the thread (pinging nobody), pinned if asked; return the message id."""

    async def schedule(self, name: str, start: datetime, end: datetime, location: str, description: str) -> str:
        """Create an external scheduled event; return its id."""


@dataclass(frozen=True)
class Outcome:
    """What a command did, and the reply its caller gets."""

    incident: Incident
    reply: str


def slugify(title: str) -> str:
    """"Checkout 500s for EU users!" → "checkout-500s-for-eu-users" (ASCII, at most 40 characters)."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:40].rstrip("-") or "incident"


def next_business_day(now: datetime, hour: int) -> datetime:
    """`hour`:00 on the next weekday after `now` (in `now`'s time zone)."""
    day = now + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


duration_text = text.duration_text


class Incidents:
    """Opens, updates, hands over, resolves and tells the story of incidents."""

    def __init__(self, config: OpscordConfig, store: Store, providers: ProviderRegistry, journal: Journal,
                 room: IncidentRoom, *, access: Access | None = None) -> None:
        self.config = config
        self.store = store
        self.providers = providers
        self.journal = journal
        self.room = room
        self.access = access or Access(config)
        settings = config.incidents
        self.retries = Retries(settings.retry_seconds, settings.retry_minutes * 60.0)

    # --- finding ----------------------------------------------------------------------------------
    async def find(self, thread_id: str | None, *, resolved_too: bool = False) -> Incident:
        """The incident of this thread; outside a thread, the only open incident."""
        everyone = await self.store.incidents(open_only=not resolved_too)
        for incident in everyone:
            if thread_id is not None and incident.thread_id == thread_id:
                return incident
        open_now = [i for i in everyone if i.status not in CLOSED]
        if len(open_now) == 1:
            return open_now[0]
        if not open_now:
            raise ValidationFailed("There is no open incident.")
        ids = ", ".join(i.id for i in open_now[:OPEN_LISTED])
        more = f" and {len(open_now) - OPEN_LISTED} more" if len(open_now) > OPEN_LISTED else ""
        raise ValidationFailed(f"Run this in the incident's thread; open incidents: {ids}{more}.")

    # --- who an incident reaches ------------------------------------------------------------------
    def _oncall(self, service: str | None) -> RoleRef | None:
        svc = self.config.service(service) if service else None
        return (svc.oncall_role if svc else None) or self.config.incidents.oncall_role

    def pager_team(self, service: str | None) -> str | None:
        """Who an incident of `service` pages, as shown ("payment-team"); None when no pager is configured."""
        svc = self.config.service(service) if service else None
        if svc is not None and svc.pager is not None:
            return svc.pager.team or svc.name
        default = self.config.incidents.pager
        return (default.team or "on-call") if default is not None else None

    def has_status_page(self, service: str | None) -> bool:
        """Whether an incident of `service` has a status page (its own, or the guild-wide one)."""
        svc = self.config.service(service) if service else None
        return (svc is not None and svc.status_page is not None) or self.config.incidents.status_page is not None

    def reach(self, incident: Incident) -> text.Reach:
        """The on-call role, pager and status page of an incident, and which of them are being retried."""
        ref = self._oncall(incident.service)
        role = self.room.role_id(ref) if ref is not None else None
        return text.Reach(oncall_role_id=role, oncall_missing=str(ref) if ref is not None and role is None else None,
                          pager_team=self.pager_team(incident.service),
                          status_page=self.has_status_page(incident.service),
                          pager_pending=self.retries.pending(f"{incident.id}:pager"),
                          status_pending=self.retries.pending(f"{incident.id}:status"))

    def told(self, incident: Incident, reach: text.Reach) -> list[str]:
        """Plain sentences: who was notified, and who was not (and why)."""
        yes, no = [], []
        where = f"{incident.service} or " if incident.service else ""
        if reach.oncall_role_id:
            yes.append(f"<@&{reach.oncall_role_id}> (pinged)")
        elif reach.oncall_missing:
            no.append(f"on-call: the role {shown(reach.oncall_missing, 60)} is not in this server")
        else:
            no.append(f"on-call: no oncall_role configured for {where}[incidents]")
        if incident.pager_key:
            yes.append(f"PagerDuty ({reach.pager_team})")
        elif reach.pager_team is not None:
            no.append(f"PagerDuty ({reach.pager_team})" + (": failed, retrying" if reach.pager_pending else ""))
        else:
            no.append(f"PagerDuty: no pager configured for {where}[incidents.pager]")
        if incident.statuspage_id:
            yes.append("the status page")
        elif reach.status_page:
            no.append("the status page" + (": failed, retrying" if reach.status_pending else ""))
        else:
            no.append(f"status page: none configured for {where}[incidents.status_page]")
        lines = [f"✅ Notified: {', '.join(yes)}."] if yes else []
        return lines + ([f"⚠️ Not notified: {'; '.join(no)}."] if no else [])

    # --- commands ---------------------------------------------------------------------------------
    async def create(self, call: Invocation, title: str, severity: Severity, service: str | None) -> Outcome:
        """Row, announcement (pinging on-call), thread, page, status page, pinned opener."""
        async with self.journal.command(call, "incident") as notes:
            notes.add(service=service, severity=severity)
            if service is not None and self.config.service(service) is None:
                raise ValidationFailed(f"Unknown service {shown(service, 60)}. Known services: "
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
            draft = await self.store.incident(incident_id)
            assert draft is not None
            draft = dataclasses.replace(draft, status="investigating")
            paged, page_error = await self._first(self._trigger, draft, self.pager_team(service) is not None)
            listed, list_error = await self._first(self._open_status_page, draft, self.has_status_page(service))
            fields = {"status": "investigating", **paged, **listed}
            draft = dataclasses.replace(draft, **fields)
            reach = dataclasses.replace(self.reach(draft), pager_pending=page_error is not None,
                                        status_pending=list_error is not None)
            try:
                opened = await self.room.open(thread_name(incident_id), text.announcement(draft, reach),
                                              reach.oncall_role_id)
            except BaseException:
                await self.store.apply(Change.of(UpdateIncident(incident_id, {"status": "failed"})))
                raise
            fields.update(thread_id=opened.thread_id, announcement_channel_id=opened.channel_id,
                          announcement_id=opened.message_id)
            notes.include(UpdateIncident(incident_id, fields))
            notes.include(RecordIncidentEvent(incident_id, "created", title, actor.id, actor.name, "investigating"))
            for sentence in self._notified_events(draft, reach, page_error, list_error):
                notes.include(RecordIncidentEvent(incident_id, "notified", sentence))
            notes.add(pinged=reach.oncall_role_id, paged=bool(paged), status_page=bool(listed),
                      errors=[e for e in (page_error, list_error) if e] or None)
        if page_error is not None:
            self._retry_open(call, incident_id, "pager", self._trigger)
        if list_error is not None:
            self._retry_open(call, incident_id, "status_page", self._open_status_page)
        incident = await self._incident(incident_id)
        told = self.told(incident, self.reach(incident))
        try:
            opener_id = await self.room.post(opened.thread_id, self._opener(incident, told), pin=True)
            await self.store.apply(Change.of(UpdateIncident(incident_id, {"opener_id": opener_id})))
        except Exception as exc:  # the incident is open and committed; a Discord hiccup here is only noted
            log.warning("the opener of %s could not be posted: %s", incident_id, exc)
        incident = await self._refresh(incident_id)
        errors = [f"{who} failed ({shown(error, 200)}); retrying in the background, the thread will be told."
                  for who, error in (("PagerDuty", page_error), ("The status page", list_error)) if error]
        return Outcome(incident, "\n".join([f"Opened {incident_id}: <#{opened.thread_id}>", *told, *errors]))

    async def update(self, call: Invocation, update: str, status: IncidentStatus | None) -> Outcome:
        """Post to the thread and the status page; move the status on (investigating → identified by default)."""
        async with self.journal.command(call, "incident") as notes:
            incident = await self.find(_thread_of(call))
            notes.add(incident=incident.id, service=incident.service)
            if status is not None and status not in UPDATE_STATUSES:
                raise ValidationFailed("Status must be identified or monitoring; use /incident resolve to resolve.")
            moved = status or ("identified" if incident.status == "investigating" else incident.status)
            page, error = await self._status_page_update(incident, update, moved)
            notes.add(status=moved, status_page=page)
            if moved != incident.status:
                notes.include(UpdateIncident(incident.id, {"status": moved}))
            notes.include(RecordIncidentEvent(incident.id, "update", update, call.actor.id, call.actor.name, moved))
        if error is not None:
            self._retry_update(call, incident.id, update)
        line = text.update_line(page, moved)
        await self._tell(incident, f"{line}\n{shown(update, text.TEXT_LIMIT, one_line=False)}\n"
                                   f"— {text.member(call.actor.id, call.actor.name)}")
        return Outcome(await self._refresh(incident.id), line)

    async def commander(self, call: Invocation, new: Actor) -> Outcome:
        """Hand the incident over to `new` (who must be allowed to run /incident), announced in the thread."""
        async with self.journal.command(call, "incident") as notes:
            incident = await self.find(_thread_of(call))
            notes.add(incident=incident.id, service=incident.service, commander=new.label, commander_id=new.id)
            if new.id == incident.commander_id:
                raise ValidationFailed(f"@{shown(new.name, 40)} is already the incident commander.")
            if not self.access.may_use(new, "incident"):
                raise ValidationFailed(f"@{shown(new.name, 40)} cannot run /incident commands, so cannot lead "
                                       "the incident; give them an incident role first.")
            notes.include(UpdateIncident(incident.id, {"commander_id": new.id, "commander_name": new.name}))
            notes.include(RecordIncidentEvent(incident.id, "commander", f"@{incident.commander_name} → @{new.name}",
                                              call.actor.id, call.actor.name))
        before = text.member(incident.commander_id, incident.commander_name)
        line = f"👤 Incident commander: {text.member(new.id, new.name)} (handed over from {before})"
        await self._tell(incident, f"{line} by {text.member(call.actor.id, call.actor.name)}")
        return Outcome(await self._refresh(incident.id), line)

    async def resolve(self, call: Invocation, summary: str) -> Outcome:
        """Resolve everywhere and schedule the postmortem (in words: "tomorrow 2 PM")."""
        resolved = datetime.now(UTC)
        settings = self.config.incidents
        async with self.journal.command(call, "incident") as notes:
            incident = await self.find(_thread_of(call))
            notes.add(incident=incident.id, service=incident.service)
            incident = dataclasses.replace(incident, status="resolved", resolved_at=iso(resolved))
            closing = await self._close_upstreams(incident, summary)
            zone = zoneinfo.ZoneInfo(settings.timezone)
            start = next_business_day(resolved.astimezone(zone), settings.postmortem_hour)
            words = text.when_words(start, resolved.astimezone(zone))
            fields: dict[str, Any] = {"status": "resolved", "resolved_at": incident.resolved_at}
            try:
                fields["postmortem_event"] = await self.room.schedule(
                    thread_name(f"Postmortem: {incident.title}", 100), start,
                    start + timedelta(minutes=settings.postmortem_minutes), f"thread {incident.id}",
                    f"Postmortem of {incident.id} ({text.severity_label(incident.severity)}): "
                    f"{text.public(incident.title, 800)}")
                postmortem = f"Postmortem scheduled for {words} ({settings.timezone})"
            except Exception as exc:  # scheduling is a courtesy; the incident is resolved regardless
                log.warning("the postmortem of %s could not be scheduled: %s", incident.id, exc)
                postmortem = f"⚠️ The postmortem could not be scheduled: {shown(str(exc), 200)}"
            notes.include(UpdateIncident(incident.id, fields))
            notes.include(RecordIncidentEvent(incident.id, "resolved", summary, call.actor.id, call.actor.name,
                                              "resolved"))
            notes.include(RecordIncidentEvent(incident.id, "postmortem", postmortem))
        for what, error in closing.items():
            if error is not None:
                self._retry_close(call, incident.id, what, summary)
        incident = dataclasses.replace(incident, postmortem_event=fields.get("postmortem_event"))
        head = f"{text.resolved_line(incident, self.reach(incident))}\n{postmortem}"
        notes_text = [f"⚠️ {what} not closed yet ({shown(error, 200)}); retrying in the background."
                      for what, error in closing.items() if error is not None]
        await self._tell(incident, "\n".join([head, *notes_text, shown(summary, text.TEXT_LIMIT, one_line=False),
                                              f"— {text.member(call.actor.id, call.actor.name)}"]))
        return Outcome(await self._refresh(incident.id), "\n".join([head, *notes_text]))

    async def timeline(self, call: Invocation) -> tuple[Incident, str, str]:
        """(incident, file name, Markdown) of every event and the deploys around it."""
        async with self.journal.command(call, "incident") as notes:
            incident = await self.find(_thread_of(call), resolved_too=True)
            notes.add(incident=incident.id, service=incident.service)
            now = datetime.now(UTC)
            events = await self.store.incident_events(incident.id)
            start, end = text.deploy_window(incident, now)
            deploys = await self.store.deploys_between(iso(start), iso(end), incident.service)
            notes.add(events=len(events), deploys=len(deploys))
        document = text.timeline(incident, events, deploys, self._dashboard(incident), now)
        return incident, f"{incident.id}-timeline.md", document

    async def open_for_health_gate(self, service: str, title: str, severity: str) -> Incident | None:
        """Open an incident on Opscord's behalf (a health gate's `open_incident`); None when it could not be."""
        roles: list[ActorRole] = []
        for capability in self.config.access.incident:  # Opscord holds the first capability /incident allows
            roles = [ActorRole(int(ref), "") if isinstance(ref, int) or ref.isdigit() else ActorRole(0, ref)
                     for ref in self.config.roles.get(capability, [])[:1]]
            if roles:
                break
        call = Invocation(actor=Actor(id="opscord", name="opscord/health-gate", roles=tuple(roles)),
                          command=f"health gate: /incident create {title}"[:200], received_at=datetime.now(UTC))
        try:
            level: Severity = severity if severity in ("sev1", "sev3") else "sev2"  # type: ignore[assignment]
            return (await self.create(call, title, level, service)).incident
        except Exception as exc:  # audited by create; the gate goes on telling the requester
            log.warning("the health gate could not open an incident for %s: %s", service, exc)
            return None

    # --- restarts and shutdown --------------------------------------------------------------------
    async def resume(self) -> int:
        """After a start: retry, in the background, the pages and status pages open incidents still lack."""
        started = 0
        for incident in await self.store.incidents(open_only=True):
            call = _system_call(incident)
            if not incident.pager_key and self.pager_team(incident.service) is not None:
                started += self._retry_open(call, incident.id, "pager", self._trigger)
            if not incident.statuspage_id and self.has_status_page(incident.service):
                started += self._retry_open(call, incident.id, "status_page", self._open_status_page)
        return started

    async def close(self) -> None:
        """Stop retrying (what is still missing is retried after the next start)."""
        await self.retries.close()

    # --- upstream calls ---------------------------------------------------------------------------
    async def _first(self, call: Callable[[Incident], Awaitable[dict[str, Any]]], incident: Incident,
                     configured: bool) -> tuple[dict[str, Any], str | None]:
        """The first try of an upstream call: its stored fields, or why it failed."""
        if not configured:
            return {}, None
        try:
            return await call(incident), None
        except IntegrationError as exc:
            log.warning("%s: %s (will retry)", incident.id, exc)
            return {}, str(exc)

    async def _trigger(self, incident: Incident) -> dict[str, Any]:
        pager = self.providers.incident_pager(incident.service)
        if pager is None:
            return {}
        dashboard = self._dashboard(incident)
        key = await pager.trigger(
            incident.id, f"[{text.severity_label(incident.severity)}] {text.public(incident.title, 900)}",
            severity=PAGER_SEVERITY[incident.severity], source=f"opscord/{incident.service or 'incidents'}",
            details={"incident": incident.id, "service": incident.service},
            links=[("Dashboard", dashboard)] if dashboard else ())
        return {"pager_key": key}

    async def _open_status_page(self, incident: Incident) -> dict[str, Any]:
        page = self.providers.incident_status_page(incident.service)
        if page is None:
            return {}
        status: IncidentStatus = incident.status if incident.status in UPDATE_STATUSES else "investigating"  # type: ignore[assignment]
        components = page.components_for(incident.service, COMPONENT_STATUS[incident.severity]) \
            if incident.service else {}
        opened = await page.create_incident(text.public(incident.title, 255),
                                            f"We are investigating: {text.public(incident.title, 2000)}",
                                            status=status, components=components, correlation_id=incident.id)
        return {"statuspage_id": opened.id, "statuspage_url": opened.url}

    async def _status_page_update(self, incident: Incident, update: str, status: str) -> tuple[str, str | None]:
        """Post an update to the status page: (what the thread is told, the error if it failed)."""
        if not self.has_status_page(incident.service):
            return "Update posted here (no status page configured)", None
        if not incident.statuspage_id:
            return "Update posted here; the status page is not open yet (retrying)", None
        try:
            page = self.providers.incident_status_page(incident.service)
            if page is not None:
                await page.update_incident(incident.statuspage_id, text.public(update, 20000),
                                           status=status)  # type: ignore[arg-type]
        except IntegrationError as exc:
            log.warning("%s: the status page update failed: %s (will retry)", incident.id, exc)
            return "Update posted here; the status page was not updated yet (retrying)", str(exc)
        return "Update posted to status page", None

    async def _close_upstreams(self, incident: Incident, summary: str) -> dict[str, str | None]:
        """Resolve the page and the status page: {what: error or None} for each that was open."""
        results: dict[str, str | None] = {}
        for what, close in (("PagerDuty", self._resolve_pager), ("The status page", self._resolve_status_page)):
            try:
                if await close(incident, summary):
                    results[what] = None
            except IntegrationError as exc:
                log.warning("%s: %s could not be resolved: %s (will retry)", incident.id, what, exc)
                results[what] = str(exc)
        return results

    async def _resolve_pager(self, incident: Incident, _summary: str) -> bool:
        pager = self.providers.incident_pager(incident.service)
        if pager is None or not incident.pager_key:
            return False
        await pager.resolve(incident.pager_key)
        return True

    async def _resolve_status_page(self, incident: Incident, summary: str) -> bool:
        page = self.providers.incident_status_page(incident.service)
        if page is None or not incident.statuspage_id:
            return False
        await page.resolve_incident(incident.statuspage_id, text.public(summary, 20000))
        return True

    # --- background retries -----------------------------------------------------------------------
    def _retry_open(self, call: Invocation, incident_id: str, what: Literal["pager", "status_page"],
                    open_: Callable[[Incident], Awaitable[dict[str, Any]]]) -> bool:
        """Retry paging or opening the status page until it lands; then record it and tell the thread."""
        async def attempt(tries: int) -> None:
            incident = await self._incident(incident_id)
            if incident.status in CLOSED or (incident.pager_key if what == "pager" else incident.statuspage_id):
                return  # resolved meanwhile, or done by someone else: nothing left to do
            fields = await open_(incident)
            incident = dataclasses.replace(incident, **fields)
            reach = self.reach(incident)
            sentence = (f"PagerDuty notified: {reach.pager_team}" if what == "pager"
                        else f"Status page updated: {text.status_word(incident.status)}")
            await self.journal.record(call_entry(call, "notified", incident=incident_id, integration=what,
                                                 tries=tries), UpdateIncident(incident_id, fields),
                                      RecordIncidentEvent(incident_id, "notified", f"{sentence} (try {tries})"))
            await self._tell(incident, f"📢 {sentence} (it had failed; try {tries} landed).")
            await self._refresh(incident_id, refresh_opener=True)

        return self.retries.start(f"{incident_id}:{what}", attempt, self._gave_up(incident_id, what))

    def _retry_update(self, call: Invocation, incident_id: str, update: str) -> None:
        """Retry a status-page update (with the incident's status at the time it lands)."""
        async def attempt(tries: int) -> None:
            incident = await self._incident(incident_id)
            page = self.providers.incident_status_page(incident.service)
            if page is None or not incident.statuspage_id or incident.status == "resolved":
                return
            await page.update_incident(incident.statuspage_id, text.public(update, 20000),
                                       status=incident.status)  # type: ignore[arg-type]
            await self.journal.record(call_entry(call, "notified", incident=incident_id, integration="status_page",
                                                 tries=tries),
                                      RecordIncidentEvent(incident_id, "notified",
                                                          f"Status page update landed (try {tries})"))
            await self._tell(incident, f"📝 Update posted to status page · Status: "
                                       f"{text.status_word(incident.status)} (it had failed; try {tries} landed).")

        self.retries.start(f"{incident_id}:status_update:{call.interaction_id or id(update)}", attempt,
                           self._gave_up(incident_id, "the status page update"))

    def _retry_close(self, call: Invocation, incident_id: str, what: str, summary: str) -> None:
        """Retry resolving the page or the status page."""
        close = self._resolve_pager if what == "PagerDuty" else self._resolve_status_page
        key = "pager_resolve" if what == "PagerDuty" else "status_resolve"

        async def attempt(tries: int) -> None:
            incident = await self._incident(incident_id)
            await close(incident, summary)
            await self.journal.record(call_entry(call, "notified", incident=incident_id, integration=key,
                                                 tries=tries),
                                      RecordIncidentEvent(incident_id, "notified", f"{what} resolved (try {tries})"))
            await self._tell(incident, f"✅ {what} resolved (it had failed; try {tries} landed).")
            await self._refresh(incident_id)

        self.retries.start(f"{incident_id}:{key}", attempt, self._gave_up(incident_id, what))

    def _gave_up(self, incident_id: str, what: str) -> Callable[[str, int], Awaitable[None]]:
        async def give_up(error: str, tries: int) -> None:
            incident = await self._incident(incident_id)
            await self._tell(incident, f"⚠️ Gave up on {what.replace('_', ' ')} after {tries} tries: "
                                       f"{shown(error, 300)}. Do it by hand.")
            await self._refresh(incident_id)
        return give_up

    # --- showing ----------------------------------------------------------------------------------
    async def _incident(self, incident_id: str) -> Incident:
        incident = await self.store.incident(incident_id)
        if incident is None:
            raise ValidationFailed(f"No incident {incident_id}.")
        return incident

    def _dashboard(self, incident: Incident) -> str | None:
        svc = self.config.service(incident.service) if incident.service else None
        return svc.dashboard_url if svc else None

    def _opener(self, incident: Incident, told: list[str]) -> str:
        return text.opener(incident, self.reach(incident), self._dashboard(incident), told)

    async def _tell(self, incident: Incident, message: str) -> None:
        """Post in the incident's thread (a failure is logged, never raised: the state is committed)."""
        if not incident.thread_id:
            return
        try:
            await self.room.post(incident.thread_id, clip(message, text.LIMIT))
        except Exception as exc:
            log.warning("could not post in the thread of %s: %s", incident.id, exc)

    async def _refresh(self, incident_id: str, *, refresh_opener: bool = False) -> Incident:
        """Edit the announcement (and the opener) to the incident as stored now."""
        incident = await self._incident(incident_id)
        reach = self.reach(incident)
        edits = []
        if incident.announcement_channel_id and incident.announcement_id:
            edits.append((incident.announcement_channel_id, incident.announcement_id,
                          text.announcement(incident, reach)))
        if refresh_opener and incident.thread_id and incident.opener_id:
            edits.append((incident.thread_id, incident.opener_id, self._opener(incident, self.told(incident, reach))))
        for channel_id, message_id, content in edits:
            try:
                await self.room.edit(channel_id, message_id, content)
            except Exception as exc:
                log.warning("could not edit a message of %s: %s", incident.id, exc)
        return incident

    @staticmethod
    def _notified_events(incident: Incident, reach: text.Reach, page_error: str | None,
                         list_error: str | None) -> list[str]:
        events = []
        if reach.oncall_role_id:
            events.append("On-call role pinged")
        if incident.pager_key:
            events.append(f"PagerDuty notified: {reach.pager_team}")
        elif page_error:
            events.append(f"PagerDuty failed: {page_error}")
        if incident.statuspage_id:
            events.append("Status page updated: Investigating")
        elif list_error:
            events.append(f"Status page failed: {list_error}")
        return events


def _thread_of(call: Invocation) -> str | None:
    """The channel a command was typed in, as the thread id to look an incident up by."""
    return call.channel_id


def _system_call(incident: Incident) -> Invocation:
    """The invocation a retry after a restart is filed under: the incident's commander, on its behalf."""
    actor = Actor(id=incident.commander_id, name=incident.commander_name)
    return Invocation(actor=actor, command=f"/incident create (retry after restart) {incident.id}",
                      received_at=parse_iso(incident.created_at))


__all__ = ["Incident", "IncidentRoom", "Incidents", "Opened", "Outcome"]
