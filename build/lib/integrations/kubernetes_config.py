"""Read a kubeconfig file: the cluster and user of one context, resolved as kubectl resolves them.

Only what Opscord uses is read: the cluster's ``server`` and TLS settings, and the user's
``token``, ``tokenFile``, client certificate and ``exec`` plugin. Relative file paths are taken
relative to the kubeconfig's own folder, as kubectl does. Messages name keys and entries, never
the secret values themselves.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from integrations.errors import ConfigurationError

__all__ = ["EXEC_API_VERSIONS", "ExecConfig", "KubeCluster", "KubeUser", "Kubeconfig", "Pem", "read_kubeconfig"]

_SYSTEM: Final = "Kubernetes"
EXEC_API_VERSIONS: Final = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
_INTERACTIVE_MODES: Final = ("Never", "IfAvailable", "Always")

Pem = bytes | Path
"""PEM material: the bytes themselves (from ``…-data``) or the file that holds them."""


@dataclass(frozen=True)
class KubeCluster:
    """Where the API server is and how to trust it."""

    name: str
    server: str
    ca: Pem | None = None
    insecure: bool = False


@dataclass(frozen=True)
class ExecConfig:
    """A credential plugin (``users[].user.exec``)."""

    command: str
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    install_hint: str = ""
    provide_cluster_info: bool = False


@dataclass(frozen=True)
class KubeUser:
    """How to authenticate: any of a token (or token file), a client certificate, an exec plugin."""

    name: str
    token: str | None = None
    token_file: Path | None = None
    certificate: Pem | None = None
    key: Pem | None = None
    exec: ExecConfig | None = None


@dataclass(frozen=True)
class Kubeconfig:
    """The chosen context of a kubeconfig file."""

    path: Path
    context: str
    cluster: KubeCluster
    user: KubeUser


def read_kubeconfig(path: Path, context: str | None = None) -> Kubeconfig:
    """Read ``path`` and resolve ``context`` (default: the file's current-context).

    Raises:
        ConfigurationError: one sentence naming the file, the entry and the key at fault.
    """
    try:
        import yaml
    except ImportError:  # PyYAML is not a runtime dependency (yet)
        raise ConfigurationError(
            _SYSTEM, "Reading a kubeconfig needs the PyYAML package, which is not installed (pip install pyyaml)"
        ) from None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigurationError(_SYSTEM, f"The kubeconfig {path} cannot be read ({reason})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigurationError(_SYSTEM, f"The kubeconfig {path} is not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(_SYSTEM, f"The kubeconfig {path} is not a kubeconfig (no top-level mapping)")
    return _Reader(path, document).resolve(context)


class _Reader:
    """Looks entries up by name and turns their fields into typed values, with clear errors."""

    def __init__(self, path: Path, document: dict[str, Any]) -> None:
        self.path = path
        self.document = document

    def fail(self, message: str) -> ConfigurationError:
        """An error about this file (``{file}`` in ``message`` names it)."""
        message = message.replace("{file}", f"the kubeconfig {self.path}")
        return ConfigurationError(_SYSTEM, message[:1].upper() + message[1:])

    def resolve(self, context: str | None) -> Kubeconfig:
        """The cluster and user of ``context`` or the current-context."""
        contexts = self.named("contexts", "context")
        chosen = context or self.document.get("current-context")
        if not chosen:
            raise self.fail(f"{{file}} has no current-context; set `context` to one of: {_listed(contexts)}")
        if not isinstance(chosen, str) or chosen not in contexts:
            raise self.fail(f"{{file}} has no context {chosen!r} (it has: {_listed(contexts)})")
        entry = contexts[chosen]
        where = f"Context {chosen!r} in {{file}}"
        cluster_name = self.text(entry, "cluster", where)
        user_name = self.text(entry, "user", where)
        if not cluster_name:
            raise self.fail(f"{where} names no cluster")
        clusters, users = self.named("clusters", "cluster"), self.named("users", "user")
        if cluster_name not in clusters:
            raise self.fail(f"{where} names the cluster {cluster_name!r}, which the file does not define")
        if user_name and user_name not in users:
            raise self.fail(f"{where} names the user {user_name!r}, which the file does not define")
        cluster = self.cluster(cluster_name, clusters[cluster_name])
        user = self.user(user_name, users[user_name]) if user_name else KubeUser("")
        return Kubeconfig(self.path, chosen, cluster, user)

    def named(self, section: str, field: str) -> dict[str, dict[str, Any]]:
        """``{name: entry[field]}`` for a list of ``{name, <field>}`` entries (contexts, clusters, users)."""
        entries = self.document.get(section) or []
        if not isinstance(entries, list):
            raise self.fail(f"`{section}` in {{file}} is not a list")
        found: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(entries):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise self.fail(f"Entry {index + 1} of `{section}` in {{file}} has no name")
            body = item.get(field) or {}
            if not isinstance(body, dict):
                raise self.fail(f"The {field} {item['name']!r} in {{file}} is not a mapping")
            found[item["name"]] = body
        return found

    def cluster(self, name: str, entry: dict[str, Any]) -> KubeCluster:
        """A cluster entry: server, certificate authority, insecure-skip-tls-verify."""
        where = f"Cluster {name!r} in {{file}}"
        server = self.text(entry, "server", where)
        if not server:
            raise self.fail(f"{where} has no server")
        if not server.startswith(("https://", "http://")):
            raise self.fail(f"{where} has a server that is not an http(s) URL")
        insecure = entry.get("insecure-skip-tls-verify", False)
        if not isinstance(insecure, bool):
            raise self.fail(f"{where}: insecure-skip-tls-verify must be true or false")
        ca = self.pem(entry, "certificate-authority", where)
        if insecure and ca is not None:
            raise self.fail(f"{where} sets both insecure-skip-tls-verify and a certificate authority; keep one")
        return KubeCluster(name, server.rstrip("/"), ca, insecure)

    def user(self, name: str, entry: dict[str, Any]) -> KubeUser:
        """A user entry: token, tokenFile, client certificate and key, exec plugin."""
        where = f"User {name!r} in {{file}}"
        if entry.get("auth-provider"):
            provider = entry["auth-provider"].get("name") if isinstance(entry["auth-provider"], dict) else None
            raise self.fail(f"{where} uses the {provider or 'legacy'} auth-provider, which Opscord does not "
                            "support; use an exec credential plugin instead")
        if entry.get("username") or entry.get("password"):
            raise self.fail(f"{where} uses a username and password, which Kubernetes no longer accepts; use a "
                            "token, a client certificate or an exec plugin")
        token = self.text(entry, "token", where) or None
        token_file = self.file(entry, "tokenFile", where)
        certificate = self.pem(entry, "client-certificate", where)
        key = self.pem(entry, "client-key", where)
        if (certificate is None) != (key is None):
            given, missing = ("client-certificate", "client-key") if key is None else ("client-key",
                                                                                     "client-certificate")
            raise self.fail(f"{where} sets a {given} but no {missing}; set both (or their -data forms)")
        plugin = self.exec(entry.get("exec"), where) if entry.get("exec") else None
        if plugin is not None and (token or token_file):
            raise self.fail(f"{where} sets both an exec plugin and a token; keep one")
        return KubeUser(name, token, token_file, certificate, key, plugin)

    def exec(self, entry: Any, where: str) -> ExecConfig:
        """An exec plugin: command, args, env, apiVersion (v1 or v1beta1)."""
        if not isinstance(entry, dict):
            raise self.fail(f"{where}: exec is not a mapping")
        api_version = self.text(entry, "apiVersion", f"{where} (exec)")
        if api_version not in EXEC_API_VERSIONS:
            shown = repr(api_version) if api_version else "no apiVersion"
            raise self.fail(f"{where} has an exec plugin with {shown}, which Opscord does not support "
                            f"(use {' or '.join(EXEC_API_VERSIONS)})")
        command = self.text(entry, "command", f"{where} (exec)")
        if not command:
            raise self.fail(f"{where} has an exec plugin with no command")
        if "/" in command and not Path(command).is_absolute():
            command = str(self.path.parent / command)  # kubectl: relative to the kubeconfig's folder
        args = entry.get("args") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise self.fail(f"{where}: exec args must be a list of text")
        env: list[tuple[str, str]] = []
        for item in entry.get("env") or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(
                    item.get("value"), str):
                raise self.fail(f"{where}: each exec env entry needs a name and a text value")
            env.append((item["name"], item["value"]))
        mode = entry.get("interactiveMode")
        if mode is None and api_version.endswith("/v1"):
            raise self.fail(f"{where} has a client.authentication.k8s.io/v1 exec plugin without interactiveMode "
                            "(set it to Never or IfAvailable)")
        if mode is not None and mode not in _INTERACTIVE_MODES:
            raise self.fail(f"{where}: exec interactiveMode must be one of {', '.join(_INTERACTIVE_MODES)}")
        if mode == "Always":
            raise self.fail(f"{where} has an exec plugin that always needs a terminal (interactiveMode: Always), "
                            "which Opscord does not have")
        return ExecConfig(command, api_version, tuple(args), tuple(env),
                          install_hint=self.text(entry, "installHint", f"{where} (exec)"),
                          provide_cluster_info=entry.get("provideClusterInfo") is True)

    def text(self, entry: Mapping[str, Any], key: str, where: str) -> str:
        """A text field ("" when absent)."""
        value = entry.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(f"{where}: {key} must be text")
        return value

    def file(self, entry: Mapping[str, Any], key: str, where: str) -> Path | None:
        """A file path field, relative to the kubeconfig's folder."""
        value = self.text(entry, key, where)
        return self.path.parent / Path(value).expanduser() if value else None

    def pem(self, entry: Mapping[str, Any], key: str, where: str) -> Pem | None:
        """``key-data`` (base64 of PEM) or ``key`` (a file); the data form wins, as in kubectl."""
        data = self.text(entry, f"{key}-data", where)
        if data:
            try:
                return base64.b64decode("".join(data.split()), validate=True)
            except (binascii.Error, ValueError):
                raise self.fail(f"{where}: {key}-data is not valid base64") from None
        return self.file(entry, key, where)


def _listed(names: Mapping[str, Any]) -> str:
    """Names for a message."""
    return ", ".join(sorted(names)) or "none"
