"""Shared machinery of the local fake upstreams: a real aiohttp server on 127.0.0.1 with request
recording, error injection and delays.

Usage::

    fake = FakeKubernetes()
    await fake.start()            # or: async with FakeKubernetes() as fake:
    ... fake.base_url ...
    fake.fail_next(2, 503)        # the next two requests answer 503 in the upstream's error shape
    fake.always_fail(500)         # every request fails until fake.clear_failures()
    fake.rate_limit_next(1, retry_after=2)
    fake.delay = 0.5              # every answer waits this long first
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

__all__ = ["FAKE_TOKEN", "FakeServer", "RecordedRequest"]

FAKE_TOKEN = "fake-token"  # noqa: S105 - the fakes' default credential, not a secret

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received (headers included: tests may check auth)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Injection:
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int | None  # None: until cleared
    path: str | None


class FakeServer:
    """Base class; subclasses add routes in ``setup_routes`` and their error shape in ``error_body``.

    Attributes:
        base_url: ``http://127.0.0.1:<port>`` once started.
        requests: Every request received, in order.
        delay: Seconds every answer waits before it is sent.
    """

    def __init__(self) -> None:
        self.base_url = ""
        self.delay = 0.0
        self.requests: list[RecordedRequest] = []
        self._injections: list[_Injection] = []
        self._runner: web.AppRunner | None = None

    def setup_routes(self, app: web.Application) -> None:
        """Register the upstream's routes."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        """The upstream's error object for ``status``."""
        return {"message": message}

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (a free port unless ``port`` is given); return (and set) ``base_url``."""
        app = web.Application(middlewares=[self._middleware])
        self.setup_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def fail_next(self, n: int = 1, status: int = 500, *, body: Any = None,
                  headers: dict[str, str] | None = None, path: str | None = None) -> None:
        """Answer the next ``n`` requests (whose path starts with ``path``) with ``status``."""
        self._injections.append(_Injection(status, body, dict(headers or {}), n, path))

    def always_fail(self, status: int = 503, *, body: Any = None, headers: dict[str, str] | None = None,
                    path: str | None = None) -> None:
        """Answer every request with ``status`` until ``clear_failures``."""
        self._injections.append(_Injection(status, body, dict(headers or {}), None, path))

    def rate_limit_next(self, n: int = 1, *, retry_after: float = 1.0, status: int = 429) -> None:
        """Answer the next ``n`` requests with a rate-limit status and ``Retry-After``."""
        self.fail_next(n, status, headers={"Retry-After": f"{retry_after:g}"})

    def clear_failures(self) -> None:
        """Remove every injected failure."""
        self._injections.clear()

    def requests_to(self, method: str, path_prefix: str = "") -> list[RecordedRequest]:
        """Recorded requests with this method and path prefix."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def json_response(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
        """A JSON answer."""
        return web.json_response(payload, status=status, headers=headers)

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        """An error answer in the upstream's own shape."""
        return self.json_response(status, self.error_body(status, message), headers)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.query),
                                             dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        injection = self._take_injection(request.path)
        if injection is not None:
            payload = injection.body if injection.body is not None else self.error_body(
                injection.status, f"injected failure {injection.status}")
            if isinstance(payload, str):
                return web.Response(status=injection.status, text=payload, headers=injection.headers)
            return self.json_response(injection.status, payload, injection.headers)
        return await handler(request)

    def _take_injection(self, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.path is not None and not path.startswith(injection.path):
                continue
            if injection.remaining is not None:
                injection.remaining -= 1
                if injection.remaining <= 0:
                    self._injections.remove(injection)
            return injection
        return None
