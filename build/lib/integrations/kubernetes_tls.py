"""The ``ssl.SSLContext`` for one Kubernetes cluster and client identity, passed to aiohttp per request.

Python's ``ssl`` loads a client certificate only from files, so PEM data (from a kubeconfig's
``client-certificate-data`` or an exec plugin) is written to a private temporary folder for the
moment it takes to load, then removed. Building a context touches files: call it in a thread.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import Final

from integrations.errors import ConfigurationError
from integrations.kubernetes_config import KubeCluster, Pem

__all__ = ["tls_context"]

_SYSTEM: Final = "Kubernetes"


def tls_context(cluster: KubeCluster, certificate: Pem | None = None, key: Pem | None = None, *,
                owner: str = "the kubeconfig") -> ssl.SSLContext:
    """Trust the cluster's CA (or the system store, or nothing when insecure) and present the client
    certificate when one is given.

    Args:
        owner: Where the certificate came from, for messages ("user 'ci' in the kubeconfig …").

    Raises:
        ConfigurationError: when the CA, certificate or key cannot be read or loaded.
    """
    try:  # with a CA given, only that CA is trusted, as kubectl does
        if isinstance(cluster.ca, Path):
            context = ssl.create_default_context(cafile=str(cluster.ca))
        elif cluster.ca is not None:
            context = ssl.create_default_context(cadata=cluster.ca.decode("ascii"))
        else:
            context = ssl.create_default_context()
    except (OSError, ssl.SSLError, UnicodeDecodeError, ValueError):
        source = f"file {cluster.ca}" if isinstance(cluster.ca, Path) else "data"
        raise ConfigurationError(
            _SYSTEM, f"The certificate authority {source} of cluster {cluster.name!r} cannot be loaded "
                     "(it is missing or not a PEM certificate)"
        ) from None
    if cluster.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certificate is not None and key is not None:
        _load_client_certificate(context, certificate, key, owner)
    return context


def _load_client_certificate(context: ssl.SSLContext, certificate: Pem, key: Pem, owner: str) -> None:
    """Load the certificate and key, from temporary files when they are data."""
    with tempfile.TemporaryDirectory(prefix="opscord-kube-") as folder:  # created 0700, removed on exit
        cert_file = certificate if isinstance(certificate, Path) else _private_file(folder, "client.crt", certificate)
        key_file = key if isinstance(key, Path) else _private_file(folder, "client.key", key)
        try:
            context.load_cert_chain(str(cert_file), str(key_file))
        except (OSError, ssl.SSLError):
            raise ConfigurationError(
                _SYSTEM, f"The client certificate and key of {owner} cannot be loaded (missing, not PEM, or "
                         "the key does not belong to the certificate)"
            ) from None


def _private_file(folder: str, name: str, data: bytes) -> Path:
    """Write ``data`` to a file only the owner can read."""
    path = Path(folder) / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path
