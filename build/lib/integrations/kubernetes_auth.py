"""How to reach and authenticate to a Kubernetes API server.

Three ways:

- an explicit API URL with a bearer token (from an environment variable);
- in-cluster: the server from ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT_HTTPS``, the
  service-account CA, and the service-account token, re-read on every call because it rotates;
- a kubeconfig context (``KubeconfigAuth``): its server and CA, and its user's token, token file,
  client certificate or exec plugin. The file is read on first use, in a thread.

Every way ends in a ``Connection`` per request: URL, headers and the ``ssl`` argument for aiohttp,
so the adapter stays on the shared session whatever the credentials are.
"""

from __future__ import annotations

import asyncio
import ssl as ssllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from integrations.errors import ConfigurationError
from integrations.kubernetes_config import read_kubeconfig
from integrations.kubernetes_exec import ExecPlugin, WallClock, utcnow
from integrations.kubernetes_tls import tls_context

__all__ = ["SERVICE_ACCOUNT_DIR", "Connection", "KubeconfigAuth", "KubernetesAccess", "KubernetesAuth"]

SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_SYSTEM: Final = "Kubernetes"


@dataclass(frozen=True)
class Connection:
    """What one request needs: the server, its auth headers, and the ``ssl`` argument for aiohttp."""

    api_url: str
    headers: dict[str, str]
    ssl: ssllib.SSLContext | bool


class KubernetesAccess(Protocol):
    """Anything that says how to reach the API server for the next request."""

    async def connection(self) -> Connection:
        """The server, headers and TLS setting for the next request."""
        ...

    def forget_credentials(self) -> bool:
        """Drop cached credentials after a 401; True when a retry could present new ones."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """The credential values in use, for scrubbing them from anything shown."""
        ...


class KubernetesAuth:
    """API server location, TLS setting and bearer token source.

    Args:
        api_url: The API server base URL.
        token: A fixed bearer token, or None.
        token_file: A file holding the token, read on every call (takes precedence over ``token``).
        ssl: TLS setting for aiohttp: an ``SSLContext`` trusting the cluster CA (and presenting a
            client certificate), True for the system trust store, False to skip verification.
        plugin: An exec credential plugin whose token (and client certificate, when it gives one)
            is used instead.
    """

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        ssl: ssllib.SSLContext | bool = True,
        plugin: ExecPlugin | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._file_token: str | None = None  # the token last read from token_file
        self.token_file = token_file
        self.ssl = ssl
        self.plugin = plugin

    @classmethod
    def from_kubeconfig(cls, path: Path, *, context: str | None = None, environ: Mapping[str, str],
                        now: WallClock = utcnow) -> KubernetesAuth:
        """Read a kubeconfig context (blocking file reads: call it in a thread).

        Args:
            environ: The environment an exec plugin inherits.

        Raises:
            ConfigurationError: when the file, the context or its entries are unusable.
        """
        config = read_kubeconfig(path, context)
        user = config.user
        owner = f"user {user.name!r} in the kubeconfig {path}"
        ssl = tls_context(config.cluster, user.certificate, user.key, owner=owner)
        plugin = ExecPlugin(user.exec, config.cluster, environ=environ, now=now) if user.exec else None
        return cls(config.cluster.server, token=user.token, token_file=user.token_file, ssl=ssl, plugin=plugin)

    def secrets(self) -> tuple[str, ...]:
        """The token values sent so far (fixed, last read from the file, the exec plugin's), for scrubbing."""
        plugin = self.plugin.token if self.plugin is not None else None
        return tuple(t for t in (self._token, self._file_token, plugin) if t)

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str], *, account_dir: Path = SERVICE_ACCOUNT_DIR
    ) -> KubernetesAuth:
        """Build the in-cluster configuration (reads the CA file once, at startup).

        Raises:
            ConfigurationError: when not running in a cluster or the CA file is missing.
        """
        host = environ.get("KUBERNETES_SERVICE_HOST")
        port = environ.get("KUBERNETES_SERVICE_PORT_HTTPS") or environ.get("KUBERNETES_SERVICE_PORT") or "443"
        if not host:
            raise ConfigurationError(
                _SYSTEM, "Kubernetes in-cluster access needs KUBERNETES_SERVICE_HOST, which is not set"
            )
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        ca_file = account_dir / "ca.crt"
        try:
            context = ssllib.create_default_context(cafile=str(ca_file))
        except (OSError, ssllib.SSLError):
            raise ConfigurationError(_SYSTEM, f"Kubernetes CA file {ca_file} cannot be read") from None
        return cls(f"https://{host}:{port}", token_file=account_dir / "token", ssl=context)

    @classmethod
    def with_ca_file(cls, api_url: str, *, token: str | None, ca_file: str) -> KubernetesAuth:
        """An explicit server whose certificate is signed by the CA in ``ca_file``."""
        try:
            context = ssllib.create_default_context(cafile=ca_file)
        except (OSError, ssllib.SSLError):
            raise ConfigurationError(_SYSTEM, f"Kubernetes CA file {ca_file} cannot be read") from None
        return cls(api_url, token=token, ssl=context)

    async def connection(self) -> Connection:
        """The server, the current token's header, and the TLS context (an exec plugin may renew both)."""
        ssl = self.ssl
        if self.plugin is not None:
            credential = await self.plugin.credential()
            ssl = credential.ssl or ssl
            headers = {"Authorization": f"Bearer {credential.token}"} if credential.token else {}
            return Connection(self.api_url, headers, ssl)
        return Connection(self.api_url, await self.headers(), ssl)

    def forget_credentials(self) -> bool:
        """Drop an exec plugin's cached credential; True when there was one to renew."""
        return self.plugin.forget() if self.plugin is not None else False

    async def headers(self) -> dict[str, str]:
        """Request headers carrying the current token or token file (none when there is no token)."""
        token = self._token
        if self.token_file is not None:
            try:
                token = self._file_token = (await asyncio.to_thread(self.token_file.read_text)).strip()
            except OSError:
                raise ConfigurationError(
                    _SYSTEM, f"Kubernetes token file {self.token_file} cannot be read"
                ) from None
        return {"Authorization": f"Bearer {token}"} if token else {}


