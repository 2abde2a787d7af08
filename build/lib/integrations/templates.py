"""Safe ``{placeholder}`` templates for argv elements, image references and resource names.

Unlike ``str.format`` these templates allow only bare names (no attribute access, indexing or
format specs), so a configured template cannot reach into Python objects, and a substituted value
is inserted literally: it is never parsed again. ``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

__all__ = ["OPERATION_PLACEHOLDERS", "TemplateError", "placeholders", "render", "validate"]

OPERATION_PLACEHOLDERS: frozenset[str] = frozenset(
    {"service", "environment", "version", "replicas", "request_id", "action", "previous_version"}
)

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")


class TemplateError(ValueError):
    """A template is malformed, names an unknown placeholder, or lacks a value."""


def placeholders(template: str) -> list[str]:
    """Return the placeholder names used in ``template`` in order of appearance.

    Raises:
        TemplateError: on a stray ``{`` or ``}`` or a placeholder that is not a bare name.
    """
    names: list[str] = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise TemplateError(f"template {template!r} has a stray {token!r} (write {token * 2})")
        names.append(match.group(1))
    return names


def validate(template: str, allowed: Collection[str] = OPERATION_PLACEHOLDERS) -> None:
    """Check that ``template`` is well formed and uses only ``allowed`` placeholders."""
    unknown = [name for name in placeholders(template) if name not in allowed]
    if unknown:
        raise TemplateError(
            f"template {template!r} uses unknown placeholder {{{unknown[0]}}}; "
            f"known: {', '.join('{' + n + '}' for n in sorted(allowed))}"
        )


def render(template: str, values: Mapping[str, str | None]) -> str:
    """Substitute ``values`` into ``template``; every value is inserted as literal text.

    Raises:
        TemplateError: when the template is malformed or a used placeholder has no value (missing
            or None).
    """
    placeholders(template)  # validates the whole template before substituting anything

    def substitute(match: re.Match[str]) -> str:
        piece = match.group(0)
        if piece == "{{":
            return "{"
        if piece == "}}":
            return "}"
        name = match.group(1)
        value = values.get(name)
        if value is None:
            raise TemplateError(f"no value for {{{name}}}")
        return value

    return _TOKEN.sub(substitute, template)
