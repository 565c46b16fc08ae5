"""Apps mounted in a Starlette app and protected by their own middleware, under uvicorn (127.0.0.1 only).

A mounted app that is not a router (``StaticFiles``) has no routes of its own for the middleware around it
to read; the outer app's routes, which Starlette leaves in ``scope["app"]``, match the path below the mount
and say nothing about it. Its requests are decided by the middleware's own rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ram_middleware.adapters.starlette import RAMMiddleware, public
from ram_middleware.routes import RouteRule
from tests.live_server import sdk_environment, serve_asgi

from .harness import client_class
from .world import World


@public
async def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"page {request.path_params['page']}")


def test_a_mounted_app_protected_by_its_own_middleware_is_not_opened_by_the_outer_routes(
    world: World, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("top secret")
    rule = RouteRule("ecs:DescribeInstances", "acs:ecs:*:{account}:instance/*")
    files = RAMMiddleware(StaticFiles(directory=tmp_path), ram=world.ram, rules=rule)
    # The outer app's public catch-all matches /secret.txt, the path below the mount.
    app = Starlette(routes=[Mount("/files", app=files), Route("/{page}", page)])
    with sdk_environment(), serve_asgi(app) as address:
        url = f"http://{address}/files/secret.txt"

        def get(who: str | None) -> requests.Response:
            if who is None:
                return requests.get(url, timeout=10)
            signed = world.signer(who).sign("GET", url, [], b"")
            headers = {name: value for name, value in signed.headers.items() if name != "host"}
            return requests.get(signed.url, headers=headers, timeout=10)

        anonymous, denied, allowed = get(None), get("eve"), get("alice")
        assert requests.get(f"http://{address}/about", timeout=10).text == "page about"
    assert (anonymous.status_code, anonymous.json()["Code"]) == (401, "MissingAuthentication")
    assert (denied.status_code, denied.json()["Code"]) == (403, "NoPermission")
    assert (allowed.status_code, allowed.text) == (200, "top secret")
    assert world.audit.events[-1].action == "ecs:DescribeInstances"


class _Hiding:
    """A middleware that keeps the app below it where the middleware cannot follow it."""

    def __init__(self, app: Any) -> None:
        self._inner = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._inner(scope, receive, send)


def test_the_apps_own_middleware_still_reads_its_routes_past_a_layer_it_cannot_follow(world: World) -> None:
    # Below the layer no router is found; the app in scope["app"] is the one whose stack holds us.
    app = Starlette(
        routes=[Route("/{page}", page)],
        middleware=[Middleware(RAMMiddleware, ram=world.ram), Middleware(_Hiding)],
    )
    assert client_class()(app).get("/about").text == "page about"
