"""Fixtures: the in-memory resolver, and a real uvicorn server running the test app on a free port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import uvicorn

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
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            upper = name.upper()
            if upper.endswith("_PROXY") or upper.startswith(("ALIYUN_", "ALIBABA_CLOUD_")):
                env.delenv(name)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        resolver = MemoryResolver()
        app = SignatureApp(resolver)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", lifespan="off", http="h11", ws="none")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        try:
            yield LiveServer(app, resolver, "127.0.0.1", sock.getsockname()[1])
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


@pytest.fixture
def server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The module's live server with its test hooks reset around each test."""
    live_server.app.clock_offset = timedelta(0)
    live_server.app.tamper = False
    live_server.app.recorded.clear()
    yield live_server
    live_server.app.clock_offset = timedelta(0)
    live_server.app.tamper = False
