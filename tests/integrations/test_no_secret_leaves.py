"""No secret leaves an adapter: each one is driven, as the bot builds it, against a real local upstream
that echoes the credentials it receives into its error bodies and messages, and the command provider
runs a script that prints its secret (also with ``set -x``). No secret value may appear in an error
sentence, a result's summary/output/URL/details, a health summary, a log line returned, or a log
record.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from integrations.base import HealthReport, HealthStatus, OperationResult
from integrations.command import CommandProvider
from integrations.errors import IntegrationError, ProviderFailed, UpstreamRefused, UpstreamTimeout
from integrations.http import HttpClient
from integrations.kubernetes import KubernetesDeployer
from integrations.kubernetes_auth import KubernetesAuth
from integrations.observability_settings import (
    GrafanaSettings,
    LokiSettings,
    PagerDutySettings,
    PrometheusSettings,
    StatuspageSettings,
    build_grafana,
    build_log_source,
    build_monitor,
    build_pager,
    build_status_page,
)
from integrations.scrub import Scrubber
from integrations.settings import build_deployer, parse_deploy_settings
from tests.integrations.helpers import make_request

# Shaped like what they are (GitHub, Grafana, PagerDuty) or opaque: opaque values can only be
# recognised by their value, so they prove that each adapter knows its own secrets.
SECRETS = {
    "GITHUB_TOKEN": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "ARGOCD_TOKEN": "argo-opaque-9f8e7d6c",
    "KUBE_TOKEN": "kube-opaque-5a4b3c2d",
    "HOOK_SECRET": "hook-shared-1q2w3e",
    "DEPLOY_API_KEY": "cmd-pass-through-7u8i9o",
    "LOKI_PASSWORD": "loki-pass-0p9o8i",
    "PROM_TOKEN": "prom-opaque-1z2x3c",
    "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY0000000000000000000042",
    "PD_TOKEN": "pd-rest-opaque-4r5t6y",
    "STATUSPAGE_API_KEY": "sp-opaque-7h8j9k",
    "GRAFANA_TOKEN": "glsa_opaqueGrafanaToken0123456789_abcdef12",
}
SERVICE_ACCOUNT_JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3BzIn0"
                       ".c2lnbmF0dXJlLWJ5dGVz")
BASIC_PAIR = base64.b64encode(f"reader:{SECRETS['LOKI_PASSWORD']}".encode()).decode()
FORBIDDEN = [*SECRETS.values(), SERVICE_ACCOUNT_JWT, BASIC_PAIR]
ENVIRON = {**SECRETS, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


@dataclass(frozen=True)
class Seen:
    """One request as the upstream saw it; ``echo`` is everything secret it could send back."""

    method: str
    path: str
    echo: str
    n: int


Reply = Callable[[Seen], tuple[int, Any]]


def refuse(status: int, key: str = "message") -> Reply:
    return lambda seen: (status, {key: f"bad credentials: {seen.echo}"})


class EchoUpstream:
    """A local HTTP server that puts the credentials it receives (header, decoded basic pair, query,
    body, and any secret it shares) into its answers."""

    def __init__(self) -> None:
        self.reply: Reply = refuse(401)
        self.knows: list[str] = []
        self.seen: list[Seen] = []

    async def __aenter__(self) -> EchoUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # the upstream's own log is not Opscord's
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        credential = auth.rpartition(" ")[2].removeprefix("token=")
        if auth.startswith("Basic "):
            credential = base64.b64decode(credential).decode()
        echo = " ".join(filter(None, [auth, credential, *self.knows, request.query_string, await request.text()]))
        seen = Seen(request.method, request.path, echo, len(self.seen))
        self.seen.append(seen)
        status, payload = self.reply(seen)
        return web.json_response(payload, status=status)

    def echoed(self, secret: str) -> bool:
        """Whether the upstream sent ``secret`` back at least once (so the test means something)."""
        return any(secret in seen.echo for seen in self.seen)


@pytest.fixture
def http(session, clock) -> HttpClient:
    """The shared client, with a circuit that never opens: each test sends one upstream many failures."""
    return HttpClient(session, sleep=clock.sleep, clock=clock, jitter=lambda: 0.5, failure_threshold=10_000)


@pytest.fixture
async def upstream():
    async with EchoUpstream() as server:
        yield server


@pytest.fixture
def check(caplog):
    """Assert that no secret appears in what the calls returned or raised, nor in any log record."""
    caplog.set_level(logging.DEBUG)

    def assert_clean(*outcomes: object) -> None:
        texts = [text for outcome in outcomes for text in _strings(outcome)] + [caplog.text]
        for secret in FORBIDDEN:
            for text in texts:
                assert secret not in text, f"{secret!r} leaked in {text!r}"
    return assert_clean


def _strings(outcome: object) -> list[str]:
    if isinstance(outcome, IntegrationError):
        return [str(outcome), repr(outcome), outcome.output, getattr(outcome, "upstream_message", "")]
    if isinstance(outcome, OperationResult):
        return [outcome.summary, outcome.output, outcome.url or "", repr(outcome.details)]
    if isinstance(outcome, HealthReport):
        return [outcome.summary, repr(outcome.checks)]
    return [repr(outcome)]


async def outcome(call: Awaitable[Any]) -> Any:
    """The call's result, or the integration error it raised."""
    try:
        return await call
    except IntegrationError as exc:
        return exc


