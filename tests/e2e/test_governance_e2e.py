"""Governance through Discord: a mixed-role quorum, approvals bound to the plan, and a step-up modal."""

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from tests.e2e.harness import Harness, running
from tests.helpers import example_raw, state, subject

QUORUM = {"action": "migrate", "environment": "production", "require": {"dba": 1, "team_lead": 1}}
BOUND = {"action": "deploy", "environment": "production", "service": "payment-service",
         "require": {"team_lead": 1, "dba": 1}}
STEP_UP = {"action": "deploy", "environment": "production", "service": "api-gateway", "approvals": 1,
           "approver_roles": ["team_lead"], "confirm_phrase": True}


@pytest.fixture
async def governed(tmp_path, error_logs) -> AsyncIterator[Harness]:
    raw = example_raw(tmp_path / "state")
    raw["policy"] = [QUORUM, BOUND, STEP_UP, *raw["policy"]]
    async with running(tmp_path, raw) as h:
        yield h


def told(handle) -> str:
    """The ephemeral sentence an interaction was answered with."""
    assert handle.ephemeral, handle
    return str(handle.callback.data.get("content"))


async def test_one_person_with_both_roles_fills_one_slot_of_a_lead_and_dba_quorum(governed):
    h = governed
    gina = h.emu.add_member(h.guild_id, "gina", roles=[h.roles["team-lead"], h.roles["dba"]]).id
    h.users["gina"] = gina
    handle = await h.run("alice", "migrate", {"service": "payment-service", "environment": "production"})
    card = await handle.wait_message(timeout=5)
    lines = state(card).splitlines()
    assert lines[0] == "Requires approval from a DBA and a team lead (different people)."
    assert lines[1] == "DBA: waiting · team lead: waiting"
    assert lines[2].startswith("📋 Plan `") and "migration 0001\\_payment\\_service" in lines[2]
    assert set(card.pinged["roles"]) == {h.roles["dba"], h.roles["team-lead"]}  # both approver roles are called on

    first = await h.click("gina", card, "Approve")
    assert first.response_type == 7
    card = h.emu.get_message(card.id)
    assert state(card).splitlines()[1] == "DBA: @gina ✅ · team lead: waiting"  # one slot, not both
    assert "Approved by" not in card.content
    again = await h.click("gina", card, "Approve")
    assert told(again) == "You already approved — 1 of 2."

    done = await h.click("carol", card, "Approve")  # a DBA only: gina moves over to the team-lead slot
    assert done.response_type == 7
    finished = await h.wait_message(card.id, "Migration complete", timeout=15)
    assert subject(finished).endswith("approved by @gina and @carol")
    rows = [r for r in await h.export() if r.get("request_id")]
    assert [(r["result"], r["user"]) for r in rows] == [
        ("requested", "@alice"), ("approved", "@gina"), ("duplicate", "@gina"), ("approved", "@carol"),
        ("success", "@alice")]
    assert rows[1]["roles"] == "dba,team_lead" and rows[3]["roles"] == "dba" and rows[3]["approvals"] == "2/2"
    assert rows[1]["plan"] == rows[0]["plan"] == rows[3]["plan"]  # each approval names the plan it saw


async def test_a_deploy_that_lands_after_an_approval_voids_the_card(governed):
    h = governed
    handle = await h.run("alice", "deploy", {"service": "payment-service", "version": "v2.0.0",
                                             "environment": "production"})
    waiting = await handle.wait_message(timeout=5)
    assert "📋 Plan `" in waiting.content and "version nothing yet → v2.0.0" in waiting.content
    await h.click("carol", waiting, "Approve")
    assert "DBA: @carol ✅" in h.emu.get_message(waiting.id).content

    other = await h.run("erin", "deploy", {"service": "payment-service", "version": "v2.0.1",
                                           "environment": "production"})
    landing = await other.wait_message(timeout=5)
    await h.click("bob", landing, "Approve")
    await h.click("carol", landing, "Approve")
    await h.wait_message(landing.id, "Deploy complete", timeout=15)

    last = await h.click("bob", h.emu.get_message(waiting.id), "Approve")
    assert last.response_type == 7
    void = h.emu.get_message(waiting.id)
    assert state(void).startswith("🚫 Deploy not started: the plan changed since it was shown — another deploy "
                                  "landed (")
    assert "deploy v2.0.1 by @erin" in void.content
    assert "the version change was nothing yet → v2.0.0 on the card and is v2.0.1 → v2.0.0 now" in void.content
    assert "The approvals are void; run the command again for a new plan." in void.content
    assert void.buttons() == []
    assert (await h.app.store.operation_by_message(str(void.id))).status == "failed"
    rows = await h.export()
    voided = [r for r in rows if r["result"] == "void"]
    assert len(voided) == 1 and voided[0]["user"] == "@alice" and "another deploy landed" in voided[0]["error"]
    calls = (h.tmp_path / "state" / "calls.jsonl").read_text()
    assert "v2.0.0" not in calls  # the voided deploy never reached the provider
    notice = await h.emu.wait_until(lambda: next(
        (m for m in h.emu.messages(h.channels["deployments"]) if m.message_reference
         and int(m.message_reference.get("message_id", 0)) == waiting.id and "did not succeed" in m.content), None), 5)
    assert notice.pinged["users"] == [h.users["alice"]]


