"""The CLI fallback: the same pipeline, policy, locks and audit, acting as the OS account of the real uid."""

import json
import os
import pwd
import subprocess
import sys

import pytest

from bot.__main__ import main
from tests.conftest import ROOT
from tests.helpers import write_example_config

ME = pwd.getpwuid(os.getuid()).pw_name
FALLBACK = {"users = {}": 'users = { alice = { member_id = 11, roles = ["ops"] }, '
                          'bob = { member_id = 12, roles = ["team-lead"] }, carol = { member_id = 13, roles = ["dba"] }, '
                          f'{json.dumps(ME)} = {{ member_id = 11, roles = ["ops"], name = "alice" }} }}'}


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    config = write_example_config(tmp_path / "opscord.toml", tmp_path / "state", replace=FALLBACK)
    monkeypatch.setenv("OPSCORD_CONFIG", str(config))
    monkeypatch.setenv("OPSCORD_DB", str(tmp_path / "opscord.db"))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)

    def run(account, *words):
        # Each person would run the CLI under their own OS account; in one test process the account
        # lookup (the real uid's password entry) is what stands in for logging in as them.
        monkeypatch.setattr("bot.fallback.os_account", lambda: account)
        code = main(list(words))
        out = capsys.readouterr()
        return code, out.out, out.err

    def export():
        main(["audit", "export"])
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    run.export = export
    run.state = tmp_path / "state"
    run.env = {**os.environ, "OPSCORD_CONFIG": str(config), "OPSCORD_DB": str(tmp_path / "opscord.db")}
    return run


def test_staging_deploy_runs_in_the_cli(cli):
    code, out, _ = cli("alice", "run-op", "deploy", "order-service", "v1.2.3", "staging")
    assert code == 0
    assert "✅ Deploy complete. Health check passed." in out
    assert json.loads((cli.state / "order-service-staging.json").read_text())["version"] == "v1.2.3"
    started, done = cli.export()
    assert (done["user"], done["command"], done["channel"], done["result"], done["user_id"]) == (
        "@alice", "/deploy order-service v1.2.3 staging", "#cli", "success", "11")
    assert started["via"] == "cli"


def test_production_needs_another_persons_approval(cli):
    code, out, _ = cli("alice", "run-op", "deploy", "order-service", "v2.0.0", "production")
    assert code == 3 and "Requires approval from a team lead." in out
    op_id = out.split("Request ")[1].split(":")[0]
    code, out, _ = cli("alice", "approve", op_id)
    assert code == 1 and "You cannot approve your own request." in out
    code, out, _ = cli("carol", "approve", op_id)
    assert code == 1 and "Only a team lead can approve" in out
    code, out, _ = cli("bob", "approve", op_id)
    assert code == 0 and "✅ Approved by @bob." in out and "✅ Deploy complete" in out
    assert cli.export()[-1]["approved_by"] == "@bob"


def test_one_person_is_one_person_under_any_account_that_maps_to_them(cli):
    """Two accounts mapped to alice's member id are alice twice: neither approves her request."""
    code, out, _ = cli("alice", "run-op", "deploy", "order-service", "v2.0.0", "production")
    op_id = out.split("Request ")[1].split(":")[0]
    code, out, _ = cli(ME, "approve", op_id)
    assert code == 1 and "You cannot approve your own request." in out


def test_rollback_is_confirmed_by_the_requester(cli):
    for version in ("v1.0.0", "v1.1.0"):
        assert cli("alice", "run-op", "deploy", "order-service", version, "staging")[0] == 0
    code, out, _ = cli("alice", "run-op", "rollback", "order-service", "staging")
    assert code == 3 and "Confirm to proceed." in out
    op_id = out.split("Request ")[1].split(":")[0]
    assert cli("bob", "approve", op_id)[0] == 1
    code, out, _ = cli("alice", "approve", op_id)
    assert code == 0 and "✅ Rollback complete" in out


def test_refusals_are_one_line_and_audited(cli):
    code, out, _ = cli("alice", "run-op", "scale", "api-gateway", "99", "production")
    assert code == 1 and out.strip() == "Replicas for api-gateway must be between 2 and 30; got 99."
    code, out, _ = cli("bob", "run-op", "deploy", "order-service", "v1.0.0", "staging")
    assert code == 1 and "operator role" in out
    assert [r["result"] for r in cli.export()] == ["invalid", "denied"]


def test_unknown_account_and_bad_usage(cli):
    code, _, err = cli("mallory", "run-op", "deploy", "order-service", "v1.0.0", "staging")
    assert code == 2 and "'mallory' is not in [fallback].users" in err
    code, _, err = cli("alice", "run-op", "deploy", "order-service", "staging")
    assert code == 2 and "usage: python -m bot run-op deploy SERVICE VERSION ENVIRONMENT" in err
    code, _, err = cli("alice", "run-op", "fly", "x")
    assert code == 2 and "say which operation" in err


def test_logname_and_user_cannot_change_who_acts(cli):
    """A real process: LOGNAME=bob USER=bob still acts as the real uid's account (mapped to alice)."""
    code, out, _ = cli("alice", "run-op", "deploy", "order-service", "v2.0.0", "production")
    op_id = out.split("Request ")[1].split(":")[0]
    env = {**cli.env, "LOGNAME": "bob", "USER": "bob", "USERNAME": "bob"}
    done = subprocess.run([sys.executable, "-m", "bot", "approve", op_id], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and "You cannot approve your own request." in done.stdout, done.stdout + done.stderr
    row = cli.export()[-1]
    assert (row["result"], row["user"], row["user_id"]) == ("denied", "@alice", "11")
