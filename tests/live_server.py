"""Real servers and real SDK clients for the tests that talk HTTP.

* :func:`serve_asgi` / :func:`serve_wsgi`: an app under uvicorn or the standard library's WSGI server, in a
  thread on a free 127.0.0.1 port; each yields ``127.0.0.1:<port>`` and stops the server on exit.
* :func:`sdk_environment`: the official SDKs honour proxies, and aliyun-python-sdk-core prefers credentials
  from the environment; inside it they talk straight to 127.0.0.1 with the credentials a test gives.
* :class:`Key` and :func:`core_rpc`: credentials a test signs with, and one aliyun-python-sdk-core
  CommonRequest (RPC signature v1, no retries) signed with them.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import uvicorn
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

__all__ = ["Key", "core_client", "core_rpc", "sdk_environment", "serve_asgi", "serve_wsgi"]

_HOST = "127.0.0.1"
_START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Key:
    """Credentials a test signs with (long-term, or STS with ``security_token``)."""

    access_key_id: str
    secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


def stalling_receive(first: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI ``receive`` for a client that sends ``first`` (part of a longer body), then nothing more."""
    parts = [{"type": "http.request", "body": first, "more_body": True}]

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await asyncio.Event().wait()  # the client stops sending
        raise AssertionError("unreachable")

    return receive


@contextmanager
def serve_asgi(
    app: Any,
    *,
    lifespan: str = "off",
    ws: str = "none",
    certfile: Path | None = None,
    keyfile: Path | None = None,
    proxy_headers: bool = False,
) -> Iterator[str]:
    """``app`` under uvicorn (HTTPS with ``certfile``/``keyfile``; websockets with ``ws="websockets"``;
    ``proxy_headers``: uvicorn's own default, not ``ram serve``'s); yields ``127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((_HOST, 0))
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,  # type: ignore[arg-type]
        http="h11",
        ws=ws,  # type: ignore[arg-type]
        proxy_headers=proxy_headers,  # off as `ram serve` runs it: forwarded headers are the middleware's
        timeout_graceful_shutdown=1,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"{_HOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(server: Any) -> Iterator[int]:
    """A ``socketserver``-style ``server`` (wsgiref, Werkzeug's) serving on a thread until the block ends;
    yields its port."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """``app`` under the standard library's WSGI server (a thread per request); yields the address."""
    server = make_server(_HOST, 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    with serving(server) as port:
        yield f"{_HOST}:{port}"


@contextmanager
def sdk_environment() -> Iterator[pytest.MonkeyPatch]:
    """No proxies and no ``ALIYUN_*``/``ALIBABA_CLOUD_*`` settings inside; ``NO_PROXY`` covers 127.0.0.1."""
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            upper = name.upper()
            if upper.endswith("_PROXY") or upper.startswith(("ALIYUN_", "ALIBABA_CLOUD_")):
                env.delenv(name)
        env.setenv("NO_PROXY", f"{_HOST},localhost")
        yield env


def core_client(key: Key) -> AcsClient:
    """aliyun-python-sdk-core's client for ``key``: no retries, 10 s timeout."""
    common: dict[str, Any] = {
        "region_id": "cn-hangzhou",
        "auto_retry": False,
        "max_retry_time": 0,
        "timeout": 10,
    }
    if key.security_token is not None:
        credential = StsTokenCredential(key.access_key_id, key.secret, key.security_token)
        return AcsClient(credential=credential, **common)
    return AcsClient(key.access_key_id, key.secret, **common)


def core_rpc(
    endpoint: str,
    key: Key,
    version: str,
    action: str,
    params: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One RPC call (POST, parameters in the query) through aliyun-python-sdk-core; its JSON answer.

    Raises the SDK's ServerException on an error answer.
    """
    request = CommonRequest(domain=endpoint, version=version, action_name=action)
    request.set_protocol_type("http")
    request.set_method("POST")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    for name, value in params.items():
        request.add_query_param(name, value)
    return dict(json.loads(core_client(key).do_action_with_exception(request)))
