"""Discord's documented payload limits, checked the way the real API checks them.

Every check collects ``(field path, message)`` pairs; a non-empty list becomes a
:class:`PayloadError`, answered as HTTP 400 with code 50035 ("Invalid Form Body") and the field
errors in Discord's nested ``errors`` shape, which discord.py flattens into its exception text.
"""

from __future__ import annotations

import datetime
from typing import Any

from bot.sandbox.emulator.models import COMPONENTS_V2_FLAG, JSON
from bot.sandbox.emulator.snowflake import parse_iso

INVALID_FORM_BODY = 50035
EMPTY_MESSAGE = 50006
THREAD_ARCHIVE_DURATIONS = frozenset({60, 1440, 4320, 10080})


class PayloadError(Exception):
    """A request the real API would refuse; carries the Discord error code and HTTP status."""

    def __init__(self, problems: list[tuple[str, str]], *, code: int = INVALID_FORM_BODY, status: int = 400) -> None:
        """Wrap ``problems`` (field path, message) into one error."""
        self.problems = problems
        self.code = code
        self.status = status
        super().__init__(self.summary())

    def within(self, prefix: str) -> PayloadError:
        """The same error with every field path under ``prefix`` (``data.content`` in a callback)."""
        problems = [(f"{prefix}.{path}" if path else prefix, message) for path, message in self.problems]
        return PayloadError(problems, code=self.code, status=self.status)

    def summary(self) -> str:
        """One line naming every problem, used for the violation record."""
        return f"{self.code} " + "; ".join(f"{path}: {message}" if path else message for path, message in self.problems)

    def body(self) -> JSON:
        """The JSON error body Discord would send."""
        if self.code != INVALID_FORM_BODY:
            return {"code": self.code, "message": self.problems[0][1]}
        errors: JSON = {}
        for path, message in self.problems:
            errors[path or "_root"] = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}
        return {"code": self.code, "message": "Invalid Form Body", "errors": errors}


class Problems:
    """Collects field problems and raises them together."""

    def __init__(self) -> None:
        """Start with no problems."""
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        """Record one problem at ``path``."""
        self.items.append((path, message))

    def length(self, path: str, value: Any, maximum: int, *, minimum: int = 0) -> None:
        """Check that ``value`` is a string whose length lies in ``[minimum, maximum]``."""
        if not isinstance(value, str):
            self.add(path, "Must be a string.")
        elif not minimum <= len(value) <= maximum:
            bound = f"{maximum} or fewer" if minimum == 0 else f"between {minimum} and {maximum}"
            self.add(path, f"Must be {bound} in length.")

    def raise_if_any(self) -> None:
        """Raise a :class:`PayloadError` if anything was recorded."""
        if self.items:
            raise PayloadError(self.items)


def _embed_chars(embed: JSON) -> int:
    total = len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
    total += len(str((embed.get("footer") or {}).get("text") or ""))
    total += len(str((embed.get("author") or {}).get("name") or ""))
    for embed_field in embed.get("fields") or []:
        total += len(str(embed_field.get("name") or "")) + len(str(embed_field.get("value") or ""))
    return total


def check_embeds(problems: Problems, embeds: Any) -> None:
    """≤10 embeds; title 256, description 4096, ≤25 fields (256/1024), footer 2048, author 256, total 6000."""
    if not isinstance(embeds, list) or not all(isinstance(e, dict) for e in embeds):
        problems.add("embeds", "Must be an array of embed objects.")
        return
    if len(embeds) > 10:
        problems.add("embeds", "Must be 10 or fewer in length.")
    for i, embed in enumerate(embeds):
        path = f"embeds.{i}"
        if embed.get("title") is not None:
            problems.length(f"{path}.title", embed["title"], 256)
        if embed.get("description") is not None:
            problems.length(f"{path}.description", embed["description"], 4096)
        if embed.get("footer") is not None:
            problems.length(f"{path}.footer.text", embed["footer"].get("text"), 2048)
        if embed.get("author") is not None:
            problems.length(f"{path}.author.name", embed["author"].get("name"), 256, minimum=1)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.add(f"{path}.fields", "Must be 25 or fewer in length.")
        for j, embed_field in enumerate(fields):
            problems.length(f"{path}.fields.{j}.name", embed_field.get("name"), 256, minimum=1)
            problems.length(f"{path}.fields.{j}.value", embed_field.get("value"), 1024, minimum=1)
    total = sum(_embed_chars(e) for e in embeds)
    if total > 6000:
        problems.add("embeds", f"Embed size exceeds maximum size of 6000 (got {total}).")


