"""The one HTTP client every adapter uses: timeouts, bounded retries, circuit breakers, errors.

``HttpClient`` wraps one shared ``aiohttp.ClientSession`` (built once by the bot and passed in).
Each call has a per-attempt timeout and an overall deadline, so a dead upstream fails within its
budget. Rate limiting (429, Statuspage's 420, GitHub's 403 with a retry hint) is always retried,
honouring ``Retry-After`` (a wait longer than the remaining budget fails at once, saying when to
try again); 5xx answers, connection errors and timeouts are retried only for calls
marked ``retry_safe`` (idempotent reads, or writes the upstream deduplicates). Failures become the
exceptions of ``integrations.errors`` with the upstream's own message, scrubbed of credential
shapes and of the secrets of the adapter calling (``scrubbing`` gives an adapter its own view of the
client). Only the system, method, URL path (scrubbed too), status and attempt are logged: never
headers, query strings or bodies.
"""

from __future__ import annotations

import copy
import functools
import json as jsonlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ssl import SSLContext
from typing import Any, Concatenate, ParamSpec

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from integrations.circuit import CircuitBreaker
from integrations.errors import IntegrationError, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.messages import connection_reason, upstream_message
from integrations.scrub import Scrubber
from integrations.timing import Clock, Deadline, Sleep, default_clock, default_sleep

__all__ = ["HttpClient", "Response", "upstream_message"]  # upstream_message re-exported

log = logging.getLogger(__name__)

_RATE_LIMIT_STATUSES = frozenset({420, 429})
_P = ParamSpec("_P")

CallObserver = Callable[[str, str, float], None]
"""Told of each call once it ended: (system, outcome, seconds); outcome is ok, refused, rate_limited,
unavailable or timeout."""


def outcome_of(error: IntegrationError) -> str:
    """The outcome label of a failed call."""
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, UpstreamRefused):
        return "rate_limited" if error.retry_after is not None or error.status in _RATE_LIMIT_STATUSES else "refused"
    return "unavailable"


def _observed(
    method: Callable[Concatenate[HttpClient, str, _P], Awaitable[Response]],
) -> Callable[Concatenate[HttpClient, str, _P], Coroutine[Any, Any, Response]]:
    """Report each call (all its attempts) to the client's observer, when it has one."""

    @functools.wraps(method)
    async def timed(self: HttpClient, system: str, /, *args: _P.args, **kwargs: _P.kwargs) -> Response:
        if self.observer is None:
            return await method(self, system, *args, **kwargs)
        started = time.monotonic()
        try:
            answer = await method(self, system, *args, **kwargs)
        except IntegrationError as exc:
            self.observer(system, outcome_of(exc), time.monotonic() - started)
            raise
        self.observer(system, "ok", time.monotonic() - started)
        return answer

    return timed


