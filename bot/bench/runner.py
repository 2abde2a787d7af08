"""Runs a whole bench: the Discord phases here, the store and spawn phases in processes of their own."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.bench.big_log import run_big_log
from bot.bench.discord_bench import START_SERVICES, DiscordBench, DiscordResults
from bot.bench.plan import Plan
from bot.bench.processes import child_env
from bot.bench.report import (
    Report,
    big_log_section,
    discord_section,
    floor_section,
    notes_section,
    replicas_section,
    required_keys,
    spawn_section,
    start_section,
    store_section,
    targets_section,
)

Say = Callable[[str], None]


class BenchFailed(Exception):
    """A phase could not run (a bot did not start, a child process failed); the message says which."""
CHILD_TIMEOUT_S = 900.0


_STARTED = time.monotonic()


def say_progress(line: str) -> None:
    """Progress goes to stderr with the seconds since start, so stdout holds only the table."""
    print(f"[{time.monotonic() - _STARTED:5.0f} s] {line}", file=sys.stderr, flush=True)


async def child(module: str, *args: str, cwd: Path) -> dict[str, Any]:
    """Run ``python -m module args…`` and parse the JSON object it prints last."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=cwd, env=child_env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), CHILD_TIMEOUT_S)
    if process.returncode != 0:
        raise RuntimeError(f"{module} failed ({process.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def spawn_rounds(plan: Plan, res: DiscordResults, cwd: Path) -> dict[str, list[dict[str, Any]]]:
    """Bare and Opscord spawn probes, order alternating, each grown to the RSS its bot had."""
    targets = {side: res.rss_after.get(side, (0, 0))[1] for side in ("bare", "opscord")}
    out: dict[str, list[dict[str, Any]]] = {"bare": [], "opscord": []}
    for round_no in range(plan.spawn_rounds):
        for side in ("bare", "opscord") if round_no % 2 == 0 else ("opscord", "bare"):
            out[side].append(await child("bot.bench.spawn", side, str(plan.spawns), str(targets[side]), cwd=cwd))
    return out


def header(plan: Plan) -> list[str]:
    """What was run, on what, and how to read it."""
    load = os.getloadavg()[0]
    return [
        f"Opscord bench ({plan.name}): A/B rounds: {plan.rounds}, which side goes first alternating; "
        "median (min\N{EN DASH}max) over rounds.",
        f"Machine: {os.cpu_count()} cores, load average {load:.2f} at the start. Numbers from a loaded machine are "
        "noisy: compare ratios from the same run, not absolute figures across runs.",
        "Each bot is its own process on its own emulator (same code and guild; the emulator runs in the bench's "
        "process: it stamps both ends of a first response itself, so no IPC sits inside a measurement).",
        f"Opscord: `python -m bot`, a fresh SQLite DB, {plan.services:,} services (for start-up: "
        f"{START_SERVICES}) deploying through the command provider running `true` (no health check). "
        "Baseline: a bare discord.py bot with the same commands that answers each with a plain message.",
    ]


async def run_bench(plan: Plan, json_path: Path | None, say: Say = say_progress) -> Report:
    """Measure everything in ``plan``; print the table; write the JSON if asked."""
    started = time.monotonic()
    report = Report()
    report.lines += header(plan)
    workdir = Path(tempfile.mkdtemp(prefix="opscord-bench-"))
    try:
        say(f"bench ({plan.name}): Discord phases — processes, start-up, warm-up, {plan.rounds} latency rounds")
        res = await DiscordBench(plan, workdir / "discord", say).run()
        say(f"bench: filtered /audit recent through Discord at {plan.store_rows:,} audit rows")
        big = await run_big_log(plan.store_rows, workdir / "big-log")
        say(f"bench: store phase ({plan.store_rows:,} audit rows) in a process of its own")
        store = await child("bot.bench.store", plan.name, str(workdir / "store"), cwd=workdir)
        store |= {"append_rows": plan.append_rows, "append_writers": plan.append_writers}
        say("bench: PostgreSQL phase (appends, /audit recent, failover of two replicas) in a process of its own")
        replicas = await child("bot.bench.replicas", plan.name, str(workdir / "replicas"), cwd=workdir)
        say("bench: provider spawn probes")
        spawns = await spawn_rounds(plan, res, workdir)
    except Exception as exc:
        raise BenchFailed(f"{exc}\n(the logs and databases are kept in {workdir})") from exc
    await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    discord_section(report, plan, res)
    floor_section(report, plan, res)
    start_section(report, plan, res)
    store_section(report, store)
    replicas_section(report, store, replicas)
    big_log_section(report, big)
    spawn_section(report, spawns)
    notes_section(report, res)
    targets_section(report)
    elapsed = time.monotonic() - started
    report.lines += ["", f"Finished in {elapsed:.0f} s."]
    for key in required_keys():
        report.data.setdefault(key, None)
    report.data["meta"] = {"plan": plan.name, "rounds": plan.rounds, "cores": os.cpu_count(),
                           "load_average": os.getloadavg()[0], "elapsed_s": round(elapsed, 1)}
    print("\n".join(report.lines))
    if json_path is not None:
        await asyncio.to_thread(json_path.write_text, json.dumps(report.data, indent=2, sort_keys=True) + "\n")
        print(f"JSON written to {json_path}")
    return report
