"""Bounded executions through Discord: with one slot, later deploys say "Queued — position N" and move up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Harness
from tests.helpers import example_raw, state, subject
from tests.pipeline.test_queue import gated_provider


@pytest.fixture
async def one_slot(tmp_path: Path, error_logs):
    gates = tmp_path / "gates"
    gates.mkdir()
    raw = example_raw(tmp_path / "state")
    raw["operations"] = {"max_concurrent": 1}
    for service in raw["services"]:
        service["deploy"] = gated_provider(gates)
    h = Harness(tmp_path, raw)
    await h.start()
    try:
        yield h, gates
    finally:
        for service in raw["services"]:
            (gates / f"go-{service['name']}").touch()
        await h.stop()
    assert not h.emu.violations, h.emu.violations


async def test_queued_deploys_show_their_position_and_move_up(one_slot):
    harness, gates = one_slot
    first = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.2.3",
                                                  "environment": "staging"})
    second = await harness.run("erin", "deploy", {"service": "payment-service", "version": "v1.2.3",
                                                  "environment": "staging"})
    # a production deploy approved by a lead joins the queue when the approval lands
    third = await harness.run("alice", "deploy", {"service": "api-gateway", "version": "v1.2.3",
                                                  "environment": "production"})
    one, two, three = [await h.wait_message(timeout=5) for h in (first, second, third)]
    assert "Queued" not in one.content
    assert subject(two) == "🚀 Deploy payment-service v1.2.3 to staging · requested by @erin"
    assert state(two) == "Deploying payment-service v1.2.3...\n⏳ Queued — position 1"
    assert [b["label"] for b in three.buttons()] == ["Approve", "Reject"]

    approve = await harness.click("bob", harness.emu.get_message(three.id), "Approve")
    assert approve.response_type == 7
    approved = harness.emu.get_message(three.id)
    assert state(approved) == "✅ Approved by @bob. Deploying api-gateway v1.2.3...\n⏳ Queued — position 2"

    (gates / "go-order-service").touch()  # the first finishes; the second runs; the third moves up
    await harness.wait_message(one.id, "Deploy complete")
    await harness.wait_message(two.id, "⏳ Running the provider")
    moved = await harness.wait_message(three.id, "position 1")
    assert state(moved) == "✅ Approved by @bob. Deploying api-gateway v1.2.3...\n⏳ Queued — position 1"
    assert "Queued" not in harness.emu.get_message(two.id).content

    (gates / "go-payment-service").touch()
    (gates / "go-api-gateway").touch()
    await harness.wait_message(two.id, "Deploy complete")
    done = await harness.wait_message(three.id, "Deploy complete")
    assert "Queued" not in done.content
    rows = [r for r in await harness.export() if r["result"] == "success"]
    assert [r["command"].split()[1] for r in rows] == ["order-service", "payment-service", "api-gateway"]
