"""A small circuit breaker: stop calling an upstream that keeps failing, then probe it again."""

from __future__ import annotations

import logging
from typing import Literal

from integrations.errors import UpstreamUnavailable
from integrations.timing import Clock, default_clock

__all__ = ["CircuitBreaker", "CircuitState"]

log = logging.getLogger(__name__)

CircuitState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures of one upstream.

    ``closed``: calls go through. After ``failure_threshold`` consecutive failures the circuit is
    ``open`` for ``cooldown`` seconds and calls fail fast. Then one call is let through as a probe
    (``half_open``); its success closes the circuit, its failure opens it again. A probe that never
    reports back (cancelled) is replaced by a new one after another cooldown.
    """

    def __init__(
        self, system: str, *, failure_threshold: int = 5, cooldown: float = 30.0, clock: Clock = default_clock
    ) -> None:
        self.system = system
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._state: CircuitState = "closed"
        self._since = 0.0

    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit whose cooldown ended still reads ``open``)."""
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted so far."""
        return self._failures

    def open_error(self) -> UpstreamUnavailable:
        """The error raised while the circuit is open."""
        return UpstreamUnavailable(
            self.system,
            f"{self.system} is unavailable (circuit open after {self._failures} failures)",
        )

    def before_call(self) -> None:
        """Allow a call, or raise ``UpstreamUnavailable`` when the circuit is open."""
        if self._state == "closed":
            return
        if self._clock() - self._since < self.cooldown:
            raise self.open_error()
        # Cooldown over: let exactly this call through as the probe.
        self._state = "half_open"
        self._since = self._clock()

    def record_success(self) -> None:
        """The upstream answered: close the circuit."""
        if self._state != "closed":
            log.info("%s circuit closed", self.system)
        self._state = "closed"
        self._failures = 0

    def record_failure(self) -> None:
        """The upstream failed (5xx, connection error, timeout)."""
        self._failures += 1
        if self._state == "half_open" or self._failures >= self.failure_threshold:
            if self._state != "open":
                log.warning("%s circuit open after %d failures", self.system, self._failures)
            self._state = "open"
            self._since = self._clock()
