"""DORA you can see: the figures of `bot.dora` drawn as one PNG with matplotlib's Agg backend (no display).

Four panels over the chosen window: deploys per day (stacked by environment), change failure rate
per environment, time to restore per resolved incident (and its mean), lead time for changes per
environment (or "unknown" where no provider reported commit times). Drawing takes a few hundred
milliseconds, so callers run `render` in a thread (`render_async`), never on the event loop. It uses
a `Figure` of its own rather than pyplot's global state, so renders in threads do not share one.
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from bot.dora import DoraFigures

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 7.0, 100
"""1000 by 700 pixels."""
COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")


def render(data: DoraFigures) -> bytes:
    """The chart as PNG bytes (blocking: call it in a thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.suptitle(f"DORA metrics, last {data.days} days (to {data.now:%Y-%m-%d %H:%M} UTC)", fontsize=13)
    deploys, failures, restore, lead = figure.subplots(2, 2).flat
    names = [e.name for e in data.environments]
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}

    days = [data.first_day + timedelta(days=i) for i in range(data.days)]
    bottom = [0] * data.days
    for env in data.environments:
        deploys.bar(days, env.daily, bottom=bottom, color=colours[env.name], label=env.name, width=0.8)
        bottom = [b + d for b, d in zip(bottom, env.daily, strict=True)]
    deploys.yaxis.set_major_locator(MaxNLocator(integer=True))
    deploys.xaxis.set_major_formatter(DateFormatter("%m-%d"))  # type: ignore[no-untyped-call]
    deploys.set_title("Deploys per day")
    deploys.set_ylabel("deploys")
    deploys.legend(fontsize=8, loc="upper left")
    deploys.tick_params(axis="x", labelrotation=30, labelsize=7)

    rates = [100 * (e.change_failure_rate or 0.0) for e in data.environments]
    failures.bar(names, rates, color=[colours[n] for n in names])
    for i, env in enumerate(data.environments):
        label = "n/a" if env.change_failure_rate is None else f"{rates[i]:.0f}% of {env.deploys}"
        failures.annotate(label, (i, rates[i]), ha="center", va="bottom", fontsize=8)
    failures.set_ylim(0, 110)
    failures.set_title("Change failure rate")
    failures.set_ylabel("% of deploys")

    if data.restores:
        restore.bar([at.date() for at, _ in data.restores], [r.total_seconds() / 60 for _, r in data.restores],
                    color=COLOURS[3], width=0.6)
        restore.set_xlim(data.first_day - timedelta(days=1), data.now.date() + timedelta(days=1))
        restore.xaxis.set_major_formatter(DateFormatter("%m-%d"))  # type: ignore[no-untyped-call]
        assert data.mean_restore is not None
        restore.axhline(data.mean_restore.total_seconds() / 60, color="black", linestyle="--", linewidth=1,
                        label=f"mean {data.mean_restore.total_seconds() / 60:.0f} min")
        restore.legend(fontsize=8)
        restore.tick_params(axis="x", labelrotation=30, labelsize=7)
    else:
        restore.text(0.5, 0.5, "no incident resolved in the window", ha="center", va="center",
                     transform=restore.transAxes)
    restore.set_title("Time to restore (per resolved incident)")
    restore.set_ylabel("minutes")

    hours = [(e.lead_time.total_seconds() / 3600 if e.lead_time is not None else 0.0) for e in data.environments]
    lead.bar(names, hours, color=[colours[n] for n in names])
    for i, env in enumerate(data.environments):
        label = "unknown" if env.lead_time is None else f"{hours[i]:.1f} h ({len(env.lead_times)})"
        lead.annotate(label, (i, hours[i]), ha="center", va="bottom", fontsize=8)
    lead.set_title("Lead time for changes (commit to deployed)")
    lead.set_ylabel("hours")
    lead.set_ylim(0, max([*hours, 1.0]) * 1.25)

    figure.tight_layout(rect=(0, 0, 1, 0.95))
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


async def render_async(data: DoraFigures) -> bytes:
    """`render` in a worker thread, off the event loop."""
    return await asyncio.to_thread(render, data)
