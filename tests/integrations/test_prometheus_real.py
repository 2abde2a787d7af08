"""PrometheusMonitor against a real Prometheus (Debian's /usr/bin/prometheus, started here on
127.0.0.1 with its own config and a temporary TSDB): hostile input stays one quoted value."""

from __future__ import annotations

import math
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from integrations.base import HealthStatus
from integrations.errors import UpstreamRefused
from integrations.prometheus import PrometheusMonitor, Signal, promql_quote, render_query
from tests.integrations.test_loki import HOSTILE

PROMETHEUS = Path("/usr/bin/prometheus")

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(not PROMETHEUS.exists(),
                       reason="needs Debian's Prometheus (/usr/bin/prometheus): apt-get install prometheus"),
]

# label_replace expands $1/${name} in its replacement (a PromQL feature, not a quoting problem).
ROUND_TRIP = [value for value in HOSTILE if "$" not in value]
INJECTIONS = ['x"}) or vector(1) #', '"}) or vector(1) #', 'x"} or vector(1) #', 'x"}) or on() vector(1) #\n']


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory):
    """Start Prometheus (no scrape jobs) and wait for /-/ready; stop it by PID afterwards."""
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs: []\n")
    url = f"http://127.0.0.1:{_free_port()}"
    with (workdir / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address={url.removeprefix('http://')}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited: {(workdir / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def prom(http, prometheus_url) -> PrometheusMonitor:
    return PrometheusMonitor(http, base_url=prometheus_url)


@pytest.mark.parametrize("hostile", ROUND_TRIP)
async def test_hostile_value_comes_back_unchanged_as_one_label(prom, hostile):
    samples = await prom.query(render_query('label_replace(vector(1), "v", {service}, "", "")',
                                            {"service": hostile}))
    assert [(s.labels, s.value) for s in samples] == [({"v": hostile}, 1.0)]


@pytest.mark.parametrize("attack", INJECTIONS)
async def test_injection_does_not_change_the_result(prom, attack):
    naive = f'count(up{{job="{attack}"}})'  # what string formatting would send
    if '"})' in attack and "\n" not in attack:
        assert [s.value for s in await prom.query(naive)] == [1.0]  # the attack works on a naive query
    safe = render_query("count(up{job={service}})", {"service": attack})
    assert safe == f"count(up{{job={promql_quote(attack)}}})"
    assert await prom.query(safe) == []  # quoted: no job has that name, so nothing is counted


async def test_special_values_and_errors_from_the_real_server(prom):
    assert [s.value for s in await prom.query("1/0")] == [math.inf]
    assert math.isnan((await prom.query("vector(0) / 0"))[0].value)
    with pytest.raises(UpstreamRefused, match=r"^Prometheus could not parse the query \(bad_data: .*parse error"):
        await prom.query("sum(")


async def test_health_check_end_to_end(http, prometheus_url):
    service = 'orders"} or vector(0) #'
    signals = [
        Signal("availability", 'label_replace(vector(1), "service", {service}, "", "")', "min", 0.99, 0.5, "ratio"),
        Signal("error rate", 'label_replace(vector(0.02), "env", {environment}, "", "")', "max", 0.01, 0.25, "ratio"),
        Signal("p99 latency", "vector(0) / 0", "max", 1.0, 5.0, "seconds"),
    ]
    report = await PrometheusMonitor(http, base_url=prometheus_url, signals=signals).check(service, "production")
    assert report.status == HealthStatus.DEGRADED
    assert [c.status for c in report.checks] == [HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNKNOWN]
    assert report.summary == f"{service} in production is degraded: error rate 2% (should be ≤ 1%)"
