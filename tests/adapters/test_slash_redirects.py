"""The frameworks' own trailing-slash redirects (Starlette/FastAPI ``redirect_slashes``, Werkzeug's strict
slashes) reach the client although no route matches the path as sent: the redirect carries no data, and
the request that follows it is checked as any other. Only the framework's redirect is let through: a path
the app routes elsewhere (a catch-all, a mounted app), or one its router would not redirect, stays
undeclared and refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi import APIRouter, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Host, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from ram_middleware.adapters import flask as ram_flask
from ram_middleware.adapters.starlette import RAMMiddleware, ram_route

from .harness import Harness, client_class, make_harness, websocket_denial_class
from .world import World, make_world

NOTE = "acs:ecs:*:{account}:instance/{nid}"

# Starlette answers 307, Werkzeug 308: both keep the method and the body. The bare WSGI app (a route
# table in front of an app without a router) redirects nothing.
_REDIRECT = {"starlette": 307, "starlette-offload": 307, "fastapi": 307, "flask": 308}


def _redirect_status(harness: Harness) -> int | None:
    """The variant's redirect status; None for the bare WSGI app, after checking that it refuses the path
    as undeclared (no router of its own, so nothing would redirect it)."""
    if harness.name in _REDIRECT:
        return _REDIRECT[harness.name]
    reply = harness.call("GET", "/volumes", signer=harness.world.signer("alice"))
    assert (reply.status, reply.code) == (403, "NoPermission"), reply.body
    assert harness.world.audit.events[-1].reason == "Route not declared; undeclared routes are denied"
    return None


def _target(location: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(location)
    return parts.path, parse_qsl(parts.query)


# --- the shared apps (every variant) ------------------------------------------------------------------------


@pytest.mark.parametrize("who", [None, "eve", "alice"])
def test_the_frameworks_slash_redirect_reaches_the_client_unaudited(
    harness: Harness, who: str | None
) -> None:
    status = _redirect_status(harness)
    if status is None:
        return
    before = len(harness.world.audit.events)
    signer = harness.world.signer(who) if who else None
    query = [("Marker", "a b"), ("MaxResults", "5")]
    reply = harness.call("GET", "/volumes", query=query, signer=signer)
    assert reply.status == status, reply.body
    assert _target(reply.headers["location"]) == ("/volumes/", query)  # the query is kept
    assert len(harness.world.audit.events) == before  # not a decision, as a public route


def test_following_the_redirect_is_checked_as_any_request(harness: Harness) -> None:
    if _redirect_status(harness) is None:
        return
    path, query = _target(harness.call("GET", "/volumes", query=[("MaxResults", "5")]).headers["location"])
    world = harness.world
    allowed = harness.call("GET", path, query=query, signer=world.signer("alice"))
    assert allowed.status == 200, allowed.body
    assert allowed.json()["principal"] == world.arn("alice")
    assert allowed.json()["query"] == {"MaxResults": "5"}
    event = world.audit.events[-1]
    assert (event.decision, event.action, event.path) == ("Allow", "ecs:DescribeDisks", "/volumes/")
    denied = harness.call("GET", path, query=query, signer=world.signer("eve"))
    assert (denied.status, denied.code) == (403, "NoPermission")
    assert harness.call("GET", path, query=query).status == 401


def test_a_post_is_redirected_with_its_method_and_its_body_then_checked(harness: Harness) -> None:
    status = _redirect_status(harness)
    if status is None:
        return
    world = harness.world
    form = "application/x-www-form-urlencoded"
    reply = harness.call("POST", "/volumes", query=[("Size", "20")], body=b"Name=data", content_type=form)
    assert reply.status == status  # 307/308: the client sends the same POST again
    path, query = _target(reply.headers["location"])
    alice = world.signer("alice")
    posted = harness.call("POST", path, query=query, body=b"Name=data", content_type=form, signer=alice)
    assert posted.status == 200, posted.body
    assert (posted.json()["body"], posted.json()["query"]) == ("Name=data", {"Size": "20"})


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_trailing_slash_the_route_lacks_follows_each_framework(harness: Harness, method: str) -> None:
    """Starlette also redirects ``/instances/i-1/`` to ``/instances/i-1``, even for a method that route
    lacks (it then answers 405 there); Werkzeug answers 404, so the path stays undeclared: refused."""
    reply = harness.call(method, "/instances/i-1/", query=[("x", "1")])
    if harness.kind == "asgi":
        assert reply.status == 307
        assert _target(reply.headers["location"]) == ("/instances/i-1", [("x", "1")])
    else:
        assert (reply.status, reply.code) == (401, "MissingAuthentication")


def test_a_path_no_slash_would_route_is_still_refused(harness: Harness) -> None:
    alice = harness.world.signer("alice")
    for path in ("/nowhere", "/nowhere/", "/volumes/extra/"):
        reply = harness.call("GET", path, signer=alice)
        assert (reply.status, reply.code) == (403, "NoPermission"), path
        assert harness.world.audit.events[-1].reason == "Route not declared; undeclared routes are denied"
    assert harness.call("GET", "/nowhere/").status == 401


@pytest.fixture(params=["authenticate", "allow"])
def lenient(request: pytest.FixtureRequest) -> Iterator[tuple[str, World]]:
    made = make_world(undeclared=request.param)
    yield request.param, made
    made.ram.close()


@pytest.mark.parametrize("variant", sorted(_REDIRECT))
def test_undeclared_settings_keep_their_meaning(variant: str, lenient: tuple[str, World]) -> None:
    undeclared, world = lenient
    harness = make_harness(variant, world)
    assert harness.call("GET", "/volumes").status == _REDIRECT[variant]
    unsigned = harness.call("GET", "/nowhere/")
    signed = harness.call("GET", "/nowhere/", signer=world.signer("eve"))
    if undeclared == "authenticate":  # any verified caller, then the framework's own 404
        assert (unsigned.status, signed.status) == (401, 404)
    else:  # unchecked: the framework's 404 for everybody
        assert (unsigned.status, signed.status) == (404, 404)


# --- Starlette routers --------------------------------------------------------------------------------------


@ram_route("ecs:DescribeInstance", NOTE)
async def _note(request: Request) -> JSONResponse:
    return JSONResponse({"nid": request.path_params["nid"]})


async def _secret(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("secret")(scope, receive, send)


def _client(app: Any, **options: Any) -> Any:
    return client_class()(app, follow_redirects=False, **options)


def _starlette(world: World, routes: list[BaseRoute]) -> Starlette:
    app = Starlette(routes=routes)
    app.add_middleware(RAMMiddleware, ram=world.ram)
    return app


def _signed(world: World, who: str, url: str) -> dict[str, str]:
    signed = world.signer(who).sign("GET", url, [], b"")
    return {name: value for name, value in signed.headers.items() if name != "host"}


def test_a_router_inside_a_mount_redirects_and_so_does_the_mount_itself(world: World) -> None:
    app = _starlette(world, [Mount("/api", routes=[Route("/notes/{nid}", _note)])])
    client = _client(app)
    reply = client.get("/api/notes/1/?a=b")
    assert (reply.status_code, reply.headers["location"]) == (307, "http://testserver/api/notes/1?a=b")
    bare = client.get("/api")  # the mount's prefix without its slash, as the console's /console
    assert (bare.status_code, bare.headers["location"]) == (307, "http://testserver/api/")
    followed = client.get(
        "/api/notes/1?a=b", headers=_signed(world, "alice", "http://testserver/api/notes/1?a=b")
    )
    assert followed.json() == {"nid": "1"}


def test_a_router_under_a_host_and_under_a_root_path_redirects(world: World) -> None:
    app = _starlette(world, [Host("api.example.com", app=Router([Route("/notes/{nid}", _note)]))])
    reply = _client(app, base_url="http://api.example.com").get("/notes/1/")
    assert (reply.status_code, reply.headers["location"]) == (307, "http://api.example.com/notes/1")
    app = _starlette(world, [Route("/notes/{nid}", _note)])
    rooted = _client(app, root_path="/app").get("/app/notes/1/")  # as behind a proxy at /app
    assert (rooted.status_code, rooted.headers["location"]) == (307, "http://testserver/app/notes/1")


def test_a_path_the_app_routes_elsewhere_is_not_a_redirect(world: World) -> None:
    """Starlette redirects only when no route takes the path as sent: a catch-all or a mount takes it."""
    catch_all = _starlette(world, [Route("/notes/{nid}", _note), Route("/{rest:path}", _secret)])
    mounted = _starlette(world, [Route("/notes/{nid}", _note), Mount("/notes", app=_secret)])
    for app in (catch_all, mounted):
        for sent in ({}, _signed(world, "alice", "http://testserver/notes/1/")):
            reply = _client(app).get("/notes/1/", headers=sent)
            assert reply.status_code in (401, 403) and b"secret" not in reply.content


def test_a_router_that_does_not_redirect_leaves_the_path_undeclared(world: World) -> None:
    class OwnRouter(Router):
        """A router with routing of its own: the middleware cannot know what it answers."""

        async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
            await _secret(scope, receive, send)

    off = _starlette(world, [Route("/notes/{nid}", _note)])
    off.router.redirect_slashes = False
    quiet = Router([Route("/notes/{nid}", _note)], redirect_slashes=False)
    inner_off = _starlette(world, [Mount("/api", app=quiet)])
    own = _starlette(world, [Mount("/api", app=OwnRouter([Route("/notes/{nid}", _note)]))])
    for app, path in ((off, "/notes/1/"), (inner_off, "/api/notes/1/"), (own, "/api/notes/1/")):
        reply = _client(app).get(path)
        assert (reply.status_code, reply.json()["Code"]) == (401, "MissingAuthentication"), path


def test_a_websocket_is_never_redirected(world: World) -> None:
    app = _starlette(world, [Route("/notes/{nid}", _note)])
    with pytest.raises(websocket_denial_class()) as denied, _client(app).websocket_connect("/notes/1/"):
        pass  # pragma: no cover - refused at the handshake
    assert denied.value.status_code == 401


class _StripSlash:
    """Serves ``/notes/1/`` as ``/notes/1`` (rather than redirecting it), as some apps do below RAM."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/":
            scope = {**scope, "path": scope["path"].rstrip("/")}
        await self.app(scope, receive, send)


