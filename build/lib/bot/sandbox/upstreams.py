"""Local fakes of the monitoring, logging, paging, status-page and Grafana upstreams for the sandbox.

Each service of the config that has no section of its own gets one pointing at these fakes, so
/status, /logs and /incident work in the sandbox without touching anything real.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bot.config import OpscordConfig
from bot.sandbox.fakes import FakeGrafana, FakeLoki, FakePagerDuty, FakePrometheus, FakeStatuspage
from bot.sandbox.fakes.base import FAKE_TOKEN
from bot.sandbox.fakes.pagerduty import FAKE_ROUTING_KEY
from bot.sandbox.fakes.statuspage import FAKE_PAGE_ID
from integrations.observability_settings import (
    GrafanaSettings,
    LokiSettings,
    PagerDutySettings,
    PrometheusSettings,
    StatuspageSettings,
)

_PATHS = ("/orders", "/orders/{n}", "/payments", "/health", "/cart/{n}")
_WARNINGS = ("WARN slow upstream response: 1.8 s", "ERROR upstream timeout after 5 s, retrying",
             "WARN connection pool at 90%")


class SandboxUpstreams:
    """Starts the fakes, seeds them, and wires them into a config."""

    def __init__(self) -> None:
        self.prometheus = FakePrometheus()
        self.loki = FakeLoki()
        self.pagerduty = FakePagerDuty()
        self.statuspage = FakeStatuspage()
        self.grafana = FakeGrafana()
        self.environ = {"PAGERDUTY_ROUTING_KEY": FAKE_ROUTING_KEY, "STATUSPAGE_API_KEY": FAKE_TOKEN,
                        "GRAFANA_TOKEN": FAKE_TOKEN}

    async def start(self) -> None:
        """Listen on loopback and seed healthy metrics."""
        for fake in (self.prometheus, self.loki, self.pagerduty, self.statuspage, self.grafana):
            await fake.start()
        self.prometheus.set_value("avg(up", 1.0)
        self.prometheus.set_value('code=~"5.."', 0.002)
        self.prometheus.set_value("histogram_quantile", 0.18)

    async def stop(self) -> None:
        """Stop every fake."""
        for fake in (self.prometheus, self.loki, self.pagerduty, self.statuspage, self.grafana):
            await fake.stop()

    def wire(self, config: OpscordConfig) -> OpscordConfig:
        """The config with fake sections for what each service does not configure itself; seeds its logs."""
        rng = random.Random(7)
        services = []
        for index, svc in enumerate(config.services):
            component = f"cmp{index}"
            self.statuspage.add_component(component, svc.name)
            for environment in svc.environments:
                self._seed_logs(svc.name, environment, rng)
            updates = {
                "monitor": svc.monitor or PrometheusSettings(url=self.prometheus.base_url),
                "logs": svc.logs or LokiSettings(url=self.loki.base_url),
                "pager": svc.pager or PagerDutySettings(events_url=self.pagerduty.base_url),
                "status_page": svc.status_page or StatuspageSettings(
                    page_id=FAKE_PAGE_ID, api_url=self.statuspage.api_url, component_ids={svc.name: [component]}),
                "grafana": svc.grafana or GrafanaSettings(url=self.grafana.base_url, dashboard_uid=svc.name,
                                                          annotate=True),
            }
            services.append(svc.model_copy(update=updates))
        return config.model_copy(update={"services": services})

    def _seed_logs(self, service: str, environment: str, rng: random.Random) -> None:
        now = datetime.now(UTC)
        labels = {"app": service, "env": environment}
        for i in range(60):
            at = now - timedelta(minutes=59 - i, seconds=rng.randint(0, 59))
            if rng.random() < 0.08:
                line = rng.choice(_WARNINGS)
            else:
                path = rng.choice(_PATHS).format(n=rng.randint(1000, 9999))
                status = 200 if rng.random() < 0.97 else 503
                line = f"INFO GET {path} {status} {rng.randint(3, 240)}ms"
            self.loki.push(labels, line, at)
