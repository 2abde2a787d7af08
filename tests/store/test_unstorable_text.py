"""Text a backend cannot hold fails as a UnicodeError on both, so the error path answers it in one sentence."""

import pytest

from bot.client.errors import describe_error
from bot.errors import UNSTORABLE
from bot.store import Change
from bot.store.changes import ReserveIncident
from bot.store.postgres import PostgresStore


@pytest.mark.parametrize("title", ["a\ud800b", "a\x00b"])
async def test_an_incident_title_the_store_cannot_hold(store, title):
    try:
        applied = await store.apply(Change.of(ReserveIncident("inc-20260304-x", title, "sev3", None, "1", "alice")))
    except UnicodeError as exc:  # found by fuzzing: a NUL on PostgreSQL was a ValueError, an unexpected ERROR
        assert describe_error(exc) == ("invalid", UNSTORABLE, False)
    else:
        assert "\x00" in title and not isinstance(store, PostgresStore) and applied.ok  # SQLite keeps a NUL
    assert (await store.verify()).ok
