"""How to reach and authenticate to a Kubernetes API server.

Either an explicit API URL with a bearer token (from an environment variable), or in-cluster: the
server from ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT_HTTPS``, the service-account CA,
and the service-account token, which is re-read on every call because the kubelet rotates it.
"""

from __future__ import annotations

import asyncio
import ssl as ssllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from integrations.errors import ConfigurationError

__all__ = ["SERVICE_ACCOUNT_DIR", "KubernetesAuth"]

SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_SYSTEM: Final = "Kubernetes"


class KubernetesAuth:
    """API server location, TLS setting and bearer token source.

    Args:
        api_url: The API server base URL.
        token: A fixed bearer token, or None.
        token_file: A file holding the token, read on every call (takes precedence over ``token``).
        ssl: TLS setting for aiohttp: an ``SSLContext`` trusting the cluster CA, True for the
            system trust store, False to skip verification.
    """

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        ssl: ssllib.SSLContext | bool = True,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._file_token: str | None = None  # the token last read from token_file
        self.token_file = token_file
        self.ssl = ssl

    def secrets(self) -> tuple[str, ...]:
        """The token values sent so far (the fixed one, the one last read from the file), for scrubbing."""
        return tuple(t for t in (self._token, self._file_token) if t)

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

    async def headers(self) -> dict[str, str]:
        """Request headers carrying the current token (none when there is no token)."""
        token = self._token
        if self.token_file is not None:
            try:
                token = self._file_token = (await asyncio.to_thread(self.token_file.read_text)).strip()
            except OSError:
                raise ConfigurationError(
                    _SYSTEM, f"Kubernetes token file {self.token_file} cannot be read"
                ) from None
        return {"Authorization": f"Bearer {token}"} if token else {}
