"""Domain exceptions raised by integration adapters.

Every exception carries one user-facing sentence that names the upstream system and the cause, for
example ``PagerDuty refused the event (400: invalid routing key)``. ``str(exc)`` is that sentence,
so ``bot/`` can show it as is. Messages never contain secrets: adapters build them from the system
name, the HTTP status and the upstream's own (truncated) error message only, and every error leaving
an adapter has passed through its scrubber (``integrations.scrub``).
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "IntegrationError",
    "ProviderFailed",
    "UpstreamRefused",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class IntegrationError(Exception):
    """Base class: something went wrong talking to, or running, an external system.

    Attributes:
        system: Human name of the upstream ("GitHub", "Argo CD", "deploy command").
        message: The full user-facing sentence (also ``str(exc)``).
        output: Optional captured output (e.g. the tail of a script's output), never shown by
            default but useful for a "details" view.
    """

    def __init__(self, system: str, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.system = system
        self.message = message
        self.output = output

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.system!r}, {self.message!r})"


class UpstreamRefused(IntegrationError):
    """The upstream answered with a 4xx: the request was understood and refused.

    Attributes:
        status: The HTTP status code.
        upstream_message: The upstream's own short error message ("" when it gave none); adapters
            inspect it to turn known refusals into clearer sentences.
        retry_after: Seconds the upstream asked us to wait (rate limiting), when known.
    """

    def __init__(
        self,
        system: str,
        message: str,
        *,
        status: int,
        upstream_message: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(system, message)
        self.status = status
        self.upstream_message = upstream_message
        self.retry_after = retry_after


class UpstreamUnavailable(IntegrationError):
    """The upstream failed: 5xx, connection error, unreadable answer, or circuit open."""

    def __init__(
        self, system: str, message: str, *, status: int | None = None, upstream_message: str = ""
    ) -> None:
        super().__init__(system, message)
        self.status = status
        self.upstream_message = upstream_message


class UpstreamTimeout(IntegrationError):
    """The upstream (or a local command) did not finish within its time budget.

    The outcome is unknown: the operation may still complete later.
    """


class ProviderFailed(IntegrationError):
    """The operation ran and failed (a script's exit code, a failed workflow run, a rollout that
    exceeded its progress deadline), or it cannot run for a reason found at run time."""


class ConfigurationError(IntegrationError):
    """The integration is misconfigured (missing secret environment variable, bad template)."""
