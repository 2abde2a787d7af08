from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Harness
from tests.helpers import example_raw


@pytest.fixture
async def harness(tmp_path, error_logs) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, example_raw(tmp_path / "state"))
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
    assert not h.emu.violations, h.emu.violations