def test_a_layer_below_that_would_route_the_redirect_never_sees_it(world: World) -> None:
    """The middleware answers the router's redirect itself: a middleware between it and the router (the
    app's, or a mount's own) that serves the path as another would otherwise get it unchecked."""
    below = Starlette(routes=[Route("/notes/{nid}", _note)])
    below.add_middleware(_StripSlash)
    below.add_middleware(RAMMiddleware, ram=world.ram)
    mounted = _starlette(
        world, [Mount("/api", routes=[Route("/notes/{nid}", _note)], middleware=[Middleware(_StripSlash)])]
    )
    for app, path in ((below, "/notes/1/"), (mounted, "/api/notes/1/")):
        before = len(world.audit.events)
        reply = _client(app).get(path + "?a=b")
        assert (reply.status_code, reply.headers["location"]) == (307, f"http://testserver{path[:-1]}?a=b")
        assert reply.content == b"" and len(world.audit.events) == before
        head = _client(app).head(path)
        assert (head.status_code, head.content) == (307, b"")
        followed = _client(app).get(path[:-1])  # checked: the layer below then serves it as usual
        assert (followed.status_code, followed.json()["Code"]) == (401, "MissingAuthentication")


# --- FastAPI ------------------------------------------------------------------------------------------------


def _fastapi(world: World, **options: Any) -> FastAPI:
    router = APIRouter(prefix="/r")

    @router.get("/notes/{nid}")
    @ram_route("ecs:DescribeInstance", NOTE)
    async def note(nid: str) -> dict[str, str]:
        return {"nid": nid}

    app = FastAPI(**options)
    app.include_router(router, prefix="/v1")
    app.add_middleware(RAMMiddleware, ram=world.ram)
    return app


