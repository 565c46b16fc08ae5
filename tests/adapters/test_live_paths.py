"""Paths a route table and Starlette's router could read differently, sent as is to a Starlette app under
uvicorn (127.0.0.1 only): the endpoint a request reaches must be the one whose rule was checked."""

from __future__ import annotations

import http.client
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ram_middleware.adapters.asgi import RAMMiddleware
from ram_middleware.routes import PUBLIC, RouteRule, RouteTable
from tests.live_server import serve_asgi

from .world import World


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def dispatch(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"dispatched {request.path_params['rest']}")


def _get(address: str, target: str) -> tuple[int, bytes]:
    host, _, port = address.partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", target)  # sent as written: no client tidies the slashes
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_extra_leading_slashes_never_reach_a_catch_all_under_another_routes_rule(world: World) -> None:
    # Starlette takes //health to the catch-all (rest "/health"); read as /health, its public rule let
    # anybody call the protected dispatcher.
    call = RouteRule("app:Call", "acs:app:*:{account}:{rest}")
    table = RouteTable([("GET", "/health", PUBLIC), ("*", "/{rest:path}", call)])
    inner = Starlette(routes=[Route("/health", health), Route("/{rest:path}", dispatch)])
    with serve_asgi(RAMMiddleware(inner, ram=world.ram, rules=table)) as address:
        answers = {target: _get(address, target) for target in ("/health", "/x", "//health", "///x")}
    assert answers["/health"] == (200, b"ok")
    assert answers["/x"][0] == 401
    for target in ("//health", "///x"):
        status, body = answers[target]
        assert (status, json.loads(body)["Code"]) == (400, "InvalidParameter.Path"), target
