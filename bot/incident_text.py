"""What the team sees of an incident: the seed's lines, the announcement, the pinned opener, the timeline.

Everything here is a pure function of stored values, so any message can be re-rendered at any time
(the announcement is edited to the current status; the opener gains a link when a retry lands).
Every piece of text a person typed goes through `bot.text.shown` (messages, the timeline) or
`public` (the status page, PagerDuty); mentions are written as Discord's `<@id>` / `<@&id>` /
`<#id>` syntax and whether anyone is pinged is decided by `allowed_mentions` alone.

The seed's wording is the contract (extra detail may follow, never replace)::

    🚨 SEV-1 Incident Created: Payment processing failures
    Incident channel: #inc-20260304-payment · Incident commander: @oncall
    Status page updated: Investigating · PagerDuty notified: payment-team
    📝 Update posted to status page · Status: Identified
    ✅ Incident resolved after 23 minutes · Duration: 23 min · Status page: Resolved
    Postmortem scheduled for tomorrow 2 PM
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store import DeployRecord, Incident, IncidentEvent
from bot.text import clip, shown, thread_name
from bot.times import parse_iso

LIMIT = 2000
"""Discord's limit on a message's content."""
TITLE_LIMIT = 200
TEXT_LIMIT = 1500
STATUS_WORDS = {"opening": "Opening", "investigating": "Investigating", "identified": "Identified",
                "monitoring": "Monitoring", "resolved": "Resolved", "failed": "Failed"}


@dataclass(frozen=True)
class Reach:
    """Who an incident reaches besides its thread: the on-call role, the pager, the status page.

    `None` means nothing of that kind is configured; the `*_pending` flags say a failed call is
    being retried in the background.
    """

    oncall_role_id: str | None = None
    oncall_missing: str | None = None
    """A configured on-call role that the guild does not have (its name, to say so)."""
    pager_team: str | None = None
    status_page: bool = False
    pager_pending: bool = False
    status_pending: bool = False


def severity_label(severity: str) -> str:
    """"sev1" → "SEV-1"."""
    return severity.upper().replace("SEV", "SEV-") if severity.lower().startswith("sev") else severity.upper()


def status_word(status: str) -> str:
    """"identified" → "Identified"."""
    return STATUS_WORDS.get(status, status.capitalize())


def member(member_id: str | None, name: str | None) -> str:
    """A member as a mention when the id is Discord's (pings only if `allowed_mentions` says so), else `@name`."""
    if member_id and member_id.isdigit():
        return f"<@{member_id}>"
    return f"@{shown(name or 'someone', 40)}"


def public(text: str, limit: int) -> str:
    """Typed text for the status page and PagerDuty: visible characters only, one line, clipped, @everyone
    defused and no angle brackets (no mention syntax, no HTML) — readable as it was typed."""
    return thread_name(text, limit).replace("<", "\u2039").replace(">", "\u203a")


