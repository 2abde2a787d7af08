"""Deploy through a kubeconfig with an exec credential plugin: a real Python script run as a
subprocess, its token presented to FakeKubernetes (over HTTPS), cached until it expires."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime

import pytest

from bot.sandbox.fakes import FakeKubernetes
from bot.sandbox.fakes.kubernetes import server_ssl_context
from integrations.errors import ConfigurationError, ProviderFailed, UpstreamTimeout
from integrations.kubernetes import KubernetesDeployer
from integrations.kubernetes_auth import KubeconfigAuth
from integrations.kubernetes_config import ExecConfig, KubeCluster
from integrations.kubernetes_exec import ExecPlugin
from tests.integrations.helpers import make_request, write_kubeconfig
from tests.integrations.pki import Pki, make_pki

IMAGE = "registry.example.test/{service}:{version}"
V1 = "client.authentication.k8s.io/v1"

# A credential plugin as aws/gke-gcloud-auth-plugin/kubelogin are: it prints an ExecCredential. It
# records each run (with the KUBERNETES_EXEC_INFO it was given) and reads what to print from files.
PLUGIN = """
import json, os, pathlib, sys, time
state = pathlib.Path(sys.argv[1])
with (state / "runs").open("a") as log:
    log.write(json.dumps({"info": json.loads(os.environ["KUBERNETES_EXEC_INFO"]),
                          "region": os.environ.get("REGION"), "pid": os.getpid()}) + "\\n")
mode = (state / "mode").read_text() if (state / "mode").exists() else "ok"
if mode == "fail":
    print("opening the browser...", file=sys.stderr)
    print("error: the SSO session has expired; run aws sso login", file=sys.stderr)
    sys.exit(3)
if mode == "hang":
    time.sleep(30)
if mode == "garbage":
    print("token: abc")
    sys.exit(0)
