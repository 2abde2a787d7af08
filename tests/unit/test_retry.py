"""Background retries: backoff until the attempt lands, give up after the limit, one task per key."""

import asyncio
import logging

from bot.retry import Retries


async def test_a_retry_lands_after_failures_and_gives_up_at_the_limit(caplog):
    caplog.set_level(logging.WARNING, "bot.retry")
    retries = Retries(first=0.01, limit=5)
    tries: list[int] = []

    async def flaky(n: int) -> None:
        tries.append(n)
        if n < 4:
            raise RuntimeError("upstream down")

    async def never(error: str, n: int) -> None:
        raise AssertionError("gave up")

    assert retries.start("a", flaky, never) and not retries.start("a", flaky, never)
    assert retries.pending("a")
    await retries.wait()
    assert tries == [2, 3, 4] and not retries.pending("a")

    given_up: list[tuple[str, int]] = []

    async def always(n: int) -> None:
        raise RuntimeError("still down")

    async def note(error: str, n: int) -> None:
        given_up.append((error, n))

    short = Retries(first=0.01, limit=0.05, cap=0.02)
    short.start("b", always, note)
    await short.wait()
    assert given_up and given_up[0][0] == "still down" and given_up[0][1] >= 2
    assert all(r.levelno == logging.WARNING for r in caplog.records)


async def test_close_cancels_what_is_pending():
    retries = Retries(first=10, limit=60)

    async def attempt(n: int) -> None:
        raise AssertionError("never runs")

    async def give_up(error: str, n: int) -> None:
        raise AssertionError("never gives up")

    retries.start("x", attempt, give_up)
    await asyncio.sleep(0)
    await retries.close()
    assert not retries.pending("")
