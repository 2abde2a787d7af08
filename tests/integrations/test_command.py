"""CommandProvider with real scripts: literal argv, exit codes, timeouts, environment, health."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from integrations.base import HealthStatus, supported_actions
from integrations.command import CommandProvider
from integrations.errors import ConfigurationError, ProviderFailed, UpstreamTimeout
from tests.integrations.helpers import make_request


def script(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


async def test_a_hostile_version_arrives_as_one_literal_argument(tmp_path):
    show = script(tmp_path, "deploy.sh", 'printf "argc=%s\\n" "$#"\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    provider = CommandProvider({"deploy": [show, "--service={service}", "{environment}", "{version}"]})
    hostile = f"v1; rm -rf / ; touch {tmp_path}/pwned $(touch {tmp_path}/pwned2) `touch {tmp_path}/pwned3`"
    result = await provider.deploy(make_request(version=hostile))
    assert result.ok
    lines = result.output.splitlines()
    assert lines == ["argc=3", "[--service=orders]", "[staging]", f"[{hostile}]"]
    assert not any(p.name.startswith("pwned") for p in tmp_path.iterdir())


async def test_failure_reports_the_exit_code_and_only_with_show_output_the_last_line(tmp_path):
    fail = script(tmp_path, "deploy.sh", 'echo "pulling image"\necho "error: image orders:v9 not found" >&2\nexit 3\n')
    result = await CommandProvider({"deploy": [fail, "{version}"]}).deploy(make_request(version="v9"))
    assert not result.ok
    assert result.summary == "The deploy of orders v9 to staging failed (exit 3)."
    assert "pulling image" in result.output and "not found" in result.output
    assert result.details["exit_code"] == 3
    shown = await CommandProvider({"deploy": [fail, "{version}"]}, show_output=True).deploy(make_request(version="v9"))
    assert shown.summary == "The deploy of orders v9 to staging failed (exit 3: error: image orders:v9 not found)."


async def test_success_summary_and_details(tmp_path):
    ok = script(tmp_path, "migrate.sh", "echo migrated 3 tables\n")
    provider = CommandProvider({"migrate": [ok, "{service}"]})
    result = await provider.migrate(make_request("migrate"))
    assert result.ok and result.summary == "The migration of orders in staging succeeded."
    assert result.output == "migrated 3 tables\n"


async def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    slow = script(tmp_path, "slow.sh", f"sleep 30 &\necho $! > {pidfile}\necho started\nwait\n")
    provider = CommandProvider({"deploy": [slow]}, timeout=0.5, kill_grace=0.5)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        await provider.deploy(make_request())
    assert time.monotonic() - started < 3
    assert str(caught.value) == "The deploy command did not finish within 0.5 s and was stopped"
    assert "started" in caught.value.output
    child = int(pidfile.read_text())
    await asyncio.sleep(0.1)
    assert not running(child)


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting for a reaper."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


async def test_a_value_that_looks_like_an_option_is_refused(tmp_path):
    show = script(tmp_path, "deploy.sh", "echo ran\n")
    provider = CommandProvider({"deploy": [show, "{version}"], "scale": [show, "--replicas={replicas}"]})
    with pytest.raises(ProviderFailed, match="starts with '-'"):
        await provider.deploy(make_request(version="--force"))
    assert (await provider.scale(make_request("scale", replicas=3))).ok


async def test_missing_value_for_a_placeholder(tmp_path):
    show = script(tmp_path, "rollback.sh", "echo ran\n")
    provider = CommandProvider({"rollback": [show, "{previous_version}"]})
    with pytest.raises(ConfigurationError, match=r"no value for \{previous_version\}"):
        await provider.rollback(make_request("rollback"))
    result = await provider.rollback(make_request("rollback", previous_version="v2.4.0"))
    assert result.ok


async def test_environment_has_the_request_but_not_the_bots_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "bot-secret")
    env = script(tmp_path, "deploy.sh", "env\n")
    provider = CommandProvider({"deploy": [env]}, env={"PATH": "/usr/bin:/bin", "REGISTRY": "r.example"},
                               cwd=str(tmp_path))
    result = await provider.deploy(make_request())
    assert "OPSCORD_SERVICE=orders" in result.output
    assert "OPSCORD_VERSION=v2.4.1" in result.output
    assert "OPSCORD_REQUESTER=@alice" in result.output
    assert "REGISTRY=***" in result.output and "r.example" not in result.output  # its env values are scrubbed
    assert "bot-secret" not in result.output


async def test_output_is_bounded_to_the_last_bytes(tmp_path):
    noisy = script(tmp_path, "deploy.sh", "i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxx; "
                                          "i=$((i+1)); done\necho final\n")
    provider = CommandProvider({"deploy": [noisy]}, output_limit=4096)
    result = await provider.deploy(make_request())
    assert len(result.output) <= 4096
    assert result.output.endswith("final\n")


@pytest.mark.parametrize(("code", "status"), [(0, HealthStatus.HEALTHY), (1, HealthStatus.DEGRADED),
                                              (2, HealthStatus.DOWN), (3, HealthStatus.UNKNOWN)])
async def test_health_follows_the_nagios_convention(tmp_path, code, status):
    check = script(tmp_path, "health.sh", f'echo "p99 latency 180ms"\nexit {code}\n')
    templates = {"deploy": [check], "health": [check, "{service}", "{environment}"]}
    report = await CommandProvider(templates, show_output=True).check("orders", "production")
    assert report.status is status and report.summary == "p99 latency 180ms"
    report = await CommandProvider(templates).check("orders", "production")
    assert report.status is status and report.summary == f"orders in production is {status.value}"


async def test_current_replicas(tmp_path):
    count = script(tmp_path, "replicas.sh", "echo checking\necho 4\n")
    provider = CommandProvider({"scale": [count], "current_replicas": [count, "{service}"]})
    assert await provider.current_replicas("orders", "staging") == 4
    assert await CommandProvider({"scale": [count]}).current_replicas("orders", "staging") is None


def test_bad_templates_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="unknown placeholder"):
        CommandProvider({"deploy": ["deploy.sh", "{image}"]})
    with pytest.raises(ConfigurationError, match="unknown command kind"):
        CommandProvider({"destroy": ["x"]})
    with pytest.raises(ConfigurationError, match="stray"):
        CommandProvider({"deploy": ["deploy.sh", "{version"]})


async def test_a_missing_program_is_a_configuration_error(tmp_path):
    provider = CommandProvider({"deploy": [str(tmp_path / "nope.sh")]})
    with pytest.raises(ConfigurationError, match="could not start"):
        await provider.deploy(make_request())


def test_supported_actions_follow_the_templates():
    provider = CommandProvider({"deploy": ["d"], "migrate": ["m"], "health": ["h"]})
    assert supported_actions(provider) == {"deploy", "migrate"}
    assert provider.has_health_check and not CommandProvider({"deploy": ["d"]}).has_health_check
