"""Helpers shared by the observability adapters (Loki, Prometheus, PagerDuty, Statuspage, Grafana):
Go string literals for query languages, label-name checks, auth headers and secret scrubbing.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Final, TypeVar

from integrations.errors import ConfigurationError, IntegrationError, UpstreamRefused, UpstreamUnavailable

__all__ = ["LABEL_NAME", "auth_headers", "check_label_name", "go_string", "scrubbed"]

LABEL_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_E = TypeVar("_E", bound=IntegrationError)


def go_string(value: str) -> str:
    """Quote ``value`` as a Go interpreted string literal, as LogQL and PromQL read them.

    ``json.dumps`` escapes exactly what must be escaped (``"``, ``\\`` and control characters) with
    escapes Go also understands; other characters stay as they are. Lone surrogates (which cannot
    be sent as UTF-8) become U+FFFD. Whatever ``value`` holds, the result is one string literal.
    """
    return json.dumps(_SURROGATE.sub("\ufffd", value), ensure_ascii=False)


def check_label_name(system: str, name: str) -> str:
    """Return ``name`` when it is a valid Loki/Prometheus label name, else raise ``ConfigurationError``."""
    if not LABEL_NAME.fullmatch(name):
        raise ConfigurationError(
            system, f"{system}: {name[:80]!r} is not a valid label name (letters, digits and _, not first a digit)"
        )
    return name


def auth_headers(token: str | None = None, basic: tuple[str, str] | None = None) -> dict[str, str]:
    """``Authorization`` for a bearer token or basic credentials (at most one of them)."""
    if token and basic:
        raise ConfigurationError("auth", "configure either a bearer token or basic credentials, not both")
    if token:
        return {"Authorization": f"Bearer {token}"}
    if basic:
        pair = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def scrubbed(error: _E, secrets: Iterable[str | None]) -> _E:
    """Return ``error`` with every secret value replaced by ``***`` in its message and output.

    Upstreams sometimes echo what they were sent; this keeps keys out of user-facing sentences.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            error.message = error.message.replace(secret, "***")
            error.output = error.output.replace(secret, "***")
            error.args = (error.message,)
            if isinstance(error, UpstreamRefused | UpstreamUnavailable):
                error.upstream_message = error.upstream_message.replace(secret, "***")
    return error