class KubeconfigAuth:
    """A kubeconfig context, read on first use (in a thread) and then used as its ``KubernetesAuth``.

    Args:
        path: The kubeconfig file (``~`` already expanded).
        context: The context to use; None means the file's current-context.
        environ: The environment an exec plugin inherits.
        now: Wall clock for exec credential expiry (injectable for tests).
    """

    def __init__(self, path: Path, *, context: str | None = None, environ: Mapping[str, str],
                 now: WallClock = utcnow) -> None:
        self.path = path
        self.context = context
        self._environ = dict(environ)
        self._now = now
        self._auth: KubernetesAuth | None = None
        self._lock = asyncio.Lock()

    async def resolved(self) -> KubernetesAuth:
        """The ``KubernetesAuth`` the kubeconfig describes (read once; a failed read is retried next call)."""
        async with self._lock:
            if self._auth is None:
                self._auth = await asyncio.to_thread(
                    KubernetesAuth.from_kubeconfig, self.path, context=self.context, environ=self._environ,
                    now=self._now,
                )
            return self._auth

    async def connection(self) -> Connection:
        """The server, headers and TLS context from the kubeconfig."""
        return await (await self.resolved()).connection()

    def forget_credentials(self) -> bool:
        """Drop the exec plugin's cached credential, if any."""
        return self._auth.forget_credentials() if self._auth is not None else False

    def secrets(self) -> tuple[str, ...]:
        """The credential values in use (none before the kubeconfig was read)."""
        return self._auth.secrets() if self._auth is not None else ()
