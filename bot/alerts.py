"""Alertmanager notifications (webhook payload version 4) opening, updating and resolving incidents.

A notification is one alert *group*. `[alerts]` rules (first match on the group's labels) say
which service and severity it is, and whether a firing group opens an incident or only posts to
the alerts channel. The group key is remembered with the incident it opened (a store fact, committed
with the delivery's audit row), and so is each alert's fingerprint: Alertmanager re-sends a group
every `group_interval`/`repeat_interval` and from every peer of a cluster, and none of those
deliveries opens a second incident while the first is open — they are counted as duplicates, and
alerts that joined the group are posted into its thread. A `resolved` notification posts an update
to the incident, or resolves it (per rule).

Incidents are opened through the `Incidents` service like `/incident create`, by an actor that
names the alert (`@alertmanager/<alertname>`), holding the first capability `[access].incident`
allows: the bearer token is what authorizes it. Every delivery that passed the token check gets an
audit row — opened, duplicate, updated, resolved, notified, or refused with its reason (unknown
service, malformed payload, no rule) — and refusals are answered 4xx, which Alertmanager does not
retry; failures worth retrying (Discord unreachable) are answered 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.config import AlertRule, AlertsConfig, OpscordConfig
from bot.incidents import IncidentRoom, Incidents
from bot.metrics import Metrics
from bot.pipeline import Actor, ActorRole, Invocation, Journal, Refused
from bot.pipeline.entries import call_entry
from bot.store import Change, Incident, Store
from bot.store.changes import PutFact

log = logging.getLogger(__name__)
MAX_LISTED = 10
"""Alerts listed one by one in a thread post (the rest are counted)."""


class AlertChannel(Protocol):
    """Where `notify` rules post (the configured alerts channel)."""

    async def post(self, text: str) -> None:
        """Post one message; raises when it could not be delivered."""


class BadNotification(ValueError):
    """The body is not an Alertmanager webhook notification (version 4); the message says why."""


@dataclass(frozen=True)
class Alert:
    """One alert of a group."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    generator_url: str
    fingerprint: str


@dataclass(frozen=True)
class Notification:
    """One delivery: an alert group, firing or resolved."""

    group_key: str
    status: str
    receiver: str
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    alerts: tuple[Alert, ...]
    truncated: int = 0

    @property
    def alertname(self) -> str:
        """The group's alert name (or the first alert's)."""
        return self.common_labels.get("alertname") or (self.alerts[0].labels.get("alertname", "") if self.alerts
                                                       else "") or "alert"

    def label(self, name: str) -> str | None:
        """A label common to the group, else the first alert's."""
        if name in self.common_labels:
            return self.common_labels[name]
        return next((a.labels[name] for a in self.alerts if name in a.labels), None)

    def annotation(self, name: str) -> str | None:
        """An annotation common to the group, else the first alert's."""
        if name in self.common_annotations:
            return self.common_annotations[name]
        return next((a.annotations[name] for a in self.alerts if name in a.annotations), None)


