import pytest

from bot.__main__ import main
from bot.config import PolicyRow
from bot.pipeline.policy import SEED_MATRIX, PolicyEngine
from tests.conftest import EXAMPLE_CONFIG

SEED_EXPECTATIONS = [
    ("deploy", "production", "Requires approval from a team lead."),
    ("deploy", "staging", "No approval needed."),
    ("deploy", "development", "No approval needed."),
    ("rollback", "production", "No approval needed, but the requester must confirm."),
    ("rollback", "staging", "No approval needed, but the requester must confirm."),
    ("scale_up", "production", "No approval needed."),
    ("scale_down", "production", "Requires approval from a team lead."),
    ("scale_down", "staging", "No approval needed."),
    ("migrate", "production", "Requires 2 approvals from different people (team lead or DBA)."),
    ("migrate", "staging", "No approval needed."),
]


@pytest.mark.parametrize(("action", "env", "sentence"), SEED_EXPECTATIONS)
def test_policy_explain_cli_for_every_seed_row(action, env, sentence, capsys):
    assert main(["policy", "explain", action, env, "--config", str(EXAMPLE_CONFIG)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3  # the row, what it requires, and what break-glass allows
    assert out[1].startswith(sentence)
    assert out[2].startswith("Break-glass: " + ("not for migrate" if action == "migrate" else "an incident commander"))


@pytest.mark.parametrize(("action", "env", "sentence"), SEED_EXPECTATIONS)
def test_no_rows_means_the_seed_matrix(action, env, sentence):
    engine = PolicyEngine([])
    assert engine.rows == SEED_MATRIX
    assert engine.decide(action, env).sentence() == sentence
    assert "seed's default matrix" in engine.explain(action, env)


def test_first_match_wins_and_service_wildcards():
    engine = PolicyEngine([
        PolicyRow(action="deploy", environment="production", service="payment-service", approvals=2,
                  approver_roles=["team_lead"]),
        PolicyRow(action="*", environment="production", approvals=1, approver_roles=["team_lead"], expiry_minutes=5),
        PolicyRow(action="*", environment="*"),
    ])
    assert engine.decide("deploy", "production", "payment-service").approvals == 2
    assert engine.decide("deploy", "production", "order-service").approvals == 1
    assert engine.decide("deploy", "production", "order-service").expiry_minutes == 5
    assert engine.decide("migrate", "staging", "order-service").approvals == 0


def test_unmatched_request_needs_nothing():
    engine = PolicyEngine([PolicyRow(action="deploy", environment="production", approvals=1,
                                     approver_roles=["team_lead"])])
    assert engine.decide("scale_up", "staging").row_index is None
    assert "no policy row matches" in engine.explain("scale_up", "staging")


@pytest.mark.parametrize("args", [["deploy", "qa"], ["fly", "production"], ["deploy", "production", "--service", "x"]])
def test_policy_explain_refuses_unknown_names(args, capsys):
    assert main(["policy", "explain", *args, "--config", str(EXAMPLE_CONFIG)]) == 2
    assert "unknown" in capsys.readouterr().err


def test_rows_are_numbered_as_people_count():
    engine = PolicyEngine([PolicyRow(action="deploy", environment="production", approvals=1,
                                     approver_roles=["team_lead"]),
                           PolicyRow(action="*", environment="*")], [])
    assert engine.explain("deploy", "production").startswith(
        "deploy in production: matches policy row 1 (the 1st [[policy]]) of the config")
    assert "matches policy row 2 (the 2nd [[policy]])" in engine.explain("migrate", "staging")


def test_policy_explain_describes_a_quorum_and_a_step_up(tmp_path, capsys):
    config = tmp_path / "opscord.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace(
        '[[policy]]                       # migrate production → 2 approvals\naction = "migrate"\n'
        'environment = "production"\napprovals = 2\napprover_roles = ["team_lead", "dba"]',
        '[[policy]]\naction = "migrate"\nenvironment = "production"\nrequire = { team_lead = 1, dba = 1 }\n'
        'confirm_phrase = true'))
    assert main(["policy", "explain", "migrate", "production", "--config", str(config)]) == 0
    line1, line2, line3 = capsys.readouterr().out.strip().splitlines()
    assert "matches policy row 4" in line1
    assert line3.startswith("Break-glass: not for migrate")
    assert line2 == ("Requires approval from a team lead and a DBA (different people). One person fills one slot, "
                     "whichever of these roles they hold; nobody approves their own request. Approvals expire after "
                     "30 minutes. Step-up: the requester types the service name to confirm before the request is "
                     "submitted. Approvals are bound to the plan on the request's card: if it changes before the "
                     "run, they are void.")


def test_a_freeze_keeps_a_quorum_and_adds_what_it_asks_for():
    from datetime import UTC, datetime, timedelta

    from bot.config import FreezeWindow

    now = datetime.now(UTC)
    freeze = FreezeWindow(start=now - timedelta(hours=1), end=now + timedelta(hours=1), environments=["production"],
                          reason="Black Friday", approvals=3, approver_roles=["team_lead"])
    engine = PolicyEngine([PolicyRow(action="deploy", environment="production", require={"team_lead": 1, "dba": 1})],
                          [freeze])
    req = engine.decide("deploy", "production")
    assert req.approvals == 3 and req.freeze is freeze
    assert req.sentence() == ("Requires approval from a team lead and a DBA (different people), and 1 more from "
                              "a team lead.")
