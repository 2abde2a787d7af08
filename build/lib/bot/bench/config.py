"""The Opscord config the bench runs with: many services deploying through an instant provider.

Writes are spread over services so that no two deploys of a burst want the same
(service, environment) lock: there are as many services as the largest burst. The provider is
Opscord's `command` provider running ``true`` with no health command — the cheapest real provider,
so the write path measures Opscord (pipeline, store, audit, messages), not a deploy target.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROLES = {"operator": "ops", "viewer": "engineering", "team_lead": "team-lead", "dba": "dba",
         "incident_commander": "incident-commander"}
CHANNELS = ("deployments", "incidents", "audit")
ENVIRONMENT = "staging"


def service_names(count: int) -> list[str]:
    """``svc-0001`` … one per concurrent write of the largest burst."""
    return [f"svc-{i:04d}" for i in range(1, count + 1)]


def instant_command() -> str:
    """The absolute path of ``true`` (the provider's environment has only a minimal PATH)."""
    found = shutil.which("true")
    if found is None:
        raise RuntimeError("the bench needs the `true` program on PATH")
    return found


def write_config(path: Path, guild_id: int, services: list[str]) -> Path:
    """Write the TOML config for ``guild_id`` with ``services``; the seed's approval matrix applies."""
    true = json.dumps(instant_command())
    roles = "\n".join(f"{cap} = [{json.dumps(name)}]" for cap, name in ROLES.items())
    lines = [
        "# Written by `python -m bot bench`.",
        "[guild]",
        f"id = {guild_id}",
        'name = "Opscord Bench"',
        "",
        "[channels]",
        *(f"{name} = {json.dumps(name)}" for name in CHANNELS),
        "",
        "[roles]",
        roles,
        "",
        "[[environments]]",
        'name = "development"',
        "[[environments]]",
        f"name = {json.dumps(ENVIRONMENT)}",
        "[[environments]]",
        'name = "production"',
        "protected = true",
        "",
        "[defaults.deploy]",
        'provider = "command"',
        f"deploy = [{true}]",
        f"rollback = [{true}]",
        "timeout_seconds = 30",
        "",
    ]
    for name in services:
        lines += ["[[services]]", f"name = {json.dumps(name)}",
                  'environments = ["development", "staging", "production"]', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