async def test_a_step_up_modal_refuses_a_wrong_phrase_and_accepts_the_service_name(governed):
    h = governed
    options = {"service": "api-gateway", "version": "v3.1.0", "environment": "production"}
    opened = await h.run("alice", "deploy", options)
    assert opened.response_type == 9
    modal = opened.modal
    assert modal["title"] == "Confirm: deploy in production"
    label = modal["components"][0]
    assert label["type"] == 18 and label["label"] == "Type the service name to confirm"
    assert label["component"]["placeholder"] == "api-gateway"

    wrong = await h.emu.submit_modal(opened, {"phrase": "api-gatewey"})
    await wrong.wait_response(timeout=5)
    assert told(wrong) == ("That is not the service name, so the deploy was not requested. Type api-gateway "
                           "exactly to confirm it.")
    assert not [m for m in h.emu.messages(h.channels["deployments"]) if not m.flags & EPHEMERAL_FLAG]

    again = await h.run("alice", "deploy", options)
    right = await h.emu.submit_modal(again, {"phrase": " api-gateway "})
    card = await right.wait_message(timeout=5)
    assert not card.flags & EPHEMERAL_FLAG
    assert subject(card) == "🚀 Deploy api-gateway v3.1.0 to production · requested by @alice"
    assert state(card).splitlines()[0] == "Requires approval from a team lead."
    await h.click("bob", card, "Approve")
    await h.wait_message(card.id, "Deploy complete", timeout=15)

    rows = [(r["result"], r["command"], r.get("step_up"), r.get("error", "")[:28]) for r in await h.export()]
    assert rows[:4] == [
        ("step_up", "/deploy api-gateway v3.1.0 production", "asked for the service name", ""),
        ("denied", "/deploy api-gateway v3.1.0 production", None, "That is not the service name"),
        ("step_up", "/deploy api-gateway v3.1.0 production", "asked for the service name", ""),
        ("requested", "/deploy api-gateway v3.1.0 production", "service name typed", ""),
    ]

    staging = await h.run("alice", "deploy", {**options, "environment": "staging"})  # no step-up on other rows
    assert staging.response_type == 4


async def test_a_step_up_form_from_before_a_restart_is_answered(governed):
    h = governed
    opened = await h.run("alice", "deploy", {"service": "api-gateway", "version": "v3.1.1",
                                             "environment": "production"})
    await h.restart_bot()
    late = await h.emu.submit_modal(opened, {"phrase": "api-gateway"})
    await late.wait_response(timeout=5)
    assert told(late).startswith("This confirmation form is no longer open")
    assert (await h.export())[-1]["result"] == "expired"


async def test_help_describes_the_quorum_and_the_step_up_as_configured(governed):
    h = governed
    gina = h.emu.add_member(h.guild_id, "gina", roles=[h.roles["team-lead"], h.roles["dba"]]).id
    h.users["gina"] = gina
    lines = (await (await h.run("alice", "help")).wait_message(timeout=5)).content.splitlines()
    migrate = next(line for line in lines if line.startswith("`/migrate"))
    assert "production — needs approval from a DBA and a team lead (different people)" in migrate
    deploy = next(line for line in lines if line.startswith("`/deploy"))
    assert "you type the service name to confirm first" in deploy and "api-gateway" in deploy
    lines = (await (await h.run("gina", "help")).wait_message(timeout=5)).content.splitlines()
    assert any(line.startswith("As a ") and "you approve" in line for line in lines)
    assert "Where a request needs approvals by role, you fill one of its slots, whichever roles you hold." in lines
