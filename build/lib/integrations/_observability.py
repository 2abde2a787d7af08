"""Helpers shared by the observability adapters (Loki, Prometheus, PagerDuty, Statuspage, Grafana):
Go string literals for query languages, label-name checks and auth headers. (Secrets are scrubbed
by ``integrations.scrub``.)
"""

from __future__ import annotations

import base64
import json
import re
from typing import Final

from integrations.errors import ConfigurationError

__all__ = ["LABEL_NAME", "auth_headers", "basic_secrets", "check_label_name", "go_string"]

LABEL_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


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


def basic_secrets(token: str | None, basic: tuple[str, str] | None) -> tuple[str | None, ...]:
    """The secret values behind ``auth_headers``: the token, the password and ``user:password``
    (whose base64 form is what the ``Authorization`` header carries)."""
    if basic is None:
        return (token,)
    return token, basic[1], f"{basic[0]}:{basic[1]}"
