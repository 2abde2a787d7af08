"""/healthz and /metrics on OPSCORD_HTTP_LISTEN, so the bot itself can be monitored."""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from bot.client import OpsBot
from bot.leader import Leadership

log = logging.getLogger(__name__)
_JSON = "application/json"
_METRICS = "text/plain; version=0.0.4; charset=utf-8"


class StatusServer:
    """A small aiohttp server reading the bot's state; bind it to loopback or a private network."""

    def __init__(self, bot: OpsBot, leadership: Leadership | None = None) -> None:
        self.bot = bot
        self.leadership = leadership  # replicas on PostgreSQL (bot.leader): role, epoch, lease age
        self.started = time.time()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        """The routes."""
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (0 picks a free port, see `self.port`)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else port
        log.info("health and metrics on http://%s:%s/healthz and /metrics", host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        """200 when connected to Discord and the database answers; 503 otherwise."""
        discord_ok = self.bot.is_ready() and not self.bot.is_closed()
        try:
            head, _ = await self.bot.app.store.audit_head()
            db_ok = True
        except Exception as exc:
            log.warning("health check: the database did not answer: %s", exc)
            head, db_ok = 0, False
        body = {"status": "ok" if discord_ok and db_ok else "unhealthy",
                "discord": "connected" if discord_ok else "disconnected",
                "database": "ok" if db_ok else "error", "audit_rows": head,
                "uptime_seconds": round(time.time() - self.started)}
        healthy = discord_ok and db_ok
        if self.leadership is not None:  # replicas: a standby is healthy without Discord
            body |= await self.leadership.health()
            healthy = db_ok and (discord_ok or not self.leadership.leading)
            body["status"] = ("ok" if self.leadership.leading else "standby") if healthy else "unhealthy"
        return web.Response(status=200 if healthy else 503, body=json.dumps(body), content_type=_JSON)

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text exposition."""
        store = self.bot.app.store
        counts = await store.counts()
        lines = [
            "# HELP opscord_up Whether the Opscord process is serving.",
            "# TYPE opscord_up gauge", "opscord_up 1",
            "# HELP opscord_discord_connected Whether the gateway session is ready.",
            "# TYPE opscord_discord_connected gauge",
            f"opscord_discord_connected {int(self.bot.is_ready() and not self.bot.is_closed())}",
            "# HELP opscord_audit_head_row The id of the newest audit row.",
            "# TYPE opscord_audit_head_row gauge", f"opscord_audit_head_row {counts.audit_head}",
            "# HELP opscord_audit_rows_appended_total Audit rows this process committed, by result.",
            "# TYPE opscord_audit_rows_appended_total counter",
            *(f'opscord_audit_rows_appended_total{{result="{_label(result)}"}} {count}'
              for result, count in sorted(store.appended.items())),
            "# HELP opscord_operations Operation requests by status.",
            "# TYPE opscord_operations gauge",
            *(f'opscord_operations{{status="{_label(status)}"}} {count}'
              for status, count in sorted(counts.operations.items())),
            "# HELP opscord_locks_held (service, environment) locks currently held.",
            "# TYPE opscord_locks_held gauge", f"opscord_locks_held {counts.locks}",
        ]
        if self.leadership is not None:  # replicas: leader or standby, epoch, lease age
            lines += await self.leadership.metric_lines()
        return web.Response(body="\n".join(lines) + "\n", headers={"Content-Type": _METRICS})


def _label(value: str) -> str:
    """A Prometheus label value, escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