def deployer(table: dict[str, Any], http: HttpClient, clock) -> Any:
    return build_deployer(parse_deploy_settings(table), http, ENVIRON, sleep=clock.sleep, clock=clock)


async def test_github_actions(upstream, http, clock, check):
    github = deployer({"provider": "github_actions", "repository": "acme/orders", "workflow": "deploy.yml",
                       "api_url": upstream.url}, http, clock)
    outcomes = []
    for reply in (refuse(401), refuse(403), refuse(404), refuse(500),
                  lambda seen: (422, {"message": f"Unexpected inputs provided: {seen.echo}"})):
        upstream.reply = reply
        outcomes.append(await outcome(github.deploy(make_request())))
    assert str(outcomes[0]).startswith("GitHub rejected the token (401: bad credentials: Bearer ***")
    assert all(isinstance(o, IntegrationError) for o in outcomes)
    assert all("***" in str(o) for i, o in enumerate(outcomes) if i != 2)  # the 404 sentence quotes no message
    assert upstream.echoed(SECRETS["GITHUB_TOKEN"])
    check(*outcomes)


def argo_app(phase: str, started: str, message: str = "", health: str = "Healthy") -> dict[str, Any]:
    return {"metadata": {"name": "orders-staging"}, "spec": {},
            "status": {"health": {"status": health, "message": message}, "sync": {"status": "Synced"},
                       "operationState": {"phase": phase, "startedAt": started, "message": message}}}


async def test_argo_cd(upstream, http, clock, check):
    argo = deployer({"provider": "argocd", "base_url": upstream.url}, http, clock)
    refused = []
    for status in (401, 403, 500):
        upstream.reply = refuse(status)
        refused.append(await outcome(argo.deploy(make_request())))
    report = await argo.check("orders", "staging")

    start = len(upstream.seen)

    def failing_sync(seen: Seen) -> tuple[int, Any]:
        if seen.method == "POST":
            return 200, {}
        if not any(s.method == "POST" for s in upstream.seen[start:]):
            return 200, argo_app("Succeeded", "t0")  # the operation before ours
        return 200, argo_app("Failed", "t1", message=f"sync failed: {seen.echo}")
    upstream.reply = failing_sync
    failed = await argo.deploy(make_request())
    assert not failed.ok and failed.summary.startswith(
        "The deploy of orders v2.4.1 to staging failed: Argo CD could not sync orders-staging (sync failed: Bearer ***")
    assert str(refused[0]).startswith("Argo CD rejected the token (401: bad credentials: Bearer *** ***")
    assert report.status is HealthStatus.UNKNOWN and "***" in report.summary
    assert upstream.echoed(SECRETS["ARGOCD_TOKEN"])
    check(*refused, report, failed)


def deployment(conditions=()) -> dict[str, Any]:
    return {"metadata": {"name": "orders", "generation": 2, "annotations": {}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "orders", "image": "o:1"}]}}},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 0,
                       "conditions": list(conditions)}}


