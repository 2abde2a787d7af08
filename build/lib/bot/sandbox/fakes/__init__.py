"""Local fake upstreams (real aiohttp servers on 127.0.0.1) for end-to-end tests and the sandbox."""

from bot.sandbox.fakes.argocd import FakeArgoApp, FakeArgoCD
from bot.sandbox.fakes.base import FAKE_TOKEN, FakeServer, RecordedRequest
from bot.sandbox.fakes.github import FakeGitHub, FakeWorkflow
from bot.sandbox.fakes.grafana import FakeGrafana
from bot.sandbox.fakes.kubernetes import FakeDeployment, FakeKubernetes
from bot.sandbox.fakes.loki import FakeLoki
from bot.sandbox.fakes.pagerduty import FAKE_ROUTING_KEY, FakeAlert, FakePagerDuty
from bot.sandbox.fakes.prometheus import FakePrometheus
from bot.sandbox.fakes.statuspage import FAKE_PAGE_ID, FakeStatuspage
from bot.sandbox.fakes.webhook import FakeWebhookTarget

__all__ = [
    "FAKE_PAGE_ID",
    "FAKE_ROUTING_KEY",
    "FAKE_TOKEN",
    "FakeAlert",
    "FakeArgoApp",
    "FakeArgoCD",
    "FakeDeployment",
    "FakeGitHub",
    "FakeGrafana",
    "FakeKubernetes",
    "FakeLoki",
    "FakePagerDuty",
    "FakePrometheus",
    "FakeServer",
    "FakeStatuspage",
    "FakeWebhookTarget",
    "FakeWorkflow",
    "RecordedRequest",
]
