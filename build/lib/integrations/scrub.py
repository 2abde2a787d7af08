"""The one scrubber every string passes through before it leaves an adapter toward a person.

Error sentences, result summaries and captured output, health summaries and log lines can carry
what an upstream echoed back or what a script printed. ``Scrubber`` removes two things from them:

- the **known secret values** of an adapter (its token, API key, routing key, webhook secret, the
  environment values handed to a command), also in their URL-encoded, base64 and JSON-escaped
  forms, longest first; values shorter than ``MIN_SECRET_LENGTH`` are ignored;
- anything **shaped like a credential**: ``Bearer``/``Basic``/``OAuth`` credentials, GitHub,
  Grafana, Slack and AWS tokens, JWTs, URL userinfo (``https://user:pass@``), ``token=``/``key=``/
  ``password=``-style values (query strings, shell assignments, JSON fields), credential headers
  (``Authorization: …``, ``X-Api-Key: …``) and PEM private keys.

Each becomes ``***``. Known values are removed again after the patterns ran, until none is left,
so the result never contains a known secret whatever text surrounded it.

``scrub(text, secrets)`` is the pure function. Adapters keep one ``Scrubber`` (built from the
secrets they were given) and mark their public methods ``@scrubbed``: an ``IntegrationError``
leaving the method is scrubbed in place (sentence, output, upstream message, and the exceptions
chained to it), and an ``OperationResult``, ``HealthReport`` or ``LogLine`` it returns is
replaced by a scrubbed copy. Scrub before truncating: a secret cut in half no longer matches.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar, cast
from urllib.parse import quote, quote_plus

from integrations.base import HealthReport, LogLine, OperationResult
from integrations.errors import IntegrationError, UpstreamRefused, UpstreamUnavailable

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Scrubber", "scrub", "scrubbed"]

_E = TypeVar("_E", bound=IntegrationError)
_T = TypeVar("_T")
_P = ParamSpec("_P")

REDACTED: Final = "***"
MIN_SECRET_LENGTH: Final = 4

# A credential as it appears after a scheme or in a value: no spaces, quotes, separators or '*'
# (so a "***" already put in is not taken for a credential again).
_VALUE: Final = r"[^\s&#;,\"'<>()\[\]{}*]+"
# Names whose value is a secret: the word itself, or the word after a '_'/'-' separated prefix
# (routing_key, X-Amz-Signature, client_secret; not "monkey", nor the shell's PWD). Quantifiers are bounded so that no
# pattern scans the text more than a bounded distance from each starting point.
_CREDENTIAL_NAME: Final = (
    r"(?:[A-Za-z0-9]{1,40}[_-]){0,4}(?:access[_-]?token|refresh[_-]?token|id[_-]?token|token|api[_-]?key|apikey|key"
    r"|secret|password|passwd|signature|sig|credentials?|auth)"
)
_SCHEME_WORDS: Final = r"(?:tokens?|realm|scheme|auth\w*|credentials?|headers?|required|missing|invalid|error)\b"


def _basic(match: re.Match[str]) -> str:
    """``Basic ***`` when the credential decodes to printable ``user:password``, else unchanged."""
    try:
        decoded = base64.b64decode(match.group(3) + "==").decode("utf-8")
    except (binascii.Error, ValueError):
        return match.group(0)
    if ":" in decoded and decoded.isprintable():
        return f"{match.group(1)}{match.group(2)}{REDACTED}"
    return match.group(0)


_PATTERNS: Final[tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...]] = (
    # PEM private keys, to the end marker (or the end of the text when it was cut).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S), REDACTED),
    # Credential headers echoed back: "Authorization: Bearer x", "X-Api-Key=x", "PRIVATE-TOKEN: x".
    (re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|x-auth-token|private-token)"
                r"([\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|oauth|token|digest)\s+)?(?!(?:bearer|basic|oauth|token"
                r"|digest)\b)" + _VALUE),
     rf"\1\2{REDACTED}"),
    (re.compile(r"(?i)\b(bearer)(\s+)(?!" + _SCHEME_WORDS + r")[A-Za-z0-9._~+/-]{8,}=*"), rf"\1\2{REDACTED}"),
    (re.compile(r"\b(OAuth)(\s+)(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{8,}=*"), rf"\1\2{REDACTED}"),
    # Basic credentials only when they decode to "user:password" (so "Basic connectivity" stays).
    (re.compile(r"\b(Basic)(\s+)([A-Za-z0-9+/]{4,}={0,2})"), _basic),
    # Token formats with a recognisable prefix.
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glsa_[A-Za-z0-9_]{20,}"
                r"|glc_[A-Za-z0-9+/=_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16})"), REDACTED),
    # JSON Web Tokens (Kubernetes service-account tokens among them): base64url '{"' header.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    # URL userinfo: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[^\s/?#@\"'<>]+@"), rf"\1{REDACTED}@"),
    # "name": "value" in JSON.
    (re.compile(r"(?i)(\"" + _CREDENTIAL_NAME + r"\"\s*:\s*\")(?:[^\"\\]|\\.)+(\")"), rf"\1{REDACTED}\2"),
    # name=value in query strings, form bodies, shell assignments and set -x traces.
    (re.compile(r"(?i)\b(" + _CREDENTIAL_NAME + r")(\s*=\s*[\"']?)" + _VALUE), rf"\1\2{REDACTED}"),
)


def _forms(secret: str) -> set[str]:
    """``secret`` and the encodings it may come back in: URL-encoded, base64 (padded or not), JSON-escaped."""
    forms = {secret, json.dumps(secret, ensure_ascii=False)[1:-1], json.dumps(secret)[1:-1]}
    try:
        raw = secret.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return forms
    forms.update({quote(raw, safe=""), quote_plus(raw), quote(raw, safe="").replace("%", "%25")})
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.update({encoded, encoded.rstrip("=")})
    return forms


class Scrubber:
    """Removes known secret values and credential-shaped text (see the module docstring).

    Args:
        secrets: The values to remove; None, empty and short values (< ``MIN_SECRET_LENGTH``) are
            skipped. A scrubber without secrets still removes credential shapes.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets: frozenset[str] = frozenset(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)
        forms = set().union(*map(_forms, self.secrets)) if self.secrets else set()
        self.forms: tuple[str, ...] = tuple(sorted(forms, key=lambda f: (-len(f), f)))
        self._known = re.compile("|".join(map(re.escape, self.forms))) if self.forms else None

    def with_secrets(self, secrets: Iterable[str | None]) -> Scrubber:
        """A scrubber that also removes ``secrets``."""
        return Scrubber([*self.secrets, *secrets])

    def text(self, text: str) -> str:
        """``text`` without known secrets or credential shapes."""
        text = self._without_known(text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return self._without_known(text)

    def _without_known(self, text: str) -> str:
        """Replace known values until none is left (a replacement can complete another one)."""
        if self._known is None:
            return text
        while True:
            cleaned = self._known.sub(REDACTED, text)
            if cleaned == text:
                return text
            text = cleaned  # each pass shortens the text (a form is longer than REDACTED): this ends

    def error(self, exc: _E) -> _E:
        """Scrub ``exc`` in place (sentence, output, upstream message) and the integration errors it
        chains to, so a traceback shows no secret either; return it."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if isinstance(current, IntegrationError):
                current.message = self.text(current.message)
                current.args = (current.message,)
                current.output = self.text(current.output)
                if isinstance(current, UpstreamRefused | UpstreamUnavailable):
                    current.upstream_message = self.text(current.upstream_message)
            current = current.__cause__ or current.__context__
        return exc

    def result(self, result: OperationResult) -> OperationResult:
        """A copy of ``result`` with summary, output, URL and string details scrubbed."""
        details = {k: self.text(v) if isinstance(v, str) else v for k, v in result.details.items()}
        url = self.text(result.url) if result.url else result.url
        return replace(result, summary=self.text(result.summary), output=self.text(result.output), url=url,
                       details=details)

    def report(self, report: HealthReport) -> HealthReport:
        """A copy of ``report`` with its summary and check values scrubbed."""
        checks = [c._replace(value=self.text(c.value)) if isinstance(c.value, str) else c for c in report.checks]
        return replace(report, summary=self.text(report.summary), checks=checks)

    def clean(self, value: _T) -> _T:
        """Scrub what an adapter method returns: results, reports, log lines, strings and lists of
        them; anything else is returned as it is."""
        cleaned: object = value
        if isinstance(value, OperationResult):
            cleaned = self.result(value)
        elif isinstance(value, HealthReport):
            cleaned = self.report(value)
        elif isinstance(value, LogLine):
            cleaned = value._replace(line=self.text(value.line))
        elif isinstance(value, str):
            cleaned = self.text(value)
        elif isinstance(value, list):
            cleaned = [self.clean(item) for item in value]
        return cast(_T, cleaned)


_PATTERNS_ONLY: Final = Scrubber()


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the ``secrets`` values (and their encodings) or anything credential-shaped."""
    return Scrubber(secrets).text(text) if secrets else _PATTERNS_ONLY.text(text)


class _HasScrubber(Protocol):
    @property
    def scrubber(self) -> Scrubber:
        """The adapter's scrubber."""
        ...


_S = TypeVar("_S", bound=_HasScrubber)


def scrubbed(
    method: Callable[Concatenate[_S, _P], Awaitable[_T]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]]:
    """Mark an adapter method as a boundary: its errors and results pass through ``self.scrubber``."""

    @functools.wraps(method)
    async def boundary(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            value = await method(self, *args, **kwargs)
        except IntegrationError as exc:
            self.scrubber.error(exc)
            raise
        return self.scrubber.clean(value)

    return boundary
