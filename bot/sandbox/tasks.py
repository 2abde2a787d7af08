"""Waiting for the bot's in-flight work by task name (tests, the sandbox and benchmarks use it)."""

from __future__ import annotations

import asyncio

from bot.pipeline.runner import OPERATION_TASK_PREFIX

HANDLER_TASK_PREFIXES = ("CommandTree-invoker", "discord-ui-view-dispatch", "discord-ui-dynamic-item",
                         "discord-ui-modal-dispatch", "discord.py: on_")
"""Names discord.py gives the tasks of command handlers, button callbacks and event handlers."""


def busy_tasks(*, operations: bool = True) -> list[asyncio.Task[object]]:
    """In-flight handler tasks (and, with `operations`, running operations) of this process."""
    prefixes = (*HANDLER_TASK_PREFIXES, OPERATION_TASK_PREFIX) if operations else HANDLER_TASK_PREFIXES
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()
            and t.get_name().startswith(prefixes) and "on_ready" not in t.get_name()]
