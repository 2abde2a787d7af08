"""Turns the measurements into figures: the printed table and the JSON document.

Every figure is shown beside its baseline from the same run, as the median over rounds with the
lowest and highest round; ratios are Opscord / baseline, computed per round (A and B measured
back to back) and then summarized the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.bench.discord_bench import ALL_SIDES, START_SERVICES, DiscordResults
from bot.bench.plan import MILLION, Plan
from bot.bench.processes import SIDES, Side
from bot.bench.stats import Spread, paired
from bot.bench.stats import ratio as ratio_of
from bot.bench.workloads import DEADLINE_S, WORKLOADS, BurstResult

MIB = 1024 * 1024
FIGURES: dict[str, Callable[[BurstResult], float]] = {
    "p50": lambda r: r.p50, "p99": lambda r: r.p99, "max": lambda r: r.max, "tput": lambda r: r.throughput,
}
WORKLOAD_LABELS = {"read": "read: /audit recent + /status", "write": "write: /deploy <svc> <ver> staging"}


@dataclass
class Report:
    """The lines of the table and the JSON document, built together so they cannot disagree."""

    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def row(self, label: str, baseline: Spread | str, ours: Spread | str, ratio: Spread | str = "",
            digits: int = 2) -> None:
        """One figure beside its baseline (ratios always with two decimals)."""
        def cell(value: Spread | str, places: int) -> str:
            return value if isinstance(value, str) else value.show(places)
        self.lines.append(f"  {label:<34}{cell(baseline, digits):>24}{cell(ours, digits):>24}{cell(ratio, 2):>24}")

    def heading(self, text: str, baseline: str = "baseline", ours: str = "Opscord",
                ratio: str = "Opscord/baseline") -> None:
        """A section title with its column names."""
        self.lines += ["", text, f"  {'':<34}{baseline:>24}{ours:>24}{ratio:>24}"]

    def key(self, name: str, value: float | int | None) -> None:
        """A headline JSON key (NaN and infinity become null)."""
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            value = None
        self.data[name] = round(value, 4) if isinstance(value, float) else value


def _values(results: Sequence[BurstResult], figure: str) -> list[float]:
    return [FIGURES[figure](r) for r in results]


def discord_section(report: Report, plan: Plan, res: DiscordResults) -> None:
    """Latency, throughput and misses per workload and burst size."""
    details: dict[str, Any] = {}
    report.heading("First response, ms (p50 / p99 / max) and commands/s — baseline: the bare discord.py bot",
                   "bare bot", "Opscord")
    for workload in WORKLOADS:
        report.lines.append(f" {WORKLOAD_LABELS[workload]}")
        for size in plan.bursts:
            bare, ours = res.bursts.get((workload, size, "bare"), []), res.bursts.get((workload, size, "opscord"), [])
            label = f"sequence of {plan.sequential}" if size == 1 else f"burst of {size:,}"
            for figure in FIGURES:
                a, b = _values(bare, figure), _values(ours, figure)
                ratio = paired(b, a)
                unit = "cmd/s" if figure == "tput" else f"{figure} ms"
                report.row(f"{label}: {unit}", Spread.of(a), Spread.of(b), ratio, 0 if figure == "tput" else 2)
                report.key(f"{workload}_{figure}_ratio_b{size}", ratio.median)
                details[f"{workload}_b{size}_{figure}"] = {"bare": Spread.of(a).as_json(),
                                                           "opscord": Spread.of(b).as_json(), "ratio": ratio.as_json()}
            misses = {side: sum(r.misses for r in runs) for side, runs in (("bare", bare), ("opscord", ours))}
            sent = sum(r.size for r in ours)
            report.row(f"{label}: misses (of {sent:,})", f"{misses['bare']:,}", f"{misses['opscord']:,}")
            details[f"{workload}_b{size}_misses"] = misses
    for size in plan.bursts:
        report.key(f"misses_b{size}", _misses(res, size, "opscord"))
        report.key(f"misses_b{size}_bare", _misses(res, size, "bare"))
    report.lines.append(f"  (a miss: no first response accepted within Discord's {DEADLINE_S:g} s; misses are summed "
                        "over rounds)")
    report.data["discord"] = details


def floor_section(report: Report, plan: Plan, res: DiscordResults) -> None:
    """The bare bot that answers only after one durable audit row (Opscord's store), against the bare bot."""
    sizes = [size for size in plan.floor_bursts if any((w, size, "floor") in res.bursts for w in WORKLOADS)]
    if not sizes:
        return
    report.heading("The floor of Opscord's promise, first response (the bare bot + one durable audit row in "
                   "Opscord's store before each answer)", "bare bot", "floor", "floor/bare")
    details: dict[str, Any] = {}
    misses: dict[int, int] = {}
    for workload in WORKLOADS:
        report.lines.append(f" {WORKLOAD_LABELS[workload]} (the floor answers every shape alike)")
        for size in sizes:
            bare, floor = res.bursts.get((workload, size, "bare"), []), res.bursts.get((workload, size, "floor"), [])
            pairs = list(zip(floor, bare[-len(floor):], strict=True)) if floor else []
            for figure in ("p99", "tput"):
                a = [FIGURES[figure](b) for _, b in pairs]
                b = [FIGURES[figure](f) for f, _ in pairs]
                ratio = paired(b, a)
                unit, places = ("cmd/s", 0) if figure == "tput" else (f"{figure} ms", 2)
                report.row(f"burst of {size:,}: {unit}", Spread.of(a), Spread.of(b), ratio, places)
                report.key(f"floor_{workload}_{figure}_ratio_b{size}", ratio.median)
                details[f"{workload}_b{size}_{figure}"] = ratio.as_json()
            report.row(f"burst of {size:,}: misses", f"{sum(r.misses for _, r in pairs):,}",
                       f"{sum(r.misses for r, _ in pairs):,}")
            misses[size] = misses.get(size, 0) + sum(r.misses for r, _ in pairs)
    for size, count in misses.items():
        report.key(f"floor_misses_b{size}", count)
    report.lines.append("  (what no bot that keeps Opscord's promise can beat on this machine: Opscord's own ratios "
                        "above are measured in the same rounds)")
    report.data["floor"] = details


def _misses(res: DiscordResults, size: int, side: Side) -> int:
    """Misses at one burst size, both workloads, every round."""
    return sum(r.misses for workload in WORKLOADS for r in res.bursts.get((workload, size, side), []))


def start_section(report: Report, plan: Plan, res: DiscordResults) -> None:
    """Start-up times and memory."""
    report.heading(f"Start, s from spawn (a fresh process and DB each time; starts per side: {plan.start_rounds})",
                   "bare bot", "Opscord")
    starts = res.starts
    for name, attribute in (("commands synced", "synced_s"), ("gateway ready", "connected_s"),
                            ("first answer", "first_answer_s")):
        a = [float(getattr(s, attribute)) for s in starts["bare"]]
        b = [float(getattr(s, attribute)) for s in starts["opscord"]]
        ratio = paired(b, a)
        report.row(name, Spread.of(a), Spread.of(b), ratio, 3)
        if name == "first answer":
            report.key("ready_ratio", ratio.median)
            report.key("ready_s", Spread.of(b).median)
            report.key("ready_s_bare", Spread.of(a).median)
    report.heading("Memory, MiB (RSS)", "bare bot", "Opscord")
    a = [s.rss / MIB for s in starts["bare"]]
    b = [s.rss / MIB for s in starts["opscord"]]
    rss_ratio = paired(b, a)
    report.row(f"after start ({START_SERVICES} services)", Spread.of(a), Spread.of(b), rss_ratio, 1)
    report.key("rss_ratio", rss_ratio.median)
    report.key("rss_after_start_mib", Spread.of(b).median)
    start = {side: res.rss_start.get(side, 0) / MIB for side in SIDES}
    after = {side: res.rss_after.get(side, (0, 0))[1] / MIB for side in SIDES}
    growth = {side: (after[side] - start[side]) / start[side] * 100 if start[side] else math.nan for side in SIDES}
    sent = res.rss_after.get("opscord", (0, 0))[0]

    def one(values: dict[Side, float]) -> tuple[Spread, Spread, Spread]:
        return (Spread.of([values["bare"]]), Spread.of([values["opscord"]]),
                Spread.of([ratio_of(values["opscord"], values["bare"])]))

    report.row(f"after start ({plan.services:,} services)", *one(start), 1)
    report.row(f"  then after {sent:,} commands", *one(after), 1)
    report.row("  growth, %", *one(growth)[:2], digits=1)
    report.key("rss_growth_pct", growth["opscord"])
    report.key("rss_growth_pct_bare", growth["bare"])
    report.key("rss_after_commands_mib", after["opscord"])


def store_section(report: Report, store: dict[str, Any]) -> None:
    """Audit appends, verify, /audit recent and bytes per row."""
    append = store["append"]
    report.heading("Audit appends, rows/s (WAL, synchronous=FULL, a fresh file per round)",
                   "sqlite3, 1 transaction", "Opscord, concurrent")
    ratio = paired(append["product_rows_s"], append["raw_rows_s"])
    report.row(f"{store['append_rows']:,} rows, {store['append_writers']} writers", Spread.of(append["raw_rows_s"]),
               Spread.of(append["product_rows_s"]), ratio, 0)
    report.key("audit_ratio_vs_raw", ratio.median)
    report.key("audit_rows_s", Spread.of(append["product_rows_s"]).median)
    rows = int(store["rows"])
    scale = MILLION / rows
    note = "" if rows == MILLION else f" (verify_1m_s scales this by {scale:g}: verify reads every row)"
    report.heading(f"Audit verify, s at {rows:,} rows{note}", "read + SHA-256 floor", "Opscord verify")
    ratio = paired(store["verify_s"], store["verify_floor_s"])
    report.row("whole chain", Spread.of(store["verify_floor_s"]), Spread.of(store["verify_s"]), ratio)
    if rows != MILLION:
        report.row("per 1,000,000 rows", Spread.of([v * scale for v in store["verify_floor_s"]]),
                   Spread.of([v * scale for v in store["verify_s"]]))
    report.key("verify_1m_s", Spread.of(store["verify_s"]).median * scale)
    report.key("verify_ratio_vs_floor", ratio.median)
    report.heading(f"/audit recent (limit 10), ms at {rows:,} rows", "unfiltered", "filtered",
                   "filtered/unfiltered")
    recent = store["recent_ms"]
    worst = 0.0
    for name in ("user_common", "user_rare", "service_common", "service_rare"):
        ratio = paired(recent[name], recent["latest"])
        spread = Spread.of(recent[name])
        worst = max(worst, spread.median)
        field_name, kind = name.split("_")
        report.row(f"by {field_name}, a {kind} one", Spread.of(recent["latest"]), spread, ratio)
    report.lines.append("  (the rare user and service have one row, the oldest: found only by walking the table "
                        "unless an index answers)")
    report.key("audit_recent_1m_ms", worst)
    report.key("store_rows", rows)
    report.heading("Bytes per audit row", "values stored", "database file", "file/values")
    report.row(f"{rows:,} rows", Spread.of([store["payload_bytes_per_row"]]), Spread.of([store["bytes_per_row"]]),
               Spread.of([store["bytes_per_row"] / store["payload_bytes_per_row"]]), 0)
    report.key("bytes_per_row", store["bytes_per_row"])
    report.data["store"] = store


def replicas_section(report: Report, store: dict[str, Any], pg: dict[str, Any]) -> None:
    """PostgreSQL beside SQLite (appends, /audit recent) and the failover time of two replicas."""
    keys = ("pg_audit_rows_s", "pg_audit_ratio_vs_sqlite", "pg_audit_ratio_vs_raw", "pg_audit_recent_ms",
            "failover_kill9_s", "failover_sigstop_s")
    report.heading("PostgreSQL (two replicas, one database): audit appends, rows/s (fsync on)", "SQLite (Opscord)",
                   "PostgreSQL (Opscord)", "PostgreSQL/SQLite")
    if "skipped" in pg:
        report.lines.append(f"  skipped: {pg['skipped']}")
        for key in keys:
            report.key(key, None)
        report.data["replicas"] = pg
        return
    sqlite_rates, pg_rates = store["append"]["product_rows_s"], pg["append"]["product_rows_s"]
    n = min(len(sqlite_rates), len(pg_rates))
    ratio = paired(pg_rates[:n], sqlite_rates[:n])
    report.row(f"{store['append_rows']:,} rows, {store['append_writers']} writers", Spread.of(sqlite_rates),
               Spread.of(pg_rates), ratio, 0)
    raw = paired(pg_rates, pg["append"]["raw_rows_s"])
    report.row("  beside asyncpg, 1 transaction", Spread.of(pg["append"]["raw_rows_s"]), Spread.of(pg_rates), raw, 0)
    report.key("pg_audit_rows_s", Spread.of(pg_rates).median)
    report.key("pg_audit_ratio_vs_sqlite", ratio.median)
    report.key("pg_audit_ratio_vs_raw", raw.median)
    rows = int(pg["rows"])
    report.heading(f"PostgreSQL: /audit recent (limit 10), ms at {rows:,} rows (copied with store migrate in "
                   f"{pg['copy_s']:.1f} s)", "SQLite", "PostgreSQL", "PostgreSQL/SQLite")
    worst = 0.0
    for name in ("latest", "user_common", "user_rare", "service_common", "service_rare"):
        ours, theirs = pg["recent_ms"][name], store["recent_ms"][name]
        worst = max(worst, Spread.of(ours).median)
        report.row(name.replace("_", ": ") if name != "latest" else "unfiltered", Spread.of(theirs), Spread.of(ours),
                   paired(ours[:len(theirs)], theirs[:len(ours)]))
    report.key("pg_audit_recent_ms", worst)
    fail = pg["failover"]
    report.heading(f"Failover, s until the standby is connected (lease {pg['lease_s']:g} s; median of rounds)",
                   "rounds", "seconds", "")
    for key, label in (("kill9_s", "leader killed (kill -9)"), ("sigstop_s", "leader stopped (SIGSTOP)")):
        report.row(label, str(len(fail[key])), Spread.of(fail[key]))
        report.key(f"failover_{key}", Spread.of(fail[key]).median)
    report.data["replicas"] = pg


def big_log_section(report: Report, big: dict[str, Any]) -> None:
    """Filtered /audit recent through Discord on a big audit log, alone and beside deploys."""
    rows = int(big["rows"])
    report.lines += ["", f"Filtered /audit recent through Discord, first response in ms at {rows:,} audit rows "
                         f"(p50 / p99 / max; Discord allows {DEADLINE_S * 1000:,.0f} ms)"]
    for label, name in (("by user, 40 one at a time", "by_user_ms"), ("by service, 40 one at a time", "by_service_ms"),
                        ("100 such queries beside 100 /deploy: the queries", "mixed_reads_ms"),
                        ("100 such queries beside 100 /deploy: the deploys", "mixed_writes_ms")):
        figures = big[name]
        report.lines.append(f"  {label:<52}{figures['p50']:>10.2f}{figures['p99']:>10.2f}{figures['max']:>10.2f}")
    report.lines.append(f"  deadline misses in that burst of 200{big['mixed_misses']:>46}")
    report.key("audit_recent_discord_ms", max(big["by_user_ms"]["p99"], big["by_service_ms"]["p99"]))
    report.key("corridor_misses_b200", big["mixed_misses"])
    report.data["big_log"] = big


def spawn_section(report: Report, spawns: dict[str, list[dict[str, Any]]]) -> None:
    """Event-loop stall per provider spawn."""
    bare, ours = spawns.get("bare", []), spawns.get("opscord", [])
    size = f"{ours[0]['rss'] / MIB:.0f} vs {bare[0]['rss'] / MIB:.0f} MiB" if ours and bare else ""
    report.heading(f"Event loop blocked per provider spawn, ms ({ours[0]['count'] if ours else 0} spawns a round; "
                   f"process {size})", "create_subprocess_exec", "command provider")
    for figure in ("p50_ms", "p99_ms", "max_ms", "cpu_p99_ms", "cpu_max_ms"):
        if not all(figure in s for s in (*bare, *ours)):
            continue
        a, b = [s[figure] for s in bare], [s[figure] for s in ours]
        ratio = paired(b, a)
        label = figure.replace("_ms", "").replace("cpu_", "CPU of it, ")
        report.row(label, Spread.of(a), Spread.of(b), ratio, 3)
    report.lines.append("  (wall time of the longest callback in each spawn's window; \"CPU of it\": the loop "
                        "thread's CPU in that callback, which a preempted callback on a busy machine lacks)")
    report.key("spawn_block_ms_max", Spread.of([s["max_ms"] for s in ours]).median)
    report.key("spawn_block_ms_p99", Spread.of([s["p99_ms"] for s in ours]).median)
    if ours and all("cpu_max_ms" in s for s in ours):
        report.key("spawn_block_cpu_ms_max", Spread.of([s["cpu_max_ms"] for s in ours]).median)
    report.data["spawn"] = spawns


def notes_section(report: Report, res: DiscordResults) -> None:
    """What the reader must know to trust (or distrust) the figures."""
    lines = []
    for side in ALL_SIDES:
        if res.unsettled[side]:
            lines.append(f"{side}: still busy after {res.unsettled[side]} burst(s) when the settle timeout ran out")
        if res.logged_errors[side]:
            lines.append(f"{side} logged {res.logged_errors[side]:,} ERROR/traceback lines (a missed first response "
                         f"does); the first: {res.first_errors.get(side)}")
    for text in res.shape_differences:
        lines.append(f"command shapes differ: {text}")
    per_command = {}
    for workload in WORKLOADS:
        for side in ALL_SIDES:
            runs = [r for (w, size, s), rs in res.bursts.items() if w == workload and s == side and size >= 100
                    for r in rs]
            sent = sum(r.size for r in runs)
            if sent:
                per_command[f"{workload}_{side}"] = round(sum(r.bot_cpu_s for r in runs) / sent * 1000, 3)
    if per_command:
        report.data["cpu_ms_per_command"] = per_command
        lines.append("CPU per command in the bursts (ms, the bot process, all its threads): " + ", ".join(
            f"{key.replace('_', ' ')} {value:.2f}" for key, value in per_command.items()) +
            " (one process under one GIL: the ceiling on commands/s is about 1,000 / this)")
    for side in SIDES:
        shares = _cpu_shares(res, side)
        if shares is not None:
            lines.append(f"CPU during {side}'s largest bursts: the bot {shares[0]:.0%} of a core, the emulator "
                         f"{shares[1]:.0%} (an emulator near 100% would bound the baseline and understate the gap)")
    if lines:
        report.lines += ["", "Notes", *(f"  - {line}" for line in lines)]
    report.data["notes"] = lines


def _cpu_shares(res: DiscordResults, side: Side) -> tuple[float, float] | None:
    """(bot, emulator) CPU seconds per wall second over ``side``'s bursts of the largest size."""
    largest = max((size for _, size, _ in res.bursts), default=0)
    runs = [r for (_, size, s), rs in res.bursts.items() if s == side and size == largest for r in rs]
    spans = sum(r.span_s for r in runs)
    if not spans:
        return None
    return sum(r.bot_cpu_s for r in runs) / spans, sum(r.emulator_cpu_s for r in runs) / spans


TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("read p99, burst of 100 (ratio to bare)", "read_p99_ratio_b100", "<=", 1.5),
    ("read p99, burst of 1,000", "read_p99_ratio_b1000", "<=", 1.5),
    ("write p99, burst of 100", "write_p99_ratio_b100", "<=", 2.0),
    ("write p99, burst of 1,000", "write_p99_ratio_b1000", "<=", 2.0),
    ("read commands/s, burst of 100", "read_tput_ratio_b100", ">=", 0.7),
    ("read commands/s, burst of 1,000", "read_tput_ratio_b1000", ">=", 0.7),
    ("write commands/s, burst of 100", "write_tput_ratio_b100", ">=", 0.5),
    ("write commands/s, burst of 1,000", "write_tput_ratio_b1000", ">=", 0.5),
    ("deadline misses, bursts of 3,000 (count)", "misses_b3000", "<=", 0),
    ("durable audit appends (ratio to raw sqlite3)", "audit_ratio_vs_raw", ">=", 0.5),
    ("audit verify at 1,000,000 rows (s)", "verify_1m_s", "<=", 3.0),
    ("filtered /audit recent at 1,000,000 rows (ms)", "audit_recent_1m_ms", "<=", 5.0),
    ("RSS after start (ratio to bare)", "rss_ratio", "<=", 1.5),
    ("RSS growth over 10,000 commands (%)", "rss_growth_pct", "<", 5.0),
    ("start -> first answer (ratio to bare)", "ready_ratio", "<=", 1.5),
    ("loop blocked per provider spawn, max (ms)", "spawn_block_ms_max", "<=", 0.2),
)
"""Issue 8's targets, read off the same run's figures (a report, never a pass/fail of the bench)."""


