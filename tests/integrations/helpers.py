"""Test helpers: a fake clock and an OperationRequest builder."""

from __future__ import annotations

import asyncio
from typing import Any

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
