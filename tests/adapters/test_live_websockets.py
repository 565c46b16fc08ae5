"""Websocket handshakes against a real server: a protected Starlette endpoint under uvicorn (its
``websockets`` implementation and ``websockets-sansio``, which is to replace it; both offer ASGI's
``websocket.http.response`` extension), with the ``websockets`` library as the client (127.0.0.1 only).

A handshake is signed as the HTTP GET of the ws URL's http equivalent. An allowed one is accepted; a refused
one is answered with the middleware's JSON error (401/403), as the extension lets it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ram_middleware.adapters.starlette import RAMMiddleware, current_principal, ram_route
from tests.live_server import sdk_environment, serve_asgi

from .world import World

TIMEOUT = 5.0  # seconds, for every open, receive and close: a test fails rather than hangs

# uvicorn warns, on importing it, that its `websockets` implementation will give way to `websockets-sansio`.
pytestmark = pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated")


@ram_route("ecs:DescribeInstances", "acs:ecs:*:{account}:instance/*")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    principal = current_principal(websocket)
    await websocket.send_json({"echo": text, "principal": principal.arn if principal else None})
    await websocket.close()


@pytest.fixture(params=["websockets", "websockets-sansio"])
def implementation(request: pytest.FixtureRequest) -> str:
    """uvicorn's websocket implementation."""
    return str(request.param)


@contextmanager
def serving(world: World, implementation: str, **options: Any) -> Iterator[str]:
    """The echo endpoint behind the middleware under uvicorn; yields ``127.0.0.1:<port>``."""
    app = Starlette(routes=[WebSocketRoute("/echo", echo)])
    app.add_middleware(RAMMiddleware, ram=world.ram, **options)
    with sdk_environment(), serve_asgi(app, ws=implementation) as address:  # no proxy between us
        yield address


def signed_headers(world: World, who: str, address: str) -> dict[str, str]:
    """``who``'s signature of a GET of the ws URL's http equivalent; the client sends its own Host."""
    signed = world.signer(who).sign("GET", f"http://{address}/echo", [], b"")
    return {name: value for name, value in signed.headers.items() if name != "host"}


def round_trip(address: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Opens the websocket, sends one message and returns the endpoint's JSON answer."""
    with connect(
        f"ws://{address}/echo", additional_headers=headers, open_timeout=TIMEOUT, close_timeout=TIMEOUT
    ) as ws:
        ws.send("hello")
        return dict(json.loads(ws.recv(timeout=TIMEOUT)))


def refusal(address: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    """A refused handshake: its HTTP status, JSON error body and ``x-acs-request-id``."""
    with pytest.raises(InvalidStatus) as refused:
        round_trip(address, headers)
    response = refused.value.response
    assert response.headers["content-type"].startswith("application/json")
    return response.status_code, json.loads(response.body or b""), response.headers["x-acs-request-id"]


def test_a_signed_handshake_of_an_allowed_user_is_accepted(world: World, implementation: str) -> None:
    with serving(world, implementation) as address:
        answer = round_trip(address, signed_headers(world, "alice", address))
    assert answer == {"echo": "hello", "principal": world.arn("alice")}
    event = world.audit.events[-1]
    assert (event.decision, event.action) == ("Allow", "ecs:DescribeInstances")
    assert event.principal_arn == world.arn("alice")


def test_an_unsigned_handshake_is_refused_with_the_json_error(world: World, implementation: str) -> None:
    with serving(world, implementation) as address:
        status, error, request_id = refusal(address)
    assert (status, error["Code"], error["RequestId"]) == (401, "MissingAuthentication", request_id)
    assert world.audit.events[-1].code == "MissingAuthentication"


def test_a_handshake_of_a_user_the_policy_denies_is_refused_with_403(
    world: World, implementation: str
) -> None:
    with serving(world, implementation) as address:
        status, error, request_id = refusal(address, signed_headers(world, "eve", address))
    assert (status, error["Code"], error["RequestId"]) == (403, "NoPermission", request_id)
    assert "AccessDeniedDetail" in error
    event = world.audit.events[-1]
    assert (event.decision, event.principal_arn) == ("ImplicitDeny", world.arn("eve"))


def test_an_unsigned_handshake_is_accepted_when_websocket_checks_are_off(
    world: World, implementation: str
) -> None:
    with serving(world, implementation, websockets=False) as address:
        answer = round_trip(address)
    assert answer == {"echo": "hello", "principal": None}
    assert world.audit.events == []
