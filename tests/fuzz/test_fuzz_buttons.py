"""Every button custom_id shape, clicked by anyone, on the request's own message or another one.

The shapes: each kind the bot registers (BUTTONS: approve, reject, confirm, cancel, …) with the id of a live
request, of a decided one, of none, or a malformed id; custom_ids of no shape the bot knows (a
button from an older version, another app's, hostile text up to Discord's 100 characters). A
button is put on a message as if the bot had sent it earlier — or as a client that has not yet
seen an edit still shows it — so a click can carry any custom_id to any message. Every click must
get an answer and keep every property of tests/fuzz/probe.py; a request decided by fuzzed clicks
still ends the way its audit rows say.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from bot.client.buttons import BUTTONS
from bot.pipeline.states import HOLDING, PENDING, TERMINAL
from bot.sandbox.emulator import Message
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.probe import FuzzWorld, fuzz_world
from tests.fuzz.strategies import hostile_text

pytestmark = pytest.mark.asyncio(loop_scope="module")
KINDS = tuple(button.kind for button in BUTTONS)  # every button the bot registers: new ones are fuzzed too
OUTCOME = {"succeeded": "success"}  # an operation's status → its outcome row's result (the others read the same)
REQUESTS = {
    "deploy": ("deploy", {"service": "order-service", "version": "v1.0.0", "environment": "production"}),
    "migrate": ("migrate", {"service": "payment-service", "environment": "production"}),
    "rollback": ("rollback", {"service": "order-service", "environment": "staging"}),
    "scale": ("scale", {"service": "payment-service", "replicas": 3, "environment": "production"}),  # down: approval
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    async with fuzz_world(tmp_path_factory.mktemp("fuzz-buttons")) as fuzz:
        for version in ("v1.0.0", "v1.0.1"):  # something to roll back to in staging
            done = await fuzz.command("alice", "deployments", "deploy",
                                      {"service": "order-service", "version": version, "environment": "staging"})
            fuzz.plain = await fuzz.harness.wait_message(done.id, "Deploy complete", timeout=20)  # without buttons
        up = await fuzz.command("alice", "deployments", "scale",
                                {"service": "payment-service", "replicas": 10, "environment": "production"})
        await fuzz.harness.wait_message(up.id, "Scale complete", timeout=20)
        for kind in REQUESTS:
            await request(fuzz, kind, fresh=True)
        assert sorted(fuzz.requests) == sorted(REQUESTS), "each request waits for a click"
        yield fuzz


def op_id_of(message: Message) -> str | None:
    """The request id its buttons carry (None: the answer was a refusal, not a request)."""
    buttons = message.buttons()
    return str(buttons[0]["custom_id"]).rsplit(":", 1)[1] if buttons else None


async def request(world: FuzzWorld, kind: str, fresh: bool) -> Message:
    """The newest request of this kind (a new one when asked, or when there is none yet)."""
    if fresh or kind not in world.requests:
        path, options = REQUESTS[kind]
        card = await world.command("alice", "deployments", path, options)
        if (op_id := op_id_of(card)) is not None:
            world.requests[kind] = (card, op_id)
    return world.requests[kind][0]


def put_button(message: Message, custom_id: str) -> None:
    """The message shows one more button with ``custom_id`` (the bot sent it, or a client still shows it)."""
    row = {"type": 1, "components": [{"type": 2, "style": 2, "label": "Fuzz", "custom_id": custom_id}]}
    message.components = [*message.components[:4], row]


def custom_ids(world: FuzzWorld, live: list[str]) -> st.SearchStrategy[str]:
    """Known shapes with live, made-up and malformed ids; and custom_ids of no known shape."""
    ids = st.one_of(st.sampled_from(live), st.from_regex(r"op-[0-9a-f]{10}", fullmatch=True),
                    st.sampled_from(["op-", "op-XYZ", "op-0123456789a", "OP-0123456789", "op-０１２３４５６７８９"]),
                    hostile_text(world.vocab, max_size=60))
    kinds = st.one_of(st.sampled_from(KINDS), st.sampled_from(["base", "APPROVE", "approve ", ""]))
    shaped = st.builds(lambda kind, op_id, prefix: f"{prefix}:{kind}:{op_id}", kinds, ids,
                       st.sampled_from(["opscord", "Opscord", "other", ""]))
    ours = st.builds(lambda kind, op_id: f"opscord:{kind}:{op_id}", st.sampled_from(KINDS), st.sampled_from(live))
    return st.one_of(ours, ours, shaped, hostile_text(world.vocab, min_size=1, max_size=100)).map(lambda c: c[:100])


@fuzz_settings(80)
@given(data=st.data())
async def test_every_click_gets_an_answer(world: FuzzWorld, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(REQUESTS)), label="request")
    card = await request(world, kind, data.draw(st.integers(0, 4), label="fresh request") == 0)
    live = [op_id for _, op_id in world.requests.values()]
    if data.draw(st.booleans(), label="its own button"):  # as the bot drew it: Approve on the request's card
        message = card
        custom_id = f"opscord:{data.draw(st.sampled_from(KINDS), label='kind')}:{world.requests[kind][1]}"
    else:
        target = data.draw(st.sampled_from(["request", "other request", "plain"]), label="on")
        others = [m for m, _ in world.requests.values() if m.id != card.id] or [card]
        assert world.plain is not None
        message = {"request": card, "other request": others[0], "plain": world.plain}[target]
        custom_id = data.draw(custom_ids(world, live), label="custom_id")
    put_button(message, custom_id)
    actor = data.draw(st.sampled_from(sorted(world.actors)), label="actor")
    await world.click(actor, message.id, custom_id)


async def test_the_requests_end_as_their_audit_rows_say(world: FuzzWorld) -> None:
    """Whatever was clicked: nobody approved their own request, nothing ran short of its approvals, and each
    request's state is the one its audit rows record."""
    store = world.harness.app.store
    await world.emu.wait_until(lambda: not world.harness.app.pipeline.runner.active, timeout=30)
    ops = await store.operations(*PENDING, *HOLDING, *TERMINAL)
    rows = await world.harness.export()
    decided = 0
    for op in ops:
        mine = [r for r in rows if r.get("request_id") == op.id]
        approvers = {r["user_id"] for r in mine if r["result"] == "approved"}
        assert op.requester_id not in approvers, op
        if op.started_at is not None and op.approvals_required:
            assert len(approvers) >= op.approvals_required, (op, mine)
        results = [r["result"] for r in mine]
        assert results[0] in ("requested", "started"), (op, results)
        assert OUTCOME.get(op.status, op.status) in results or op.status in PENDING + HOLDING, (op, results)
        decided += op.status in TERMINAL and op.approvals_required > 0 or op.confirm and op.status in TERMINAL
    assert decided, "the fuzzed clicks decided no request at all: the clicks are not reaching the pipeline"
