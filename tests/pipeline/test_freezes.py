"""Change freezes: refused outright, or overridable with the freeze's own approvals; rollback stays allowed."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.__main__ import main
from bot.config import ConfigError, parse_config
from bot.errors import Frozen
from bot.pipeline.policy import PolicyEngine
from tests.helpers import example_raw, write_example_config

NOW = datetime.now(UTC)


def freeze(**kw):
    return {"start": NOW - timedelta(hours=1), "end": NOW + timedelta(days=2), "environments": ["production"],
            "reason": "Black Friday", **kw}


def engine(tmp_path, *freezes):
    raw = example_raw(tmp_path)
    raw["freezes"] = list(freezes)
    config = parse_config(raw)
    return PolicyEngine(config.policy, config.freezes)


def test_a_freeze_refuses_deploys_but_not_rollbacks(tmp_path):
    policy = engine(tmp_path, freeze())
    with pytest.raises(Frozen, match=r"production is in a change freeze until .* \(Black Friday\); deploy is not"):
        policy.decide("deploy", "production")
    assert policy.decide("rollback", "production").confirm
    assert policy.decide("deploy", "staging").approvals == 0
    assert policy.decide("deploy", "production", at=NOW + timedelta(days=3)).approvals == 1


def test_an_overridable_freeze_raises_the_bar(tmp_path):
    policy = engine(tmp_path, freeze(approvals=2, approver_roles=["team_lead"]))
    req = policy.decide("scale_up", "production")
    assert req.approvals == 2 and req.approver_roles == ("team_lead",) and req.freeze is not None
    assert "Change freeze until" in policy.explain("scale_up", "production")


def test_freeze_config_problems(tmp_path):
    raw = example_raw(tmp_path)
    raw["freezes"] = [freeze(end=NOW - timedelta(days=1), environments=["prod"], approvals=1),
                      {"start": datetime(2026, 1, 1), "end": datetime(2026, 1, 2), "environments": ["staging"],
                       "reason": "x"}]
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    problems = {str(p) for p in err.value.problems}
    assert "freezes[0].end: must be after start" in problems
    assert "freezes[0].environments[0]: undefined environment 'prod'" in problems
    assert "freezes[0].approver_roles: must name at least one role when approvals > 0" in problems
    assert "freezes[1].start: needs a time zone, e.g. 2026-11-27T00:00:00Z" in problems


def test_policy_explain_shows_the_freeze(tmp_path, capsys):
    start, end = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), (NOW + timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    toml = f'\n[[freezes]]\nstart = {start}\nend = {end}\nenvironments = ["production"]\nreason = "Year-end"\n'
    path = write_example_config(tmp_path / "c.toml", tmp_path / "s")
    path.write_text(path.read_text() + toml)
    assert main(["policy", "explain", "deploy", "production", "--config", str(path)]) == 0
    assert "refused — production is in a change freeze until" in capsys.readouterr().out