def _check_component(problems: Problems, path: str, item: JSON, seen: set[str]) -> None:
    kind = item.get("type")
    custom_id = item.get("custom_id")
    if kind == 2:
        style = item.get("style")
        if style not in (1, 2, 3, 4, 5, 6):
            problems.add(f"{path}.style", "Value must be one of {1, 2, 3, 4, 5, 6}.")
        if style == 5:
            if not item.get("url"):
                problems.add(f"{path}.url", "A link button needs a url.")
            if custom_id is not None:
                problems.add(f"{path}.custom_id", "A link button cannot have a custom_id.")
        elif style != 6 and custom_id is None:
            problems.add(f"{path}.custom_id", "This field is required.")
        if item.get("label") is not None:
            problems.length(f"{path}.label", item["label"], 80)
        if not item.get("label") and not item.get("emoji") and style != 6:
            problems.add(path, "A button needs a label or an emoji.")
    elif kind in (3, 5, 6, 7, 8):
        if custom_id is None:
            problems.add(f"{path}.custom_id", "This field is required.")
        if kind == 3 and not 1 <= len(item.get("options") or []) <= 25:
            problems.add(f"{path}.options", "Must be between 1 and 25 in length.")
        if item.get("placeholder") is not None:
            problems.length(f"{path}.placeholder", item["placeholder"], 150)
    if custom_id is not None:
        problems.length(f"{path}.custom_id", custom_id, 100, minimum=1)
        if str(custom_id) in seen:
            problems.add(f"{path}.custom_id", f"Component custom id {custom_id!r} is duplicated.")
        seen.add(str(custom_id))
    children = item.get("components") or []
    if _is_component_list(problems, f"{path}.components", children):
        for j, child in enumerate(children):
            _check_component(problems, f"{path}.components.{j}", child, seen)
    for key in ("component", "accessory"):
        if isinstance(item.get(key), dict):
            _check_component(problems, f"{path}.{key}", item[key], seen)


def check_components(problems: Problems, components: Any, *, v2: bool) -> None:
    """≤5 action rows of ≤5 buttons (or one select); custom_id 1-100 and unique; label ≤80."""
    if not _is_component_list(problems, "components", components):
        return
    if not v2:
        if len(components) > 5:
            problems.add("components", "Must be 5 or fewer in length.")
        for i, row in enumerate(components):
            children = row.get("components") or []
            if row.get("type") != 1:
                problems.add(f"components.{i}.type", "Top-level components must be action rows (type 1).")
            elif not 1 <= len(children) <= 5:
                problems.add(f"components.{i}.components", "Must be between 1 and 5 in length.")
            elif any(c.get("type") != 2 for c in children if isinstance(c, dict)) and len(children) > 1:
                problems.add(f"components.{i}.components", "A select menu must be alone in its row.")
    seen: set[str] = set()
    for i, item in enumerate(components):
        _check_component(problems, f"components.{i}", item, seen)


def _is_component_list(problems: Problems, path: str, items: Any) -> bool:
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        problems.add(path, "Must be an array of component objects.")
        return False
    return True


def check_message(payload: JSON, *, creating: bool, file_count: int = 0) -> None:
    """Check a message body (create or edit); raise :class:`PayloadError` on the first failure set."""
    problems = Problems()
    content = payload.get("content")
    if content is not None:
        problems.length("content", content, 2000)
    if payload.get("embeds") is not None:
        check_embeds(problems, payload["embeds"])
    v2 = bool(int(payload.get("flags") or 0) & COMPONENTS_V2_FLAG)
    if payload.get("components") is not None:
        check_components(problems, payload["components"], v2=v2)
    if v2 and (payload.get("content") or payload.get("embeds")):
        problems.add("content", "Content and embeds cannot be sent with the IS_COMPONENTS_V2 flag.")
    mentions = payload.get("allowed_mentions")
    if mentions is not None:
        parse = mentions.get("parse") or []
        if any(p not in ("users", "roles", "everyone") for p in parse):
            problems.add("allowed_mentions.parse", "Values must be 'users', 'roles' or 'everyone'.")
        for kind in ("users", "roles"):
            if kind in parse and mentions.get(kind):
                problems.add(f"allowed_mentions.{kind}", f"Cannot list {kind} and also parse {kind}.")
    problems.raise_if_any()
    body_keys = ("content", "embeds", "components", "sticker_ids", "poll")
    if creating and not file_count and not any(payload.get(key) for key in body_keys):
        raise PayloadError([("", "Cannot send an empty message")], code=EMPTY_MESSAGE)


