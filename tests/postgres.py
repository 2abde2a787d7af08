"""PostgreSQL for the tests: one throwaway cluster per test session, a fresh database per test.

Without Debian's binaries every PostgreSQL test skips with that reason; in CI (`.ci/run` installs
`postgresql`) they run. The cluster has the bot's roles: `opscord_writer` (what the migrations grant)
and `opscord_bot`, a login role in it — what a deployment runs the replicas as.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg
import pytest

from bot.sandbox.postgres import ClusterUnavailable, ThrowawayCluster

T = TypeVar("T")
BOT_ROLE = "opscord_bot"
_numbers = itertools.count(1)
_cluster: ThrowawayCluster | None = None
_problem: str | None = None


def run_aside(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own in another thread (sync fixtures, beside pytest-asyncio's loop)."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(asyncio.run(coro))
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]  # type: ignore[no-any-return]


def cluster() -> ThrowawayCluster:
    """The session's cluster, started on first use (skips the test when PostgreSQL cannot run here)."""
    global _cluster, _problem
    if _problem is not None:
        pytest.skip(_problem)
    if _cluster is None:
        try:
            _cluster = ThrowawayCluster().start()
        except ClusterUnavailable as exc:
            _problem = f"PostgreSQL not available: {exc}"
            if os.environ.get("CI"):  # .ci/run installs it: there, a missing server is a failure, not a skip
                pytest.fail(_problem)
            pytest.skip(_problem)
        run_aside(_roles(_cluster))
    return _cluster


async def _roles(c: ThrowawayCluster) -> None:
    conn = await asyncpg.connect(c.url())
    try:
        await conn.execute(f"CREATE ROLE opscord_writer NOLOGIN; CREATE ROLE {BOT_ROLE} LOGIN IN ROLE opscord_writer")
    finally:
        await conn.close()


def stop_cluster() -> None:
    """Stop the session's cluster (at the end of the test session)."""
    if _cluster is not None:
        _cluster.stop()


def new_database() -> str:
    """A fresh, empty database; its name."""
    c = cluster()
    name = f"t{next(_numbers)}"
    run_aside(_create(c, name))
    return name


async def _create(c: ThrowawayCluster, name: str) -> None:
    conn = await asyncpg.connect(c.url())
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()


def drop_database(name: str) -> None:
    """Drop a test's database (closing whatever still uses it)."""
    if _cluster is not None:
        run_aside(_drop(_cluster, name))


async def _drop(c: ThrowawayCluster, name: str) -> None:
    conn = await asyncpg.connect(c.url())
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


def urls(name: str) -> tuple[str, str]:
    """(the owner's URL, the bot role's URL) of a test database."""
    c = cluster()
    return c.url(name), c.url(name, BOT_ROLE)


def session_cleanup() -> Iterator[None]:
    """A session fixture body: stop the cluster after the last test."""
    yield
    stop_cluster()
