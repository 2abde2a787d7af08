"""`make run` in a real terminal (tmux): the line editor keeps the prompt and what was typed intact while the
bot logs above it; completion and history work; discord.py's gateway-lag warning is not shown."""

import logging
import os
import shutil
import subprocess
import time
import uuid

import pytest

from bot.sandbox import app as sandbox_app
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")


class Tmux:
    """One tmux server of our own (its own socket), one window running a command."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.socket = f"opscord-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={v!s}" for k, v in env.items())
        self.tmux("new-session", "-d", "-s", "t", "-x", "160", "-y", "50", f"cd {ROOT} && env {exports} {command}")
        self.tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=10).stdout

    def screen(self) -> list[str]:
        return [line.rstrip() for line in self.tmux("capture-pane", "-p", "-t", "t").splitlines()]

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def wait(self, predicate, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.screen()
            if predicate(lines):
                return lines
            time.sleep(0.2)
        raise AssertionError("the terminal never showed what was expected:\n" + "\n".join(self.screen()))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False, timeout=10)


def last_line(lines: list[str]) -> str:
    return next((line for line in reversed(lines) if line), "")


def test_make_run_keeps_the_prompt_intact_while_the_bot_logs(sandbox):
    state = sandbox.tmp_path / "state"
    state.mkdir()
    (state / "block").touch()  # deploys wait until the test lets them go
    env = {"DISCORD_TOKEN": "", "OPSCORD_CONFIG": sandbox.config, "OPSCORD_DB": sandbox.db, "LOG_LEVEL": "DEBUG",
           "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "TERM": "xterm-256color"}
    term = Tmux("make run", env)
    try:
        term.wait(lambda lines: last_line(lines) == "alice@#deployments>")
        term.keys("/dep", "Tab")  # completion of commands
        term.wait(lambda lines: last_line(lines) == "alice@#deployments> /deploy")
        term.keys(" order-service v2.4.1 staging", "Enter")
        shown = term.wait(lambda lines: "(still running; type `messages` later to see how it ends)" in lines, 40)
        assert any(line.startswith("  ⏳ still running… ") for line in shown)  # running progress, as it runs
        term.wait(lambda lines: last_line(lines) == "alice@#deployments>")
        term.keys("/audit rec")  # typed, not sent: the bot now logs (the deploy finishing) while it is edited
        term.wait(lambda lines: last_line(lines) == "alice@#deployments> /audit rec")
        before = term.tmux("capture-pane", "-p", "-S", "-2000", "-t", "t").count(" DEBUG ")
        (state / "block").unlink()

        def logged_since(lines: list[str]) -> bool:
            history = term.tmux("capture-pane", "-p", "-S", "-2000", "-t", "t")
            return history.count(" DEBUG ") > before + 3 and last_line(lines) == "alice@#deployments> /audit rec"

        lines = term.wait(logged_since, 40)
        logged = [i for i, line in enumerate(lines) if " DEBUG " in line or " INFO " in line]
        prompt = max(i for i, line in enumerate(lines) if line.startswith("alice@#deployments> /audit rec"))
        assert logged and max(logged) < prompt, "a log line was drawn below (through) the prompt"
        assert all("alice@#deployments> /audit rec" not in line or line.endswith("/audit rec")
                   for line in lines), "a log line tore through the typed text"
        term.keys("C-u", "Up")  # history: the last line sent comes back
        term.wait(lambda lines: last_line(lines) == "alice@#deployments> /deploy order-service v2.4.1 staging")
        term.keys("C-u", "quit", "Enter")
        term.wait(lambda lines: not last_line(lines).startswith("alice@"), 30)
    finally:
        term.close()


def test_the_gateway_lag_warning_is_not_shown(capsys):
    record = logging.LogRecord("discord.gateway", logging.WARNING, __file__, 1,
                               "Can't keep up, shard ID %s websocket is %.1fs behind.", (None, 41.0), None)
    assert sandbox_app._not_about_lag(record) is False
    other = logging.LogRecord("discord.gateway", logging.WARNING, __file__, 1, "Shard ID %s has stopped", (None,),
                              None)
    assert sandbox_app._not_about_lag(other) is True
