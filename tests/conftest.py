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
