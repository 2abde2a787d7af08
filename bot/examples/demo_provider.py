#!/usr/bin/env python3
"""A small but real deploy target for the sandbox and the tests, driven by Opscord's `command` provider.

Usage: demo_provider.py ACTION SERVICE ENVIRONMENT [VALUE] [REQUEST_ID]
  ACTION is deploy (VALUE = version), rollback (VALUE = version), scale (VALUE = replicas), migrate,
  health (exit 0 healthy, 1 degraded, 2 down), replicas (prints the replica count) or pending-migration
  (prints the name of the migration `migrate` would apply next).
State lives in $OPSCORD_DEMO_STATE (default ./demo-state): one JSON file per service and environment
(with "health": "healthy" or "degraded"), plus calls.jsonl with every call's argv. Versions that fit
the usual vX.Y.Z pattern show the bad days: patch 13 (v2.4.13) fails to deploy, patch 66 (v2.4.66)
deploys but fails its health check; so do versions containing "bad" or "sick". While
$OPSCORD_DEMO_STATE/block exists, deploy waits; while $OPSCORD_DEMO_STATE/sick-SERVICE-ENVIRONMENT-VERSION
exists, that version reads unhealthy (a deploy that turns bad after its first health check).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _patch(version: str) -> str:
    return version.rsplit(".", 1)[-1] if version.count(".") >= 2 else ""


def fails_to_deploy(version: str) -> bool:
    """v2.4.13, or any version containing "bad"."""
    return "bad" in version or _patch(version) == "13"


def unhealthy(version: str) -> bool:
    """v2.4.66, or any version containing "sick": deployed, but failing its health check."""
    return "sick" in version or _patch(version) == "66"


def migration_name(service: str, number: int) -> str:
    """The demo's migrations: 0001_payment_service, 0002_payment_service, …"""
    return f"{number:04d}_{service.replace('-', '_')}"


def main(argv: list[str]) -> int:
    """Run one action; the exit code is the result."""
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    action, service, environment, *rest = argv
    state_dir = Path(os.environ.get("OPSCORD_DEMO_STATE", "demo-state"))
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "calls.jsonl").open("a", encoding="utf-8") as calls:
        calls.write(json.dumps({"argv": argv, "pid": os.getpid()}) + "\n")
    path = state_dir / f"{service}-{environment}.json"
    state = json.loads(path.read_text()) if path.exists() else {"version": None, "replicas": 2, "migrations": 0}
    value = rest[0] if rest else None
    if action in ("deploy", "rollback"):
        while (state_dir / "block").exists():
            time.sleep(0.05)
        if value and fails_to_deploy(value):
            print(f"image {service}:{value} not found in the registry")
            return 1
        state["version"] = value
        state["health"] = "degraded" if value and unhealthy(value) else "healthy"
        print(f"{service} {environment} now runs {value}")
    elif action == "scale":
        state["replicas"] = int(value or 0)
        print(f"{service} {environment} scaled to {value}")
    elif action == "migrate":
        applied = int(state.get("migrations") or 0) + 1
        state["migrations"] = applied
        print(f"{service} {environment}: migration {migration_name(service, applied)} applied")
    elif action == "pending-migration":
        print(migration_name(service, int(state.get("migrations") or 0) + 1))
        return 0
    elif action == "replicas":
        print(state["replicas"])
        return 0
    elif action == "health":
        turned = state.get("version") and (state_dir / f"sick-{service}-{environment}-{state['version']}").exists()
        if state.get("version") and (unhealthy(str(state["version"])) or turned):
            print(f"{service} {environment}: 34% of requests failing")
            return 2
        print(f"{service} {environment}: healthy")
        return 0
    else:
        print(f"unknown action {action!r}", file=sys.stderr)
        return 64
    path.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
