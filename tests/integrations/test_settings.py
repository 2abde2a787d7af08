"""Provider settings: validation, secrets by env-var name only, and the factory."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from integrations.argocd import ArgoCDDeployer
from integrations.base import Deployer, Migrator, Scaler, supported_actions
from integrations.command import CommandProvider
from integrations.errors import ConfigurationError
from integrations.github_actions import GitHubActionsDeployer
from integrations.kubernetes import KubernetesDeployer
from integrations.settings import (
    ArgoCDSettings,
    CommandSettings,
    GitHubActionsSettings,
    KubernetesSettings,
    WebhookSettings,
    build_deployer,
    parse_deploy_settings,
)
from integrations.webhook import WebhookProvider

TABLES = {
    "command": {"provider": "command", "deploy": ["./deploy.sh", "{service}", "{version}"],
                "pass_env": ["KUBECONFIG"]},
    "webhook": {"provider": "webhook", "url": "https://hooks.example.test/deploy", "secret_env": "HOOK_SECRET"},
    "github_actions": {"provider": "github_actions", "repository": "acme/orders", "workflow": "deploy.yml"},
    "argocd": {"provider": "argocd", "base_url": "https://argocd.example.test"},
    "kubernetes": {"provider": "kubernetes", "api_url": "https://k8s.example.test:6443",
                   "image": "registry.example.test/{service}:{version}", "token_env": "KUBE_TOKEN"},
}
ENV = {"KUBECONFIG": "/k", "HOOK_SECRET": "h", "GITHUB_TOKEN": "g", "ARGOCD_TOKEN": "a", "KUBE_TOKEN": "k"}


@pytest.mark.parametrize(
    ("name", "model", "adapter", "env"),
    [
        ("command", CommandSettings, CommandProvider, ["KUBECONFIG"]),
        ("webhook", WebhookSettings, WebhookProvider, ["HOOK_SECRET"]),
        ("github_actions", GitHubActionsSettings, GitHubActionsDeployer, ["GITHUB_TOKEN"]),
        ("argocd", ArgoCDSettings, ArgoCDDeployer, ["ARGOCD_TOKEN"]),
        ("kubernetes", KubernetesSettings, KubernetesDeployer, ["KUBE_TOKEN"]),
    ],
)
def test_each_provider_parses_lists_its_env_and_builds(http, name, model, adapter, env):
    settings = parse_deploy_settings(TABLES[name])
    assert isinstance(settings, model)
    assert settings.missing_env({}) == env
    assert settings.missing_env(ENV) == []
    built = build_deployer(settings, http, ENV)
    assert isinstance(built, adapter) and isinstance(built, Deployer)


def test_missing_secret_is_a_configuration_error_naming_the_variable(http):
    settings = parse_deploy_settings(TABLES["github_actions"])
    with pytest.raises(ConfigurationError) as caught:
        build_deployer(settings, http, {"GITHUB_TOKEN": ""})
    assert str(caught.value) == ("The github_actions deploy provider needs the environment variable "
                                 "GITHUB_TOKEN, which is not set")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({**TABLES["argocd"], "token": "abc"}, "Extra inputs are not permitted"),
        ({**TABLES["command"], "deploy": ["x", "{image}"]}, "unknown placeholder"),
        ({"provider": "command"}, "at least one of"),
        ({"provider": "ansible"}, "does not match any of the expected tags"),
        ({**TABLES["github_actions"], "repository": "acme"}, "String should match pattern"),
        ({**TABLES["kubernetes"], "image": "registry/{service}:latest"}, "must contain {version}"),
        ({**TABLES["webhook"], "secret_env": "not a name"}, "String should match pattern"),
        ({**TABLES["webhook"], "url": "ftp://x"}, "String should match pattern"),
    ],
)
def test_invalid_tables_name_the_problem(table, problem):
    with pytest.raises(ValidationError, match=problem):
        parse_deploy_settings(table)


def test_capabilities_of_built_providers(http):
    github = build_deployer(parse_deploy_settings({**TABLES["github_actions"], "migrate_workflow": "m.yml"}),
                            http, ENV)
    assert supported_actions(github) == {"deploy", "rollback", "migrate"}
    kube = build_deployer(parse_deploy_settings(TABLES["kubernetes"]), http, ENV)
    assert isinstance(kube, Scaler) and supported_actions(kube) == {"deploy", "rollback", "scale"}
    argo = build_deployer(parse_deploy_settings(TABLES["argocd"]), http, ENV)
    assert not isinstance(argo, Scaler) and not isinstance(argo, Migrator)


def test_command_environment_is_built_from_names(http):
    settings = parse_deploy_settings({**TABLES["command"], "env": {"REGION": "eu-west-1"}})
    built = build_deployer(settings, http, {**ENV, "PATH": "/bin", "DISCORD_TOKEN": "x"})
    assert isinstance(built, CommandProvider)
    assert built.env == {"PATH": "/bin", "KUBECONFIG": "/k", "REGION": "eu-west-1"}


def test_in_cluster_kubernetes_needs_the_service_host(http, tmp_path):
    settings = parse_deploy_settings({"provider": "kubernetes", "image": "r/{service}:{version}"})
    assert settings.missing_env({}) == ["KUBERNETES_SERVICE_HOST"]
    with pytest.raises(ConfigurationError, match="KUBERNETES_SERVICE_HOST"):
        build_deployer(settings, http, {})
