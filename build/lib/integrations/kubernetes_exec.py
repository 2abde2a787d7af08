"""Exec credential plugins (``client.authentication.k8s.io`` v1 and v1beta1), as kubectl runs them.

The plugin is started with ``asyncio.create_subprocess_exec`` (never a shell), with the bot's
environment plus the kubeconfig's ``env`` entries and ``KUBERNETES_EXEC_INFO``, no terminal and no
stdin. It prints an ``ExecCredential`` whose token (or client certificate) is kept until its
``expirationTimestamp`` (for ever when it gives none, until the API server answers 401). Only
one run is in flight at a time. What the plugin prints is never logged nor put in messages; a
failure is one sentence with the plugin's last line of error output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from integrations.errors import ConfigurationError, ProviderFailed, UpstreamTimeout
from integrations.kubernetes_config import ExecConfig, KubeCluster
from integrations.kubernetes_tls import tls_context

__all__ = ["ExecCredential", "ExecPlugin", "WallClock", "utcnow"]

_SYSTEM: Final = "Kubernetes"
_EARLY: Final = timedelta(seconds=10)  # renew slightly before expiry so a token does not lapse mid-call

WallClock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExecCredential:
    """What a plugin run gave: a bearer token and/or a TLS context with its client certificate."""

    token: str | None
    ssl: ssl.SSLContext | None
    expires: datetime | None


class ExecPlugin:
    """Runs one kubeconfig user's exec plugin and caches its credential.

    Args:
        config: The plugin's command, args, env and apiVersion.
        cluster: The cluster it authenticates to (for client certificates and provideClusterInfo).
        environ: The environment the plugin inherits (the bot's, as kubectl passes its own).
        timeout: Seconds a run may take before it is killed.
        now: Wall clock for expiry (injectable for tests).
    """

    def __init__(self, config: ExecConfig, cluster: KubeCluster, *, environ: Mapping[str, str],
                 timeout: float = 60.0, now: WallClock = utcnow) -> None:
        self.config = config
        self.cluster = cluster
        self.timeout = timeout
        self._environ = dict(environ)
        self._now = now
        self._cached: ExecCredential | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """The plugin's command name, for messages."""
        return Path(self.config.command).name

    async def credential(self) -> ExecCredential:
        """The cached credential, or a fresh one when there is none or it has (nearly) expired."""
        async with self._lock:
            cached = self._cached
            if cached is None or (cached.expires is not None and self._now() >= cached.expires - _EARLY):
                self._cached = cached = await self._run()
            return cached

    @property
    def token(self) -> str | None:
        """The token of the credential cached now (for scrubbing it from what is shown)."""
        return self._cached.token if self._cached is not None else None

    def forget(self) -> bool:
        """Drop the cached credential (the API server refused it); True when there was one."""
        had, self._cached = self._cached is not None, None
        return had

    async def _run(self) -> ExecCredential:
        """Run the plugin once and read its ExecCredential."""
        env = {**self._environ, **dict(self.config.env), "KUBERNETES_EXEC_INFO": json.dumps(self._exec_info())}
        try:
            process = await asyncio.create_subprocess_exec(
                self.config.command, *self.config.args, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            hint = f" ({self.config.install_hint.strip()})" if self.config.install_hint.strip() else ""
            raise ConfigurationError(
                _SYSTEM, f"The Kubernetes credential plugin {self.config.command} was not found{hint}"
            ) from None
        except OSError as exc:
            raise ConfigurationError(
                _SYSTEM, f"The Kubernetes credential plugin {self.config.command} cannot be started "
                         f"({exc.strerror or type(exc).__name__})"
            ) from None
        try:
            async with asyncio.timeout(self.timeout):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            raise UpstreamTimeout(
                _SYSTEM, f"The Kubernetes credential plugin {self.name} did not finish within {self.timeout:g} s"
            ) from None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode != 0:
            lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
            said = f": {lines[-1][:300]}" if lines else ""
            raise ProviderFailed(
                _SYSTEM, f"The Kubernetes credential plugin {self.name} failed (exit status {process.returncode})"
                         f"{said}"
            )
        return await self._read(stdout)

    def _exec_info(self) -> dict[str, Any]:
        """``KUBERNETES_EXEC_INFO``: non-interactive, and the cluster when the plugin asks for it."""
        spec: dict[str, Any] = {"interactive": False}
        if self.config.provide_cluster_info:
            cluster: dict[str, Any] = {"server": self.cluster.server}
            ca = self.cluster.ca
            if ca is not None:
                try:
                    data = ca.read_bytes() if isinstance(ca, Path) else ca
                except OSError:
                    data = b""
                cluster["certificate-authority-data"] = base64.b64encode(data).decode()
            if self.cluster.insecure:
                cluster["insecure-skip-tls-verify"] = True
            spec["cluster"] = cluster
        return {"apiVersion": self.config.api_version, "kind": "ExecCredential", "spec": spec}

    async def _read(self, stdout: bytes) -> ExecCredential:
        """Check the printed ExecCredential and turn it into a credential."""
        try:
            printed = json.loads(stdout)
        except ValueError:
            printed = None
        if not isinstance(printed, dict) or printed.get("kind") != "ExecCredential":
            raise self._bad("printed something that is not an ExecCredential")
        if printed.get("apiVersion") != self.config.api_version:
            raise self._bad(f"printed an ExecCredential of apiVersion {printed.get('apiVersion')!r}, but the "
                            f"kubeconfig asks for {self.config.api_version}")
        status = printed.get("status")
        if not isinstance(status, dict):
            raise self._bad("printed an ExecCredential without a status")
        token = status.get("token") or None
        certificate, key = status.get("clientCertificateData"), status.get("clientKeyData")
        if not (isinstance(token, str) or (isinstance(certificate, str) and isinstance(key, str))):
            raise self._bad("printed an ExecCredential with neither a token nor a client certificate and key")
        context = None
        if isinstance(certificate, str) and isinstance(key, str):
            context = await asyncio.to_thread(tls_context, self.cluster, certificate.encode(), key.encode(),
                                              owner=f"the credential plugin {self.name}")
        return ExecCredential(token if isinstance(token, str) else None, context,
                              self._expiry(status.get("expirationTimestamp")))

    def _expiry(self, value: Any) -> datetime | None:
        """An RFC 3339 ``expirationTimestamp`` (None when absent)."""
        if value is None:
            return None
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise self._bad("printed an expirationTimestamp that is not an RFC 3339 time") from None
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

    def _bad(self, what: str) -> ProviderFailed:
        return ProviderFailed(_SYSTEM, f"The Kubernetes credential plugin {self.name} {what}")