def _strings(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadNotification(f"{where} must be an object of strings")
    return dict(value)


def _text(value: Any, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadNotification(f"{where} must be {'a non-empty' if required else 'a'} string")
    return value


def parse_notification(body: bytes) -> Notification:
    """The notification in `body`, or `BadNotification` saying what is wrong with it."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadNotification("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadNotification("the body is not a JSON object")
    if data.get("version") != "4":
        raise BadNotification(f"version must be \"4\" (Alertmanager's webhook payload), not {data.get('version')!r}")
    status = data.get("status")
    if status not in ("firing", "resolved"):
        raise BadNotification("status must be firing or resolved")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise BadNotification("alerts must be a non-empty list")
    alerts = []
    for i, item in enumerate(raw_alerts):
        if not isinstance(item, dict):
            raise BadNotification(f"alerts[{i}] must be an object")
        alerts.append(Alert(
            status=_text(item.get("status"), f"alerts[{i}].status", required=True),
            labels=_strings(item.get("labels"), f"alerts[{i}].labels"),
            annotations=_strings(item.get("annotations"), f"alerts[{i}].annotations"),
            starts_at=_text(item.get("startsAt"), f"alerts[{i}].startsAt"),
            generator_url=_text(item.get("generatorURL"), f"alerts[{i}].generatorURL"),
            fingerprint=_text(item.get("fingerprint"), f"alerts[{i}].fingerprint", required=True)))
    truncated = data.get("truncatedAlerts", 0)
    return Notification(
        group_key=_text(data.get("groupKey"), "groupKey", required=True), status=status,
        receiver=_text(data.get("receiver"), "receiver"),
        common_labels=_strings(data.get("commonLabels"), "commonLabels"),
        common_annotations=_strings(data.get("commonAnnotations"), "commonAnnotations"),
        external_url=_text(data.get("externalURL"), "externalURL"), alerts=tuple(alerts),
        truncated=truncated if isinstance(truncated, int) else 0)


@dataclass(frozen=True)
class Outcome:
    """The answer to one delivery: HTTP status, what was done, and the incident concerned."""

    status: int
    result: str
    reason: str = ""
    incident: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        return {k: v for k, v in {"result": self.result, "reason": self.reason or None,
                                  "incident": self.incident}.items() if v is not None}


@dataclass
class GroupState:
    """What is remembered of an alert group between deliveries (a store fact)."""

    status: str = "firing"
    incident: str | None = None
    notified: bool = False
    fingerprints: list[str] = field(default_factory=list)

    def dumps(self) -> str:
        """As stored."""
        return json.dumps({"status": self.status, "incident": self.incident, "notified": self.notified,
                           "fingerprints": self.fingerprints}, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> GroupState | None:
        """From the stored text (None when nothing was stored)."""
        if text is None:
            return None
        data = json.loads(text)
        return cls(status=data.get("status", "firing"), incident=data.get("incident"),
                   notified=bool(data.get("notified")), fingerprints=list(data.get("fingerprints") or []))


def group_fact(group_key: str) -> str:
    """The fact key of an alert group."""
    return "alerts:group:" + hashlib.sha256(group_key.encode()).hexdigest()[:32]


def fingerprint_fact(fingerprint: str) -> str:
    """The fact key of one alert (its fingerprint → the incident it is in)."""
    return "alerts:fingerprint:" + fingerprint[:64]


def _labels_text(labels: Mapping[str, str]) -> str:
    return " · ".join(f"`{k}={v}`".replace("``", "`") for k, v in sorted(labels.items()))


def details(n: Notification) -> str:
    """What the incident's thread shows of the group: summary, description, labels, where it comes from."""
    lines = [f"🔔 Alert **{n.alertname}** ({len(n.alerts)} alert(s)) — {n.annotation('summary') or 'no summary'}"]
    if description := n.annotation("description"):
        lines.append(description[:600])
    lines.append(f"Labels: {_labels_text(n.common_labels)}")
    for alert in n.alerts[:MAX_LISTED]:
        own = {k: v for k, v in alert.labels.items() if n.common_labels.get(k) != v}
        since = f" since {alert.starts_at[:19].replace('T', ' ')} UTC" if alert.starts_at else ""
        source = f" · source: <{alert.generator_url}>" if alert.generator_url else ""
        lines.append(f"• {alert.status}{since}{(' · ' + _labels_text(own)) if own else ''}{source}")
    if len(n.alerts) > MAX_LISTED or n.truncated:
        lines.append(f"… and {len(n.alerts) - MAX_LISTED + n.truncated if len(n.alerts) > MAX_LISTED else n.truncated}"
                     " more")
    if n.external_url:
        lines.append(f"Alertmanager: <{n.external_url}>")
    return "\n".join(lines)[:1900]


class AlertReceiver:
    """Turns notifications into incidents (or alerts-channel posts); one per process."""

    def __init__(self, config: OpscordConfig, store: Store, *, incidents: Incidents, journal: Journal,
                 room: IncidentRoom, channel: AlertChannel | None, metrics: Metrics) -> None:
        self.config = config
        self._store = store
        self._incidents = incidents
        self._journal = journal
        self._room = room
        self._channel = channel
        self._metrics = metrics
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def settings(self) -> AlertsConfig:
        """The `[alerts]` section (the route answers 404 without one)."""
        assert self.config.alerts is not None
        return self.config.alerts

    def actor(self, alertname: str) -> Actor:
        """The alert as the actor: holds the first capability `[access].incident` allows that has roles."""
        roles = []
        for capability in self.config.access.incident:
            for ref in self.config.roles.get(capability, [])[:1]:
                roles.append(ActorRole(int(ref), "") if isinstance(ref, int) or ref.isdigit() else ActorRole(0, ref))
            if roles:
                break
        return Actor(id="alertmanager", name=f"alertmanager/{alertname[:60]}", roles=tuple(roles))

    def call(self, alertname: str, what: str, channel_id: str | None = None) -> Invocation:
        """The invocation a delivery is audited as."""
        return Invocation(actor=self.actor(alertname), command=f"alertmanager: {what}"[:200], channel_id=channel_id,
                          received_at=datetime.now(UTC))

    async def refuse(self, status: int, result: str, reason: str, *, alertname: str = "alert",
                     what: str = "webhook notification", **extra: Any) -> Outcome:
        """Audit a refused delivery and answer it."""
        log.warning("refused an Alertmanager notification (%d): %s", status, reason)
        await self._journal.record(call_entry(self.call(alertname, what), result, error=reason, **extra))
        return Outcome(status, result, reason)

    async def receive(self, body: bytes) -> Outcome:
        """Handle one delivery (already authenticated)."""
        try:
            n = parse_notification(body)
        except BadNotification as exc:
            return await self.refuse(400, "invalid", f"malformed notification: {exc}")
        async with self._locks[n.group_key]:
            try:
                if n.status == "firing":
                    return await self._firing(n)
                return await self._resolved(n)
            except Refused as exc:  # the incident service refused (audited there)
                return Outcome(422 if exc.result == "invalid" else 503, exc.result, exc.message)

    # --- firing ----------------------------------------------------------------------------------
    async def _firing(self, n: Notification) -> Outcome:
        what = f"firing {n.alertname}"
        fingerprints = [a.fingerprint for a in n.alerts]
        state = GroupState.loads(await self._store.fact(group_fact(n.group_key)))
        incident = await self._open_incident(state.incident if state else None)
        if incident is None:  # an alert already in an open incident (its group key changed, or another group)
            tied = {fp: await self._store.fact(fingerprint_fact(fp)) for fp in fingerprints}
            for incident_id in dict.fromkeys(v for v in tied.values() if v is not None):
                incident = await self._open_incident(incident_id)
                if incident is not None:
                    state = GroupState(incident=incident.id, fingerprints=[fp for fp, v in tied.items()
                                                                           if v == incident.id])
                    break
        if incident is not None:
            return await self._again(n, state or GroupState(incident=incident.id), incident)
        if state is not None and state.status == "firing" and state.notified and set(fingerprints) <= set(
                state.fingerprints):
            return await self._duplicate(n, state, None)
        rule = next((r for r in self.settings.rules if r.matches({**n.common_labels, **(n.alerts[0].labels)})), None)
        if rule is None:
            return await self.refuse(422, "invalid", f"no [[alerts.rules]] matches the labels of {n.alertname}",
                                     alertname=n.alertname, what=what, group_key=n.group_key)
        service = rule.service or n.label(self.settings.service_label)
        if service is not None and self.config.service(service) is None:
            known = ", ".join(s.name for s in self.config.services)
            return await self.refuse(422, "invalid", f"unknown service {service[:60]!r} (label "
                                     f"{self.settings.service_label}); known services: {known}",
                                     alertname=n.alertname, what=what, group_key=n.group_key)
        if rule.action == "notify":
            return await self._notify(n, what, fingerprints)
        if service is None:
            return await self.refuse(422, "invalid", f"{n.alertname} has no {self.settings.service_label} label and "
                                     "its rule names no service", alertname=n.alertname, what=what,
                                     group_key=n.group_key)
        return await self._open(n, rule, service, fingerprints)

    async def _open(self, n: Notification, rule: AlertRule, service: str, fingerprints: list[str]) -> Outcome:
        severity = rule.severity or self.settings.severities.get(n.label(self.settings.severity_label) or "",
                                                                 self.settings.default_severity)
        title = (n.annotation("summary") or n.alertname)[:200]
        call = self.call(n.alertname, f"firing {n.alertname} ({service})")
        incident = (await self._incidents.create(call, title, severity, service)).incident
        state = GroupState(incident=incident.id, fingerprints=fingerprints)
        await self._store.apply(_remember(n, state, fingerprints))
        if incident.thread_id:
            await self._room.post(incident.thread_id, details(n))
        self._metrics.alert("firing")
        return Outcome(201, "opened", incident=incident.id)

    async def _again(self, n: Notification, state: GroupState, incident: Incident) -> Outcome:
        """The group (or one of its alerts) already has an open incident: never a second one."""
        new = [a for a in n.alerts if a.fingerprint not in state.fingerprints]
        if not new:
            return await self._duplicate(n, state, incident)
        state.fingerprints += [a.fingerprint for a in new]
        state.status, state.incident = "firing", incident.id
        await self._journal.record(
            call_entry(self.call(n.alertname, f"firing {n.alertname}"), "updated", incident=incident.id,
                       group_key=n.group_key, alerts=len(new)),
            *_remember(n, state, [a.fingerprint for a in new]).steps)
        if incident.thread_id:
            listed = "\n".join(f"• {_labels_text(a.labels)}" for a in new[:MAX_LISTED])
            await self._room.post(incident.thread_id, f"🔔 {len(new)} more alert(s) firing in this group:\n{listed}"
                                  [:1900])
        self._metrics.alert("firing")
        return Outcome(200, "updated", incident=incident.id)

    async def _duplicate(self, n: Notification, state: GroupState, incident: Incident | None) -> Outcome:
        await self._journal.record(call_entry(self.call(n.alertname, f"{n.status} {n.alertname}"), "duplicate",
                                              incident=incident.id if incident else None, group_key=n.group_key))
        self._metrics.alert(n.status, duplicate=True)
        return Outcome(200, "duplicate", incident=incident.id if incident else state.incident)

    async def _notify(self, n: Notification, what: str, fingerprints: list[str]) -> Outcome:
        if self._channel is None:
            return Outcome(503, "failed", "no alerts channel in this process")
        icon = "🔔" if n.status == "firing" else "✅"
        try:
            await self._channel.post(f"{icon} {n.status.upper()}: {details(n)}"[:1990])
        except Exception as exc:
            log.warning("could not post alert %s to the alerts channel: %s", n.alertname, exc)
            return Outcome(503, "failed", f"the alerts channel did not take the post ({type(exc).__name__})")
        state = GroupState(status=n.status, notified=True, fingerprints=fingerprints)
        await self._journal.record(call_entry(self.call(n.alertname, what), "notified", group_key=n.group_key),
                                   *_remember(n, state, []).steps)
        self._metrics.alert(n.status)
        return Outcome(200, "notified")

    # --- resolved --------------------------------------------------------------------------------
    async def _resolved(self, n: Notification) -> Outcome:
        what = f"resolved {n.alertname}"
        state = GroupState.loads(await self._store.fact(group_fact(n.group_key)))
        if state is None:
            await self._journal.record(call_entry(self.call(n.alertname, what), "ignored", group_key=n.group_key,
                                                  error="no incident or post of this alert group"))
            self._metrics.alert("resolved")
            return Outcome(200, "ignored", "no incident or post of this alert group")
        if state.status == "resolved":
            return await self._duplicate(n, state, None)
        incident = await self._open_incident(state.incident)
        state.status = "resolved"
        if incident is None:
            if state.notified:
                return await self._notify(n, what, state.fingerprints)
            await self._journal.record(call_entry(self.call(n.alertname, what), "ignored", group_key=n.group_key,
                                                  incident=state.incident, error="its incident is already resolved"),
                                       PutFact(group_fact(n.group_key), state.dumps()))
            self._metrics.alert("resolved")
            return Outcome(200, "ignored", "its incident is already resolved", incident=state.incident)
        rule = next((r for r in self.settings.rules if r.matches({**n.common_labels, **(n.alerts[0].labels)})), None)
        text = f"Alert {n.alertname} resolved in Alertmanager." + (
            f" {n.annotation('summary')}" if n.annotation("summary") else "")
        call = self.call(n.alertname, what, channel_id=incident.thread_id)
        if rule is not None and rule.resolve:
            await self._incidents.resolve(call, text)
            result = "resolved"
        else:
            await self._incidents.update(call, text, "monitoring")
            result = "updated"
        await self._store.apply(_remember(n, state, []))
        self._metrics.alert("resolved")
        return Outcome(200, result, incident=incident.id)

    async def _open_incident(self, incident_id: str | None) -> Incident | None:
        if incident_id is None:
            return None
        incident = await self._store.incident(incident_id)
        return incident if incident is not None and incident.status not in ("resolved", "failed") else None


def _remember(n: Notification, state: GroupState, fingerprints: list[str]) -> Change:
    """The change that stores the group's state and ties these fingerprints to its incident."""
    steps = [PutFact(group_fact(n.group_key), state.dumps())]
    if state.incident is not None:
        steps += [PutFact(fingerprint_fact(fp), state.incident) for fp in fingerprints]
    return Change.of(*steps)
