"""Builders shared by the tests: a config whose services deploy through the real demo script."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from bot.config import OpscordConfig, parse_config
from tests.conftest import EXAMPLE_CONFIG, ROOT

DEMO = str(ROOT / "scripts" / "demo_provider.py")


def demo_provider(state_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A `command` provider section running scripts/demo_provider.py with its state in state_dir."""
    def argv(*args: str) -> list[str]:
        return [sys.executable, DEMO, *args]

    section: dict[str, Any] = {
        "provider": "command",
        "deploy": argv("deploy", "{service}", "{environment}", "{version}", "{request_id}"),
        "rollback": argv("rollback", "{service}", "{environment}", "{version}", "{request_id}"),
        "scale": argv("scale", "{service}", "{environment}", "{replicas}", "{request_id}"),
        "migrate": argv("migrate", "{service}", "{environment}"),
        "health": argv("health", "{service}", "{environment}"),
        "current_replicas": argv("replicas", "{service}", "{environment}"),
        "pending_migration": argv("pending-migration", "{service}", "{environment}"),
        "timeout_seconds": 30,
        "show_output": True,
        "env": {"OPSCORD_DEMO_STATE": str(state_dir)},
    }
    section.update(overrides)
    return section


def example_raw(state_dir: Path) -> dict[str, Any]:
    """The example config as data, its providers pointed at state_dir."""
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text())
    for service in raw["services"]:
        service["deploy"] = demo_provider(state_dir)
    return raw


def example_config(state_dir: Path, **changes: Any) -> OpscordConfig:
    """The example config (the seed's matrix) with the demo provider."""
    raw = example_raw(state_dir)
    raw.update(changes)
    return parse_config(raw)


def write_example_config(path: Path, state_dir: Path, *, guild_id: int = 100000000000000001,
                         replace: dict[str, str] | None = None) -> Path:
    """The example TOML with the demo provider pointed at state_dir (and each `replace` key replaced)."""
    text = EXAMPLE_CONFIG.read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new, 1)
    text = text.replace("id = 100000000000000001", f"id = {guild_id}")
    text = text.replace('"python3", "scripts/demo_provider.py"', f"{json.dumps(sys.executable)}, {json.dumps(DEMO)}")
    text = text.replace('OPSCORD_DEMO_STATE = "demo-state"', f"OPSCORD_DEMO_STATE = {json.dumps(str(state_dir))}")
    path.write_text(text)
    return path


def state(card: Any) -> str:
    """A card below its subject line — what the operation needs, is doing or did (a message or a text)."""
    text = str(getattr(card, "content", getattr(card, "text", card)) or "")
    return text.split("\n", 1)[1] if "\n" in text else text


def subject(card: Any) -> str:
    """A card's subject line: what, where, who asked (and who approved)."""
    return str(getattr(card, "content", getattr(card, "text", card)) or "").split("\n", 1)[0]
