"""Test helpers: a fake clock, an OperationRequest builder and a kubeconfig writer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from integrations.base import OperationRequest


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_request(action: Any = "deploy", **overrides: Any) -> OperationRequest:
    values: dict[str, Any] = dict(
        request_id="req-1234", action=action, service="orders", environment="staging", version="v2.4.1",
        replicas=None, previous_version=None, requester="@alice",
    )
    values.update(overrides)
    return OperationRequest(**values)


def write_kubeconfig(path: Path, *, server: str, cluster: dict[str, Any] | None = None,
                     user: dict[str, Any] | None = None, name: str = "test") -> Path:
    """A one-context kubeconfig as kubectl writes it (context, cluster and user all called ``name``)."""
    document = {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, **(cluster or {})}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": dict(user or {})}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=True))
    return path
