"""The bot's HTTP listener (OPSCORD_HTTP_LISTEN): /healthz, /readyz, /metrics and the Alertmanager webhook.

- `/healthz` — liveness: 200 while the process serves (the event loop answers), with a JSON body.
- `/readyz` — readiness: 200 only when the gateway session is ready, the store takes a write and crash
  recovery is done; 503 (saying which is not) otherwise.
- `/metrics` — the Prometheus text exposition of `bot.metrics`.
- `POST /hooks/alertmanager` — Alertmanager's webhook (`bot.alerts`): a bearer token from the variable
  `[alerts] token_env` names, compared in constant time before the body is read; bodies over
  `[alerts] max_body_kib` are refused (413).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping

from aiohttp import web

from bot.client import OpsBot
from bot.leader import Leadership
from bot.metrics import CONTENT_TYPE
from bot.store import Change
from bot.store.changes import PutFact
from bot.times import now_iso

log = logging.getLogger(__name__)
_JSON = "application/json"
WRITE_PROBE_SECONDS = 5.0


class StatusServer:
    """A small aiohttp server reading the bot's state; bind it to loopback or a private network."""

    def __init__(self, bot: OpsBot, leadership: Leadership | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.bot = bot
        self.leadership = leadership  # replicas on PostgreSQL (bot.leader): role, epoch, lease age
        self.environ = os.environ if environ is None else environ
        self.started = time.time()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        """The routes."""
        alerts = self.bot.app.config.alerts
        app = web.Application(client_max_size=(alerts.max_body_kib if alerts else 1024) * 1024)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_post("/hooks/alertmanager", self.alertmanager)
        return app

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (0 picks a free port, see `self.port`)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else port
        log.info("health, readiness and metrics on http://%s:%s/healthz, /readyz and /metrics", host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def connected(self) -> bool:
        """Whether the gateway session is ready."""
        return self.bot.is_ready() and not self.bot.is_closed()

    async def writable(self) -> bool:
        """Whether the store commits a (tiny) write within a few seconds."""
        try:
            async with asyncio.timeout(WRITE_PROBE_SECONDS):
                applied = await self.bot.app.store.apply(Change.of(PutFact("readyz:probe", now_iso())))
            return applied.ok
        except Exception as exc:
            log.warning("readiness: the store did not take a write: %s", exc)
            return False

    async def healthz(self, request: web.Request) -> web.Response:
        """200 while the process serves."""
        body = {"status": "alive", "discord": "connected" if self.connected() else "disconnected",
                "uptime_seconds": round(time.time() - self.started)}
        if self.leadership is not None:  # replicas: the role, epoch and lease age as the database has them
            body |= await self.leadership.health()
            body["status"] = "alive" if self.leadership.leading else "standby"
        return web.Response(body=json.dumps(body), content_type=_JSON)

    async def readyz(self, request: web.Request) -> web.Response:
        """200 when connected, writable and recovered; 503 naming what is not (a standby is not ready)."""
        checks = {"discord": self.connected(), "store": await self.writable(),
                  "recovery": self.bot.recovered.is_set()}
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not ready",
                "discord": "connected" if checks["discord"] else "disconnected",
                "store": "writable" if checks["store"] else "not writable",
                "recovery": "done" if checks["recovery"] else "running"}
        if self.leadership is not None and not self.leadership.leading:
            ready, body["status"] = False, "standby"
        return web.Response(status=200 if ready else 503, body=json.dumps(body), content_type=_JSON)

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text exposition (the store's gauges read now; with replicas, the lease's too)."""
        app = self.bot.app
        connected = self.connected()
        try:
            dora = await app.trail.metrics_figures()
        except Exception as exc:  # the other metrics matter more than these
            log.warning("could not compute the DORA figures for /metrics: %s", exc)
            dora = None
        await app.metrics.refresh(app.store, discord_connected=connected,
                                  ready=connected and self.bot.recovered.is_set(), dora=dora)
        body = app.metrics.render()
        if self.leadership is not None:  # replicas: leader or standby, epoch, lease age
            body += ("\n".join(await self.leadership.metric_lines()) + "\n").encode()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def alertmanager(self, request: web.Request) -> web.Response:
        """One Alertmanager notification: authenticate, read (bounded), hand to the alert receiver."""
        receiver = self.bot.app.alerts
        if self.bot.app.config.alerts is None:
            return _json(404, {"result": "invalid", "reason": "alerts are not configured ([alerts] in the config)"})
        expected = self.environ.get(receiver.settings.token_env, "")
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if not expected:
            log.warning("refused an Alertmanager notification: %s is not set", receiver.settings.token_env)
            return _json(503, {"result": "failed", "reason": f"{receiver.settings.token_env} is not set on the bot"})
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            # not audited: an unauthenticated caller must not be able to write to the audit log
            log.warning("refused an Alertmanager notification from %s: wrong or missing bearer token", request.remote)
            return _json(401, {"result": "denied", "reason": "wrong or missing bearer token"},
                         {"WWW-Authenticate": "Bearer"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            outcome = await receiver.refuse(413, "invalid", f"the body is larger than {receiver.settings.max_body_kib}"
                                                            " KiB ([alerts] max_body_kib)")
        else:
            outcome = await receiver.receive(body)
        return _json(outcome.status, outcome.body())


def _json(status: int, body: object, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body), content_type=_JSON, headers=headers)
