"""Bounded executions: at most `[operations] max_concurrent` run at once; the rest queue and show their position."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import parse_config
from bot.pipeline.messages import Progress
from bot.pipeline.runner import NEAR_FRONT, worth_showing
from tests.helpers import state
from tests.pipeline.conftest import Screen, alice, erin, inp, raw_config, world_for

SERVICES = ("order-service", "payment-service", "api-gateway")


def gated_provider(gates: Path) -> dict[str, object]:
    """Each deploy waits until its service's gate file exists, then succeeds."""
    script = gates / "deploy.sh"
    script.write_text('#!/bin/sh\nwhile [ ! -e "$GATES/go-$OPSCORD_SERVICE" ]; do sleep 0.02; done\n'
                      'echo "deployed $OPSCORD_SERVICE"\n')
    script.chmod(0o755)
    return {"provider": "command", "deploy": [str(script)], "rollback": [str(script)], "timeout_seconds": 30,
            "env": {"GATES": str(gates)}}


async def wait_until(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_one_slot_queues_the_rest_with_their_positions_updated_as_they_move(tmp_path: Path, backend):
    gates = tmp_path / "gates"
    gates.mkdir()
    raw = raw_config(tmp_path)
    raw["operations"] = {"max_concurrent": 1}
    for service in raw["services"]:
        service["deploy"] = gated_provider(gates)
    async with world_for(tmp_path, parse_config(raw), backend) as w:
        screens = [Screen() for _ in SERVICES]
        ops = []
        for screen, service, who in zip(screens, SERVICES, (alice, erin, alice), strict=True):
            ops.append(await w.request(who, inp("deploy", service, version="v1.2.3"), screen))
        first, second, third = ops
        assert "Queued" not in state(screens[0].shown[0])
        assert state(screens[1].shown[0]).endswith("\n⏳ Queued — position 1")
        assert state(screens[2].shown[0]).endswith("\n⏳ Queued — position 2")
        assert state(screens[1].shown[0]).startswith("Deploying payment-service v1.2.3...")  # the seed's line first
        assert w.app.pipeline.runner.queued == [second.id, third.id]

        async def status(op_id: str) -> str:
            op = await w.app.store.operation(op_id)
            assert op is not None
            return op.status

        await wait_until(lambda: _is(status(first.id), "running"))
        assert await status(second.id) == "approved" and await status(third.id) == "approved"

        (gates / "go-order-service").touch()  # the first finishes: the second runs, the third moves up
        await wait_until(lambda: _is(status(second.id), "running"))
        assert await status(third.id) == "approved"

        async def third_shows_position_one() -> bool:
            op = await w.app.store.operation(third.id)
            assert op is not None
            return Progress.parse(op.progress).position == 1

        await wait_until(third_shows_position_one)
        op = await w.app.store.operation(third.id)
        assert op is not None and op.revision > op.shown_revision  # the message sync brings it to position 1
        assert state(w.app.pipeline.card(op, [])).endswith("\n⏳ Queued — position 1")

        for service in SERVICES[1:]:
            (gates / f"go-{service}").touch()
        finished = [await w.finish(op.id) for op in ops]
        assert [op.status for op in finished] == ["succeeded"] * 3
        starts = sorted(finished, key=lambda op: op.started_at or "")
        assert [op.id for op in starts] == [first.id, second.id, third.id]  # first come, first served
        assert all("Queued" not in w.app.pipeline.card(op, []).text for op in finished)
        assert w.app.pipeline.runner.queued == []


async def test_stopping_records_queued_operations_as_never_started(tmp_path: Path, backend):
    gates = tmp_path / "gates"
    gates.mkdir()
    raw = raw_config(tmp_path)
    raw["operations"] = {"max_concurrent": 1, "stop_grace_seconds": 0}
    for service in raw["services"]:
        service["deploy"] = gated_provider(gates)
    async with world_for(tmp_path, parse_config(raw), backend) as w:
        running = await w.request(alice, inp("deploy", "order-service", version="v1.2.3"))
        queued = await w.request(erin, inp("deploy", "payment-service", version="v1.2.3"))
        assert w.app.pipeline.runner.queued == [queued.id]
        await w.app.pipeline.stop(grace=0.2)
        after = await w.app.store.operation(queued.id)
        assert after is not None and after.status == "interrupted"
        assert "Opscord" in (after.outcome or "")
        stopped = await w.app.store.operation(running.id)
        assert stopped is not None and stopped.status == "interrupted"
        assert not await w.app.store.locks()
        calls = [r for r in await w.rows() if r.extra.get("request_id") == queued.id]
        assert [r.result for r in calls][-1] == "interrupted"


async def _is(value, expected) -> bool:
    return await value == expected


class RecordingFails(Screen):
    async def recorded(self, card, where) -> None:
        raise ConnectionError("reactions could not be added")


async def test_a_shown_request_runs_and_frees_its_slot_even_if_the_bookkeeping_after_its_reply_fails(
        tmp_path: Path, backend):
    raw = raw_config(tmp_path)
    raw["operations"] = {"max_concurrent": 1}
    async with world_for(tmp_path, parse_config(raw), backend) as w:
        with pytest.raises(ConnectionError):
            await w.request(alice, inp("deploy", "order-service", version="v1.2.3"), RecordingFails())
        [op] = await w.app.store.operations("approved", "running", "succeeded")
        assert (await w.finish(op.id)).status == "succeeded"
        screen = Screen()
        nxt = await w.request(erin, inp("deploy", "payment-service", version="v1.2.3"), screen)
        assert "Queued" not in state(screen.shown[0])  # the slot came back
        assert (await w.finish(nxt.id)).status == "succeeded"


@given(start=st.integers(min_value=1, max_value=100_000))
def test_a_card_moving_up_a_long_queue_is_edited_about_log2_times_and_shows_the_front(start: int):
    shown, edits = start, 0
    for position in range(start - 1, 0, -1):
        if worth_showing(shown, position):
            shown, edits = position, edits + 1
    assert shown == 1 or start == 1  # it always reaches the front
    assert edits <= NEAR_FRONT + max(1, start).bit_length()


def test_near_the_front_every_move_shows_and_an_unshown_card_always_does():
    assert worth_showing(3, 2) and worth_showing(None, 500)
    assert not worth_showing(2, 2)
    assert not worth_showing(600, 400) and worth_showing(600, 300)
