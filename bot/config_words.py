"""pydantic's validation errors in plain words: what a key must be, never the library's phrasing."""

from __future__ import annotations

from typing import Any

_PATTERNS = {
    r"^https?://": "must be an http:// or https:// URL",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "must be a name of letters, digits and _ (not starting with a digit)",
    r"^[a-z0-9][a-z0-9_-]{0,62}$": "must be lowercase letters, digits, - or _ (starting with a letter or digit, "
                                   "at most 63)",
}
_FIXED = {
    "missing": "is required",
    "extra_forbidden": "unknown key",
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "string_type": "must be text in quotes",
    "list_type": 'must be a list, e.g. ["a", "b"]',
    "dict_type": "must be a table of key = value pairs", "model_type": "must be a table of key = value pairs",
    "model_attributes_type": "must be a table of key = value pairs",
    "datetime_type": "must be a date and time such as 2026-11-27T09:00:00Z",
    "datetime_parsing": "must be a date and time such as 2026-11-27T09:00:00Z",
    "datetime_from_date_parsing": "must be a date and time such as 2026-11-27T09:00:00Z",
    "union_tag_not_found": "needs a provider key",
    "none_required": "must be left out",
}


def _plural(count: Any, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def plain(error: Any) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a short phrase."""
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    if kind in _FIXED:
        return _FIXED[kind]
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "assertion_error":
        return str(error["msg"]).removeprefix("Assertion failed, ")
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "too_short":
        return f"must have at least {_plural(ctx.get('min_length'), 'entry').replace('entrys', 'entries')}"
    if kind == "too_long":
        return f"must have at most {_plural(ctx.get('max_length'), 'entry').replace('entrys', 'entries')}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else \
            f"must be at least {_plural(ctx.get('min_length'), 'character')} long"
    if kind == "string_too_long":
        return f"must be at most {_plural(ctx.get('max_length'), 'character')} long"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return f"provider must be one of {ctx.get('expected_tags')}, not {ctx.get('tag')!r}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return next((text for prefix, text in _PATTERNS.items() if pattern.startswith(prefix)),
                    "does not have the expected form")
    return "is not a valid value here"