def check_choices(choices: Any) -> None:
    """Autocomplete answers: ≤25 choices, names 1-100, string values ≤100."""
    problems = Problems()
    if not isinstance(choices, list):
        problems.add("choices", "Must be an array.")
    else:
        if len(choices) > 25:
            problems.add("choices", "Must be 25 or fewer in length.")
        for i, choice in enumerate(choices):
            problems.length(f"choices.{i}.name", choice.get("name"), 100, minimum=1)
            value = choice.get("value")
            if isinstance(value, str):
                problems.length(f"choices.{i}.value", value, 100)
            elif not isinstance(value, int | float) or isinstance(value, bool):
                problems.add(f"choices.{i}.value", "Must be a string or a number.")
    problems.raise_if_any()


def check_modal(data: JSON) -> None:
    """A modal: custom_id 1-100, title 1-45, 1-5 top-level components."""
    problems = Problems()
    problems.length("custom_id", data.get("custom_id"), 100, minimum=1)
    problems.length("title", data.get("title"), 45, minimum=1)
    if not 1 <= len(data.get("components") or []) <= 5:
        problems.add("components", "Must be between 1 and 5 in length.")
    problems.raise_if_any()


def check_thread(payload: JSON, *, allowed_types: frozenset[int], creating: bool) -> None:
    """Thread creation or edit: name 1-100, auto_archive_duration one of 60/1440/4320/10080."""
    problems = Problems()
    if creating and payload.get("name") is None:
        problems.add("name", "This field is required.")
    elif "name" in payload:
        problems.length("name", payload["name"], 100, minimum=1)
    duration = payload.get("auto_archive_duration")
    if duration is not None and duration not in THREAD_ARCHIVE_DURATIONS:
        problems.add("auto_archive_duration", "Value must be one of {60, 1440, 4320, 10080}.")
    if payload.get("type") is not None and payload["type"] not in allowed_types:
        problems.add("type", f"Value must be one of {sorted(allowed_types)}.")
    problems.raise_if_any()


def check_scheduled_event(payload: JSON, *, channel_ids: set[int]) -> None:
    """Scheduled event: name, privacy_level 2, future start; external (3) needs location and end, no channel."""
    problems = Problems()
    problems.length("name", payload.get("name"), 100, minimum=1)
    if payload.get("description") is not None:
        problems.length("description", payload["description"], 1000)
    if payload.get("privacy_level") != 2:
        problems.add("privacy_level", "Value must be 2 (GUILD_ONLY).")
    start = _time(problems, payload, "scheduled_start_time", required=True)
    end = _time(problems, payload, "scheduled_end_time", required=payload.get("entity_type") == 3)
    now = datetime.datetime.now(tz=datetime.UTC)
    if start is not None and start < now - datetime.timedelta(minutes=1):
        problems.add("scheduled_start_time", "Cannot schedule event in the past.")
    if start is not None and end is not None and end <= start:
        problems.add("scheduled_end_time", "Must be after scheduled_start_time.")
    entity_type = payload.get("entity_type")
    if entity_type == 3:
        if payload.get("channel_id") is not None:
            problems.add("channel_id", "Must be null for external events.")
        location = (payload.get("entity_metadata") or {}).get("location")
        problems.length("entity_metadata.location", location, 100, minimum=1)
    elif entity_type in (1, 2):
        channel_id = payload.get("channel_id")
        if channel_id is None or int(channel_id) not in channel_ids:
            problems.add("channel_id", "A stage or voice event needs a channel of this guild.")
    else:
        problems.add("entity_type", "Value must be one of {1, 2, 3}.")
    problems.raise_if_any()


def _time(problems: Problems, payload: JSON, key: str, *, required: bool) -> datetime.datetime | None:
    value = payload.get(key)
    if value is None:
        if required:
            problems.add(key, "This field is required.")
        return None
    try:
        return parse_iso(str(value))
    except ValueError:
        problems.add(key, "Could not interpret the value as an ISO 8601 timestamp.")
        return None
