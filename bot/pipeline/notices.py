"""Who is told what, beyond the request's own message: the requester, when their waiting request is decided.

Only actions and failures notify: the approver roles are called on by the request's first message
(its card's `ping_roles`), and the requester is pinged by a reply to it when their waiting request
is approved, rejected, expires or fails. The reply is queued in the same store change as the
decision, so a crash cannot lose it; an environment with `pings = false` pings nobody.
"""

from __future__ import annotations

from bot.config import OpscordConfig
from bot.pipeline import messages
from bot.store import Decision, Operation
from bot.store.changes import Announce


def pings_on(config: OpscordConfig, environment: str) -> bool:
    """Whether requests in this environment ping anyone."""
    env = config.environment(environment)
    return env is None or env.pings


def requester_notice(config: OpscordConfig, op: Operation, decisions: list[Decision]) -> Announce | None:
    """The reply that tells the requester what became of their waiting request, if anything did."""
    text = messages.decided_notice(op, decisions)
    if text is None:
        return None
    ping = op.requester_id if pings_on(config, op.environment) else None
    return Announce(text, target=op.message_channel_id or op.channel_id, ping_user=ping, reply_to=op.message_id)
