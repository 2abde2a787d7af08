"""Following what an action changed: new messages and edits one member can see, until things settle.

After a command or a click the bot answers, then often edits its message as the operation runs
("Deploying…" → "✅ Deploy complete"). The watcher prints each new or changed message as it
appears and returns once the bot has no handler or operation in flight and nothing changed for a
short quiet period (or a time limit passed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.sandbox.display import Renderer, visible_to
from bot.sandbox.emulator.models import Message
from bot.sandbox.emulator.state import EmulatorState
from bot.sandbox.tasks import busy_tasks

QUIET_S = 0.3
LIMIT_S = 15.0
POLL_S = 0.05
def bot_busy() -> bool:
    """Whether a command handler, button callback or operation is still running in this process."""
    return bool(busy_tasks())


class MessageWatcher:
    """Remembers the state of every message, and prints what changed since for one member."""

    def __init__(self, state: EmulatorState, renderer: Renderer, out: Callable[[str], None]) -> None:
        self.state = state
        self.renderer = renderer
        self.out = out
        self._seen: dict[int, tuple[int, int]] = {}
        self._shown: set[int] = set()
        self.snapshot()

    @staticmethod
    def _version(message: Message) -> tuple[int, int]:
        return message.edited, message.flags

    def snapshot(self) -> None:
        """Take the current state as already seen (done before each action)."""
        self._seen = {mid: self._version(m) for mid, m in self.state.messages.items()}
        self._shown = set(self._seen)

    def emit_changes(self, user_id: int) -> bool:
        """Print every message that is new or changed and visible to ``user_id``; True if any was."""
        changed = False
        for message in sorted(self.state.messages.values(), key=lambda m: m.id):
            version = self._version(message)
            if self._seen.get(message.id) == version:
                continue
            self._seen[message.id] = version
            changed = True
            if not visible_to(message, user_id) or (message.loading and not message.has_body()):
                continue
            edited = message.id in self._shown
            self._shown.add(message.id)
            for line in self.renderer.lines(message, edited=edited):
                self.out(line)
        return changed

    async def follow(self, user_id: int, *, quiet: float = QUIET_S, limit: float = LIMIT_S) -> bool:
        """Print changes until idle for ``quiet`` seconds (False if ``limit`` passed first)."""
        start = last_change = time.monotonic()
        while True:
            now = time.monotonic()
            if self.emit_changes(user_id):
                last_change = now
            if not bot_busy() and now - last_change >= quiet:
                return True
            if now - start >= limit:
                return False
            await asyncio.sleep(POLL_S)
