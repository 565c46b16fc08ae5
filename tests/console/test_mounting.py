"""How the console attaches to apps and runtimes: hooks, mounts, methods, escaping, misconfiguration."""

from __future__ import annotations

import httpx
import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from ram_middleware import errors
from ram_middleware.adapters.flask import RAM
from ram_middleware.console import Console
from ram_middleware.console.flask import init_console
from ram_middleware.console.starlette import console_routes, require_mfa

from .client import HTML, Site
from .world import World


def test_console_installs_its_hooks_into_the_runtime(world: World) -> None:
    assert world.ram.authenticator.session_authenticator is None
    assert world.ram.authorizer.refusals is None
    console = Console(world.ram)
    assert world.ram.authenticator.session_authenticator is console.kit.session_auth
    assert world.ram.authorizer.refusals is console.refusals
    with pytest.raises(errors.InvalidParameter):
        Console(world.ram, prefix="console/")
    with pytest.raises(errors.InvalidParameter):
        Console(world.ram, secret_keys=["too short"])


@pytest.mark.parametrize("one_key", ["k" * 40, b"k" * 40])
def test_one_key_given_instead_of_a_list_is_refused_at_start(world: World, one_key: str | bytes) -> None:
    """``secret_keys=key`` rather than ``[key]``: bytes were read as numbers, each becoming that many zero
    bytes — a key anyone could sign a root session with; text was refused as too short, though it is not."""
    for given in (one_key, [one_key, 42]):
        with pytest.raises(errors.InvalidParameter) as refused:
            Console(world.ram, secret_keys=given)  # type: ignore[arg-type]
        assert "list of keys" in refused.value.message


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), 0, -60, 0.5])
def test_a_logon_timeout_no_logon_could_use_is_refused_at_start(world: World, seconds: float) -> None:
    """It was taken, then every logon failed: a 500 for an infinite or NaN one (the logon step cookie's
    Max-Age), "took too long" at the MFA step for one under a second (the cookie gone at once)."""
    with pytest.raises(errors.InvalidParameter) as refused:
        Console(world.ram, logon_timeout=seconds)
    assert "logon_timeout" in refused.value.message


def test_flask_console_uses_the_extensions_runtime(world: World) -> None:
    app = Flask(__name__)
    RAM(app, ram=world.ram)
    console = init_console(app, prefix="/people")
    assert console.ram is world.ram and app.extensions["ram_console"] is console
    client = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")
    assert client.get("/people/logon", headers=HTML).status_code == 200


def test_starlette_routes_from_a_runtime(world: World) -> None:
    mount = console_routes(world.ram, prefix="/people")
    assert isinstance(mount, Mount) and mount.path == "/people"
    names = {getattr(route, "name", None) for route in mount.routes}
    assert names >= {"logon", "logon_mfa", "stepup", "logout", "home"}


def test_require_mfa_without_a_console_is_a_programming_error(world: World) -> None:
    @require_mfa(max_age=60)
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("never")

    app = Starlette(routes=[Route("/x", endpoint)])
    from .client import _test_client

    with pytest.raises(RuntimeError, match="mount_console"):
        _test_client(app, "http://testserver").get("/x")


def test_unsupported_methods_and_head(site: Site) -> None:
    browser = site.client()
    put = browser.http.put("/console/logon", headers=HTML)
    # The framework answers 405 itself, the request decided first by the path's rule (public here).
    assert put.status_code == 405
    assert browser.http.head("/console/logon", headers=HTML).status_code == 200


def test_form_values_are_escaped(site: Site) -> None:
    browser = site.client()
    reply = browser.logon("bob", "Wrong-passw0rd!", account='"><script>alert(1)</script>')
    assert reply.status_code == 401
    assert "<script>alert(1)</script>" not in reply.text and "&lt;script&gt;" in reply.text


def test_oversized_form_is_refused(site: Site) -> None:
    browser = site.client()
    token = browser.token("/console/logon")
    reply = browser.post("/console/logon", {"csrf_token": token, "password": "x" * 20000})
    assert reply.status_code == 413


def test_the_apis_beside_the_console_refuse_its_session_cookie(world: World) -> None:
    """Under ``ram serve`` a console session must not drive the RAM API: a cross-site page could send the
    browser (cookie included, SameSite=Lax) to ``/?Action=...`` by GET, which changes state in RPC."""
    from ram_middleware.api.app import create_app

    service, account = world.ram.service, world.account_id
    service.attach_policy_to_user(account, "System", "AliyunRAMFullAccess", "bob")
    browser = Site("starlette", create_app(world.ram), world).client()
    assert browser.logon("bob").status_code == 303 and browser.session
    assert browser.get("/console/").status_code == 200
    cross_site = {**HTML, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    for headers in (cross_site, HTML):
        call = browser.get("/?Action=CreateUser&Version=2015-05-01&UserName=mallory", headers=headers)
        assert call.status_code == 401 and call.json()["Code"] == "MissingAuthentication"
    assert "mallory" not in {user.user_name for user in service.list_users(account).items}
    assert browser.get("/console/").status_code == 200  # the session itself still works for the console


def test_console_pages_without_jinja2_name_the_extra(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "jinja2", None)  # as if not installed
    with pytest.raises(errors.MissingDependency) as missing:
        console_routes(world.ram)
    assert "'jinja2'" in missing.value.message and "ram-middleware[console]" in missing.value.message
