"""Deploy through a kubeconfig with client certificates: a real TLS handshake against FakeKubernetes
serving HTTPS with a test CA and requiring a client certificate that CA signed."""

from __future__ import annotations

import pytest

from bot.sandbox.fakes import FakeKubernetes
from bot.sandbox.fakes.kubernetes import server_ssl_context
from integrations.errors import ConfigurationError, UpstreamUnavailable
from integrations.kubernetes import KubernetesDeployer
from integrations.kubernetes_auth import KubeconfigAuth
from integrations.settings import build_deployer, parse_deploy_settings
from tests.integrations.helpers import make_request, write_kubeconfig
from tests.integrations.pki import Pki, make_pki

IMAGE = "registry.example.test/{service}:{version}"


@pytest.fixture
def pki(tmp_path) -> Pki:
    return make_pki(tmp_path / "pki")


def mutual_tls(pki: Pki) -> FakeKubernetes:
    """A fake API server that only completes a handshake with a client certificate ``pki`` signed."""
    context = server_ssl_context(str(pki.server_cert), str(pki.server_key), client_ca_file=str(pki.ca_file))
    return FakeKubernetes(token="no-token-is-accepted", ssl_context=context,  # noqa: S106
                          certificate_users={"opscord"}, rollout_polls=2)


def kubectl_style(pki: Pki, tmp_path, server: str):
    """Everything inline as base64 data, as `kind` and most installers write it."""
    return write_kubeconfig(
        tmp_path / "home" / ".kube" / "config", server=server,
        cluster={"certificate-authority-data": pki.data(pki.ca_pem)},
        user={"client-certificate-data": pki.data(pki.client_cert_pem),
              "client-key-data": pki.data(pki.client_key_pem)},
    )


def file_style(pki: Pki, tmp_path, server: str):
    """Relative file paths, resolved against the kubeconfig's folder (minikube style)."""
    folder = tmp_path / "home" / ".kube"
    folder.mkdir(parents=True)
    (folder / "client.crt").write_bytes(pki.client_cert_pem)
    (folder / "client.key").write_bytes(pki.client_key_pem)
    (folder / "ca.crt").write_bytes(pki.ca_pem)
    return write_kubeconfig(folder / "config", server=server, cluster={"certificate-authority": "ca.crt"},
                            user={"client-certificate": "client.crt", "client-key": "client.key"})


@pytest.mark.parametrize("style", [kubectl_style, file_style], ids=["data", "files"])
async def test_deploys_with_client_certificates_from_a_kubeconfig(http, clock, tmp_path, pki, monkeypatch, style):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    async with mutual_tls(pki) as kube:
        assert kube.base_url.startswith("https://127.0.0.1:")
        fake = kube.add_deployment("staging", "orders", image="registry.example.test/orders:v2.4.0", replicas=3)
        style(pki, tmp_path, kube.base_url)
        settings = parse_deploy_settings({"provider": "kubernetes", "image": IMAGE, "kubeconfig": "~/.kube/config"})
        assert settings.missing_env({}) == []
        provider = build_deployer(settings, http, {}, sleep=clock.sleep, clock=clock)
        assert isinstance(provider, KubernetesDeployer) and isinstance(provider.auth, KubeconfigAuth)

        result = await provider.deploy(make_request())
        assert result.ok, result.summary
        assert fake.image == "registry.example.test/orders:v2.4.1"
        assert (await provider.scale(make_request("scale", replicas=4))).ok and fake.replicas == 4

    assert kube.client_certificates and set(kube.client_certificates) == {"opscord"}
    assert all("Authorization" not in request.headers for request in kube.requests)
    assert list(scratch.iterdir()) == []  # the certificate and key written for ssl were removed


async def test_without_a_client_certificate_the_handshake_is_refused(http, clock, tmp_path, pki):
    async with mutual_tls(pki) as kube:
        kube.add_deployment("staging", "orders", image="orders:v1")
        path = write_kubeconfig(tmp_path / "config", server=kube.base_url,
                                cluster={"certificate-authority-data": pki.data(pki.ca_pem)},
                                user={"token": "no-token-is-accepted"})
        provider = KubernetesDeployer(http, KubeconfigAuth(path, environ={}), image=IMAGE, sleep=clock.sleep,
                                      clock=clock)
        with pytest.raises(UpstreamUnavailable, match=r"could not be reached \(server disconnected\)"):
            await provider.deploy(make_request())
    assert not kube.requests


async def test_a_server_signed_by_another_ca_is_not_trusted(http, clock, tmp_path, pki):
    other = make_pki(tmp_path / "other")
    async with mutual_tls(pki) as kube:
        kube.add_deployment("staging", "orders", image="orders:v1")
        path = write_kubeconfig(tmp_path / "config", server=kube.base_url,
                                cluster={"certificate-authority-data": other.data(other.ca_pem)},
                                user={"client-certificate-data": pki.data(pki.client_cert_pem),
                                      "client-key-data": pki.data(pki.client_key_pem)})
        provider = KubernetesDeployer(http, KubeconfigAuth(path, environ={}), image=IMAGE, sleep=clock.sleep,
                                      clock=clock)
        with pytest.raises(UpstreamUnavailable, match="could not be reached .*certificate verify failed"):
            await provider.deploy(make_request())
    assert not kube.requests


async def test_insecure_skip_tls_verify_still_presents_the_client_certificate(http, clock, tmp_path, pki):
    async with mutual_tls(pki) as kube:
        fake = kube.add_deployment("staging", "orders", image="orders:v1")
        path = write_kubeconfig(tmp_path / "config", server=kube.base_url,
                                cluster={"insecure-skip-tls-verify": True},
                                user={"client-certificate-data": pki.data(pki.client_cert_pem),
                                      "client-key-data": pki.data(pki.client_key_pem)})
        provider = KubernetesDeployer(http, KubeconfigAuth(path, environ={}), image=IMAGE, sleep=clock.sleep,
                                      clock=clock)
        assert (await provider.deploy(make_request())).ok
        assert fake.image == "registry.example.test/orders:v2.4.1"


async def test_unloadable_certificates_are_configuration_errors(http, clock, tmp_path, pki):
    other = make_pki(tmp_path / "other")
    mismatched = write_kubeconfig(tmp_path / "mismatched", server="https://127.0.0.1:1",
                                  user={"client-certificate-data": pki.data(pki.client_cert_pem),
                                        "client-key-data": other.data(other.client_key_pem)})
    not_pem = write_kubeconfig(tmp_path / "not-pem", server="https://127.0.0.1:1",
                               cluster={"certificate-authority-data": pki.data(b"not a certificate")})
    for path, sentence in [
        (mismatched, f"The client certificate and key of user 'test' in the kubeconfig {mismatched} cannot be "
                     "loaded (missing, not PEM, or the key does not belong to the certificate)"),
        (not_pem, "The certificate authority data of cluster 'test' cannot be loaded (it is missing or not a PEM "
                  "certificate)"),
    ]:
        provider = KubernetesDeployer(http, KubeconfigAuth(path, environ={}), image=IMAGE, sleep=clock.sleep,
                                      clock=clock)
        with pytest.raises(ConfigurationError) as caught:
            await provider.deploy(make_request())
        assert str(caught.value) == sentence
