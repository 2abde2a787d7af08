"""Two replicas on one PostgreSQL and one emulator: only the leader connects, the standby takes over
within 10 s (kill -9, SIGSTOP), a stopped leader that wakes is fenced and leaves, a click delivered
to both replicas executes once. The figures are printed (run with -s to see them)."""

import asyncio
import json
import signal
import time

import pytest

from tests.e2e.replicas import Pair

FAILOVER_LIMIT_S = 10.0


@pytest.fixture
async def pair(tmp_path, pg_database):
    p = Pair(tmp_path, *pg_database)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def test_kill_9_of_the_leader_with_an_approval_pending(pair):
    a, b = await pair.leader_and_standby()
    await asyncio.sleep(1.0)
    assert pair.emu.identify_count == 1, "the standby connected to Discord"
    assert a.health()["role"] == "leader" and b.health()["role"] == "standby" and b.health()["status"] == "standby"
    standby = b.health()
    assert standby["epoch"] == 1 and standby["leader"] == a.health()["replica"] and standby["lease_age_seconds"] < 2
    assert "opscord_leader 0" in b.metrics() and "opscord_leader 1" in a.metrics()
    assert "opscord_leader_epoch 1" in b.metrics() and "opscord_lease_age_seconds" in b.metrics()
    message = await pair.request_waiting()

    killed = time.monotonic()
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(timeout=10)
    connected = await pair.wait_identified(2, timeout=FAILOVER_LIMIT_S + 5)
    failover = connected - killed
    print(f"\nfailover after kill -9: the standby connected {failover:.2f} s later", flush=True)
    assert failover < FAILOVER_LIMIT_S

    handle = await pair.approve(pair.emu.get_message(message.id))  # the old message's button
    await handle.wait_response(timeout=10)
    await pair.emu.wait_until(lambda: "Deploy complete" in (pair.emu.get_message(message.id).content or ""),
                              timeout=20)
    assert [r["approver_name"] for r in await pair.query("SELECT approver_name FROM approvals")] == ["bob"]
    runs = pair.runs_of("svc-00")
    assert len(runs) == 1, runs  # exactly once
    executions = await pair.query("SELECT operation_id, attempt, epoch FROM executions")
    lease = (await pair.query("SELECT epoch, holder FROM leader_lease"))[0]
    assert [(r["attempt"], r["epoch"]) for r in executions] == [(1, lease["epoch"])]
    health = b.health()
    assert health["role"] == "leader" and health["epoch"] == lease["epoch"] == 2 and health["status"] == "alive"
    assert "opscord_leader 1" in b.metrics() and "opscord_leader_epoch 2" in b.metrics()
    lines = [m.content for m in pair.emu.messages(pair.audit_channel)]
    assert any("took over the Discord gateway" in (line or "") and "epoch 2" in line for line in lines), lines
    takeovers = await pair.query("SELECT extra FROM audit_log WHERE command = 'leader takeover' ORDER BY id")
    assert len(takeovers) == 2
    print(pair.verify(), flush=True)
    pair.assert_no_errors()


async def test_sigstop_past_the_lease_then_sigcont_fences_the_old_leader_and_a_click_to_both_runs_once(pair):
    a, b = await pair.leader_and_standby()
    message = await pair.request_waiting(service="svc-01")
    a_session = next(s for s in pair.emu.gateway_sessions if s.ready)

    stopped = time.monotonic()
    a.proc.send_signal(signal.SIGSTOP)
    try:
        connected = await pair.wait_identified(2, timeout=FAILOVER_LIMIT_S + 5)
        failover = connected - stopped
        print(f"\nfailover after SIGSTOP: the standby connected {failover:.2f} s later (lease 5 s)", flush=True)
        assert failover < FAILOVER_LIMIT_S
        await pair.wait_log(b, "took the leader lease")
        assert a_session.connection is not None, "the stopped leader's socket is still open: it gets the click too"

        handle = await pair.approve(pair.emu.get_message(message.id))
        await handle.wait_response(timeout=10)
        await pair.emu.wait_until(lambda: "Deploy complete" in (pair.emu.get_message(message.id).content or ""),
                                  timeout=20)
        frames = [json.loads(frame) for _, frame in a_session.buffer]
        assert any(f["t"] == "INTERACTION_CREATE" and f["d"]["id"] == str(handle.id) for f in frames), \
            "the click was not delivered to the old leader too"
        before = await pair.query("SELECT (SELECT max(id) FROM audit_log) AS head, "
                                  "(SELECT count(*) FROM interactions) AS claims, "
                                  "(SELECT count(*) FROM approvals) AS decisions")
    finally:
        a.proc.send_signal(signal.SIGCONT)
    code = a.proc.wait(timeout=15)
    print(f"the old leader woke, found itself fenced and left: exit {code}", flush=True)
    assert code == 3
    text = a.text()
    assert "lost the leader lease (epoch 1)" in text, text[-3000:]
    print("the old leader's last words:", [line for line in text.splitlines() if "lease" in line or "refused" in line][-3:],
          flush=True)
    await pair.emu.wait_until(lambda: a_session.connection is None, timeout=5)  # it left the gateway

    after = await pair.query("SELECT (SELECT max(id) FROM audit_log) AS head, "
                             "(SELECT count(*) FROM interactions) AS claims, "
                             "(SELECT count(*) FROM approvals) AS decisions")
    assert dict(before[0]) == dict(after[0]), "the fenced leader wrote something"
    claims = await pair.query("SELECT interaction_id, epoch FROM interactions WHERE interaction_id = $1",
                              str(handle.id))
    assert [r["epoch"] for r in claims] == [2]  # the click was handled once, by the new leader
    assert handle.refused == [], "the old leader tried to answer the click"
    assert len(pair.runs_of("svc-01")) == 1  # the deploy ran exactly once
    assert [(r["attempt"], r["epoch"]) for r in await pair.query("SELECT attempt, epoch FROM executions")] == [(1, 2)]
    print(pair.verify(), flush=True)
    pair.assert_no_errors()


async def test_a_leader_cut_off_from_the_database_steps_down_and_the_standby_takes_over(pair, pg_database):
    from urllib.parse import parse_qs, urlparse

    from tests.e2e.replicas import Partition

    query = parse_qs(urlparse(pair.bot_url).query)
    partition = Partition(f"{query['host'][0]}/.s.PGSQL.{query['port'][0]}")
    await partition.start()
    database = urlparse(pair.bot_url).path.lstrip("/")
    through = f"postgresql://opscord_bot@127.0.0.1:{partition.port}/{database}"
    try:
        a = pair.spawn("a", OPSCORD_DATABASE_URL=through)
        await pair.wait_identified(1)
        await pair.wait_log(a, "took the leader lease")
        b = pair.spawn("b")
        await pair.wait_log(b, "standing by")
        cut = time.monotonic()
        partition.cut = True
        connected = await pair.wait_identified(2, timeout=FAILOVER_LIMIT_S + 5)
        print(f"\nfailover after the leader lost the database: the standby connected {connected - cut:.2f} s later",
              flush=True)
        assert connected - cut < FAILOVER_LIMIT_S
        code = await asyncio.to_thread(a.proc.wait, 15)
        print(f"the cut-off leader stepped down: exit {code} after {time.monotonic() - cut:.2f} s", flush=True)
        assert code == 3 and "could not renew the lease" in a.text()
        assert b.health()["role"] == "leader"
        pair.assert_no_errors()
    finally:
        await partition.stop()
