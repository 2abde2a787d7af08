import shutil

import pytest

from bot.__main__ import main
from bot.config import ConfigError, load_config, parse_config
from tests.conftest import EXAMPLE_CONFIG


def test_example_config_is_valid():
    config = load_config(EXAMPLE_CONFIG)
    assert [s.name for s in config.services] == ["order-service", "payment-service", "api-gateway"]
    assert [e.name for e in config.environments] == ["development", "staging", "production"]
    rows = [(r.action, r.environment, r.approvals, r.approver_roles, r.confirm) for r in config.policy]
    assert rows == [
        ("deploy", "production", 1, ["team_lead"], False),
        ("rollback", "*", 0, [], True),
        ("scale_down", "production", 1, ["team_lead"], False),
        ("migrate", "production", 2, ["team_lead", "dba"], False),
        ("*", "*", 0, [], False),
    ]


OWN_GUILD = "id = 876543210987654321"


def test_check_config_ok_once_the_placeholder_guild_id_is_replaced(tmp_path, capsys):
    assert main(["check-config", str(EXAMPLE_CONFIG)]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  guild.id: 100000000000000001 is the example's placeholder: set your server's ID (Developer Mode → "
        "right-click the server → Copy Server ID)"]
    own = tmp_path / "opscord.toml"
    own.write_text(EXAMPLE_CONFIG.read_text().replace("id = 100000000000000001", OWN_GUILD))
    assert main(["check-config", str(own)]) == 0
    assert "3 services" in capsys.readouterr().out


def test_check_config_lists_every_problem(tmp_path, capsys):
    text = EXAMPLE_CONFIG.read_text()
    text = text.replace("replicas = { min = 2, max = 20 }", 'replicas = { min = "two", max = 20 }', 1)
    text = text.replace('dashboard_url = "https://grafana.example.com/d/orders/order-service"',
                        'dashboard_url = "https://grafana.example.com/d/orders/order-service"\ndashbord = "typo"', 1)
    text = text.replace('approvals = 1\napprover_roles = ["team_lead"]', 'approvals = 1\napprover_roles = ["release_manager"]', 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "4 problem(s)" in err and "guild.id: 100000000000000001 is the example's placeholder" in err
    assert "services[0].replicas.min: must be a whole number" in err
    assert "services[0].dashbord: unknown key" in err
    assert "policy[0].approver_roles[0]: undefined role 'release_manager'" in err


def test_replica_bounds_path():
    raw = {"guild": {"id": 1}, "roles": {"operator": ["ops"]}, "environments": [{"name": "prod"}],
           "services": [{"name": "a", "environments": ["prod"]},
                        {"name": "b", "environments": ["prod"], "replicas": {"min": 5, "max": 2}}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert [str(p) for p in err.value.problems] == ["services[1].replicas.max: must be >= min"]


def test_cross_references():
    raw = {"guild": {"id": 1}, "roles": {"operator": ["ops"]}, "environments": [{"name": "prod"}],
           "services": [{"name": "a", "environments": ["prod", "qa"]}, {"name": "a", "environments": ["prod"]}],
           "policy": [{"action": "deploy", "environment": "uat", "approvals": 1}],
           "access": {"audit": ["auditor"]}}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    problems = {str(p) for p in err.value.problems}
    assert problems == {
        "services[0].environments[1]: undefined environment 'qa'",
        "services[1].name: duplicate service 'a'",
        "policy[0].environment: undefined environment 'uat'",
        "policy[0].approver_roles: must name at least one role when approvals > 0",
        "access.audit[0]: undefined role 'auditor'",
    }


def quorum_problems(*rows):
    raw = {"guild": {"id": 1}, "roles": {"operator": ["ops"], "team_lead": ["lead"], "dba": ["dba"]},
           "environments": [{"name": "prod"}], "policy": list(rows)}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    return [str(p) for p in err.value.problems]


def test_a_quorum_row_names_known_roles_with_counts_of_at_least_one():
    assert parse_config({"guild": {"id": 1}, "roles": {"team_lead": ["lead"], "dba": ["dba"]},
                         "environments": [{"name": "prod"}],
                         "policy": [{"action": "migrate", "require": {"team_lead": 1, "dba": 1},
                                     "confirm_phrase": True}]}).policy[0].require == {"team_lead": 1, "dba": 1}
    assert quorum_problems({"action": "migrate", "require": {"team_lead": 1, "release_manager": 1}}) == [
        "policy[0].require.release_manager: undefined role 'release_manager' (the roles are: dba, operator, "
        "team_lead)"]
    assert quorum_problems({"action": "migrate", "require": {"team_lead": 1, "dba": 0}}) == [
        "policy[0].require: each role needs at least 1 approval (dba has 0); leave a role out instead"]
    assert quorum_problems({"action": "deploy", "require": {"dba": 1}, "approvals": 2,
                            "approver_roles": ["team_lead"]}) == [
        "policy[0].require: give either require (approvals by role) or approvals with approver_roles, not both"]
    assert quorum_problems({"action": "deploy", "require": {"dba": 11}}) == [
        "policy[0].require: asks for more than 10 approvals in all"]
    assert quorum_problems({"action": "deploy", "require": {"dba": "one"}}) == [
        "policy[0].require.dba: must be a whole number"]
    assert quorum_problems({"action": "deploy", "confirm_phrase": "maybe"}) == [
        "policy[0].confirm_phrase: must be true or false"]


def test_bad_regex_and_missing_file(tmp_path, capsys):
    raw = {"guild": {"id": 1}, "roles": {}, "environments": [{"name": "p"}],
           "services": [{"name": "a", "environments": ["p"], "version_pattern": "v(("}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert "services[0].version_pattern: not a valid regular expression" in str(err.value)
    assert main(["check-config", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_invalid_toml(tmp_path, capsys):
    path = tmp_path / "x.toml"
    shutil.copy(EXAMPLE_CONFIG, path)
    path.write_text(path.read_text() + "\n[guild\n")
    assert main(["check-config", str(path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_check_config_reports_missing_secret_variables(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPSCORD_TEST_GH_TOKEN", raising=False)
    text = EXAMPLE_CONFIG.read_text().replace(
        'dashboard_url = "https://grafana.example.com/d/orders/order-service"',
        'dashboard_url = "https://grafana.example.com/d/orders/order-service"\n\n[services.deploy]\n'
        'provider = "github_actions"\nrepository = "acme/orders"\nworkflow = "deploy.yml"\n'
        'token_env = "OPSCORD_TEST_GH_TOKEN"\n', 1)
    path = tmp_path / "gh.toml"
    path.write_text(text.replace("id = 100000000000000001", OWN_GUILD))
    assert main(["check-config", str(path)]) == 2
    assert "services[0].deploy: environment variable OPSCORD_TEST_GH_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("OPSCORD_TEST_GH_TOKEN", "x" * 20)
    assert main(["check-config", str(path)]) == 0


def test_services_inherit_defaults_key_by_key():
    config = load_config(EXAMPLE_CONFIG)
    assert all(s.deploy is not None and s.deploy.provider == "command" for s in config.services)
    raw = {"guild": {"id": 1}, "roles": {}, "environments": [{"name": "p"}],
           "defaults": {"deploy": {"provider": "command", "deploy": ["echo", "{version}"], "timeout_seconds": 5}},
           "services": [{"name": "a", "environments": ["p"], "deploy": {"timeout_seconds": 9}},
                        {"name": "b", "environments": ["p"],
                         "deploy": {"provider": "webhook", "url": "https://hooks.example.com/x", "secret_env": "S"}}]}
    config = parse_config(raw)
    a, b = config.services
    assert a.deploy.provider == "command" and a.deploy.timeout_seconds == 9 and a.deploy.deploy == ["echo", "{version}"]
    assert b.deploy.provider == "webhook"


def test_check_config_lists_what_bites_in_one_pass(tmp_path, capsys, monkeypatch):
    """A role typo, the placeholder guild id, an unused role and two unset secrets: all listed at once."""
    monkeypatch.delenv("OPSCORD_TEST_GH_TOKEN", raising=False)
    monkeypatch.delenv("OPSCORD_TEST_PD_KEY", raising=False)
    text = EXAMPLE_CONFIG.read_text()
    text = text.replace('operator = ["ops"]', 'operater = ["ops"]', 1)  # the typo
    text = text.replace('approvals = 2\napprover_roles = ["team_lead", "dba"]',
                        'approvals = 2\napprover_roles = ["team_lead"]', 1)  # dba: now used by nothing
    text = text.replace('audit = ["viewer", "operator", "team_lead", "dba", "incident_commander"]',
                        'audit = ["viewer", "operator", "team_lead", "incident_commander"]', 1)
    text = text.replace('replicas = { min = 2, max = 20 }', 'replicas = { min = "two", max = 20 }', 1)
    text = text.replace(
        'dashboard_url = "https://grafana.example.com/d/orders/order-service"',
        'dashboard_url = "https://grafana.example.com/d/orders/order-service"\n\n[services.deploy]\n'
        'provider = "github_actions"\nrepository = "acme/orders"\nworkflow = "deploy.yml"\n'
        'token_env = "OPSCORD_TEST_GH_TOKEN"\n\n[services.pager]\nrouting_key_env = "OPSCORD_TEST_PD_KEY"\n', 1)
    path = tmp_path / "bites.toml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"{path}: 8 problem(s)"
    assert sorted(line.strip() for line in lines[1:]) == sorted([
        "services[0].replicas.min: must be a whole number",
        "guild.id: 100000000000000001 is the example's placeholder: set your server's ID (Developer Mode → "
        "right-click the server → Copy Server ID)",
        "roles.operater: 'operater' is not a capability (did you mean 'operator'?); the capabilities are operator, "
        "team_lead, dba, incident_commander, viewer, or a name a policy row asks to approve",
        "roles.operator: no role holds operator, so nobody can run an operation",
        "access.audit[1]: undefined role 'operator'",
        "roles.dba: no policy row, freeze or [access] list uses dba, so its roles grant nothing of their own",
        "services[0].deploy: environment variable OPSCORD_TEST_GH_TOKEN is not set",
        "services[0].pager: environment variable OPSCORD_TEST_PD_KEY is not set",
    ])
    assert not any("Input should" in line or "Value error" in line or "String should" in line for line in lines)


def test_the_example_configs_commented_quorum_row_is_valid_once_uncommented(tmp_path):
    text = EXAMPLE_CONFIG.read_text()
    block = text[text.index("# [[policy]]"):text.index("# The seed's approval matrix")]
    own = tmp_path / "opscord.toml"
    own.write_text(text.replace(block, "\n".join(line[2:] for line in block.strip().splitlines()) + "\n\n"))
    config = load_config(own)
    assert config.policy[0].require == {"team_lead": 1, "dba": 1} and config.policy[0].confirm_phrase
    assert len(config.policy) == 6


def test_a_role_used_only_by_a_quorum_is_a_used_role(tmp_path, capsys):
    text = EXAMPLE_CONFIG.read_text().replace("id = 100000000000000001", OWN_GUILD)
    text = text.replace('approvals = 2\napprover_roles = ["team_lead", "dba"]', 'require = { team_lead = 1, dba = 1 }', 1)
    text = text.replace('audit = ["viewer", "operator", "team_lead", "dba", "incident_commander"]',
                        'audit = ["viewer", "operator", "team_lead", "incident_commander"]', 1)
    path = tmp_path / "quorum.toml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
