"""Local fake upstreams (real aiohttp servers on 127.0.0.1) for end-to-end tests and the sandbox."""

from integrations.fakes.argocd import FakeArgoApp, FakeArgoCD
from integrations.fakes.base import FAKE_TOKEN, FakeServer, RecordedRequest
from integrations.fakes.github import FakeGitHub, FakeWorkflow
from integrations.fakes.grafana import FakeGrafana
from integrations.fakes.kubernetes import FakeDeployment, FakeKubernetes
from integrations.fakes.loki import FakeLoki
from integrations.fakes.pagerduty import FAKE_ROUTING_KEY, FakeAlert, FakePagerDuty
from integrations.fakes.prometheus import FakePrometheus
from integrations.fakes.statuspage import FAKE_PAGE_ID, FakeStatuspage
from integrations.fakes.webhook import FakeWebhookTarget

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