@dataclass(frozen=True)
class Response:
    """A fully read HTTP answer."""

    system: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            UpstreamUnavailable: when the body is not JSON.
        """
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            raise UpstreamUnavailable(
                self.system, f"{self.system} sent an unreadable answer (not JSON)", status=self.status
            ) from None


class HttpClient:
    """Resilient HTTP calls over one shared session, with one circuit breaker per upstream.

    Args:
        session: The shared ``aiohttp.ClientSession``; the client never closes it.
        retries: Extra attempts after the first (so ``retries=3`` means up to 4 attempts).
        backoff_base: First backoff ceiling in seconds; doubles per attempt ("full jitter": the
            actual wait is uniform in ``[0, ceiling]``).
        backoff_cap: Largest backoff ceiling.
        default_timeout: Per-attempt timeout when a call gives none.
        default_deadline: Overall budget of a call (all attempts and waits) when it gives none.
        failure_threshold: Consecutive failures that open an upstream's circuit.
        cooldown: Seconds a circuit stays open before one probe call is let through.
        sleep, clock, jitter: Injectable for tests.
        observer: Told of every call's system, outcome and duration (Opscord's metrics).

    Attributes:
        scrubber: Scrubs upstream messages and logged paths; by default it knows no secret values
            and removes credential shapes only (see ``scrubbing``).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        default_timeout: float = 10.0,
        default_deadline: float = 30.0,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        sleep: Sleep = default_sleep,
        clock: Clock = default_clock,
        jitter: Callable[[], float] = random.random,
        observer: CallObserver | None = None,
    ) -> None:
        self.session = session
        self.observer = observer
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.default_timeout = default_timeout
        self.default_deadline = default_deadline
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.sleep = sleep
        self.clock = clock
        self._jitter = jitter
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self.scrubber = Scrubber()

    def scrubbing(self, scrubber: Scrubber) -> HttpClient:
        """A view of this client (same session, limits and circuit breakers) whose error messages
        and log lines are scrubbed with ``scrubber``: an adapter passes the secrets it sends."""
        view = copy.copy(self)
        view.scrubber = scrubber
        return view

    def breaker(self, system: str, url: str | URL) -> CircuitBreaker:
        """Return (creating on first use) the circuit breaker for ``system`` at ``url``'s origin."""
        parsed = URL(url)
        key = (system, str(parsed.origin()) if parsed.is_absolute() else str(parsed))
        if key not in self._breakers:
            self._breakers[key] = CircuitBreaker(
                system, failure_threshold=self.failure_threshold, cooldown=self.cooldown, clock=self.clock
            )
        return self._breakers[key]

    @_observed
    async def request(
        self,
        system: str,
        method: str,
        url: str | URL,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per attempt; `deadline` bounds the call
        deadline: float | None = None,
        retry_safe: bool = False,
        expected: Sequence[int] = (200, 201, 202, 204),
        what: str = "request",
        ssl: SSLContext | bool | None = None,
    ) -> Response:
        """Send one request, retrying as allowed, and return the answer when its status is expected.

        Args:
            system: Human name of the upstream, used in messages, logs and the breaker key.
            what: What the request is, for messages: "PagerDuty refused the {what} (…)".
            retry_safe: Whether 5xx, connection errors and timeouts may be retried.
            expected: Statuses returned as a ``Response``; any other is raised as an error.
            ssl: Passed to aiohttp (an ``SSLContext`` for a private CA, False to skip checks).

        Raises:
            UpstreamRefused: 4xx (after rate-limit retries ran out).
            UpstreamUnavailable: 5xx, connection failure, unexpected status, or circuit open.
            UpstreamTimeout: no answer within the per-attempt timeout.
        """
        attempt_timeout = timeout if timeout is not None else self.default_timeout
        budget = Deadline(deadline if deadline is not None else max(self.default_deadline, attempt_timeout),
                          self.clock)
        breaker = self.breaker(system, url)
        path = self.scrubber.text(URL(url).path)
        last_error: IntegrationError | None = None
        for attempt in range(1, self.retries + 2):
            try:
                breaker.before_call()
            except UpstreamUnavailable:
                raise last_error or breaker.open_error() from None
            limit = min(attempt_timeout, budget.remaining())
            if limit <= 0:
                break
            wait: float | None = None
            try:
                async with self.session.request(
                    method, url, json=json, data=data, headers=headers, params=params,
                    timeout=aiohttp.ClientTimeout(total=limit), ssl=True if ssl is None else ssl,
                ) as resp:
                    body = await resp.read()
                    answer = Response(system, resp.status, CIMultiDictProxy(CIMultiDict(resp.headers)), body)
            except TimeoutError:
                breaker.record_failure()
                log.warning("%s %s %s timed out (attempt %d)", system, method, path, attempt)
                error: IntegrationError = UpstreamTimeout(
                    system, f"{system} did not answer the {what} within {limit:.3g} s"
                )
                retryable = retry_safe
            except aiohttp.ClientError as exc:
                breaker.record_failure()
                log.warning("%s %s %s failed: %s (attempt %d)", system, method, path,
                            type(exc).__name__, attempt)
                error = UpstreamUnavailable(system, f"{system} could not be reached ({connection_reason(exc)})")
                retryable = retry_safe
            else:
                if answer.status in expected:
                    log.debug("%s %s %s -> %d (attempt %d)", system, method, path, answer.status, attempt)
                    breaker.record_success()
                    return answer
                log.info("%s %s %s -> %d (attempt %d)", system, method, path, answer.status, attempt)
                if answer.status >= 500:
                    breaker.record_failure()
                else:
                    breaker.record_success()  # the upstream is up; it just said no
                error, retryable, wait = _classify(answer, what, retry_safe, self.scrubber)
            last_error = error
            if not retryable or attempt > self.retries:
                raise error
            delay = wait if wait is not None else self._backoff(attempt)
            if delay >= budget.remaining():
                raise error
            await self.sleep(delay)
        raise last_error or UpstreamTimeout(
            system, f"{system} did not answer the {what} within {budget.seconds:.3g} s"
        )

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (1-based)."""
        ceiling: float = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return self._jitter() * ceiling


def _classify(
    answer: Response, what: str, retry_safe: bool, scrubber: Scrubber
) -> tuple[IntegrationError, bool, float | None]:
    """Turn an unexpected status into (error, retryable, wait hint)."""
    system, status = answer.system, answer.status
    message = upstream_message(answer.body, scrubber=scrubber)
    detail = f"{status}: {message}" if message else str(status)
    if _is_rate_limited(answer):
        wait = _retry_after(answer)
        later = f"; try again in {wait:.0f} s" if wait is not None else ""
        error: IntegrationError = UpstreamRefused(
            system, f"{system} is rate limiting requests ({detail}){later}",
            status=status, upstream_message=message, retry_after=wait,
        )
        return error, True, wait
    if 400 <= status < 500:
        error = UpstreamRefused(
            system, f"{system} refused the {what} ({detail})", status=status, upstream_message=message
        )
        return error, False, None
    if status >= 500:
        error = UpstreamUnavailable(
            system, f"{system} failed while handling the {what} ({detail})",
            status=status, upstream_message=message,
        )
        return error, retry_safe, None
    error = UpstreamUnavailable(
        system, f"{system} gave an unexpected answer to the {what} ({status})", status=status,
        upstream_message=message,
    )
    return error, False, None


def _is_rate_limited(answer: Response) -> bool:
    """429/420, or GitHub's secondary limit: 403 with Retry-After or no requests remaining."""
    if answer.status in _RATE_LIMIT_STATUSES:
        return True
    return answer.status == 403 and (
        "Retry-After" in answer.headers or answer.headers.get("X-RateLimit-Remaining") == "0"
    )


def _retry_after(answer: Response) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date), JSON ``retry_after`` or
    GitHub's ``X-RateLimit-Reset`` (epoch seconds)."""
    header = answer.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    try:
        payload = jsonlib.loads(answer.body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("retry_after"), int | float):
        return max(0.0, float(payload["retry_after"]))
    reset = answer.headers.get("X-RateLimit-Reset")
    if reset and reset.isdigit():
        return max(0.0, int(reset) - time.time())
    return None
