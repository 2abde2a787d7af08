"""Reading kubeconfig files (contexts, paths, clear errors) and the kubernetes provider's kubeconfig settings."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from integrations.errors import ConfigurationError
from integrations.kubernetes import KubernetesDeployer
from integrations.kubernetes_auth import KubeconfigAuth
from integrations.kubernetes_config import ExecConfig, read_kubeconfig
from integrations.settings import build_deployer, parse_deploy_settings
from tests.integrations.helpers import make_request

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
DATA = base64.b64encode(PEM).decode()

# As kubectl writes it: two clusters, an EKS-style exec user (with a folded installHint) and a token user.
KUBECONFIG = f"""\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {DATA}
    server: https://staging.example.test:6443
  name: staging
- cluster:
    certificate-authority: certs/prod-ca.crt
    server: https://prod.example.test/
  name: prod
contexts:
- context:
    cluster: staging
    namespace: ops
    user: ci
  name: staging-ci
- context:
    cluster: prod
    user: deployer
  name: prod
current-context: staging-ci
kind: Config
preferences: {{}}
users:
- name: ci
  user:
    token: staging-token
- name: deployer
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - eu-west-1
      - eks
      - get-token
      command: bin/aws
      env:
      - name: AWS_PROFILE
        value: prod
      installHint: Install the AWS CLI, which the eks get-token command needs, from
        https://docs.aws.example.test/cli
      interactiveMode: IfAvailable
      provideClusterInfo: false
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "config"
    path.write_text(text)
    return path


def test_current_context_is_the_default(tmp_path):
    config = read_kubeconfig(write(tmp_path, KUBECONFIG))
    assert config.context == "staging-ci"
    assert config.cluster.server == "https://staging.example.test:6443" and config.cluster.ca == PEM
    assert config.user.name == "ci" and config.user.token == "staging-token" and config.user.exec is None


def test_a_context_can_be_chosen_and_relative_paths_follow_the_file(tmp_path):
    config = read_kubeconfig(write(tmp_path, KUBECONFIG), "prod")
    assert config.cluster.server == "https://prod.example.test"
    assert config.cluster.ca == tmp_path / "certs" / "prod-ca.crt"
    assert config.user.exec == ExecConfig(
        command=str(tmp_path / "bin" / "aws"), api_version="client.authentication.k8s.io/v1beta1",
        args=("--region", "eu-west-1", "eks", "get-token"), env=(("AWS_PROFILE", "prod"),),
        install_hint="Install the AWS CLI, which the eks get-token command needs, from "
                     "https://docs.aws.example.test/cli",
    )


def test_json_kubeconfigs_are_read_too(tmp_path):
    text = ('{"clusters": [{"name": "c", "cluster": {"server": "https://k.test", "insecure-skip-tls-verify": true}}],'
            ' "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],'
            ' "users": [{"name": "u", "user": {"tokenFile": "/run/token"}}], "current-context": "x"}')
    config = read_kubeconfig(write(tmp_path, text))
    assert config.cluster.insecure and config.user.token_file == Path("/run/token")


def sentence(tmp_path, text: str, context: str | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        read_kubeconfig(path, context)
    return str(caught.value).replace(str(path), "<file>")


def replace(old: str, new: str) -> str:
    assert old in KUBECONFIG
    return KUBECONFIG.replace(old, new)


@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        (KUBECONFIG, "nope", "The kubeconfig <file> has no context 'nope' (it has: prod, staging-ci)"),
        (replace("current-context: staging-ci\n", ""), None,
         "The kubeconfig <file> has no current-context; set `context` to one of: prod, staging-ci"),
        (replace("    cluster: prod\n", "    cluster: gone\n"), "prod",
         "Context 'prod' in the kubeconfig <file> names the cluster 'gone', which the file does not define"),
        (replace("    user: ci\n", "    user: nobody\n"), None,
         "Context 'staging-ci' in the kubeconfig <file> names the user 'nobody', which the file does not define"),
        (replace("    server: https://staging.example.test:6443\n", ""), None,
         "Cluster 'staging' in the kubeconfig <file> has no server"),
        (replace(f"certificate-authority-data: {DATA}", "certificate-authority-data: not*base64!"), None,
         "Cluster 'staging' in the kubeconfig <file>: certificate-authority-data is not valid base64"),
        (replace("client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1alpha1"), "prod",
         "User 'deployer' in the kubeconfig <file> has an exec plugin with 'client.authentication.k8s.io/v1alpha1', "
         "which Opscord does not support (use client.authentication.k8s.io/v1 or "
         "client.authentication.k8s.io/v1beta1)"),
        (replace("      interactiveMode: IfAvailable\n", "").replace("/v1beta1", "/v1"), "prod",
         "User 'deployer' in the kubeconfig <file> has a client.authentication.k8s.io/v1 exec plugin without "
         "interactiveMode (set it to Never or IfAvailable)"),
        (replace("interactiveMode: IfAvailable", "interactiveMode: Always"), "prod",
         "User 'deployer' in the kubeconfig <file> has an exec plugin that always needs a terminal "
         "(interactiveMode: Always), which Opscord does not have"),
        (replace("      command: bin/aws\n", ""), "prod",
         "User 'deployer' in the kubeconfig <file> has an exec plugin with no command"),
        (replace("    token: staging-token\n", "    auth-provider:\n      name: gcp\n"), None,
         "User 'ci' in the kubeconfig <file> uses the gcp auth-provider, which Opscord does not support; use an "
         "exec credential plugin instead"),
        (replace("    token: staging-token\n", "    client-certificate-data: " + DATA + "\n"), None,
         "User 'ci' in the kubeconfig <file> sets a client-certificate but no client-key; set both (or their -data "
         "forms)"),
        (replace("  user:\n    token: staging-token\n", "  user:\n    username: admin\n    password: hunter2\n"),
         None, "User 'ci' in the kubeconfig <file> uses a username and password, which Kubernetes no longer "
               "accepts; use a token, a client certificate or an exec plugin"),
        (replace("      provideClusterInfo: false\n", "      provideClusterInfo: false\n    token: extra\n"), "prod",
         "User 'deployer' in the kubeconfig <file> sets both an exec plugin and a token; keep one"),
        (replace("    server: https://staging.example.test:6443\n",
                 "    server: https://staging.example.test:6443\n    insecure-skip-tls-verify: true\n"), None,
         "Cluster 'staging' in the kubeconfig <file> sets both insecure-skip-tls-verify and a certificate "
         "authority; keep one"),
        (replace("    server: https://staging.example.test:6443\n", "    server: staging.example.test\n"), None,
         "Cluster 'staging' in the kubeconfig <file> has a server that is not an http(s) URL"),
        ("clusters: [\n", None, "The kubeconfig <file> is not valid YAML (line 2)"),
        ("- just\n- a list\n", None, "The kubeconfig <file> is not a kubeconfig (no top-level mapping)"),
    ],
)
def test_problems_are_one_clear_sentence(tmp_path, text, context, expected):
    message = sentence(tmp_path, text, context)
    assert message == expected
    assert "staging-token" not in message and "hunter2" not in message


