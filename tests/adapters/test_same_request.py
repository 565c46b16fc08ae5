"""The check and the app must read one request alike: a value the endpoint receives is the value the
resource names, or the request is refused. Each test builds a small app per framework (Starlette, FastAPI,
Flask, a bare WSGI app behind a route table) and signs real requests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import webtest
from fastapi import Depends, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ram_middleware.adapters import flask as ram_flask
from ram_middleware.adapters.starlette import RAMMiddleware, RequirePermission, ram_route
from ram_middleware.adapters.wsgi import RAMWSGIMiddleware
from ram_middleware.routes import RouteRule, RouteTable

from .harness import client_class
from .world import World

Reply = tuple[int, dict[str, Any]]
Send = Callable[[str, str, str], Reply]  # (who, method, path) -> (status, JSON body)

ACCOUNT_INSTANCE = "acs:ecs:*:{account}:instance/{iid}"


def _asgi_sender(app: Any, world: World) -> Send:
    client = client_class()(app, base_url="http://testserver")

    def send(who: str, method: str, path: str) -> Reply:
        url = f"http://testserver{path}"
        signed = world.signer(who).sign(method, url, [], b"")
        headers = [(name, value) for name, value in signed.headers.items() if name != "host"]
        response = client.request(method, signed.url, headers=headers)
        return response.status_code, response.json()

    return send


def _wsgi_sender(app: Any, world: World) -> Send:
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})

    def send(who: str, method: str, path: str) -> Reply:
        url = f"http://localhost:80{path}"
        signed = world.signer(who).sign(method, url, [], b"")
        headers = [(name, value) for name, value in signed.headers.items() if name != "host"]
        response = client.request(signed.url, method=method, headers=headers, expect_errors=True)
        return response.status_int, response.json

    return send


# --- a route that captures the account ------------------------------------------------------------------


def _account_apps(world: World) -> dict[str, Send]:
    """``GET /accounts/{account}/instances/{iid}``, the resource ``…:{account}:instance/{iid}``."""

    @ram_route("ecs:DescribeInstance", ACCOUNT_INSTANCE)
    async def st_describe(request: Request) -> JSONResponse:
        return JSONResponse({"account": request.path_params["account"]})

    starlette = Starlette(routes=[Route("/accounts/{account}/instances/{iid}", st_describe)])
    starlette.add_middleware(RAMMiddleware, ram=world.ram)

    fastapi = FastAPI()

    @fastapi.get(
        "/accounts/{account}/instances/{iid}",
        dependencies=[Depends(RequirePermission("ecs:DescribeInstance", ACCOUNT_INSTANCE))],
    )
    async def fa_describe(account: str, iid: str) -> dict[str, str]:
        return {"account": account}

    fastapi.add_middleware(RAMMiddleware, ram=world.ram)

    flask = Flask(__name__)
    ram_flask.RAM(flask, ram=world.ram)

    @flask.get("/accounts/<account>/instances/<iid>")
    @ram_flask.require("ecs:DescribeInstance", ACCOUNT_INSTANCE)
    def fl_describe(account: str, iid: str) -> dict[str, str]:
        return {"account": account}

    def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        account = environ["PATH_INFO"].split("/")[2]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"account": "%s"}' % account.encode()]

    table = RouteTable(
        [("GET", "/accounts/{account}/instances/{iid}", RouteRule("ecs:DescribeInstance", ACCOUNT_INSTANCE))]
    )
    return {
        "starlette": _asgi_sender(starlette, world),
        "fastapi": _asgi_sender(fastapi, world),
        "flask": _wsgi_sender(flask, world),
        "wsgi-table": _wsgi_sender(RAMWSGIMiddleware(bare, ram=world.ram, rules=table), world),
    }


@pytest.mark.parametrize("framework", ["starlette", "fastapi", "flask", "wsgi-table"])
def test_a_route_that_names_another_account_is_refused(world: World, framework: str) -> None:
    # {account} is the caller's: checked in her own account, a request for another account's instance would
    # reach an endpoint that reads the account from its path and serves the other tenant.
    send = _account_apps(world)[framework]
    other = "9" * 16
    status, body = send("alice", "GET", f"/accounts/{other}/instances/i-1")
    assert (status, body["Code"]) == (400, "InvalidParameter.account")
    assert world.audit.events[-1].resource is None
    status, body = send("alice", "GET", f"/accounts/{world.account_id}/instances/i-1")
    assert (status, body) == (200, {"account": world.account_id})
    assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-1"
