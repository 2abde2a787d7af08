"""Names of the tasks that do the bot's work, so tests, the sandbox and benchmarks can wait for them."""

from __future__ import annotations

import asyncio

HANDLER_TASK_PREFIXES = ("CommandTree-invoker", "discord-ui-view-dispatch", "discord-ui-dynamic-item",
                         "discord.py: on_")
"""Names discord.py gives the tasks of command handlers, button callbacks and event handlers."""
OPERATION_TASK_PREFIX = "operation-"


def busy_tasks(*, operations: bool = True) -> list[asyncio.Task[object]]:
    """In-flight handler tasks (and, with `operations`, running operations) of this process."""
    prefixes = (*HANDLER_TASK_PREFIXES, OPERATION_TASK_PREFIX) if operations else HANDLER_TASK_PREFIXES
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()
            and t.get_name().startswith(prefixes) and "on_ready" not in t.get_name()]
