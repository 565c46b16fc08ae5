"""uvicorn's own proxy handling (``--proxy-headers``, its default) under the middleware: it rewrites the
client address and scheme from forwarded headers before the middleware sees them, so the README says to
turn it off, and the middleware warns at start-up when it is on."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from tests.live_server import sdk_environment, serve_asgi

from .apps import wsgi_app
from .world import World

_LOGGER = "ram_middleware.adapters.asgi"


@ram_route("oss:GetObject", "acs:oss:*:{account}:rnd-bucket/report")
async def report(request: Request) -> JSONResponse:
    return JSONResponse({"client": request.client.host if request.client else None})


def _from_the_office(world: World, address: str) -> httpx.Response:
    """bob's signed GET (his OSS policy admits only 203.0.113.0/24) from 127.0.0.1, claiming an office
    address in X-Forwarded-For."""
    url = f"http://{address}/report"
    signed = world.signer("bob").sign("GET", url, [], b"")
    headers = {name: value for name, value in signed.headers.items() if name != "host"}
    with sdk_environment():
        return httpx.get(url, headers={**headers, "X-Forwarded-For": "203.0.113.9"}, timeout=10)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == _LOGGER]


def test_uvicorns_default_proxy_headers_are_warned_at_startup(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = Starlette(routes=[Route("/report", report)])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    with (
        caplog.at_level(logging.WARNING, _LOGGER),
        serve_asgi(app, lifespan="on", proxy_headers=True) as address,
    ):
        # What the warning is about: uvicorn believed the local client, so the policy saw an office address.
        reply = _from_the_office(world, address)
    assert (reply.status_code, reply.json()) == (200, {"client": "203.0.113.9"})
    (warned,) = _warnings(caplog)
    assert "--no-proxy-headers" in warned and "RAM_TRUSTED_PROXIES" in warned and "127.0.0.1" in warned


def test_no_warning_and_no_chosen_source_ip_without_uvicorns_proxy_headers(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = Starlette(routes=[Route("/report", report)])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    with caplog.at_level(logging.WARNING, _LOGGER), serve_asgi(app, lifespan="on") as address:
        reply = _from_the_office(world, address)
    assert (reply.status_code, reply.json()["Code"]) == (403, "NoPermission")
    assert _warnings(caplog) == []


def test_a_unix_socket_peer_under_waitress_has_no_source_ip(world: World, tmp_path: Path) -> None:
    # waitress names a Unix-socket peer "localhost" (uvicorn names none): that is no address, and the audit
    # log and policies must see what they see for the same deployment under uvicorn.
    waitress = pytest.importorskip("waitress")
    wasyncore = pytest.importorskip("waitress.wasyncore")
    path = str(tmp_path / "app.sock")
    server = waitress.create_server(wsgi_app(world.ram), unix_socket=path)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = "http://localhost/objects?Bucket=rnd-bucket&Key=plan.txt"
    signed = world.signer("bob").sign("GET", url, [], b"")
    try:
        with sdk_environment(), httpx.Client(transport=httpx.HTTPTransport(uds=path)) as client:
            reply = client.get(signed.url, headers=signed.headers, timeout=10)
    finally:
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)
        thread.join(timeout=5)
    assert (reply.status_code, reply.json()["Code"]) == (403, "NoPermission")
    assert world.audit.events[-1].source_ip == ""
