"""Shared fixtures: the real store (SQLite in tmp_path, and PostgreSQL in a throwaway cluster), and failing on ERROR logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import SQLiteStore, Store
from bot.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "opscord.example.toml"
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", autouse=True)
def _postgres_cluster() -> Iterator[None]:
    """The PostgreSQL cluster (started on first use) stops after the last test."""
    from tests import postgres

    yield from postgres.session_cleanup()


@pytest.fixture
def pg_database() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database: (the owner's URL, the bot role's URL); skips without PostgreSQL."""
    from tests import postgres

    name = postgres.new_database()
    try:
        yield postgres.urls(name)
    finally:
        postgres.drop_database(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each backend in turn: None for SQLite (a file in tmp_path), else a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield None
        return
    from tests import postgres

    name = postgres.new_database()
    try:
        yield postgres.urls(name)[0]
    finally:
        postgres.drop_database(name)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(tmp_path / "opscord.db")
    yield opened
    await opened.close()


@pytest.fixture
async def store(backend: str | None, tmp_path: Path) -> AsyncIterator[Store]:
    """The store on each backend: the same tests, the same semantics."""
    opened: Store = await SQLiteStore.open(tmp_path / "opscord.db") if backend is None else \
        await PostgresStore.open(backend)
    yield opened
    await opened.close()


class ErrorLogCollector(logging.Handler):
    """Collects ERROR records from discord.py and the bot."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_logs() -> Iterator[ErrorLogCollector]:
    """Fail the test on any ERROR logged by discord.py or Opscord (unless the test clears it)."""
    collector = ErrorLogCollector()
    loggers = [logging.getLogger(name) for name in ("discord", "bot", "cogs", "integrations", "asyncio")]
    for lg in loggers:
        lg.addHandler(collector)
    yield collector
    for lg in loggers:
        lg.removeHandler(collector)
    if collector.records:
        details = "\n".join(f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in collector.records)
        pytest.fail(f"ERROR logged during the test:\n{details}")


_REAL_SERVER_RUNS: list[tuple[str, str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember how each test against real servers (Prometheus, Alertmanager) ended."""
    if "real_servers" in report.keywords and (report.when == "call" or report.outcome != "passed"):
        _REAL_SERVER_RUNS.append((report.nodeid, report.outcome, report.duration))


def pytest_terminal_summary(terminalreporter) -> None:
    """List them at the end, so a CI log shows that they ran (or why not)."""
    if _REAL_SERVER_RUNS:
        terminalreporter.section("tests against real servers")
        for nodeid, outcome, duration in _REAL_SERVER_RUNS:
            terminalreporter.write_line(f"{outcome.upper():8} {nodeid} ({duration:.1f} s)")