async def test_kubernetes_with_a_token_and_in_cluster(upstream, http, clock, check, tmp_path):
    kube = deployer({"provider": "kubernetes", "api_url": upstream.url, "token_env": "KUBE_TOKEN",
                     "image": "registry.test/{service}:{version}"}, http, clock)
    token_file = tmp_path / "token"
    token_file.write_text(SERVICE_ACCOUNT_JWT + "\n")
    in_cluster = KubernetesDeployer(http, KubernetesAuth(upstream.url, token_file=token_file),
                                    image="registry.test/{service}:{version}", sleep=clock.sleep, clock=clock)
    outcomes = []
    for provider in (kube, in_cluster):
        for status in (403, 422, 500):
            upstream.reply = refuse(status)
            outcomes.append(await outcome(provider.deploy(make_request())))
            outcomes.append(await outcome(provider.scale(make_request("scale", replicas=3))))
        outcomes.append(await provider.check("orders", "staging"))

    start = len(upstream.seen)

    def stalled_rollout(seen: Seen) -> tuple[int, Any]:
        if seen.method == "PATCH" or not any(s.method == "PATCH" for s in upstream.seen[start:]):
            return 200, deployment()
        return 200, deployment([{"type": "Progressing", "reason": "ProgressDeadlineExceeded",
                                 "message": f"quota exceeded for {seen.echo}"}])
    upstream.reply = stalled_rollout
    stalled = await kube.deploy(make_request())
    assert not stalled.ok and "quota exceeded for Bearer ***" in stalled.summary
    assert "forbids the deploy of orders in staging (bad credentials: Bearer *** ***" in str(outcomes[0])
    assert upstream.echoed(SECRETS["KUBE_TOKEN"]) and upstream.echoed(SERVICE_ACCOUNT_JWT)
    check(*outcomes, stalled)


async def test_webhook(upstream, http, clock, check):
    upstream.knows = [SECRETS["HOOK_SECRET"]]  # the receiver shares the secret and may echo it
    hook = deployer({"provider": "webhook", "url": f"{upstream.url}/hook", "secret_env": "HOOK_SECRET"}, http, clock)
    refused = await outcome(hook.deploy(make_request()))
    upstream.reply = lambda seen: (200, {"status": "failed", "message": f"rejected: {seen.echo}"})
    failed = await hook.deploy(make_request())

    def running_then_failed(seen: Seen) -> tuple[int, Any]:
        if seen.method == "POST":
            return 202, {"status": "running", "status_url": f"/runs/1?token={SECRETS['HOOK_SECRET']}"}
        return 200, {"status": "failed", "message": seen.echo}
    upstream.reply = running_then_failed
    polled = await hook.deploy(make_request())
    assert isinstance(refused, UpstreamRefused) and "***" in str(refused)
    assert not failed.ok and failed.summary.startswith("The deploy of orders v2.4.1 to staging failed: rejected: ")
    assert polled.url == f"{upstream.url}/runs/1?token=***"
    check(refused, failed, polled)


LEAKY_SCRIPT = """#!/bin/sh
echo "using key $DEPLOY_API_KEY"
set -x
fetch() { :; }
fetch -H "Authorization: Bearer $DEPLOY_API_KEY" "https://deploy:$DEPLOY_API_KEY@registry.test/v2?token=$DEPLOY_API_KEY"
{ set +x; } 2>/dev/null
echo "error: the registry refused $DEPLOY_API_KEY" >&2
exit 1
"""


def script(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


async def test_command_provider_that_prints_its_secret(http, clock, check, tmp_path):
    leaky = script(tmp_path, "deploy.sh", LEAKY_SCRIPT)
    health = script(tmp_path, "health.sh", '#!/bin/sh\necho "healthy, key=$DEPLOY_API_KEY"\nexit 1\n')
    replicas = script(tmp_path, "replicas.sh", '#!/bin/sh\necho "$DEPLOY_API_KEY"\n')
    slow = script(tmp_path, "slow.sh", '#!/bin/sh\necho "starting with $DEPLOY_API_KEY"\nsleep 5\n')
    table = {"provider": "command", "deploy": [leaky], "health": [health], "current_replicas": [replicas],
             "scale": [slow], "pass_env": ["DEPLOY_API_KEY"], "timeout_seconds": 0.5}
    quiet, shown = deployer(table, http, clock), deployer({**table, "show_output": True}, http, clock)
    outcomes = []
    for provider in (quiet, shown):
        outcomes += [await provider.deploy(make_request()), await provider.check("orders", "staging"),
                     await outcome(provider.current_replicas("orders", "staging")),
                     await outcome(provider.scale(make_request("scale", replicas=2)))]
    quiet_deploy, quiet_health, quiet_count, timed_out, shown_deploy, shown_health, shown_count, _ = outcomes
    assert quiet_deploy.summary == "The deploy of orders v2.4.1 to staging failed (exit 1)."
    assert shown_deploy.summary == "The deploy of orders v2.4.1 to staging failed (exit 1: error: the registry refused ***)."
    assert "+ fetch -H Authorization: Bearer *** https://***@registry.test/v2?token=***\n" in shown_deploy.output
    assert (quiet_health.summary, shown_health.summary) == ("orders in staging is degraded", "healthy, key=***")
    assert isinstance(quiet_count, ProviderFailed) and isinstance(shown_count, ProviderFailed)
    assert str(quiet_count) == "The replica-count command did not print a number on its last line"
    assert str(shown_count) == "The replica-count command printed '***' instead of a number"
    assert isinstance(timed_out, UpstreamTimeout) and timed_out.output == "starting with ***\n"
    check(*outcomes)


async def test_command_output_cut_inside_a_secret_leaves_no_piece_of_it(check, tmp_path):
    secret = SECRETS["DEPLOY_API_KEY"]
    printer = script(tmp_path, "deploy.sh", '#!/bin/sh\necho "key $DEPLOY_API_KEY"\necho done\n')
    cut = len("done\n") + 1 + len(secret) // 2  # the kept bytes start in the middle of the secret
    provider = CommandProvider({"deploy": [printer]}, env={"DEPLOY_API_KEY": secret}, output_limit=cut)
    result = await provider.deploy(make_request())
    assert result.output == "done\n"
    check(result)


async def test_loki(upstream, http, check):
    loki = build_log_source(LokiSettings(url=upstream.url, username="reader", password_env="LOKI_PASSWORD"),
                            http, ENVIRON)
    refused = await outcome(loki.service_logs("orders", "production"))
    upstream.reply = lambda seen: (200, {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"app": "orders"}, "values": [["1700000000000000000", f"connected with {seen.echo}"]]}]}})
    lines = await loki.service_logs("orders", "production")
    assert str(refused).startswith("Loki rejected the credentials (401: bad credentials: Basic *** *** query=")
    assert lines[0].line.startswith("connected with Basic *** *** query=")
    assert upstream.echoed(SECRETS["LOKI_PASSWORD"])
    check(refused, lines)


