"""The same small protected web app twice — Starlette and Flask — with the console mounted.

Routes: ``GET /`` public · ``GET /brochure`` public, for shared caches (``Cache-Control: public``) ·
``GET /static/app.css`` public, revalidated (``no-cache``, as static files are served) ·
``GET /reports`` ecs:DescribeInstances · ``GET|POST /danger`` ecs:DeleteInstance plus
``require_mfa(max_age=300)`` · ``GET /pay`` billing:Pay (the PayWithMFA policy wants acs:MFAPresent) ·
``GET|POST /rpc`` RPC-style ``ecs`` (``Action`` names the call, on any instance).
Each page says who called and whether MFA is present, as HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import Flask, g
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from ram_middleware.adapters.flask import RAM, require
from ram_middleware.adapters.starlette import RAMMiddleware, current_principal, public, ram_route
from ram_middleware.config import Ram
from ram_middleware.console import Console
from ram_middleware.console import flask as console_flask
from ram_middleware.console import starlette as console_starlette
from ram_middleware.identity import Principal
from ram_middleware.routes import RpcApi

INSTANCES = "acs:ecs:*:{account}:instance/*"
DANGER = "acs:ecs:*:{account}:instance/i-danger"
MFA_MAX_AGE = 300
VARIANTS = ("flask", "starlette")
RPC = RpcApi("ecs", resource=INSTANCES)
BROCHURE_CACHING = "public, max-age=600"
STYLE_CACHING = "no-cache"
STYLE = "body { color: #222 }"


def _page(title: str, principal: Principal | None) -> str:
    who = html.escape(principal.arn) if principal else "nobody"
    mfa = "unknown" if principal is None else str(principal.mfa_present).lower()
    return (
        f'<!doctype html><html lang="en"><title>{title}</title><h1>{title}</h1>'
        f'<p id="who">{who}</p><p id="mfa">{mfa}</p></html>'
    )


# --- Starlette ------------------------------------------------------------------------------------------


@public
async def st_index(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("Welcome", None))


@public
async def st_brochure(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("Brochure", None), headers={"cache-control": BROCHURE_CACHING})


@public
async def st_style(request: Request) -> Response:
    return Response(STYLE, media_type="text/css", headers={"cache-control": STYLE_CACHING})


@ram_route("ecs:DescribeInstances", INSTANCES)
async def st_reports(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("Reports", current_principal(request)))


@console_starlette.require_mfa(max_age=MFA_MAX_AGE)
@ram_route("ecs:DeleteInstance", DANGER)
async def st_danger(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("Danger zone", current_principal(request)))


@ram_route("billing:Pay", "*")
async def st_pay(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("Payments", current_principal(request)))


@ram_route(RPC)
async def st_rpc(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("RPC", current_principal(request)))


def starlette_app(ram: Ram, **console_options: Any) -> tuple[Starlette, Console]:
    app = Starlette(
        routes=[
            Route("/", st_index),
            Route("/brochure", st_brochure),
            Route("/static/app.css", st_style),
            Route("/reports", st_reports),
            Route("/danger", st_danger, methods=["GET", "POST"]),
            Route("/pay", st_pay),
            Route("/rpc", st_rpc, methods=["GET", "POST"]),
        ],
        middleware=[Middleware(RAMMiddleware, ram=ram)],
    )
    return app, console_starlette.mount_console(app, ram, title="Company X", **console_options)


# --- Flask ------------------------------------------------------------------------------------------------


def flask_app(ram: Ram, **console_options: Any) -> tuple[Flask, Console]:
    app = Flask(__name__)
    RAM(app, ram=ram)
    console = console_flask.init_console(app, ram, title="Company X", **console_options)

    @app.get("/")
    @public
    def index() -> str:
        return _page("Welcome", None)

    @app.get("/brochure")
    @public
    def brochure() -> tuple[str, dict[str, str]]:
        return _page("Brochure", None), {"cache-control": BROCHURE_CACHING}

    @app.get("/static/app.css")
    @public
    def style() -> tuple[str, dict[str, str]]:
        return STYLE, {"cache-control": STYLE_CACHING, "content-type": "text/css"}

    @app.get("/reports")
    @require("ecs:DescribeInstances", INSTANCES)
    def reports() -> str:
        return _page("Reports", g.principal)

    @app.route("/danger", methods=["GET", "POST"])
    @console_flask.require_mfa(max_age=MFA_MAX_AGE)
    @require("ecs:DeleteInstance", DANGER)
    def danger() -> str:
        return _page("Danger zone", g.principal)

    @app.get("/pay")
    @require("billing:Pay", "*")
    def pay() -> str:
        return _page("Payments", g.principal)

    @app.route("/rpc", methods=["GET", "POST"])
    @require(RPC)
    def rpc() -> str:
        return _page("RPC", g.principal)

    return app, console


def make_app(variant: str, ram: Ram, **console_options: Any) -> tuple[Any, Console]:
    """The test app of ``variant`` over ``ram``; ``console_options`` go to the console (``secret_keys``…)."""
    return flask_app(ram, **console_options) if variant == "flask" else starlette_app(ram, **console_options)


# --- mounted below a path of the host ---------------------------------------------------------------------

WAYS = ("framework", "proxy")
"""How an app comes to sit below a path: the framework mounts it (werkzeug's DispatcherMiddleware,
Starlette's ``Mount``), or a proxy strips the path and tells the server (which then receives the request
without it, the mount in ``SCRIPT_NAME`` / ``root_path``)."""


def mounted_app(variant: str, ram: Ram, mount: str, way: str) -> Any:
    """The test app below ``mount``, with ``/danger`` also at ``/ops/danger`` (a Starlette ``Mount`` inside
    the app, which adds to ``root_path`` before the endpoint runs)."""
    if variant == "flask":
        flask, _ = flask_app(ram)
        danger = flask.view_functions["danger"]
        flask.add_url_rule("/ops/danger", "ops_danger", danger, methods=["GET", "POST"])
        if way == "framework":
            return DispatcherMiddleware(NotFound(), {mount: flask})
        return _stripping_wsgi(flask, mount)
    inner, _ = starlette_app(ram)
    inner.router.routes.append(Mount("/ops", routes=[Route("/danger", st_danger, methods=["GET", "POST"])]))
    if way == "framework":
        return Starlette(routes=[Mount(mount, app=inner)])
    return _stripping_asgi(inner, mount)


def _stripping_wsgi(app: WSGIApplication, mount: str) -> WSGIApplication:
    """A proxy in front of a WSGI server: the server gets the request line without ``mount``."""

    def proxied(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if not path.startswith(mount + "/"):
            return NotFound()(environ, start_response)
        inner = path[len(mount) :]
        environ = {**environ, "SCRIPT_NAME": mount, "PATH_INFO": inner, "RAW_URI": inner}
        return app(environ, start_response)

    return proxied


def _stripping_asgi(app: ASGIApp, mount: str) -> ASGIApp:
    """A proxy in front of an ASGI server told ``root_path`` (``uvicorn --root-path``): the server gets the
    request without ``mount`` and, as the ASGI spec has it, puts ``root_path`` back in front of ``path``."""

    async def proxied(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if not path.startswith(mount + "/"):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        received = path[len(mount) :]
        server = {"path": mount + received, "raw_path": (mount + received).encode(), "root_path": mount}
        await app({**scope, **server}, receive, send)

    return proxied
