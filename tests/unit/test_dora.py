"""DORA metrics from deploy history and incidents (protected environments only)."""

import sqlite3
from datetime import UTC, datetime, timedelta

from bot.dora import dora
from bot.times import iso
from tests.helpers import example_config

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _history(store, sql, params):
    """Past history is written straight into the test's database file (the product has no back-dating API)."""
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute(sql, params)
    conn.close()


async def add_deploy(store, service, env, kind, status, at):
    _history(store, "INSERT INTO deploys (operation_id, kind, service, environment, version, status, requester,"
                    " started_at) VALUES ('op', ?, ?, ?, 'v1', ?, 'alice', ?)", (kind, service, env, status, iso(at)))


async def add_incident(store, service, opened, resolved):
    _history(store, "INSERT INTO incidents (id, title, severity, service, status, commander_id, commander_name,"
                    " created_at, resolved_at) VALUES (?, 't', 'sev2', ?, 'resolved', '1', 'erin', ?, ?)",
             (f"inc-{opened:%H%M}", service, iso(opened), iso(resolved) if resolved else None))


async def test_dora_counts(tmp_path, sqlite_store):
    store = sqlite_store
    config = example_config(tmp_path)
    day = timedelta(days=1)
    await add_deploy(store, "order-service", "production", "deploy", "succeeded", NOW - 10 * day)   # fine
    await add_deploy(store, "order-service", "production", "deploy", "succeeded", NOW - 8 * day)    # rolled back
    await add_deploy(store, "order-service", "production", "rollback", "succeeded", NOW - 8 * day + timedelta(hours=2))
    await add_deploy(store, "payment-service", "production", "deploy", "failed", NOW - 5 * day)     # failed
    await add_deploy(store, "api-gateway", "production", "deploy", "succeeded", NOW - 3 * day)      # incident after
    await add_incident(store, "api-gateway", NOW - 3 * day + timedelta(hours=1), NOW - 3 * day + timedelta(hours=3))
    await add_deploy(store, "api-gateway", "staging", "deploy", "failed", NOW - 2 * day)            # not protected
    await add_deploy(store, "api-gateway", "production", "deploy", "succeeded", NOW - 60 * day)     # outside window
    report = await dora(config, store, 30, now=NOW)
    assert (report.deploys, report.failed_changes, report.restores) == (4, 3, 1)
    assert report.change_failure_rate == 0.75 and report.mean_restore == timedelta(hours=2)
    lines = report.lines()
    assert lines[0] == "DORA metrics, last 30 days, production:"
    assert lines[1] == "Deployment frequency: 0.13/day (4 deploys)"
    assert lines[2] == "Change failure rate: 75% (3 of 4)"
    assert lines[3] == "Time to restore: 2 h 00 min (mean of 1 resolved incidents)"


async def test_dora_without_data(tmp_path, sqlite_store):
    store = sqlite_store
    report = await dora(example_config(tmp_path), store, 7, now=NOW)
    assert report.lines()[2] == "Change failure rate: n/a (no deploys)"
    assert report.lines()[3].startswith("Time to restore: n/a")


async def test_a_rollback_counts_the_deploy_it_undid_not_every_deploy_of_the_day(tmp_path, sqlite_store):
    store = sqlite_store
    hour = timedelta(hours=1)
    await add_deploy(store, "order-service", "production", "deploy", "succeeded", NOW - 5 * hour)
    await add_deploy(store, "order-service", "production", "deploy", "succeeded", NOW - 3 * hour)
    await add_deploy(store, "order-service", "production", "rollback", "succeeded", NOW - 2 * hour)
    report = await dora(example_config(tmp_path), store, 7, now=NOW)
    assert (report.deploys, report.failed_changes) == (2, 1)
    assert report.lines()[2] == "Change failure rate: 50% (1 of 2)"


async def test_lead_time_when_the_provider_reported_commit_times_and_the_figures_per_environment(tmp_path,
                                                                                                  sqlite_store):
    from bot.dora import figures
    store = sqlite_store
    hour = timedelta(hours=1)
    _history(store, "INSERT INTO deploys (operation_id, kind, service, environment, version, status, requester, "
                    "started_at, finished_at, committed_at) VALUES ('op', 'deploy', 'order-service', 'production', "
                    "'v2', 'succeeded', 'alice', ?, ?, ?)", (iso(NOW - 2 * hour), iso(NOW - 2 * hour), iso(NOW - 5 * hour)))
    await add_deploy(store, "order-service", "production", "deploy", "succeeded", NOW - hour)  # no commit time
    await add_deploy(store, "order-service", "staging", "deploy", "failed", NOW - 26 * hour)
    data = await figures(example_config(tmp_path), store, 7, now=NOW)
    production = next(e for e in data.environments if e.name == "production")
    staging = next(e for e in data.environments if e.name == "staging")
    assert production.lead_time == 3 * hour and len(production.lead_times) == 1
    assert production.daily[-1] == 2 and sum(production.daily) == 2 and staging.daily[-2] == 1
    assert staging.change_failure_rate == 1.0 and staging.lead_time is None
    lines = data.report().lines()
    assert lines[4] == "Lead time for changes: 3 h 00 min (mean of 1 deploys with a commit time)"
    without = await figures(example_config(tmp_path), store, 7, now=NOW - 90 * hour)
    assert without.report().lines()[4].startswith("Lead time for changes: unknown")
