"""PromQL templates: ``{service}``/``{environment}`` placeholders substituted as quoted literals.

A template writes a placeholder where a label value goes, *without* quotes: ``up{job={service}}``.
``render_query`` replaces it with the value as a Go string literal (``promql_quote``), so whatever
the value holds — quotes, backslashes, braces, newlines, ``"} or vector(1) #`` — it stays one
string. A placeholder inside a quoted string of the template is refused (it would not be quoted),
and so is an unknown one. ``{`` and ``}`` are otherwise PromQL's own braces, left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from integrations._observability import go_string
from integrations.templates import TemplateError

__all__ = ["QUERY_PLACEHOLDERS", "promql_quote", "render_query", "validate_query_template"]

QUERY_PLACEHOLDERS: Final = frozenset({"service", "environment"})
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def promql_quote(value: str) -> str:
    """``value`` as one PromQL string literal (Go syntax): ``a"b`` → ``"a\\"b"``."""
    return go_string(value)


def _scan(template: str) -> list[re.Match[str]]:
    """The ``{name}`` placeholders outside string literals and comments.

    Raises:
        TemplateError: on a placeholder inside a quoted string, or an unknown placeholder.
    """
    found: list[re.Match[str]] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char in "\"'`":
            end = i + 1
            while end < len(template) and template[end] != char:
                end += 2 if template[end] == "\\" and char != "`" else 1
            if _PLACEHOLDER.search(template, i, min(end, len(template))):
                raise TemplateError(
                    f"query {template!r} has a placeholder inside a quoted string: write job={{service}} "
                    "without quotes (Opscord quotes the value itself)"
                )
            i = end + 1
        elif char == "#":
            newline = template.find("\n", i)
            i = len(template) if newline < 0 else newline + 1
        elif (match := _PLACEHOLDER.match(template, i)) is not None:
            if match.group(1) not in QUERY_PLACEHOLDERS:
                raise TemplateError(f"query {template!r} uses unknown placeholder {{{match.group(1)}}}; "
                                    "known: {environment}, {service}")
            found.append(match)
            i = match.end()
        else:
            i += 1
    return found


def validate_query_template(template: str) -> None:
    """Check a PromQL template's placeholders (raises ``TemplateError``)."""
    _scan(template)


def render_query(template: str, values: Mapping[str, str]) -> str:
    """Substitute each ``{placeholder}`` with its value as a quoted string literal."""
    pieces: list[str] = []
    last = 0
    for match in _scan(template):
        pieces += [template[last:match.start()], promql_quote(values[match.group(1)])]
        last = match.end()
    return "".join([*pieces, template[last:]])
