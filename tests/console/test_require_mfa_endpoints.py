"""Starlette's ``require_mfa`` on every kind of endpoint the README names it for: a method of a class-based
``HTTPEndpoint`` and FastAPI endpoints taking path parameters, or no ``Request`` at all, sync and async.
Each used to fail at the first request with a TypeError (500): the guard took exactly one ``request``."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.console.starlette import mount_console, require_mfa

from .apps import DANGER, MFA_MAX_AGE
from .client import JSON, Browser, Site
from .world import World


class Danger(HTTPEndpoint):
    @require_mfa(max_age=MFA_MAX_AGE)
    @ram_route("ecs:DeleteInstance", DANGER)
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"endpoint {request.url.path}")

    @require_mfa(max_age=MFA_MAX_AGE)
    @ram_route("ecs:DeleteInstance", DANGER)
    def post(self, request: Request) -> PlainTextResponse:  # sync: run in the thread pool
        return PlainTextResponse("endpoint post")


def starlette_site(world: World) -> Site:
    app = Starlette(routes=[Route("/danger", Danger)], middleware=[Middleware(RAMMiddleware, ram=world.ram)])
    mount_console(app, world.ram)
    return Site("starlette", app, world)


def fastapi_site(world: World) -> Site:
    app = FastAPI(middleware=[Middleware(RAMMiddleware, ram=world.ram)])

    @app.get("/danger/{item}")
    @require_mfa(max_age=MFA_MAX_AGE)
    @ram_route("ecs:DeleteInstance", DANGER)
    async def danger(item: int, request: Request, note: str = "") -> dict[str, object]:
        return {"item": item, "path": request.url.path, "note": note}

    @app.post("/danger/{item}")
    @require_mfa(max_age=MFA_MAX_AGE)
    @ram_route("ecs:DeleteInstance", DANGER)
    def erase(item: int) -> dict[str, object]:  # no Request parameter, and sync
        return {"erased": item}

    mount_console(app, world.ram)
    return Site("starlette", app, world)


def _alice(site: Site) -> Browser:
    browser = site.client()
    browser.logon("alice")
    assert browser.logon_mfa(site.world.code("alice")).status_code == 303
    return browser


def test_an_http_endpoint_method_is_guarded(world: World) -> None:
    browser = _alice(starlette_site(world))
    assert browser.get("/danger").text == "endpoint /danger"
    assert browser.http.post("/danger", headers={**JSON, "origin": browser.origin}).text == "endpoint post"
    world.clock.advance(minutes=6)  # older than max_age
    assert browser.get("/danger").headers["location"] == "/console/mfa?next=%2Fdanger"
    refused = browser.http.post("/danger", headers={**JSON, "origin": browser.origin})
    assert refused.status_code == 403 and refused.json()["Code"] == "Forbidden.MFARequired"


def test_fastapi_endpoints_keep_their_parameters(world: World) -> None:
    browser = _alice(fastapi_site(world))
    page = browser.get("/danger/07?note=hi", headers=JSON)
    assert page.json() == {"item": 7, "path": "/danger/07", "note": "hi"}
    erased = browser.http.post("/danger/3", headers={**JSON, "origin": browser.origin})
    assert erased.json() == {"erased": 3}
    # FastAPI still sees the endpoint's own parameters: its validation and its schema are unchanged.
    assert browser.get("/danger/x", headers=JSON).status_code == 422
    world.clock.advance(minutes=6)
    refused = browser.get("/danger/7", headers=JSON)
    assert refused.status_code == 403 and refused.json()["Code"] == "Forbidden.MFARequired"
    assert browser.get("/danger/7").headers["location"] == "/console/mfa?next=%2Fdanger%2F7"
