"""Opscord's own metrics: one registry, built in the composition root, filled by one-line calls.

What is measured where:

- first-response latency — every interaction callback Discord accepts, timed from the interaction's
  creation (its snowflake) through discord.py's documented ``http_trace`` hook, so commands, clicks,
  autocomplete and error answers are all counted without touching the handlers; the same hook
  times every Discord REST call as the upstream ``discord``;
- commands by family and result — where a command ends (its completion, or the one error path);
- approvals, approval wait and operation duration — in the pipeline, when a click is applied and
  when a run finishes;
- upstream call latency by system and outcome — `integrations.http.HttpClient` reports each call;
- alerts received and deduplicated — in `bot.alerts`;
- gauges (locks, waiting requests, open incidents, writer queue, audit head) — read from the store
  when `/metrics` is scraped (`refresh`), so they are never stale or double-kept;
- the DORA figures per environment (`bot.dora`, the same as `/audit dora`'s chart), over 30 days.

Each process has its own registry (no global state), with the process, platform and GC collectors
and `opscord_build_info`.
"""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol, runtime_checkable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot import __version__
from bot.dora import DoraFigures
from bot.store import Operation, Store
from bot.store.records import StoreCounts
from bot.times import parse_iso

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
"""Seconds: first responses (Discord allows 3 s) and upstream calls."""
SLOW = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
"""Seconds: how long operations run."""
WAITS = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
"""Seconds: how long requests wait for their approvals."""
WAITING = ("pending_approval", "pending_confirmation")
_DISCORD_EPOCH_MS = 1420070400000
_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback(?:\?|$)")


def _dist_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def snowflake_time(snowflake: int) -> float:
    """The Unix time (seconds) a Discord id was created."""
    return ((snowflake >> 22) + _DISCORD_EPOCH_MS) / 1000.0


@runtime_checkable
class _QueuedWrites(Protocol):
    def pending_writes(self) -> int:
        """Changes waiting for the writer."""


@dataclass
class _Snapshot:
    """What the store and the gateway said at the last scrape."""

    counts: StoreCounts
    appended: Mapping[str, int]
    discord_connected: bool
    ready: bool
    writer_queue: int | None
    dora: DoraFigures | None = None


class _StateCollector(Collector):
    """Yields the gauges of the last `_Snapshot` (collectors are synchronous; the store is not)."""

    def __init__(self) -> None:
        self.snapshot: _Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        """The families, when a snapshot was taken."""
        s = self.snapshot
        if s is None:
            return
        yield GaugeMetricFamily("opscord_up", "Whether the Opscord process is serving.", value=1)
        yield GaugeMetricFamily("opscord_discord_connected", "Whether the gateway session is ready.",
                                value=int(s.discord_connected))
        yield GaugeMetricFamily("opscord_ready", "Whether /readyz answers ready (connected, writable, recovered).",
                                value=int(s.ready))
        yield GaugeMetricFamily("opscord_audit_head_row", "The id of the newest audit row.", value=s.counts.audit_head)
        appended = CounterMetricFamily("opscord_audit_rows_appended", "Audit rows this process committed, by result.",
                                       labels=["result"])
        for result, count in sorted(s.appended.items()):
            appended.add_metric([result], count)
        yield appended
        operations = GaugeMetricFamily("opscord_operations", "Operation requests by status.", labels=["status"])
        for status, count in sorted(s.counts.operations.items()):
            operations.add_metric([status], count)
        yield operations
        yield GaugeMetricFamily("opscord_locks_held", "(service, environment) locks currently held.",
                                value=s.counts.locks)
        yield GaugeMetricFamily("opscord_waiting_requests", "Requests waiting for approval or confirmation.",
                                value=sum(s.counts.operations.get(status, 0) for status in WAITING))
        yield GaugeMetricFamily("opscord_open_incidents", "Incidents not resolved yet.", value=s.counts.open_incidents)
        if s.writer_queue is not None:
            yield GaugeMetricFamily("opscord_store_writer_queue_depth", "Changes waiting for the store's writer.",
                                    value=s.writer_queue)
        if s.dora is not None:
            yield from _dora_families(s.dora)


def _dora_families(data: DoraFigures) -> Iterator[Metric]:
    """The DORA figures of `/audit dora`'s chart, per environment (a figure nothing measured is left out)."""
    window = f" over the last {data.days} days"
    per_day = GaugeMetricFamily("opscord_dora_deploys_per_day", "Deployment frequency" + window + ".",
                                labels=["environment"])
    failure = GaugeMetricFamily("opscord_dora_change_failure_rate", "Share of deploys that failed, were rolled "
                                "back or were followed by an incident within 24 h" + window + ".",
                                labels=["environment"])
    lead = GaugeMetricFamily("opscord_dora_lead_time_seconds", "Mean time from the deployed commit to the deploy "
                             "(deploys whose provider reported the commit time)" + window + ".",
                             labels=["environment"])
    for env in data.environments:
        per_day.add_metric([env.name], env.deploys / data.days)
        if env.change_failure_rate is not None:
            failure.add_metric([env.name], env.change_failure_rate)
        if env.lead_time is not None:
            lead.add_metric([env.name], env.lead_time.total_seconds())
    yield per_day
    yield failure
    yield lead
    if data.mean_restore is not None:
        yield GaugeMetricFamily("opscord_dora_time_to_restore_seconds", "Mean time from an incident's creation to "
                                "its resolution" + window + ".", value=data.mean_restore.total_seconds())


