"""The garbage collector, tuned for a long-running bot that meets bursts.

CPython's cyclic collector runs a young-generation pass every 700 net allocations and, every so
often, a full pass over every tracked object. A burst of commands allocates a great deal
(interactions, tasks, futures, rows) and keeps thousands alive at once, so with the defaults
the collector runs hundreds of times a second and each full pass walks the whole heap — the
modules, the config, discord.py's caches — that nothing will ever free. Measured in the bench's
bursts, that was 15 to 20 % of the CPU per command.

So: young passes every `YOUNG_ALLOCATIONS` allocations (garbage cycles still go, a little later),
and once the bot is connected, everything alive then — what the start built — is moved out of the
collector's sight (`gc.freeze`): it stays, and later passes no longer walk it. Only the bot's own
process (`bot.app.run`) does this; a test that runs bots in its process keeps the defaults.
"""

from __future__ import annotations

import gc

YOUNG_ALLOCATIONS = 50_000
"""Net allocations between young-generation passes (CPython's default: 700)."""
OLDER_PASSES = (20, 100)
"""Young passes per middle pass, middle passes per full pass (CPython's: 10, 10)."""


def tune() -> None:
    """Collect less often (call once, at start)."""
    gc.set_threshold(YOUNG_ALLOCATIONS, *OLDER_PASSES)


def freeze_what_start_built() -> None:
    """Everything alive now lives as long as the process: keep later passes from walking it.

    No collection first: it would delay the first answer by tens of milliseconds, and what garbage the
    start left is a few objects kept for good.
    """
    gc.freeze()
