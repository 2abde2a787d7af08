"""Observability settings: validation, secrets by env-var name only, the factories; and a check that
no secret value reaches an exception message or a log line."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from integrations.base import HealthStatus, LogSource, Monitor, Pager, StatusPage
from integrations.errors import ConfigurationError, IntegrationError
from integrations.grafana import GrafanaAnnotator
from integrations.loki import LokiLogSource
from integrations.observability_settings import (
    GrafanaSettings,
    LokiSettings,
    PagerDutySettings,
    PrometheusSettings,
    StatuspageSettings,
    build_grafana,
    build_log_source,
    build_monitor,
    build_pager,
    build_status_page,
)
from integrations.pagerduty import PagerDutyPager
from integrations.prometheus import PrometheusMonitor
from integrations.statuspage import AtlassianStatuspage

SECRETS = {"LOKI_PASSWORD": "loki-pass-SECRET", "PROM_TOKEN": "prom-token-SECRET",
           "PAGERDUTY_ROUTING_KEY": "R0UTINGKEYSECRET0000000000000000", "PD_TOKEN": "pd-rest-SECRET",
           "STATUSPAGE_API_KEY": "statuspage-key-SECRET", "GRAFANA_TOKEN": "glsa_grafana-SECRET"}

CASES = [
    (LokiSettings, {"url": "https://loki.test", "username": "reader", "password_env": "LOKI_PASSWORD"},
     build_log_source, LokiLogSource, LogSource, ["LOKI_PASSWORD"]),
    (PrometheusSettings, {"url": "https://prom.test", "token_env": "PROM_TOKEN"},
     build_monitor, PrometheusMonitor, Monitor, ["PROM_TOKEN"]),
    (PagerDutySettings, {"api_token_env": "PD_TOKEN", "escalation_policy_id": "PABC123",
                         "events_url": "https://events.pd.test", "api_url": "https://api.pd.test"},
     build_pager, PagerDutyPager, Pager, ["PAGERDUTY_ROUTING_KEY", "PD_TOKEN"]),
    (StatuspageSettings, {"page_id": "pg1", "api_url": "https://sp.test/v1",
                          "component_ids": {"orders": ["c1", "c2"]}},
     build_status_page, AtlassianStatuspage, StatusPage, ["STATUSPAGE_API_KEY"]),
    (GrafanaSettings, {"url": "https://grafana.test", "dashboard_uid": "orders"},
     build_grafana, GrafanaAnnotator, None, ["GRAFANA_TOKEN"]),
]


@pytest.mark.parametrize(("model", "table", "build", "adapter", "protocol", "env"), CASES)
def test_each_settings_model_lists_its_env_and_builds(http, model, table, build, adapter, protocol, env):
    settings = model.model_validate(table)
    assert settings.env_names() == env
    assert settings.missing_env({}) == env and settings.missing_env(SECRETS) == []
    built = build(settings, http, SECRETS)
    assert isinstance(built, adapter)
    assert protocol is None or isinstance(built, protocol)
    with pytest.raises(ConfigurationError) as caught:
        build(settings, http, {**SECRETS, env[-1]: ""})
    assert f"needs the environment variable {env[-1]}, which is not set" in str(caught.value)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({**table, "tokn_env": "X"})


def test_secrets_are_names_not_values():
    with pytest.raises(ValidationError, match="String should match pattern"):
        PagerDutySettings(routing_key_env="not a name")
    with pytest.raises(ValidationError, match="escalation_policy_id needs api_token_env"):
        PagerDutySettings(escalation_policy_id="PABC")
    with pytest.raises(ValidationError, match="set both username and password_env"):
        LokiSettings(url="https://loki.test", username="reader")
    with pytest.raises(ValidationError, match="either token_env or username"):
        LokiSettings(url="https://loki.test", token_env="T", username="u", password_env="P")
    message = PagerDutySettings().missing_env({})
    assert message == ["PAGERDUTY_ROUTING_KEY"]
    assert GrafanaSettings(url="https://g.test", annotate=False).env_names() == []


def test_loki_labels_are_checked():
    assert LokiSettings(url="https://loki.test").labels == {"app": "{service}", "env": "{environment}"}
    with pytest.raises(ValidationError, match="String should match pattern"):
        LokiSettings(url="https://loki.test", labels={"bad-label": "{service}"})
    with pytest.raises(ValidationError, match=r"unknown placeholder \{version\}"):
        LokiSettings(url="https://loki.test", labels={"app": "{version}"})


def test_prometheus_queries_and_thresholds():
    settings = PrometheusSettings.model_validate({
        "url": "https://prom.test",
        "queries": {"availability": "avg(probe_success{instance={service}, env={environment}})", "p99_latency": ""},
        "thresholds": {"error_rate_max": 0.05, "error_rate_down": 0.5},
    })
    signals = settings.signals()
    assert [s.name for s in signals] == ["availability", "error rate"]  # "" turned p99 off
    assert signals[0].query.startswith("avg(probe_success") and signals[1].degraded == 0.05
    with pytest.raises(ValidationError, match="inside a quoted string"):
        PrometheusSettings.model_validate({"url": "https://p.test", "queries": {"error_rate": 'x{job="{service}"}'}})
    with pytest.raises(ValidationError, match="error_rate_down must not be below error_rate_max"):
        PrometheusSettings.model_validate({"url": "https://p.test", "thresholds": {"error_rate_down": 0.001}})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        PrometheusSettings.model_validate({"url": "https://p.test", "thresholds": {"availability_min": 99}})


async def test_no_secret_reaches_an_exception_or_a_log_line(http, mocked, caplog):
    """Every adapter fails with upstreams that echo what they were sent; nothing secret leaks."""
    caplog.set_level("DEBUG")
    echo = " ".join(SECRETS.values())
    for method in ("get", "post", "patch"):
        mocked.add(re.compile(r"^https://[a-z.]+\.test/.*"), method.upper(), status=401,
                   payload={"message": f"bad credentials: {echo}", "error": echo}, repeat=True)
    built = [build(model.model_validate(table), http, SECRETS) for model, table, build, *_ in CASES]
    loki, prom, pd, sp, grafana = built
    own = {"loki": ["LOKI_PASSWORD"], "prom": ["PROM_TOKEN"], "pd": ["PAGERDUTY_ROUTING_KEY", "PD_TOKEN"],
           "sp": ["STATUSPAGE_API_KEY"], "grafana": ["GRAFANA_TOKEN"]}
    calls = [("loki", loki.service_logs("orders", "production")), ("prom", prom.query("up")),
             ("pd", pd.trigger("k", "s", severity="info", source="x")), ("pd", pd.oncall()),
             ("sp", sp.create_incident("n", "b", correlation_id="c")),
             ("sp", sp.set_component_status("c1", "operational")),
             ("grafana", grafana.annotate_deploy("orders", "production", "x"))]
    for name, call in calls:
        with pytest.raises(IntegrationError) as caught:
            await call
        error = caught.value
        texts = [str(error), repr(error), getattr(error, "upstream_message", "")]
        for secret in (SECRETS[variable] for variable in own[name]):
            assert not any(secret in text for text in texts), (name, secret)
        assert "***" in str(error), str(error)
    report = await prom.check("orders", "production")
    assert report.status == HealthStatus.UNKNOWN and SECRETS["PROM_TOKEN"] not in report.summary
    for secret in SECRETS.values():
        assert secret not in caplog.text
