"""Who a new message notifies, as Discord decides it: the mentions in its content, filtered by `allowed_mentions`.

Without `allowed_mentions` Discord parses every kind (users, roles, @everyone/@here). With it, a
kind is pinged when `parse` names it, or — for users and roles — when the explicit `users` /
`roles` list holds that id (Discord refuses `parse` and a list of the same kind together; that
is not checked here). Only the creation of a message notifies: edits never do.
"""

from __future__ import annotations

import re

from bot.sandbox.emulator.models import JSON

_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_EVERYONE = re.compile(r"@(everyone|here)")


def pings(content: str, allowed: JSON | None) -> JSON:
    """``{"everyone": bool, "roles": [ids], "users": [ids]}`` that ``content`` notifies under ``allowed``."""
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    users = [int(u) for u in _USER.findall(content)]
    roles = [int(r) for r in _ROLE.findall(content)]
    listed_users = {int(u) for u in (allowed or {}).get("users") or []}
    listed_roles = {int(r) for r in (allowed or {}).get("roles") or []}
    return {
        "everyone": "everyone" in parse and bool(_EVERYONE.search(content)),
        "roles": sorted({r for r in roles if "roles" in parse or r in listed_roles}),
        "users": sorted({u for u in users if "users" in parse or u in listed_users}),
    }