def targets_section(report: Report) -> None:
    """Each target beside this run's figure (filtered /audit recent counts only at 1,000,000 rows)."""
    report.lines += ["", "Targets (issue 8), this run", f"  {'figure':<48}{'this run':>12}{'target':>12}  met"
                     "   floor (the bare bot + the promise)"]
    met: dict[str, bool | None] = {}
    for label, key, op, bound in TARGETS:
        value = report.data.get(key)
        if value is None or (key == "audit_recent_1m_ms" and report.data.get("store_rows") != MILLION):
            shown, ok = "n/a" if value is None else f"{value:,.2f} *", None
        else:
            ok = {"<=": value <= bound, ">=": value >= bound, "<": value < bound}[op]
            shown = f"{value:,.2f}"
        met[key] = ok
        floor = report.data.get(f"floor_{key}")
        report.lines.append(f"  {label:<48}{shown:>12}{op + ' ' + format(bound, 'g'):>12}  "
                            f"{'-' if ok is None else 'yes' if ok else 'no ':<3}" +
                            (f"   {floor:,.2f}" if isinstance(floor, (int, float)) else ""))
    report.lines.append("  (* at fewer rows than the target's 1,000,000; the full run measures it there)")
    report.data["targets_met"] = met


def required_keys() -> tuple[str, ...]:
    """The JSON keys every run has (the issue's headline figures)."""
    return ("read_p99_ratio_b100", "write_p99_ratio_b100", "read_tput_ratio_b1000", "write_tput_ratio_b1000",
            "misses_b3000", "audit_ratio_vs_raw", "verify_1m_s", "audit_recent_1m_ms", "rss_ratio",
            "rss_growth_pct", "ready_ratio", "spawn_block_ms_max")
