"""DORA metrics from what Opscord recorded: deploy history and incidents, for protected environments.

Lead time for changes needs commit times, which Opscord does not see, so it is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import OpscordConfig
from bot.store import Store
from bot.times import parse_iso

FAILURE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class DoraReport:
    """The four keys (three measurable here) over a window."""

    days: int
    environments: tuple[str, ...]
    deploys: int
    failed_changes: int
    restores: int
    mean_restore: timedelta | None

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
        restore = "n/a (no resolved incidents)" if self.mean_restore is None else _duration(self.mean_restore)
        return [
            f"DORA metrics, last {self.days} days, {', '.join(self.environments) or 'no protected environment'}:",
            f"Deployment frequency: {self.per_day:.2f}/day ({self.deploys} deploys)",
            f"Change failure rate: {rate}",
            f"Time to restore: {restore} (mean of {self.restores} resolved incidents)",
            "Lead time for changes: not measured (Opscord does not see commit times)",
        ]


def _duration(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


async def dora(config: OpscordConfig, store: Store, days: int = 30, now: datetime | None = None) -> DoraReport:
    """Compute the report for the environments marked `protected` (production-like)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    envs = tuple(e.name for e in config.environments if e.protected)
    history = [(r.service, r.environment, r.kind, r.status, parse_iso(r.started_at))
               for r in await store.deploys_in(envs)]
    incidents = [(i.service, parse_iso(i.created_at), parse_iso(i.resolved_at) if i.resolved_at else None)
                 for i in await store.incidents(open_only=False) if i.status not in ("opening", "failed")]
    deploys = [h for h in history if h[2] == "deploy" and h[4] >= since and h[3] in ("succeeded", "failed")]
    failed = 0
    for service, env, _kind, status, at in deploys:
        rolled_back = any(s == service and e == env and k == "rollback" and at < t <= at + FAILURE_WINDOW
                          for s, e, k, _st, t in history)
        incident = any(s == service and at < opened <= at + FAILURE_WINDOW for s, opened, _r in incidents)
        failed += status == "failed" or rolled_back or incident
    restored = [resolved - opened for _s, opened, resolved in incidents if resolved and resolved >= since]
    mean = sum(restored, timedelta()) / len(restored) if restored else None
    return DoraReport(days, envs, len(deploys), failed, len(restored), mean)
