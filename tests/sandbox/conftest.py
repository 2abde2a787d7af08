"""Running the sandbox as a real subprocess, on a temp DB and a temp demo state dir."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG, ROOT

DEMO_SCRIPT = ROOT / "bot" / "sandbox" / "demo.txt"
STATE_LINE = 'OPSCORD_DEMO_STATE = "demo-state"'


@dataclass
class Sandbox:
    """Runs `python -m bot …` from the repository root (the example's demo provider path is relative)."""

    tmp_path: Path
    config: Path
    db: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "OPSCORD_DB", "OPSCORD_CONFIG")}
        env.update(DISCORD_TOKEN="", PYTHONUNBUFFERED="1", **extra)
        return env

    def run(self, *args: str, stdin: str = "", cwd: Path = ROOT, env: dict[str, str] | None = None,
            sandbox: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "bot"]
        if sandbox:
            argv += ["sandbox", "--config", str(self.config), "--db", str(self.db)]
        return subprocess.run([*argv, *args], input=stdin, capture_output=True, text=True, cwd=cwd,
                              env=env or self.env(), timeout=60, check=False)

    def script(self, text: str, name: str = "script.txt") -> Path:
        path = self.tmp_path / name
        path.write_text(text)
        return path


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    """The example config with its demo state in tmp_path/state."""
    text = EXAMPLE_CONFIG.read_text()
    assert STATE_LINE in text, "the example config's demo provider state line changed"
    config = tmp_path / "opscord.toml"
    config.write_text(text.replace(STATE_LINE, f'OPSCORD_DEMO_STATE = "{tmp_path / "state"}"'))
    return Sandbox(tmp_path, config, tmp_path / "sandbox.db")