def duration_words(seconds: float) -> str:
    """"23 minutes", "1 minute", "2 hours 5 minutes", "less than a minute"."""
    minutes = max(0, round(seconds / 60))
    if minutes == 0:
        return "less than a minute"
    hours, rest = divmod(minutes, 60)
    parts = ([f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []) + (
        [f"{rest} minute{'s' if rest != 1 else ''}"] if rest else [])
    return " ".join(parts)


def duration_text(seconds: float) -> str:
    """"2 h 05 min" / "14 min"."""
    minutes = max(0, round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def clock(moment: datetime) -> str:
    """"2 PM", "9:30 AM", "12 PM"."""
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return f"{hour} {suffix}" if moment.minute == 0 else f"{hour}:{moment.minute:02d} {suffix}"


def when_words(start: datetime, now: datetime) -> str:
    """A postmortem time as people say it, from `now` (both in the same zone): "tomorrow 2 PM",
    "Monday 2 PM" (within the week), "Mon 16 Mar 2 PM" (later)."""
    days = (start.date() - now.date()).days
    if days == 0:
        return f"today {clock(start)}"
    if days == 1:
        return f"tomorrow {clock(start)}"
    if 1 < days < 7:
        return f"{start:%A} {clock(start)}"
    return f"{start:%a} {start.day} {start:%b} {clock(start)}"


def _elapsed(incident: Incident) -> float:
    if incident.resolved_at is None:
        return 0.0
    return (parse_iso(incident.resolved_at) - parse_iso(incident.created_at)).total_seconds()


def notified_line(incident: Incident, reach: Reach) -> str:
    """The seed's third line: "Status page updated: Investigating · PagerDuty notified: payment-team"."""
    status = status_word(incident.status if incident.status not in ("opening", "failed") else "investigating")
    if incident.statuspage_id:
        page = f"Status page updated: {status}"
    elif reach.status_page:
        page = "Status page not updated yet (retrying)" if reach.status_pending else "Status page not updated"
    else:
        page = "No status page configured"
    if incident.pager_key:
        pager = f"PagerDuty notified: {reach.pager_team or 'on-call'}"
    elif reach.pager_team is not None:
        pager = (f"PagerDuty not notified yet: {reach.pager_team} (retrying)" if reach.pager_pending
                 else f"PagerDuty not notified: {reach.pager_team}")
    else:
        pager = "No pager configured"
    return f"{page} · {pager}"


def resolved_line(incident: Incident, reach: Reach) -> str:
    """"✅ Incident resolved after 23 minutes · Duration: 23 min · Status page: Resolved"."""
    seconds = _elapsed(incident)
    page = ("Status page: Resolved" if incident.statuspage_id else
            "Status page: not updated (retrying)" if reach.status_pending else "Status page: none")
    return f"✅ Incident resolved after {duration_words(seconds)} · Duration: {duration_text(seconds)} · {page}"


def announcement(incident: Incident, reach: Reach) -> str:
    """The message in the incidents channel, as it should read now (re-rendered on every change)."""
    channel = f"<#{incident.thread_id}>" if incident.thread_id else f"#{incident.id}"
    lines = [
        f"🚨 {severity_label(incident.severity)} Incident Created: {shown(incident.title, TITLE_LIMIT)}",
        f"Incident channel: {channel} · Incident commander: {member(incident.commander_id, incident.commander_name)}",
        notified_line(incident, reach),
    ]
    extra = []
    if reach.oncall_role_id:
        extra.append(f"On call: <@&{reach.oncall_role_id}>")
    elif reach.oncall_missing:
        extra.append(f"On call: no role {shown(reach.oncall_missing, 60)} in this server")
    if incident.service:
        extra.append(f"Service: {incident.service}")
    extra.append(f"Status: {status_word(incident.status)}")
    lines.append(" · ".join(extra))
    if incident.status == "resolved":
        lines.append(resolved_line(incident, reach))
    return clip("\n".join(lines), LIMIT)


def links(incident: Incident, dashboard: str | None) -> list[tuple[str, str]]:
    """(label, url) of what the opener links to: the status page, the PagerDuty incident, the dashboard."""
    found = [("Status page", incident.statuspage_url), ("PagerDuty incident", incident.pager_url),
             ("Dashboard", dashboard)]
    return [(label, url) for label, url in found if url]


def opener(incident: Incident, reach: Reach, dashboard: str | None, notified: Sequence[str]) -> str:
    """The first message in the thread (pinned): what, who leads, the links, who was told, how to go on."""
    lines = [f"🚨 {severity_label(incident.severity)} · {shown(incident.title, TITLE_LIMIT)}",
             f"Incident commander: {member(incident.commander_id, incident.commander_name)}"
             + (f" · Service: {incident.service}" if incident.service else ""),
             notified_line(incident, reach)]
    found = links(incident, dashboard)
    if found:
        lines.append("🔗 " + " · ".join(f"[{label}](<{url}>)" for label, url in found))
    lines += list(notified)
    lines.append("Post updates here with `/incident update`, hand over with `/incident commander`, "
                 "get the record with `/incident timeline`, close with `/incident resolve`.")
    return clip("\n".join(lines), LIMIT)


def update_line(page: str, status: str) -> str:
    """"📝 Update posted to status page · Status: Identified" (or why the page was not updated)."""
    return f"📝 {page} · Status: {status_word(status)}"


def timeline(incident: Incident, events: Sequence[IncidentEvent], deploys: Sequence[DeployRecord],
             dashboard: str | None, now: datetime) -> str:
    """The incident as a Markdown document: a header, its links, and every event and deploy in time order."""
    end = parse_iso(incident.resolved_at) if incident.resolved_at else now
    seconds = (end - parse_iso(incident.created_at)).total_seconds()
    service = f" · Service: {incident.service}" if incident.service else ""
    resolved = f" · Resolved: {incident.resolved_at}" if incident.resolved_at else ""
    out = [f"# {incident.id}: {severity_label(incident.severity)} {shown(incident.title, 500)}", "",
           f"- Status: {status_word(incident.status)}{service}",
           f"- Commander: @{shown(incident.commander_name, 60)}",
           f"- Opened: {incident.created_at}{resolved}",
           f"- Duration: {duration_text(seconds)}" + ("" if incident.resolved_at else " so far")]
    out += [f"- {label}: <{url}>" for label, url in links(incident, dashboard)]
    out += ["", "| Time (UTC) | Event | By | Details |", "|---|---|---|---|"]
    rows: list[tuple[str, int, int, str]] = []
    for event in events:
        by = f"@{shown(event.actor_name, 60)}" if event.actor_name else "Opscord"
        detail = shown(event.text, 4000) if event.text else ""
        if event.status:
            detail = f"Status: {status_word(event.status)}" + (f" · {detail}" if detail else "")
        rows.append((event.at, 0, event.id, f"| {_time(event.at)} | {event.kind} | {by} | {detail} |"))
    for deploy in deploys:
        what = f"{deploy.kind} {deploy.service} {shown(deploy.version, 80)} to {deploy.environment}"
        if deploy.previous_version:
            what += f" (from {shown(deploy.previous_version, 80)})"
        rows.append((deploy.started_at, 1, deploy.id, f"| {_time(deploy.started_at)} | {deploy.kind} | "
                                                      f"@{shown(deploy.requester, 60)} | {what}: {deploy.status} |"))
    out += [row for *_, row in sorted(rows)]
    return "\n".join(out) + "\n"


def _time(stored: str) -> str:
    return parse_iso(stored).strftime("%Y-%m-%d %H:%M:%S")


def deploy_window(incident: Incident, now: datetime,
                  before: timedelta = timedelta(hours=1)) -> tuple[datetime, datetime]:
    """The deploys that may bear on an incident: from an hour before it opened until it was resolved."""
    end = parse_iso(incident.resolved_at) if incident.resolved_at else now
    return parse_iso(incident.created_at) - before, end
