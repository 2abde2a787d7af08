"""The wheel as a new user gets it: installed in a fresh venv outside the checkout, `opscord init` and
`opscord sandbox --script …` run the demo; the systemd unit verifies against that installation."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.packaging


def run(argv, cwd, timeout=300, env=None):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the wheel, the venv's bin directory): built from the checkout, installed with its dependencies."""
    base = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(base / "dist"), str(ROOT)],
                base)
    assert built.returncode == 0, built.stderr
    [wheel] = (base / "dist").glob("opscord-*.whl")
    venv = base / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], base).returncode == 0
    pip = run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], base, timeout=600)
    assert pip.returncode == 0, pip.stderr
    return wheel, venv / "bin"


def test_the_wheel_carries_what_opscord_needs_and_its_license(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("bot/examples/opscord.example.toml", "bot/examples/env.example", "bot/examples/demo_provider.py",
                   "bot/sandbox/demo.txt", "bot/store/migrations/V001__audit_log.sql"):
        assert needed in names, needed
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(zipfile.ZipFile(wheel).read(metadata))
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_init_then_the_sandbox_runs_the_demo_outside_the_checkout(installed, tmp_path):
    _, bin_dir = installed
    work = tmp_path / "somewhere"
    work.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    opscord = str(bin_dir / "opscord")
    version = run([opscord, "--version"], work, env=env)
    assert version.returncode == 0 and version.stdout.startswith("opscord ")
    init = run([opscord, "init"], work, env=env)
    assert init.returncode == 0, init.stderr
    assert (work / "opscord.toml").is_file() and "OPSCORD_CONFIG=opscord.toml" in (work / ".env").read_text()
    assert run([opscord, "init"], work, env=env).returncode == 2  # never overwrites without --force
    check = run([opscord, "check-config", "opscord.toml"], work, env=env)
    assert check.returncode == 2 and check.stderr.count("\n  ") == 1 and "guild.id:" in check.stderr

    demo = next(bin_dir.parent.glob("lib/python*/site-packages/bot/sandbox/demo.txt"))
    played = run([opscord, "sandbox", "--script", str(demo)], work, env=env)
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-3000:]
    assert "Deploy complete. Health check passed." in played.stdout
    assert "Incident" in played.stdout and "chain intact" in played.stdout
    assert "Traceback" not in played.stdout + played.stderr
    assert (work / "sandbox.db").is_file() and (work / "demo-state").is_dir()
    assert str(ROOT) not in played.stdout  # nothing came from the checkout


def test_every_option_has_help_text():
    import argparse

    from bot.__main__ import _parser

    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")
                continue
            if not action.help and not isinstance(action, argparse._HelpAction):
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(_parser(), "opscord") == []


UNIT = ROOT / "deploy" / "opscord.service"


def test_the_systemd_unit_stops_gracefully():
    unit = UNIT.read_text()
    assert "KillSignal=SIGTERM" in unit and "KillMode=mixed" in unit  # SIGTERM to Opscord, not its providers
    stop = int(next(line for line in unit.splitlines() if line.startswith("TimeoutStopSec=")).split("=")[1])
    assert stop > 30 + 10  # the default stop_grace_seconds, then the message flush
    assert "RestartPreventExitStatus=2" in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (apt-get install systemd)")
def test_systemd_analyze_verifies_the_unit(installed, tmp_path):
    _, bin_dir = installed
    unit = tmp_path / "opscord.service"
    unit.write_text(UNIT.read_text().replace("/opt/opscord/bin/opscord", str(bin_dir / "opscord")))
    verified = run(["systemd-analyze", "verify", str(unit)], tmp_path, env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "opscord.service" not in verified.stderr, verified.stderr