def test_an_unreadable_file(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(ConfigurationError) as caught:
        read_kubeconfig(missing)
    assert str(caught.value) == f"The kubeconfig {missing} cannot be read (No such file or directory)"


def test_without_pyyaml_the_sentence_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail
    with pytest.raises(ConfigurationError, match=r"needs the PyYAML package, which is not installed \(pip install"):
        read_kubeconfig(write(tmp_path, KUBECONFIG))


# --- settings ---------------------------------------------------------------------------------

BASE = {"provider": "kubernetes", "image": "registry.example.test/{service}:{version}"}


def test_kubeconfig_settings_expand_home_and_need_no_environment(http, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = parse_deploy_settings({**BASE, "kubeconfig": "~/.kube/config", "context": "prod"})
    assert settings.kubeconfig_path() == tmp_path / ".kube" / "config"
    assert settings.missing_env({}) == []
    provider = build_deployer(settings, http, {})  # the file is read on first use, not here
    assert isinstance(provider, KubernetesDeployer) and isinstance(provider.auth, KubeconfigAuth)
    assert provider.auth.path == tmp_path / ".kube" / "config" and provider.auth.context == "prod"


async def test_a_missing_kubeconfig_is_reported_on_first_use(http, tmp_path):
    provider = build_deployer(parse_deploy_settings({**BASE, "kubeconfig": str(tmp_path / "none")}), http, {})
    with pytest.raises(ConfigurationError, match="cannot be read"):
        await provider.deploy(make_request())


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"kubeconfig": "~/.kube/config", "api_url": "https://k8s.example.test"},
         "kubeconfig already gives the server and credentials, so remove api_url"),
        ({"kubeconfig": "~/.kube/config", "token_env": "KUBE_TOKEN", "ca_file": "/ca.crt"},
         "so remove token_env and ca_file"),
        ({"kubeconfig": "~/.kube/config", "verify_tls": False},
         r"remove verify_tls \(to skip TLS checks, set insecure-skip-tls-verify in the kubeconfig's cluster\)"),
        ({"context": "prod"}, "context chooses a kubeconfig context; set kubeconfig too"),
        ({"kubeconfig": ""}, "String should have at least 1 character"),
        ({"kube_config": "~/.kube/config"}, "kube_config\n  Extra inputs are not permitted"),
    ],
)
def test_kubeconfig_settings_are_validated(extra, problem):
    with pytest.raises(ValidationError, match=problem):
        parse_deploy_settings({**BASE, **extra})


def test_an_exec_plugin_does_not_inherit_opscords_own_secrets():
    from integrations.settings import plugin_environment

    environ = {"PATH": "/usr/bin", "HOME": "/home/ops", "AWS_PROFILE": "prod", "DISCORD_TOKEN": "x",
               "OPSCORD_WEBHOOK_SECRET": "y", "GITHUB_TOKEN": "z", "PAGERDUTY_ROUTING_KEY": "k",
               "STATUSPAGE_API_KEY": "s", "DB_PASSWORD": "p"}
    assert plugin_environment(environ) == {"PATH": "/usr/bin", "HOME": "/home/ops", "AWS_PROFILE": "prod"}
