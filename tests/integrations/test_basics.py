"""Errors, templates, the circuit breaker and the protocol helpers."""

from __future__ import annotations

import pytest

from integrations.base import HealthReport, HealthStatus, supported_actions
from integrations.circuit import CircuitBreaker
from integrations.errors import (
    ConfigurationError,
    IntegrationError,
    ProviderFailed,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from integrations.templates import TemplateError, placeholders, render, validate
from tests.integrations.helpers import FakeClock, make_request


def test_errors_carry_the_sentence_and_the_system():
    error = UpstreamRefused("PagerDuty", "PagerDuty refused the event (400: invalid routing key)", status=400,
                            upstream_message="invalid routing key")
    assert str(error) == "PagerDuty refused the event (400: invalid routing key)"
    assert error.system == "PagerDuty" and error.status == 400
    for cls in (UpstreamRefused, UpstreamUnavailable, UpstreamTimeout, ProviderFailed, ConfigurationError):
        assert issubclass(cls, IntegrationError)


def test_templates_insert_values_literally():
    assert render("--image=r/{service}:{version}", {"service": "a", "version": "{environment}"}) == \
        "--image=r/a:{environment}"
    assert render("{{literal}} {service}", {"service": "x"}) == "{literal} x"
    assert placeholders("{a}-{b}") == ["a", "b"]
    with pytest.raises(TemplateError, match="stray"):
        validate("{service.__class__}")
    with pytest.raises(TemplateError, match="unknown placeholder"):
        validate("{image}")
    with pytest.raises(TemplateError, match="no value"):
        render("{version}", {"version": None})


def test_circuit_breaker_states():
    clock = FakeClock()
    breaker = CircuitBreaker("Loki", failure_threshold=2, cooldown=10, clock=clock)
    breaker.record_failure()
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(UpstreamUnavailable, match=r"Loki is unavailable \(circuit open after 2 failures\)"):
        breaker.before_call()
    clock.now += 10
    breaker.before_call()
    assert breaker.state == "half_open"
    with pytest.raises(UpstreamUnavailable):
        breaker.before_call()  # only one probe at a time
    breaker.record_success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_supported_actions_inference():
    class OnlyMigrates:
        async def migrate(self, request):
            raise NotImplementedError

    assert supported_actions(OnlyMigrates()) == {"migrate"}


def test_request_describe_and_report_defaults():
    assert make_request("scale", replicas=4).describe() == "scale of orders in staging to 4 replicas"
    assert HealthReport(HealthStatus.HEALTHY, "ok").checks == []
