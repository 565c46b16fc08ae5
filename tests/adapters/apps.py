"""The same small protected API written four ways: Starlette, FastAPI, Flask, and a bare WSGI app.

Every endpoint answers JSON saying who called (read where that framework's users look for it) and what it
received, so one behaviour suite can run against all of them:

``GET /health`` public · ``GET|DELETE /instances/{instance_id}`` ecs:DescribeInstance / ecs:DeleteInstance
on ``instance/{instance_id}`` · ``GET /objects?Bucket=&Key=`` oss:GetObject on ``{Bucket}/{Key}`` ·
``POST /buckets/{bucket}/objects`` oss:PutObject (echoes the body) · ``GET|POST /rpc`` RPC-style ``ecs``
API · ``GET|POST /volumes/`` ecs:DescribeDisks on ``disk/*`` (echoes query and body; its trailing slash is for
the frameworks' slash redirects, the bare WSGI app has none) · ``GET /undeclared`` no rule · websocket ``/ws``
(ASGI only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI
from fastapi import Request as FastAPIRequest
from flask import Flask, g
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ram_middleware.adapters import flask as ram_flask
from ram_middleware.adapters.starlette import (
    RAMMiddleware,
    RequirePermission,
    current_principal,
    public,
    ram_route,
)
from ram_middleware.adapters.wsgi import RAMWSGIMiddleware
from ram_middleware.config import Ram
from ram_middleware.identity import Principal
from ram_middleware.routes import PUBLIC, RouteRule, RouteTable, RpcApi

INSTANCE = "acs:ecs:*:{account}:instance/{instance_id}"
OBJECT = "acs:oss:*:{account}:{Bucket}/{Key}"
BUCKET_OBJECTS = "acs:oss:*:{account}:{bucket}/*"
DISKS = "acs:ecs:*:{account}:disk/*"
RPC = RpcApi(
    "ecs",
    resources={
        "DescribeInstances": "acs:ecs:{RegionId}:{account}:instance/*",
        "StopInstance": "acs:ecs:{RegionId}:{account}:instance/{InstanceId}",
    },
)


def _echo(principal: Principal | None, via: str | None, **extra: Any) -> dict[str, Any]:
    return {"principal": principal.arn if principal else None, "via": via, **extra}


def _rpc_action(params: dict[str, str], headers: Any) -> str | None:
    return params.get("Action") or headers.get("x-acs-action")


async def _form(request: Request) -> dict[str, str]:
    # Parsed here, not by Starlette (which needs python-multipart): these tests send url-encoded forms.
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    return dict(parse_qsl((await request.body()).decode()))


# --- Starlette ----------------------------------------------------------------------------------------------


@public
async def st_health(request: Request) -> JSONResponse:
    return JSONResponse(_echo(request.state.principal, None, ok=True))


@ram_route("ecs:DescribeInstance", INSTANCE)
@requires("authenticated")
async def st_describe(request: Request) -> JSONResponse:
    return JSONResponse(
        _echo(request.state.principal, request.user.identity, params=dict(request.path_params))
    )


@ram_route("ecs:DeleteInstance", INSTANCE)
async def st_delete(request: Request) -> JSONResponse:
    return JSONResponse(
        _echo(request.state.principal, request.user.identity, params=dict(request.path_params))
    )


@ram_route("oss:GetObject", OBJECT)
async def st_object(request: Request) -> JSONResponse:
    return JSONResponse(
        _echo(request.state.principal, request.user.identity, query=dict(request.query_params))
    )


@ram_route("oss:PutObject", BUCKET_OBJECTS)
async def st_upload(request: Request) -> JSONResponse:
    body = await request.body()
    form = await _form(request)
    return JSONResponse(
        _echo(request.state.principal, request.user.identity, body=body.decode("latin-1"), form=form)
    )


@ram_route(RPC)
async def st_rpc(request: Request) -> JSONResponse:
    params = {**request.query_params, **(await _form(request))}
    action = _rpc_action(params, request.headers)
    return JSONResponse(_echo(request.state.principal, request.user.identity, action=action))


@ram_route("ecs:DescribeDisks", DISKS)
async def st_volumes(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        _echo(
            request.state.principal,
            request.user.identity,
            query=dict(request.query_params),
            body=body.decode("latin-1"),
        )
    )


async def st_undeclared(request: Request) -> JSONResponse:
    return JSONResponse(_echo(request.state.principal, None))


@ram_route("ecs:DescribeInstances", "*")
async def st_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    user = websocket.scope.get("user")
    await websocket.send_json(_echo(current_principal(websocket), user.identity if user else None))
    await websocket.close()


STARLETTE_ROUTES = [
    Route("/health", st_health),
    Route("/instances/{instance_id}", st_describe, methods=["GET"]),
    Route("/instances/{instance_id}", st_delete, methods=["DELETE"]),
    Route("/objects", st_object),
    Route("/buckets/{bucket}/objects", st_upload, methods=["POST"]),
    Route("/rpc", st_rpc, methods=["GET", "POST"]),
    Route("/volumes/", st_volumes, methods=["GET", "POST"]),
    Route("/undeclared", st_undeclared),
    WebSocketRoute("/ws", st_ws),
]


def starlette_app(ram: Ram, **options: Any) -> Starlette:
    app = Starlette(routes=STARLETTE_ROUTES)
    app.add_middleware(RAMMiddleware, ram=ram, **options)
    return app


# --- FastAPI ------------------------------------------------------------------------------------------------

CanDescribe = Annotated[Principal, Depends(RequirePermission("ecs:DescribeInstance", INSTANCE))]
CanDelete = Annotated[Principal, Depends(RequirePermission("ecs:DeleteInstance", INSTANCE))]
CanCallRpc = Annotated[Principal, Depends(RequirePermission(RPC))]


def fastapi_app(ram: Ram, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    @public
    async def health(request: FastAPIRequest) -> dict[str, Any]:
        return _echo(request.state.principal, None, ok=True)

    @app.get("/instances/{instance_id}")
    async def describe(instance_id: str, who: CanDescribe) -> dict[str, Any]:
        return _echo(who, who.arn, params={"instance_id": instance_id})

    @app.delete("/instances/{instance_id}")
    async def delete(instance_id: str, who: CanDelete) -> dict[str, Any]:
        return _echo(who, who.arn, params={"instance_id": instance_id})

    @app.get("/objects", dependencies=[Depends(RequirePermission("oss:GetObject", OBJECT))])
    async def get_object(request: FastAPIRequest) -> dict[str, Any]:
        return _echo(request.state.principal, request.user.identity, query=dict(request.query_params))

    @app.post("/buckets/{bucket}/objects")
    @ram_route("oss:PutObject", BUCKET_OBJECTS)
    async def upload(bucket: str, request: FastAPIRequest) -> dict[str, Any]:
        body = await request.body()
        form = await _form(request)
        return _echo(request.state.principal, request.user.identity, body=body.decode("latin-1"), form=form)

    @app.api_route("/rpc", methods=["GET", "POST"])
    async def rpc(request: FastAPIRequest, who: CanCallRpc) -> dict[str, Any]:
        params = {**request.query_params, **(await _form(request))}
        return _echo(who, who.arn, action=_rpc_action(params, request.headers))

    @app.api_route("/volumes/", methods=["GET", "POST"])
    @ram_route("ecs:DescribeDisks", DISKS)
    async def volumes(request: FastAPIRequest) -> dict[str, Any]:
        body = await request.body()
        query = dict(request.query_params)
        return _echo(request.state.principal, request.user.identity, query=query, body=body.decode("latin-1"))

    @app.get("/undeclared")
    async def undeclared(request: FastAPIRequest) -> dict[str, Any]:
        return _echo(request.state.principal, None)

    app.router.routes.append(WebSocketRoute("/ws", st_ws))
    app.add_middleware(RAMMiddleware, ram=ram, **options)
    return app


# --- Flask --------------------------------------------------------------------------------------------------


def _flask_echo(**extra: Any) -> dict[str, Any]:
    principal = g.principal
    return _echo(principal, principal.arn if principal else None, **extra)


def flask_app(ram: Ram, **options: Any) -> Flask:
    app = Flask("adapters-test")
    app.config.update({f"RAM_{name.upper()}": value for name, value in options.items()})
    extension = ram_flask.RAM(app, ram=ram)

    @app.get("/health")
    @ram_flask.public
    def health() -> dict[str, Any]:
        return _flask_echo(ok=True)

    @app.get("/instances/<instance_id>")
    @extension.route_rule("ecs:DescribeInstance", INSTANCE)
    def describe(instance_id: str) -> dict[str, Any]:
        return _flask_echo(params={"instance_id": instance_id})

    @app.delete("/instances/<instance_id>")
    @ram_flask.require("ecs:DeleteInstance", INSTANCE)
    def delete(instance_id: str) -> dict[str, Any]:
        return _flask_echo(params={"instance_id": instance_id})

    @app.get("/objects")
    @ram_flask.require("oss:GetObject", OBJECT)
    def get_object() -> dict[str, Any]:
        return _flask_echo(query=flask_request.args.to_dict())

    @app.post("/buckets/<bucket>/objects")
    @ram_flask.require("oss:PutObject", BUCKET_OBJECTS)
    def upload(bucket: str) -> dict[str, Any]:
        body = flask_request.get_data()
        return _flask_echo(body=body.decode("latin-1"), form=flask_request.form.to_dict())

    @app.route("/rpc", methods=["GET", "POST"])
    @ram_flask.require(RPC)
    def rpc() -> dict[str, Any]:
        params = {**flask_request.args.to_dict(), **flask_request.form.to_dict()}
        return _flask_echo(action=_rpc_action(params, flask_request.headers))

    @app.route("/volumes/", methods=["GET", "POST"])
    @ram_flask.require("ecs:DescribeDisks", DISKS)
    def volumes() -> dict[str, Any]:
        body = flask_request.get_data().decode("latin-1")
        return _flask_echo(query=flask_request.args.to_dict(), body=body)

    @app.get("/undeclared")
    def undeclared() -> dict[str, Any]:
        return _flask_echo()

    return app


# --- bare WSGI with a route table ---------------------------------------------------------------------------

WSGI_TABLE = RouteTable(
    [
        ("GET", "/health", PUBLIC),
        ("GET", "/instances/{instance_id}", RouteRule("ecs:DescribeInstance", INSTANCE)),
        ("DELETE", "/instances/{instance_id}", RouteRule("ecs:DeleteInstance", INSTANCE)),
        ("GET", "/objects", RouteRule("oss:GetObject", OBJECT)),
        ("POST", "/buckets/{bucket}/objects", RouteRule("oss:PutObject", BUCKET_OBJECTS)),
        (("GET", "POST"), "/rpc", RPC),
    ]
)


def _bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    principal = environ.get("ram.principal")
    path = environ["PATH_INFO"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    extra: dict[str, Any] = {}
    found = re.fullmatch(r"/instances/([^/]+)", path)
    if found:
        extra["params"] = {"instance_id": found.group(1)}
    if path == "/health":
        extra["ok"] = True
    if path == "/objects":
        extra["query"] = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if path.startswith("/buckets/"):
        form = environ.get("CONTENT_TYPE", "").startswith("application/x-www")
        extra.update(body=body.decode("latin-1"), form=dict(parse_qsl(body.decode())) if form else {})
    if path == "/rpc":
        params = {**dict(parse_qsl(environ.get("QUERY_STRING", ""))), **dict(parse_qsl(body.decode()))}
        extra["action"] = params.get("Action") or environ.get("HTTP_X_ACS_ACTION")
    payload = json.dumps(_echo(principal, principal.arn if principal else None, **extra)).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def wsgi_app(ram: Ram, **options: Any) -> RAMWSGIMiddleware:
    return RAMWSGIMiddleware(_bare_app, ram=ram, rules=WSGI_TABLE, **options)
