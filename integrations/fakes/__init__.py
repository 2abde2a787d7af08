"""Local fake upstreams (real aiohttp servers on 127.0.0.1) for end-to-end tests and the sandbox."""

from integrations.fakes.argocd import FakeArgoApp, FakeArgoCD
from integrations.fakes.base import FAKE_TOKEN, FakeServer, RecordedRequest
from integrations.fakes.github import FakeGitHub, FakeWorkflow
from integrations.fakes.kubernetes import FakeDeployment, FakeKubernetes
from integrations.fakes.webhook import FakeWebhookTarget

__all__ = [
    "FAKE_TOKEN",
    "FakeArgoApp",
    "FakeArgoCD",
    "FakeDeployment",
    "FakeGitHub",
    "FakeKubernetes",
    "FakeServer",
    "FakeWebhookTarget",
    "FakeWorkflow",
    "RecordedRequest",
]
