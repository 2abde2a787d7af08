"""Logging: text (the default) or one JSON object per line, with secrets redacted either way.

`bind(...)` attaches the request id, interaction id and user id to whatever the current task (and
the tasks it starts) logs next; the JSON lines carry them. Redaction runs on the final message and
traceback: every configured secret value becomes `[redacted]`, and anything shaped like a
credential (`Bearer …`, `token=…`, GitHub/Grafana tokens, JWTs, URL passwords, private keys) is
removed by the integrations' `Scrubber`, so a secret an upstream echoed back is not logged either.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from integrations.scrub import Scrubber

REDACTED = "[redacted]"
CONTEXT_FIELDS = ("request_id", "interaction_id", "user_id")
LogFormat = Literal["text", "json"]
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("opscord_log_context", default=None)
_SHAPES = Scrubber()


def bind(**fields: str | None) -> None:
    """Add these ids (request_id, interaction_id, user_id) to the current task's log records."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def bound() -> dict[str, str]:
    """The ids bound in the current task."""
    return dict(_context.get() or {})


class RedactingFilter(logging.Filter):
    """Replaces every known secret value, and credential shapes, in a record's final message and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Also redact `secret` from now on."""
        if secret and len(secret) >= 6 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        """`text` with every secret replaced and credential shapes removed."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SHAPES.text(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message, redact it, and drop the args so nothing re-renders the raw values."""
        message = record.getMessage()
        redacted = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.msg, record.args = redacted, None
        for name, value in (_context.get() or {}).items():
            setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound ids, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON (its message already redacted by the handler's filter)."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            line[name] = getattr(record, name, None)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, secrets: Iterable[str], log_format: LogFormat = "text") -> RedactingFilter:
    """Root logging to stderr at `level` in `log_format`, with a redacting filter on the handler."""
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLevelName(level)))  # not every batch's repr
    return redactor