class Metrics:
    """The registry and its series; the methods are the one-line calls the rest of Opscord makes."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        if GC_COLLECTOR is not None:
            GCCollector(registry=registry)
        Info("opscord_build", "The running Opscord: its version, Python's and discord.py's.", registry=registry).info(
            {"version": __version__, "python": platform.python_version(), "discord_py": _dist_version("discord.py")})
        self.first_response = Histogram(
            "opscord_first_response_seconds", "From an interaction's creation to Discord accepting its first answer.",
            ["outcome"], buckets=FAST, registry=registry)
        self.operation_duration = Histogram(
            "opscord_operation_duration_seconds", "How long operations ran, from start to outcome.",
            ["action", "outcome"], buckets=SLOW, registry=registry)
        self.approval_wait = Histogram(
            "opscord_approval_wait_seconds", "How long requests waited for approval or confirmation, by how it ended.",
            ["outcome"], buckets=WAITS, registry=registry)
        self.upstream = Histogram(
            "opscord_upstream_request_seconds", "Calls to upstream systems (Discord, GitHub, Prometheus, …).",
            ["system", "outcome"], buckets=FAST, registry=registry)
        self.commands = Counter("opscord_commands", "Slash commands by family and result.", ["family", "result"],
                                registry=registry)
        self.approvals = Counter("opscord_approvals", "Decisions on waiting requests (approve, reject, confirm, "
                                 "cancel, expired).", ["decision"], registry=registry)
        self.alerts_received = Counter("opscord_alerts_received", "Alertmanager notifications received, by status.",
                                       ["status"], registry=registry)
        self.alerts_deduplicated = Counter("opscord_alerts_deduplicated",
                                           "Alertmanager notifications that repeated what was already open.",
                                           registry=registry)
        self._state = _StateCollector()
        registry.register(self._state)

    # --- the one-line calls --------------------------------------------------------------------
    def command(self, family: str, result: str) -> None:
        """A slash command ended with `result` (ok, denied, invalid, failed, error, …)."""
        self.commands.labels(family=family or "unknown", result=result).inc()

    def decided(self, kind: str, op: Operation | None) -> None:
        """A click on a waiting request was applied; once it stops waiting, how long it waited."""
        self.approvals.labels(decision=kind).inc()
        if op is not None and op.status not in WAITING:
            waited = max(0.0, time.time() - parse_iso(op.created_at).timestamp())
            self.approval_wait.labels(outcome=op.status).observe(waited)

    def expired(self, count: int) -> None:
        """Waiting requests expired."""
        if count:
            self.approvals.labels(decision="expired").inc(count)

    def operation_finished(self, op: Operation | None) -> None:
        """A run ended (the operation as stored after it)."""
        if op is None or not op.started_at or not op.finished_at:
            return
        seconds = (parse_iso(op.finished_at) - parse_iso(op.started_at)).total_seconds()
        self.operation_duration.labels(action=op.action, outcome=op.status).observe(max(0.0, seconds))

    def upstream_call(self, system: str, outcome: str, seconds: float) -> None:
        """One call to an upstream (all its attempts) ended with `outcome`."""
        self.upstream.labels(system=system, outcome=outcome).observe(seconds)

    def alert(self, status: str, *, duplicate: bool = False) -> None:
        """An Alertmanager notification arrived (and whether it only repeated what is open)."""
        self.alerts_received.labels(status=status).inc()
        if duplicate:
            self.alerts_deduplicated.inc()

    # --- Discord's HTTP calls -----------------------------------------------------------------
    def discord_call(self, url: str, outcome: str, seconds: float) -> None:
        """One call to Discord ended (`bot.client.timing` reports them): its latency, and for an
        interaction's callback (its first answer; Discord allows one) the time since the interaction."""
        self.upstream_call("discord", outcome, seconds)
        callback = _CALLBACK.search(url)
        if callback is not None:
            created = snowflake_time(int(callback.group(1)))
            self.first_response.labels(outcome=outcome).observe(max(0.0, time.time() - created))

    # --- scraping ------------------------------------------------------------------------------
    async def refresh(self, store: Store, *, discord_connected: bool, ready: bool,
                      dora: DoraFigures | None = None) -> None:
        """Read the gauges from the store (call before `render`); `dora`: the DORA figures to show."""
        writer_queue = store.pending_writes() if isinstance(store, _QueuedWrites) else None
        self._state.snapshot = _Snapshot(await store.counts(), dict(store.appended), discord_connected, ready,
                                         writer_queue, dora)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything."""
        return generate_latest(self.registry)
