"""Fixtures for integration adapter tests: a fake clock, one shared session, an HttpClient."""

from __future__ import annotations

import inspect
import types

import aiohttp
import aioresponses.core as aioresponses_core
import pytest
from aioresponses import aioresponses

from integrations.http import HttpClient
from tests.integrations.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def http(session, clock) -> HttpClient:
    return HttpClient(session, sleep=clock.sleep, clock=clock, jitter=lambda: 0.5)


class _CompatClientResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without aiohttp 3.14's ``stream_writer``: supply one."""

    def __init__(self, method, url, **kwargs):
        kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked(monkeypatch):
    """aioresponses, made to work with this aiohttp; 127.0.0.1 passes through to local fakes."""
    if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatClientResponse)
    with aioresponses(passthrough=["http://127.0.0.1"]) as mock:
        yield mock