async def test_prometheus(upstream, http, check):
    prometheus = build_monitor(PrometheusSettings(url=upstream.url, token_env="PROM_TOKEN"), http, ENVIRON)
    refused = await outcome(prometheus.query("up"))
    upstream.reply = lambda seen: (400, {"status": "error", "errorType": "bad_data", "error": seen.echo})
    bad = await outcome(prometheus.query("up"))
    upstream.reply = refuse(500)
    report = await prometheus.check("orders", "production")
    assert str(bad).startswith("Prometheus could not parse the query (bad_data: Bearer ***")
    assert report.status is HealthStatus.UNKNOWN and "***" in report.summary
    check(refused, bad, report)


async def test_pagerduty(upstream, http, check):
    pager = build_pager(PagerDutySettings(events_url=upstream.url, api_url=upstream.url, api_token_env="PD_TOKEN",
                                          escalation_policy_id="PABC123"), http, ENVIRON)
    upstream.reply = refuse(400)
    event = await outcome(pager.trigger("inc-1", "Payments down", severity="critical", source="opscord"))
    upstream.reply = refuse(401)
    oncall = await outcome(pager.oncall())
    assert upstream.echoed(SECRETS["PAGERDUTY_ROUTING_KEY"]) and upstream.echoed(SECRETS["PD_TOKEN"])
    assert str(oncall).startswith("PagerDuty rejected the API token (401: bad credentials: Token token=***")
    check(event, oncall)


async def test_statuspage(upstream, http, check):
    page = build_status_page(StatuspageSettings(page_id="pg1", api_url=f"{upstream.url}/v1"), http, ENVIRON)
    created = await outcome(page.create_incident("Payments down", "Investigating", correlation_id="c1"))
    upstream.reply = refuse(500)
    component = await outcome(page.set_component_status("c1", "major_outage"))
    assert str(created).startswith("Statuspage rejected the API key (401: bad credentials: OAuth ***")
    check(created, component)


async def test_grafana(upstream, http, check):
    grafana = build_grafana(GrafanaSettings(url=upstream.url, dashboard_uid="orders"), http, ENVIRON)
    refused = await outcome(grafana.annotate_deploy("orders", "production", "deployed v2.4.1"))
    assert str(refused).startswith("Grafana rejected the service-account token (401: bad credentials: Bearer ***")
    check(refused)


async def test_a_secret_cut_by_the_message_limit_leaves_no_piece(upstream, http):
    secret = SECRETS["ARGOCD_TOKEN"]
    upstream.reply = lambda seen: (400, {"message": "x" * 195 + secret + " and more"})
    with pytest.raises(UpstreamRefused) as caught:
        await http.scrubbing(Scrubber([secret])).request("Argo CD", "GET", f"{upstream.url}/x", what="lookup")
    assert str(caught.value).endswith("x*** …)")  # scrubbed, then cut: never cut inside the secret
    assert json.dumps(caught.value.upstream_message).count("***") == 1
