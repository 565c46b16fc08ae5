"""Fixtures: the in-memory resolver, and a real uvicorn server running the test app on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.live_server import sdk_environment, serve_asgi

from .app import SignatureApp
from .identities import MemoryResolver


@pytest.fixture
def resolver() -> MemoryResolver:
    return MemoryResolver()


@dataclass
class LiveServer:
    app: SignatureApp
    resolver: MemoryResolver
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    resolver = MemoryResolver()
    app = SignatureApp(resolver)
    with sdk_environment(), serve_asgi(app) as address:
        host, port = address.rsplit(":", 1)
        yield LiveServer(app, resolver, host, int(port))


@pytest.fixture
def server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The module's live server with its test hooks reset around each test."""
    live_server.app.clock_offset = timedelta(0)
    live_server.app.tamper = False
    live_server.app.recorded.clear()
    yield live_server
    live_server.app.clock_offset = timedelta(0)
    live_server.app.tamper = False
