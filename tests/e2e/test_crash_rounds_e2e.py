"""Reliability: the real `python -m bot`, 200 concurrent commands and clicks per round, kill -9 at six moments.

Every round fires deploys (some run at once, some wait for a lead), scales, approvals of earlier
requests and read commands from many members, then SIGKILLs the process at a different moment:
within the first second after start, while replies are in flight, in the middle of provider runs,
while approvals land, right after a restart that found orphaned providers, and late. After the
last restart the test checks, over everything that happened:

- `audit verify` passes;
- every interaction that received a reply (a message, an edit, a followup) has its audit row;
- no message is left showing a running state;
- no lock is held by a dead process (or at all, once everything settled);
- no two runs of the same service and environment overlapped (the provider records its own times).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.sandbox.emulator import DiscordEmulator, InteractionHandle
from tests.conftest import EXAMPLE_CONFIG, ROOT

TOKEN = "crash-test-token-0123456789"  # noqa: S105 - the emulator's token
PROVIDER = str(Path(__file__).with_name("recording_provider.py"))
SERVICES = [f"svc-{i:02d}" for i in range(40)]
ENVIRONMENTS = ("staging", "production")
KILL_AFTER = [  # (fire a burst at once after READY?, seconds after the burst before kill -9)
    ("first second", 0.3),
    ("replies in flight", 0.03),
    ("provider runs", 0.8),
    ("approvals landing", 0.25),
    ("right after a restart with orphans", 0.0),
    ("late", 1.6),
]
RUNNING = re.compile(r"(Deploying|Rolling back|Scaling|Migrating) .*\.\.\.")


def write_config(path: Path, guild_id: int, runs: Path) -> None:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text())
    argv = [sys.executable, PROVIDER]
    provider = {"provider": "command", "timeout_seconds": 60, "env": {"RUNS": str(runs)},
                **{kind: [*argv, kind, "{service}", "{environment}", value, "{request_id}"]
                   for kind, value in (("deploy", "{version}"), ("rollback", "{version}"),
                                       ("scale", "{replicas}"))},
                "migrate": [*argv, "migrate", "{service}", "{environment}", "{request_id}"],
                "health": [*argv, "health", "{service}", "{environment}"],
                "current_replicas": [*argv, "replicas", "{service}", "{environment}"]}
    # a slot for each of the 80 targets: every accepted run starts at once, so kills land mid provider
    # runs (queued operations at a stop are covered by tests/pipeline/test_queue.py)
    lines = [f"[guild]\nid = {guild_id}\n", "[audit]\ncheckpoint_minutes = 0\n", "[operations]\nmax_concurrent = 80\n",
             '[roles]\noperator = ["ops"]\nteam_lead = ["team-lead"]\ndba = ["dba"]\nviewer = ["engineering"]\n'
             'incident_commander = ["incident-commander"]\n']
    for env in ("staging", "production"):
        lines.append(f'[[environments]]\nname = "{env}"\n' + ("protected = true\n" if env == "production" else ""))
    for name in SERVICES:
        lines.append(f'[[services]]\nname = "{name}"\nenvironments = ["staging", "production"]\n'
                     f"replicas = {{ min = 1, max = 50 }}\n[services.deploy]\n"
                     + "".join(f"{k} = {json.dumps(v)}\n" for k, v in provider.items() if k != "env")
                     + f"env = {{ RUNS = {json.dumps(str(runs))} }}\n")
    for row in raw["policy"]:
        lines.append("[[policy]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in row.items()))
    path.write_text("\n".join(lines))


class Sql:
    """The test's own look into the database: SQLite's file, or PostgreSQL (as its owner)."""

    def __init__(self, db: Path, url: str | None) -> None:
        self.url = url
        self.conn = sqlite3.connect(db) if url is None else None

    def all(self, sql: str, *params: object) -> list[tuple]:
        if self.conn is not None:
            return self.conn.execute(sql, params).fetchall()
        from tests.postgres import run_aside

        for n in range(1, len(params) + 1):
            sql = sql.replace("?", f"${n}", 1)
        return run_aside(self._fetch(sql, params))

    async def _fetch(self, sql, params):
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(r) for r in await conn.fetch(sql, *params)]
        finally:
            await conn.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class World:
    """The emulated guild, many members, and the bot as a real process that gets killed."""

    def __init__(self, tmp: Path, database_url: str | None = None, bot_url: str | None = None) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.bot_url = bot_url
        self.emu = DiscordEmulator(TOKEN)
        guild = self.emu.add_guild("Crash Test")
        self.guild = guild.id
        roles = {n: self.emu.add_role(guild.id, n).id for n in ("ops", "team-lead", "dba", "engineering")}
        self.channel = self.emu.add_channel(guild.id, "deployments").id
        for name in ("incidents", "audit"):
            self.emu.add_channel(guild.id, name)
        self.operators = [self.emu.add_member(guild.id, f"op{i}", roles=[roles["ops"]]).id for i in range(20)]
        self.leads = [self.emu.add_member(guild.id, f"lead{i}", roles=[roles["team-lead"]]).id for i in range(5)]
        self.viewers = [self.emu.add_member(guild.id, f"viewer{i}", roles=[roles["engineering"]]).id
                        for i in range(8)]
        self.runs = tmp / "runs.jsonl"
        self.config = tmp / "opscord.toml"
        self.db = tmp / "opscord.db"
        self.handles: list[InteractionHandle] = []
        self.logs: list[Path] = []
        self.rng = random.Random(7)
        self.version = 0
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        await self.emu.start()
        write_config(self.config, self.guild, self.runs)

    async def start_bot(self) -> None:
        identified = self.emu.identify_count
        log = self.tmp / f"bot-{len(self.logs)}.log"
        self.logs.append(log)
        env = {**os.environ, "DISCORD_TOKEN": TOKEN, "OPSCORD_CONFIG": str(self.config), "OPSCORD_DB": str(self.db),
               "DISCORD_API_BASE_URL": self.emu.api_base_url, "DISCORD_GATEWAY_URL": self.emu.gateway_url,
               "LOG_LEVEL": "WARNING", "OPSCORD_HTTP_LISTEN": "127.0.0.1:0",
               **({"OPSCORD_DATABASE_URL": self.bot_url} if self.bot_url else {})}
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        await self.emu.wait_until(lambda: self.emu.identify_count > identified and self.emu.gateway.ready(),
                                  timeout=30)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def _pending_buttons(self) -> list[tuple[int, str]]:
        found = []
        for message in self.emu.messages(self.channel):
            for button in message.buttons():
                if button.get("label") == "Approve" and not button.get("disabled"):
                    found.append((message.id, button["custom_id"]))
        return found

    async def burst(self, size: int = 200) -> None:
        """Deploys to staging (run now), to production (wait), scales, approvals, reads — all at once."""
        pending = self._pending_buttons()
        jobs = []
        for i in range(size):
            kind = self.rng.random()
            service = self.rng.choice(SERVICES)
            if pending and kind < 0.15:
                message_id, custom_id = pending[i % len(pending)]
                jobs.append(self.emu.click_button(message_id, custom_id, self.rng.choice(self.leads)))
                continue
            self.version += 1
            user = self.rng.choice(self.operators)
            if kind < 0.55:
                env = "staging" if kind < 0.45 else "production"
                jobs.append(self.emu.run_command(self.guild, self.channel, user, "deploy", {
                    "service": service, "version": f"v1.{self.version // 100}.{self.version % 100}",
                    "environment": env}))
            elif kind < 0.65:
                jobs.append(self.emu.run_command(self.guild, self.channel, user, "scale", {
                    "service": service, "replicas": self.rng.randint(3, 40), "environment": "staging"}))
            else:
                viewer = self.rng.choice(self.viewers)
                jobs.append(self.emu.run_command(self.guild, self.channel, viewer, "audit recent",
                                                 {"service": service, "limit": 5}))
        results = await asyncio.gather(*jobs, return_exceptions=True)
        self.handles += [r for r in results if isinstance(r, InteractionHandle)]

    def replied(self) -> list[InteractionHandle]:
        """Interactions that showed someone a message: a response with content, an edit, or a followup."""
        shown = []
        for handle in self.handles:
            callback = handle.callback
            if callback is None:
                continue
            if callback.type in (4, 7) or handle.followup_ids:
                shown.append(handle)
            elif callback.type == 5 and handle.original is not None and not handle.original.loading:
                shown.append(handle)
        return shown


@pytest.fixture(params=["sqlite", "postgres"])
async def world(request, tmp_path):
    if request.param == "postgres":
        owner, bot = request.getfixturevalue("pg_database")
        migrate = subprocess.run([sys.executable, "-m", "bot", "store", "migrate", "--to", owner], cwd=ROOT,
                                 capture_output=True, text=True, timeout=60, check=False)
        assert migrate.returncode == 0, migrate.stderr
        w = World(tmp_path, owner, bot)
    else:
        w = World(tmp_path)
    await w.start()
    try:
        yield w
    finally:
        if w.proc is not None and w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
        await w.emu.stop()


def runs_by_target(path: Path) -> dict[tuple[str, str], list[tuple[float, float | None, str]]]:
    events: dict[str, dict[str, object]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        entry = events.setdefault(event["request_id"], {"target": (event["service"], event["environment"])})
        entry[event["event"]] = event["t"]
    by_target: dict[tuple[str, str], list[tuple[float, float | None, str]]] = {}
    for request_id, entry in events.items():
        by_target.setdefault(entry["target"], []).append((entry["start"], entry.get("end"), request_id))
    return by_target


async def test_kill_9_at_six_moments_loses_nothing_and_runs_nothing_twice(world):
    for moment, delay in KILL_AFTER:
        await world.start_bot()
        await world.burst()
        await asyncio.sleep(delay)
        world.kill()
        print(f"killed at {moment!r}: {len(world.handles)} interactions so far", flush=True)

    await world.start_bot()  # the last start recovers everything the kills left behind
    conn = Sql(world.db, world.database_url)

    def unsettled() -> int:
        return conn.all("SELECT count(*) FROM operations WHERE status IN ('approved', 'running')")[0][0]

    for _ in range(300):
        if unsettled() == 0:
            break
        await asyncio.sleep(0.1)
    assert unsettled() == 0, "operations left running after the last restart"
    before = len(world.handles)
    await world.burst(40)  # it still works
    await world.emu.wait_until(lambda: all(h.callback for h in world.handles[before:]), timeout=30)
    for _ in range(300):
        if unsettled() == 0 and not RUNNING.search(" ".join(m.content or "" for m in world.emu.messages(world.channel))):
            break
        await asyncio.sleep(0.1)
    world.proc.send_signal(signal.SIGTERM)
    assert world.proc.wait(timeout=60) == 0

    verify = subprocess.run([sys.executable, "-m", "bot", "audit", "verify", "--db", world.database_url or str(world.db)],
                            cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert verify.returncode == 0, verify.stderr
    print(verify.stdout.strip(), flush=True)

    audited = {row[0] for row in conn.all("SELECT interaction_id FROM audit_log WHERE interaction_id IS NOT NULL")}
    replied = world.replied()
    missing = [h for h in replied if str(h.id) not in audited]
    described = [(h.payload.get("data", {}).get("name") or h.payload.get("data", {}).get("custom_id"),
                  h.callback.type, (h.original.content if h.original else "")[:80]) for h in missing]
    assert missing == [], f"{len(missing)} of {len(replied)} replied interactions have no audit row: {described[:5]}"

    stuck_messages = [m for m in world.emu.messages(world.channel) if not m.ephemeral and RUNNING.search(m.content or "")]
    stuck = [m.content for m in stuck_messages]
    for m in stuck_messages:
        rec = conn.all("SELECT id, status, revision, shown_revision, message_id, interaction_id, created_at "
                       "FROM operations WHERE message_id = ? OR interaction_id = ?", str(m.id), str(m.interaction_id))
        print("STUCK", m.id, m.interaction_id, m.content[:60], rec, flush=True)
    assert stuck == [], f"{len(stuck)} messages still show a running state, e.g. {stuck[:2]}"

    locks = conn.all("SELECT l.service, l.environment, l.operation_id, l.holder, o.status, o.holder FROM locks l "
                     "LEFT JOIN operations o ON o.id = l.operation_id")
    assert locks == [], f"locks left behind: {locks}"

    overlaps, unfinished = [], []
    for target, runs in runs_by_target(world.runs).items():
        runs.sort()
        unfinished += [r for r in runs if r[1] is None]
        for (_, end, first), (start, _, second) in zip(runs, runs[1:], strict=False):
            if end is not None and start < end:
                overlaps.append((target, first, second))
    assert unfinished == [], f"provider runs never ended: {unfinished[:3]}"
    assert overlaps == [], f"runs of one target overlapped: {overlaps[:3]}"

    statuses = dict(conn.all("SELECT status, count(*) FROM operations GROUP BY status"))
    # A waiting request whose target another deploy reached first ends void (its plan changed): a right ending.
    voided = conn.all("SELECT count(*) FROM operations WHERE status = 'failed' AND outcome LIKE '🚫%'")[0][0]
    conn.close()
    print(f"{len(world.handles)} interactions, {len(replied)} replied, operations by status: {statuses}, "
          f"{voided} void", flush=True)
    # the rounds did real work between kills (how much depends on the machine's load; ~20-40 on a quiet one)
    assert statuses.get("succeeded", 0) + voided >= 10 and statuses.get("interrupted", 0) > 0
    recoveries = [line.split("recovered from the last stop: ")[1] for log in world.logs
                  for line in log.read_text(errors="replace").splitlines() if "recovered from the last stop" in line]
    print("recoveries:", recoveries, flush=True)
    assert any(" 0 still running" not in r for r in recoveries), "no kill ever left a provider running"
    for log in world.logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and " ERROR " not in text, f"{log.name}:\n{text[-3000:]}"
        assert TOKEN not in text