status = json.loads((state / "status").read_text())
print(json.dumps({"apiVersion": sys.argv[2], "kind": "ExecCredential", "status": status}))
"""


class Plugin:
    """The script, its state folder, and what it recorded."""

    def __init__(self, tmp_path) -> None:
        self.state = tmp_path / "plugin"
        self.state.mkdir()
        self.script = tmp_path / "plugin.py"
        self.script.write_text(PLUGIN)

    def exec(self, api_version: str = V1, **extra) -> dict:
        return {"apiVersion": api_version, "command": sys.executable,
                "args": [str(self.script), str(self.state), extra.pop("prints", api_version)],
                "interactiveMode": "Never", **extra}

    def prints(self, **status) -> None:
        (self.state / "status").write_text(json.dumps(status))

    def mode(self, mode: str) -> None:
        (self.state / "mode").write_text(mode)

    @property
    def runs(self) -> list[dict]:
        path = self.state / "runs"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class WallClock:
    def __init__(self, when: str) -> None:
        self.now = datetime.fromisoformat(when)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def plugin(tmp_path) -> Plugin:
    return Plugin(tmp_path)


@pytest.fixture
def pki(tmp_path) -> Pki:
    return make_pki(tmp_path / "pki")


def https_fake(pki: Pki, token: str, **kwargs) -> FakeKubernetes:
    return FakeKubernetes(token=token, ssl_context=server_ssl_context(str(pki.server_cert), str(pki.server_key)),
                          rollout_polls=2, **kwargs)


def bearer(request) -> str:
    return request.headers.get("Authorization", "")


async def test_deploys_with_an_exec_plugin_token_cached_until_it_expires(http, clock, tmp_path, plugin, pki, caplog):
    caplog.set_level(logging.DEBUG)
    plugin.prints(token="exec-token-1", expirationTimestamp="2030-01-01T00:00:00Z")
    now = WallClock("2029-12-31T23:00:00+00:00")
    async with https_fake(pki, "exec-token-1") as kube:
        fake = kube.add_deployment("staging", "orders", image="registry.example.test/orders:v2.4.0", replicas=3)
        path = write_kubeconfig(tmp_path / "config", server=kube.base_url,
                                cluster={"certificate-authority-data": pki.data(pki.ca_pem)},
                                user={"exec": plugin.exec(env=[{"name": "REGION", "value": "eu-west-1"}],
                                                          provideClusterInfo=True)})
        provider = KubernetesDeployer(http, KubeconfigAuth(path, environ=dict(os.environ), now=now), image=IMAGE,
                                      sleep=clock.sleep, clock=clock)

        result = await provider.deploy(make_request())
        assert result.ok, result.summary
        assert fake.image == "registry.example.test/orders:v2.4.1"
        assert (await provider.scale(make_request("scale", replicas=4))).ok
        assert len(kube.requests) > 4 and {bearer(r) for r in kube.requests} == {"Bearer exec-token-1"}
        assert len(plugin.runs) == 1  # one run served every request before expiry
        run = plugin.runs[0]
        assert run["region"] == "eu-west-1"
        assert run["info"] == {"apiVersion": V1, "kind": "ExecCredential", "spec": {
            "interactive": False,
            "cluster": {"server": kube.base_url, "certificate-authority-data": pki.data(pki.ca_pem)}}}

        # The plugin would now give a new token, but the cached one has not expired: it is kept.
        plugin.prints(token="exec-token-2", expirationTimestamp="2030-01-01T01:00:00Z")
        now.now = datetime(2029, 12, 31, 23, 59, 0, tzinfo=UTC)
        assert await provider.current_replicas("orders", "staging") == 4
        assert len(plugin.runs) == 1 and bearer(kube.requests[-1]) == "Bearer exec-token-1"

        # Past expiry the plugin runs again and its new token is presented.
        kube.token = "exec-token-2"
        now.now = datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)
        assert await provider.current_replicas("orders", "staging") == 4
        assert len(plugin.runs) == 2 and bearer(kube.requests[-1]) == "Bearer exec-token-2"

        # Revoked early: the server answers 401, the plugin runs again, the request is sent once more.
        plugin.prints(token="exec-token-3")
        kube.token = "exec-token-3"
        assert await provider.current_replicas("orders", "staging") == 4
        assert len(plugin.runs) == 3
        assert [bearer(r) for r in kube.requests[-2:]] == ["Bearer exec-token-2", "Bearer exec-token-3"]

    assert not any(f"exec-token-{n}" in caplog.text for n in (1, 2, 3))


async def test_an_exec_plugin_may_give_a_client_certificate(http, clock, tmp_path, plugin, pki):
    plugin.prints(clientCertificateData=pki.client_cert_pem.decode(), clientKeyData=pki.client_key_pem.decode())
    context = server_ssl_context(str(pki.server_cert), str(pki.server_key), client_ca_file=str(pki.ca_file))
    async with FakeKubernetes(ssl_context=context, certificate_users={"opscord"}, rollout_polls=1) as kube:
        fake = kube.add_deployment("staging", "orders", image="orders:v1")
        path = write_kubeconfig(tmp_path / "config", server=kube.base_url,
                                cluster={"certificate-authority-data": pki.data(pki.ca_pem)},
                                user={"exec": plugin.exec("client.authentication.k8s.io/v1beta1")})
        provider = KubernetesDeployer(http, KubeconfigAuth(path, environ={}), image=IMAGE, sleep=clock.sleep,
                                      clock=clock)
        assert (await provider.deploy(make_request())).ok
        assert fake.image == "registry.example.test/orders:v2.4.1"
    assert set(kube.client_certificates) == {"opscord"} and len(plugin.runs) == 1


def exec_plugin(plugin: Plugin, *, timeout: float = 60.0, **overrides) -> ExecPlugin:
    exec_args = plugin.exec()
    config = ExecConfig(command=exec_args["command"], api_version=V1, args=tuple(exec_args["args"]), **overrides)
    return ExecPlugin(config, KubeCluster("test", "https://127.0.0.1:1"), environ={}, timeout=timeout)


async def test_a_failing_plugin_gives_one_clear_sentence(plugin):
    plugin.mode("fail")
    with pytest.raises(ProviderFailed) as caught:
        await exec_plugin(plugin).credential()
    name = os.path.basename(sys.executable)
    assert str(caught.value) == (f"The Kubernetes credential plugin {name} failed (exit status 3): "
                                 "error: the SSO session has expired; run aws sso login")


@pytest.mark.parametrize(
    ("status", "prints", "problem"),
    [
        ({"token": "t"}, "client.authentication.k8s.io/v1beta1",
         "printed an ExecCredential of apiVersion 'client.authentication.k8s.io/v1beta1', but the kubeconfig "
         "asks for client.authentication.k8s.io/v1"),
        ({"expirationTimestamp": "2030-01-01T00:00:00Z"}, V1,
         "printed an ExecCredential with neither a token nor a client certificate and key"),
        ({"token": "t", "expirationTimestamp": "tomorrow"}, V1,
         "printed an expirationTimestamp that is not an RFC 3339 time"),
        (None, V1, "printed something that is not an ExecCredential"),
    ],
)
async def test_what_a_plugin_prints_is_checked(plugin, status, prints, problem):
    if status is None:
        plugin.mode("garbage")
    else:
        plugin.prints(**status)
    exec_args = plugin.exec(prints=prints)
    config = ExecConfig(command=exec_args["command"], api_version=V1, args=tuple(exec_args["args"]))
    with pytest.raises(ProviderFailed) as caught:
        await ExecPlugin(config, KubeCluster("test", "https://127.0.0.1:1"), environ={}).credential()
    assert str(caught.value).endswith(problem)
    assert "abc" not in str(caught.value)


async def test_a_missing_plugin_names_the_install_hint():
    config = ExecConfig(command="opscord-no-such-credential-plugin", api_version=V1,
                        install_hint="Install it from https://example.test/plugin\n")
    with pytest.raises(ConfigurationError) as caught:
        await ExecPlugin(config, KubeCluster("test", "https://127.0.0.1:1"), environ={"PATH": "/nonexistent"}
                         ).credential()
    assert str(caught.value) == ("The Kubernetes credential plugin opscord-no-such-credential-plugin was not found "
                                 "(Install it from https://example.test/plugin)")


async def test_a_hanging_plugin_is_killed_at_its_timeout(plugin):
    plugin.mode("hang")
    with pytest.raises(UpstreamTimeout, match=r"did not finish within 0.5 s"):
        await exec_plugin(plugin, timeout=0.5).credential()
    with pytest.raises(ProcessLookupError):
        os.kill(plugin.runs[0]["pid"], 0)


async def test_the_plugin_runs_without_blocking_the_loop_and_only_once_for_concurrent_callers(plugin):
    plugin.prints(token="t1")
    runner = exec_plugin(plugin)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    first, second = await asyncio.gather(runner.credential(), runner.credential())
    ticker.cancel()
    assert first.token == second.token == "t1" and first.expires is None
    assert len(plugin.runs) == 1
    assert ticks >= 3  # the loop kept running while the interpreter started and answered
