"""Real Prometheus → real Alertmanager → Opscord: an alert rule that fires at once opens one incident
thread however often Alertmanager delivers its group, and stopping the alert resolves the incident.

Debian's `prometheus` and `prometheus-alertmanager` are started here on loopback ports with their own
config files and temporary storage, and stopped by PID. Prometheus also scrapes Opscord's /metrics
with the scrape job the README documents. Without the binaries the test skips (CI installs them and
then refuses to skip).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.web import StatusServer
from tests.e2e.alert_payloads import TOKEN
from tests.e2e.harness import Harness
from tests.helpers import example_raw

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
MISSING = [p for p in (PROMETHEUS, ALERTMANAGER) if not Path(p).exists()]
REASON = "needs Debian's prometheus and prometheus-alertmanager: apt-get install prometheus prometheus-alertmanager"

pytestmark = [pytest.mark.prometheus, pytest.mark.real_servers]
if MISSING and not os.environ.get("CI"):
    pytestmark.append(pytest.mark.skip(reason=REASON))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real server process with its own working directory, stopped by PID."""

    def __init__(self, name: str, argv: list[str], workdir: Path, url: str) -> None:
        self.name, self.url, self.log = name, url, workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)

    async def ready(self, session: aiohttp.ClientSession, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{self.url}/-/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        pytest.fail(f"{self.name} was not ready within {timeout:g} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Toggle:
    """A scrape target whose `demo_errors` series the test sets (the alert rule watches it)."""

    def __init__(self) -> None:
        self.errors = 1
        self.runner: web.AppRunner | None = None
        self.port = free_port()

    async def metrics(self, request: web.Request) -> web.Response:
        text = f'# TYPE demo_errors gauge\ndemo_errors{{service="payment-service"}} {self.errors}\n'
        return web.Response(text=text, content_type="text/plain")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def alertmanager_yml(bot_port: int) -> str:
    return f"""
route:
  receiver: opscord
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: opscord
    webhook_configs:
      - url: http://127.0.0.1:{bot_port}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""


def prometheus_yml(am_port: int, toggle_port: int, bot_port: int) -> str:
    return f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
rule_files: [rules.yml]
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ["127.0.0.1:{toggle_port}"]
  - job_name: opscord
    static_configs:
      - targets: ["127.0.0.1:{bot_port}"]
"""


RULES = """
groups:
  - name: demo
    rules:
      - alert: PaymentErrors
        expr: demo_errors > 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: "Payment errors on {{ $labels.service }}"
          description: "demo_errors is {{ $value }}"
"""


async def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await predicate():
            return result
        await asyncio.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


async def test_prometheus_alertmanager_opscord(tmp_path, error_logs):
    if MISSING:  # in CI (CI=true) this test must run, never skip
        pytest.fail(f"missing {', '.join(MISSING)}: {REASON}")
    raw = example_raw(tmp_path / "state")
    raw["alerts"] = {"rules": [{"labels": {"severity": "critical"}, "resolve": True}]}
    harness = Harness(tmp_path, raw, environ={"PATH": "/usr/bin:/bin"})
    await harness.start()
    status = StatusServer(harness.bot, environ={"OPSCORD_ALERTMANAGER_TOKEN": TOKEN})
    await status.start("127.0.0.1", 0)
    toggle = Toggle()
    await toggle.start()
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(alertmanager_yml(status.port))
    (tmp_path / "prometheus.yml").write_text(prometheus_yml(am_port, toggle.port, status.port))
    (tmp_path / "rules.yml").write_text(RULES)
    servers = []
    try:
        async with aiohttp.ClientSession() as session:
            servers.append(Server("alertmanager", [
                ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", "--log.level=warn"],
                tmp_path, f"http://127.0.0.1:{am_port}"))
            servers.append(Server("prometheus", [
                PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                tmp_path, f"http://127.0.0.1:{prom_port}"))
            for server in servers:
                await server.ready(session)

            async def firing_deliveries():
                rows = [r for r in await harness.export() if r["command"].startswith("alertmanager: firing")
                        and r["result"] != "opening"]  # the incident service's own row before its thread
                return rows if len(rows) >= 3 else None

            rows = await wait_for(firing_deliveries, 60, "three deliveries of the firing group")
            assert [r["result"] for r in rows[:3]] == ["success", "duplicate", "duplicate"]
            threads = [t for t in harness.emu.threads if t.name.startswith("inc-")]
            assert len(threads) == 1
            [incident] = await harness.app.store.incidents(open_only=True)
            assert incident.title == "Payment errors on payment-service" and incident.severity == "sev1"
            details = "\n".join(m.content for m in harness.emu.messages(threads[0].id))
            assert "`alertname=PaymentErrors`" in details and f":{prom_port}/graph?g0.expr=demo_errors" in details

            async def opscord_scraped():  # the README's scrape job, against the real Prometheus
                async with session.get(f"{servers[1].url}/api/v1/query",
                                       params={"query": 'opscord_build_info * on() up{job="opscord"}'}) as resp:
                    return (await resp.json())["data"]["result"]

            assert (await wait_for(opscord_scraped, 20, "Prometheus to scrape Opscord"))[0]["value"][1] == "1"

            toggle.errors = 0

            async def resolved():
                current = await harness.app.store.incident(incident.id)
                return current if current.status == "resolved" else None

            await wait_for(resolved, 60, "the resolved notification")
            assert len([t for t in harness.emu.threads if t.name.startswith("inc-")]) == 1
            assert "Alert PaymentErrors resolved in Alertmanager" in harness.emu.messages(threads[0].id)[-1].content
    finally:
        for server in servers:
            server.stop()
        await toggle.stop()
        await status.stop()
        await harness.stop()
