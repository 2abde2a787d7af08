"""Smoke test: `python -m bot bench --smoke` runs every phase end to end (no thresholds: benchmarks are not tests)."""

import json
import subprocess
import sys

from bot.bench.report import required_keys
from tests.conftest import ROOT


def test_the_smallest_bench_runs_every_phase_and_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bot", "bench", "--smoke", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    for heading in ("First response", "Start, s from spawn", "Memory, MiB", "Audit appends", "Audit verify",
                    "/audit recent", "Bytes per audit row", "Event loop blocked per provider spawn",
                    "PostgreSQL (two replicas, one database)"):
        assert heading in done.stdout, done.stdout
    data = json.loads(out.read_text())
    assert set(required_keys()) <= set(data)
    measured = {key for key in required_keys() if data[key] is not None}
    # the smoke plan's bursts are 1 and 10, so only the burst-100/1000/3000 keys stay empty
    assert measured >= {"audit_ratio_vs_raw", "verify_1m_s", "audit_recent_1m_ms", "rss_ratio", "rss_growth_pct",
                        "ready_ratio", "spawn_block_ms_max"}
    assert data["notes"] == [n for n in data["notes"] if "command shapes differ" not in n]
    if "skipped" not in data["replicas"]:  # PostgreSQL installed (as in CI)
        assert data["pg_audit_rows_s"] > 0 and data["pg_audit_recent_ms"] > 0
        assert 0 < data["failover_kill9_s"] < 10 and 0 < data["failover_sigstop_s"] < 10
