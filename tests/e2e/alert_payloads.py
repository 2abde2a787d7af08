"""Alertmanager webhook notifications (payload version 4), shaped as Alertmanager 0.25 sends them."""

from __future__ import annotations

import json
from typing import Any

TOKEN = "alertmanager-test-bearer-token"  # noqa: S105 - a test token


def alert(fingerprint: str = "a1b2c3d4e5f60718", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": "payment-service", "severity": "critical", **labels},
        "annotations": {"summary": "Payment API error rate above 5%", "description": "5xx ratio is 7.2% over 5m"},
        "startsAt": "2026-03-04T15:20:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-04T15:40:00.000Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=errors",
        "fingerprint": fingerprint,
    }


def notification(status: str = "firing", *, group_key: str = '{}:{alertname="HighErrorRate"}',
                 alerts: list[dict[str, Any]] | None = None, **common: str) -> dict[str, Any]:
    alerts = alerts or [alert(status=status)]
    labels = {"alertname": "HighErrorRate", "service": "payment-service", "severity": "critical", **common}
    return {
        "version": "4", "groupKey": group_key, "truncatedAlerts": 0, "status": status, "receiver": "opscord",
        "groupLabels": {"alertname": labels["alertname"]}, "commonLabels": labels,
        "commonAnnotations": alerts[0]["annotations"], "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
