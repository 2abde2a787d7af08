from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Harness, running
from tests.helpers import example_raw


@pytest.fixture
async def harness(tmp_path, error_logs) -> AsyncIterator[Harness]:
    async with running(tmp_path, example_raw(tmp_path / "state")) as h:
        yield h


@pytest.fixture
async def harness_without_bot(tmp_path, error_logs) -> AsyncIterator[Harness]:
    """The emulated guild and config, with no bot started (the test builds its own)."""
    h = Harness(tmp_path, example_raw(tmp_path / "state"))
    await h.start(with_bot=False)
    try:
        yield h
    finally:
        await h.stop()
