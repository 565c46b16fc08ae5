"""A small protected API that the scale-out tests run as several uvicorn processes.

Configured only through ``RAM_*`` environment variables (``RamConfig.from_env`` + ``build``), exactly as a
deployment would be: ``uvicorn tests.scaleout.instance_app:app``.

``GET /health`` public (also reports whether the store's change feed is live) ·
``GET /instances/{instance_id}`` ecs:DescribeInstance ·
``POST /admin/users/{user_name}/delete`` ram:DeleteUser ·
``POST /admin/users/{user_name}/move?From=&To=`` ram:AddUserToGroup (remove from one group, add to another) ·
``POST /mfa/verify`` public: ``{"account", "user", "code"}`` → the service's one-time TOTP check ·
``/console/…`` the console's logon pages (a session cookie works on every route above).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ram_middleware import errors
from ram_middleware.adapters.starlette import RAMMiddleware, public, ram_route
from ram_middleware.config import RamConfig, build
from ram_middleware.console.starlette import mount_console
from ram_middleware.identity import Principal

INSTANCE = "acs:ecs:*:{account}:instance/{instance_id}"
USER = "acs:ram:*:{account}:user/{user_name}"

ram = build(RamConfig.from_env())


def _error(exc: errors.RAMError) -> JSONResponse:
    return JSONResponse({"Code": exc.code, "Message": exc.message}, status_code=exc.status)


def _principal(request: Request) -> Principal:
    principal = request.state.principal
    assert isinstance(principal, Principal)
    return principal


@public
async def health(request: Request) -> JSONResponse:
    return JSONResponse(
        {"ok": True, "pid": os.getpid(), "listening": bool(getattr(ram.store, "listening", False))}
    )


@ram_route("ecs:DescribeInstance", INSTANCE)
async def describe(request: Request) -> JSONResponse:
    principal = _principal(request)
    instance = request.path_params["instance_id"]
    return JSONResponse({"arn": principal.arn, "groups": list(principal.groups), "instance": instance})


@ram_route("ram:DeleteUser", USER)
def delete_user(request: Request) -> JSONResponse:
    try:
        ram.service.delete_user(_principal(request).account_id, request.path_params["user_name"], force=True)
    except errors.RAMError as exc:
        return _error(exc)
    return JSONResponse({"deleted": request.path_params["user_name"]})


@ram_route("ram:AddUserToGroup", USER)
def move_user(request: Request) -> JSONResponse:
    account = _principal(request).account_id
    user = request.path_params["user_name"]
    try:
        ram.service.remove_user_from_group(account, request.query_params["From"], user)
        ram.service.add_user_to_group(account, request.query_params["To"], user)
    except errors.RAMError as exc:
        return _error(exc)
    return JSONResponse({"moved": user})


@public
async def verify_mfa(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    try:
        ram.service.verify_mfa_code(str(body["account"]), str(body["user"]), str(body["code"]))
    except errors.RAMError as exc:
        return _error(exc)
    return JSONResponse({"ok": True})


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    yield
    ram.close()


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/instances/{instance_id}", describe, methods=["GET"]),
        Route("/admin/users/{user_name}/delete", delete_user, methods=["POST"]),
        Route("/admin/users/{user_name}/move", move_user, methods=["POST"]),
        Route("/mfa/verify", verify_mfa, methods=["POST"]),
    ],
    lifespan=lifespan,
)
app.add_middleware(RAMMiddleware, ram=ram)
mount_console(app, ram)
