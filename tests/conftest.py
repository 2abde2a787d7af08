"""Shared fixtures: a real SQLite store in tmp_path, and failing on ERROR logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "opscord.example.toml"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(tmp_path / "opscord.db")
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
