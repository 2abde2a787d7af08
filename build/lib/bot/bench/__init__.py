"""``python -m bot bench``: Opscord measured against its baselines, in one run (a dev tool).

Opscord runs as a black-box process (``python -m bot``) on the local Discord emulator beside a bare
discord.py bot; the store and the command provider are measured through :mod:`bot.bench.product`,
the one module that touches Opscord's internals. Nothing in the runtime imports this package.

Modules: :mod:`~bot.bench.plan` (sizes), :mod:`~bot.bench.world` (emulated guild),
:mod:`~bot.bench.processes` (the bots as processes), :mod:`~bot.bench.bare` (the baseline bot),
:mod:`~bot.bench.config` (Opscord's bench config), :mod:`~bot.bench.workloads` (commands, bursts),
:mod:`~bot.bench.discord_bench` (the Discord phases), :mod:`~bot.bench.store` and
:mod:`~bot.bench.spawn` (run in processes of their own), :mod:`~bot.bench.report` (table and JSON),
:mod:`~bot.bench.runner` (all of it), :mod:`~bot.bench.stats`.
"""

from __future__ import annotations

from pathlib import Path


def run(*, quick: bool = False, smoke: bool = False, rounds: int | None = None, json_path: Path | None = None) -> int:
    """Run the bench (full, ``quick`` or ``smoke``); prints the table; returns the exit code."""
    import asyncio
    import sys

    from bot.bench.plan import FULL, QUICK, SMOKE
    from bot.bench.runner import BenchFailed, run_bench

    if rounds is not None and rounds < 1:
        print("opscord bench: --rounds must be at least 1", file=sys.stderr)
        return 2
    plan = (SMOKE if smoke else QUICK if quick else FULL).with_rounds(rounds)
    try:
        asyncio.run(run_bench(plan, json_path))
    except BenchFailed as exc:
        print(f"opscord bench: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["run"]
