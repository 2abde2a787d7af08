"""DORA metrics from what Opscord recorded: deploy history and incidents, per environment.

- deployment frequency: deploys per day (succeeded or failed; rollbacks are not deploys);
- change failure rate: the share of deploys that failed, were undone by a rollback (the last one before
  it, within a day) or were followed by an incident of their service within 24 h;
- time to restore: from an incident's creation to its resolution (incidents have no environment, so
  this one figure is for every environment);
- lead time for changes: from the deployed commit to the deploy's end, for deploys whose provider
  reported the commit's time (GitHub Actions: the run's head commit); unknown otherwise.

`/audit dora` and `audit dora` print the protected (production-like) environments' figures; the
chart (bot.dora_chart) and `/metrics` show every environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.config import OpscordConfig
from bot.store import DeployRecord, Store
from bot.times import parse_iso

FAILURE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class EnvironmentFigures:
    """One environment's deploys over the window."""

    name: str
    protected: bool
    deploys: int
    failed_changes: int
    daily: tuple[int, ...]
    """Deploys per day, oldest day first (one entry per day of the window)."""
    lead_times: tuple[timedelta, ...]

    @property
    def change_failure_rate(self) -> float | None:
        """Failed changes / deploys (None without deploys)."""
        return self.failed_changes / self.deploys if self.deploys else None

    @property
    def lead_time(self) -> timedelta | None:
        """Mean lead time (None: no deploy had a known commit time)."""
        return sum(self.lead_times, timedelta()) / len(self.lead_times) if self.lead_times else None


@dataclass(frozen=True)
class DoraFigures:
    """Every environment's figures and the incidents' restore times, over `days` days up to `now`."""

    days: int
    now: datetime
    environments: tuple[EnvironmentFigures, ...]
    restores: tuple[tuple[datetime, timedelta], ...]
    """(resolved at, time to restore) of each incident resolved in the window."""

    @property
    def first_day(self) -> date:
        """The window's first day (UTC)."""
        return (self.now - timedelta(days=self.days - 1)).date()

    @property
    def mean_restore(self) -> timedelta | None:
        """Mean time to restore (None: no incident was resolved in the window)."""
        return sum((r for _, r in self.restores), timedelta()) / len(self.restores) if self.restores else None

    def report(self) -> DoraReport:
        """The text report of the protected environments."""
        protected = [e for e in self.environments if e.protected]
        leads = tuple(t for e in protected for t in e.lead_times)
        return DoraReport(self.days, tuple(e.name for e in protected), sum(e.deploys for e in protected),
                          sum(e.failed_changes for e in protected), len(self.restores), self.mean_restore,
                          sum(leads, timedelta()) / len(leads) if leads else None, len(leads))


@dataclass(frozen=True)
class DoraReport:
    """The four keys over a window, for the protected environments."""

    days: int
    environments: tuple[str, ...]
    deploys: int
    failed_changes: int
    restores: int
    mean_restore: timedelta | None
    lead_time: timedelta | None = None
    lead_samples: int = 0

    @property
    def per_day(self) -> float:
        """Deployment frequency."""
        return self.deploys / self.days

    @property
    def change_failure_rate(self) -> float | None:
        """Share of deploys that failed, were rolled back or were followed by an incident within 24 h."""
        return self.failed_changes / self.deploys if self.deploys else None

    def lines(self) -> list[str]:
        """Plain lines for Discord or a terminal."""
        rate = ("n/a (no deploys)" if self.change_failure_rate is None
                else f"{self.change_failure_rate:.0%} ({self.failed_changes} of {self.deploys})")
        restore = "n/a (no resolved incidents)" if self.mean_restore is None else duration(self.mean_restore)
        lead = ("unknown (no provider reported the commit times of these deploys)" if self.lead_time is None
                else f"{duration(self.lead_time)} (mean of {self.lead_samples} deploys with a commit time)")
        return [
            f"DORA metrics, last {self.days} days, {', '.join(self.environments) or 'no protected environment'}:",
            f"Deployment frequency: {self.per_day:.2f}/day ({self.deploys} deploys)",
            f"Change failure rate: {rate}",
            f"Time to restore: {restore} (mean of {self.restores} resolved incidents)",
            f"Lead time for changes: {lead}",
        ]


def _undone(history: list[DeployRecord]) -> set[int]:
    """The deploys a rollback undid: for each rollback, the last succeeded deploy of its target before it
    (within a day) — that one change failed, not every deploy of the day."""
    undone: set[int] = set()
    for rollback in history:
        if rollback.kind != "rollback":
            continue
        at = parse_iso(rollback.started_at)
        before = [h for h in history if h.service == rollback.service and h.environment == rollback.environment
                  and h.kind == "deploy" and h.status == "succeeded"
                  and at - FAILURE_WINDOW <= parse_iso(h.started_at) < at]
        if before:
            undone.add(max(before, key=lambda h: parse_iso(h.started_at)).id)
    return undone


def duration(delta: timedelta) -> str:
    """"42 min" / "2 h 05 min"."""
    minutes = round(delta.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


async def figures(config: OpscordConfig, store: Store, days: int = 30, now: datetime | None = None) -> DoraFigures:
    """Every configured environment's figures over the last `days` days."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    first = (now - timedelta(days=days - 1)).date()
    history = await store.deploys_in([e.name for e in config.environments])
    incidents = [(i.service, parse_iso(i.created_at), parse_iso(i.resolved_at) if i.resolved_at else None)
                 for i in await store.incidents(open_only=False) if i.status not in ("opening", "failed")]
    undone = _undone(history)
    environments = []
    for env in config.environments:
        deploys = [r for r in history if r.environment == env.name and r.kind == "deploy"
                   and r.status in ("succeeded", "failed") and since <= parse_iso(r.started_at) <= now]
        failed = 0
        daily = [0] * days
        leads = []
        for record in deploys:
            at = parse_iso(record.started_at)
            incident = any(s == record.service and at < opened <= at + FAILURE_WINDOW for s, opened, _r in incidents)
            failed += record.status == "failed" or record.id in undone or incident
            day = (at.date() - first).days
            if 0 <= day < days:
                daily[day] += 1
            if record.committed_at and record.status == "succeeded":
                lead = parse_iso(record.finished_at or record.started_at) - parse_iso(record.committed_at)
                if lead >= timedelta(0):
                    leads.append(lead)
        environments.append(EnvironmentFigures(env.name, env.protected, len(deploys), failed, tuple(daily),
                                               tuple(leads)))
    restores = tuple(sorted((resolved, resolved - opened) for _s, opened, resolved in incidents
                            if resolved and since <= resolved <= now))
    return DoraFigures(days, now, tuple(environments), restores)


async def dora(config: OpscordConfig, store: Store, days: int = 30, now: datetime | None = None) -> DoraReport:
    """The text report for the environments marked `protected` (production-like)."""
    return (await figures(config, store, days, now)).report()
