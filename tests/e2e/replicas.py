"""Two real `python -m bot` replicas against one emulator and one PostgreSQL database.

Each replica is a process of its own (`OPSCORD_DATABASE_URL` as the bot's role); the emulator runs
in the test. Which replica leads is read from the emulator (who identified) and from each one's
/healthz; what they did, from the database and the recording provider's runs file.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bot.sandbox.emulator import DiscordEmulator, Message
from tests.conftest import ROOT
from tests.e2e.test_crash_rounds_e2e import write_config

TOKEN = "replica-test-token-0123456789"  # noqa: S105 - the emulator's token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    """One bot process."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:  # noqa: S310
            return response.read().decode()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class Pair:
    """The emulated guild, the database, and the replicas started so far."""

    tmp: Path
    owner_url: str
    bot_url: str
    emu: DiscordEmulator = field(init=False)
    replicas: list[Replica] = field(default_factory=list)

    async def start(self) -> None:
        self.emu = DiscordEmulator(TOKEN)
        guild = self.emu.add_guild("Replicas")
        self.guild = guild.id
        roles = {n: self.emu.add_role(guild.id, n).id for n in ("ops", "team-lead", "dba", "engineering")}
        self.channel = self.emu.add_channel(guild.id, "deployments").id
        self.emu.add_channel(guild.id, "incidents")
        self.audit_channel = self.emu.add_channel(guild.id, "audit").id
        self.alice = self.emu.add_member(guild.id, "alice", roles=[roles["ops"]]).id
        self.bob = self.emu.add_member(guild.id, "bob", roles=[roles["team-lead"]]).id
        self.runs = self.tmp / "runs.jsonl"
        self.config = self.tmp / "opscord.toml"
        await self.emu.start()
        write_config(self.config, self.guild, self.runs)
        migrate = subprocess.run([sys.executable, "-m", "bot", "store", "migrate", "--to", self.owner_url], cwd=ROOT,
                                 capture_output=True, text=True, timeout=60, check=False)  # as the owner, once
        assert migrate.returncode == 0, migrate.stderr

    def spawn(self, name: str, **env: str) -> Replica:
        log = self.tmp / f"{name}.log"
        port = free_port()
        environ = {**os.environ, "DISCORD_TOKEN": TOKEN, "OPSCORD_CONFIG": str(self.config),
                   "OPSCORD_DATABASE_URL": self.bot_url, "DISCORD_API_BASE_URL": self.emu.api_base_url,
                   "DISCORD_GATEWAY_URL": self.emu.gateway_url, "LOG_LEVEL": "INFO",
                   "OPSCORD_HTTP_LISTEN": f"127.0.0.1:{port}", **env}
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=environ, stdout=out,
                                    stderr=subprocess.STDOUT)
        replica = Replica(name, proc, log, port)
        self.replicas.append(replica)
        return replica

    async def wait_log(self, replica: Replica, fragment: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while fragment not in replica.text():
            assert replica.proc.poll() is None or fragment in replica.text(), replica.text()[-3000:]
            assert time.monotonic() < deadline, f"{replica.name} never logged {fragment!r}:\n{replica.text()[-3000:]}"
            await asyncio.sleep(0.05)

    async def wait_identified(self, count: int, timeout: float = 30) -> float:
        """Wait until `count` gateway sessions have identified and one is ready; the monotonic time it happened."""
        await self.emu.wait_until(lambda: self.emu.identify_count >= count and self.emu.gateway.ready(),
                                  timeout=timeout)
        return time.monotonic()

    async def leader_and_standby(self) -> tuple[Replica, Replica]:
        """Start A, wait until it leads and is connected, then B, wait until it stands by."""
        a = self.spawn("a")
        await self.wait_identified(1)
        await self.wait_log(a, "took the leader lease")
        b = self.spawn("b")
        await self.wait_log(b, "standing by")
        return a, b

    async def request_waiting(self, service: str = "svc-00", version: str = "v2.0.0") -> Message:
        """alice asks for a production deploy; returns its message with the Approve button."""
        handle = await self.emu.run_command(self.guild, self.channel, self.alice, "deploy",
                                            {"service": service, "version": version, "environment": "production"})
        await handle.wait_response(timeout=10)
        message = await self.emu.wait_until(
            lambda: next((m for m in self.emu.messages(self.channel)
                          if any(b.get("label") == "Approve" for b in m.buttons())), None), timeout=10)
        return message

    async def approve(self, message: Message) -> Any:
        button = next(b for b in message.buttons() if b.get("label") == "Approve")
        return await self.emu.click_button(message.id, button["custom_id"], self.bob)

    def runs_of(self, service: str) -> list[dict[str, Any]]:
        if not self.runs.exists():
            return []
        return [e for e in map(json.loads, self.runs.read_text().splitlines())
                if e["service"] == service and e["event"] == "start"]

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.owner_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    def verify(self) -> str:
        done = subprocess.run([sys.executable, "-m", "bot", "audit", "verify", "--db", self.owner_url], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def assert_no_errors(self) -> None:
        """No replica logged an ERROR or a traceback (a lost lease is a WARNING)."""
        for replica in self.replicas:
            text = replica.text()
            assert " ERROR " not in text and "Traceback" not in text, f"{replica.name}:\n{text[-3000:]}"
            assert TOKEN not in text

    async def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()
        await self.emu.stop()


class Partition:
    """A TCP proxy to the cluster's unix socket that can be cut like a network: once cut, bytes in
    either direction are dropped (the sockets stay open, as with a partition) and new connections
    are closed at once."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.cut = False
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.cut:
                    dst.write(data)
                    await dst.drain()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True)
        finally:
            for w in (writer, up_writer):
                w.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
