"""Helpers shared by the adapters: resource-name checks and URL path segments."""

from __future__ import annotations

import re
from urllib.parse import quote

from integrations.errors import ConfigurationError

__all__ = ["DNS_LABEL", "DNS_SUBDOMAIN", "checked_name", "segment"]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def checked_name(system: str, kind: str, name: str, pattern: re.Pattern[str] = DNS_SUBDOMAIN) -> str:
    """Return ``name`` when it is a valid resource name, else raise ``ConfigurationError``.

    Names come from templates filled with service and environment names, so they are checked
    before they become part of a URL path.
    """
    if not pattern.fullmatch(name):
        raise ConfigurationError(system, f"{system}: {name[:80]!r} is not a valid {kind} name")
    return name


def segment(value: str) -> str:
    """Quote ``value`` as one URL path segment (a ``/`` inside it cannot add a segment)."""
    return quote(value, safe="")