def test_an_included_fastapi_router_redirects_unless_the_app_does_not(world: World) -> None:
    reply = _client(_fastapi(world)).get("/v1/r/notes/1/?a=b")
    assert (reply.status_code, reply.headers["location"]) == (307, "http://testserver/v1/r/notes/1?a=b")
    headers = _signed(world, "alice", "http://testserver/v1/r/notes/1?a=b")
    assert _client(_fastapi(world)).get("/v1/r/notes/1?a=b", headers=headers).json() == {"nid": "1"}
    refused = _client(_fastapi(world, redirect_slashes=False)).get("/v1/r/notes/1/")
    assert refused.status_code == 401


# --- Flask --------------------------------------------------------------------------------------------------


def test_a_werkzeug_redirect_rule_reaches_the_client_but_a_404_does_not(world: World) -> None:
    app = Flask("slashes")
    ram_flask.RAM(app, ram=world.ram)

    @app.get("/notes/<nid>/")
    @ram_flask.require("ecs:DescribeInstance", NOTE)
    def note(nid: str) -> dict[str, str]:
        return {"nid": nid}

    app.add_url_rule("/old/<nid>", endpoint="old", redirect_to="/notes/<nid>/")
    client = app.test_client()
    moved = client.get("/old/7")
    assert (moved.status_code, moved.headers["location"]) == (308, "http://localhost/notes/7/")
    slash = client.get("/notes/7?a=b")
    assert (slash.status_code, slash.headers["location"]) == (308, "http://localhost/notes/7/?a=b")
    assert client.post("/notes/7").status_code == 401  # Werkzeug: 404 for a method the rule lacks
    assert client.get("/notes/7/").status_code == 401
