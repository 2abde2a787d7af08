"""A fake Prometheus for end-to-end tests and the sandbox: ``/api/v1/query`` answers configured
values for queries containing a configured substring (first match wins), an empty vector otherwise.

Usage::

    prom.set_value("up{", 1.0)                         # availability 100 %
    prom.set_value("code=~", 0.02)                     # error rate 2 %
    prom.set_value("histogram_quantile", float("nan")) # no latency data
    prom.set_error("bad(", "bad_data", "parse error")  # 400 {"errorType": "bad_data", …}
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FakeServer

__all__ = ["FakePrometheus", "format_value"]

_ERROR_STATUS = {"bad_data": 400, "execution": 422, "timeout": 503, "canceled": 503, "internal": 500}


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it ("NaN", "+Inf", "-Inf" or a number)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)).removesuffix(".0") if value == int(value) else repr(value)


@dataclass
class _Answer:
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)
    error: tuple[str, str] | None = None


class FakePrometheus(FakeServer):
    """Instant queries with canned answers.

    Attributes:
        queries: Every query expression received, in order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []
        self._answers: dict[str, _Answer] = {}

    def set_value(self, substring: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Answer queries containing ``substring`` with one sample (more calls add series)."""
        answer = self._answers.setdefault(substring, _Answer())
        answer.error = None
        answer.samples.append((dict(labels or {}), value))

    def set_error(self, substring: str, error_type: str, message: str) -> None:
        """Answer queries containing ``substring`` with an error envelope (bad_data → 400 …)."""
        self._answers[substring] = _Answer(error=(error_type, message))

    def clear(self) -> None:
        """Forget every canned answer."""
        self._answers.clear()

    def error_body(self, status: int, message: str) -> Any:
        """Prometheus' error envelope."""
        kind = next((k for k, s in _ERROR_STATUS.items() if s == status), "internal")
        return {"status": "error", "errorType": kind, "error": message}

    def setup_routes(self, app: web.Application) -> None:
        """The instant query endpoint (GET and form POST) and readiness."""
        app.router.add_get("/api/v1/query", self._query)
        app.router.add_post("/api/v1/query", self._query)
        app.router.add_get("/-/ready", self._ready)

    async def _ready(self, request: web.Request) -> web.Response:
        return web.Response(text="Prometheus Server is Ready.\n")

    async def _query(self, request: web.Request) -> web.Response:
        form = await request.post() if request.method == "POST" else request.query
        expression = str(form.get("query", ""))
        if not expression:
            return self.error(400, 'invalid parameter "query": unknown position: parse error: no expression found '
                                   "in input")
        self.queries.append(expression)
        at = float(str(form.get("time", time.time())))
        answer = next((a for s, a in self._answers.items() if s in expression), _Answer())
        if answer.error is not None:
            kind, message = answer.error
            return self.json_response(_ERROR_STATUS.get(kind, 500),
                                      {"status": "error", "errorType": kind, "error": message})
        result = [{"metric": labels, "value": [at, format_value(value)]} for labels, value in answer.samples]
        return self.json_response(200, {"status": "success", "data": {"resultType": "vector", "result": result}})
