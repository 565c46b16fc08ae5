"""A console session on a websocket handshake: browsers send the cookie with every handshake, whichever page
opens the socket (a websocket has no CORS), so another site's page must not get a socket that acts as the
signed-in user (cross-site websocket hijacking). The handshake is a GET, but it opens a channel both ways:
it is held to the same-site test as a state-changing request."""

from __future__ import annotations

import pytest
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from ram_middleware.adapters.starlette import current_principal, ram_route
from ram_middleware.errors import CrossSiteRequest
from tests.adapters.harness import websocket_denial_class

from .apps import make_app
from .client import Browser, Site
from .world import World


@ram_route("ecs:DescribeInstances", "*")
async def feed(websocket: WebSocket) -> None:
    await websocket.accept()
    principal = current_principal(websocket)
    await websocket.send_json({"who": principal.arn if principal else None})
    await websocket.close()


@pytest.fixture
def bob(world: World) -> tuple[Site, Browser]:
    """The Starlette app with a protected websocket, and bob signed in to its console."""
    app, _ = make_app("starlette", world.ram)
    app.router.routes.append(WebSocketRoute("/feed", feed))
    site = Site("starlette", app, world)
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    return site, browser


def _open(browser: Browser, headers: dict[str, str]) -> dict[str, str]:
    cookie = {"cookie": f"ram_session={browser.session}"}
    with browser.http.websocket_connect("/feed", headers={**headers, **cookie}) as ws:  # type: ignore[attr-defined]
        return dict(ws.receive_json())


def test_the_sites_own_page_opens_a_websocket_on_the_session(bob: tuple[Site, Browser]) -> None:
    site, browser = bob
    for headers in ({"origin": browser.origin, "sec-fetch-site": "same-origin"}, {"origin": browser.origin}):
        assert _open(browser, headers) == {"who": f"acs:ram::{site.world.account_id}:user/bob"}


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        {"origin": "http://files.testserver", "sec-fetch-site": "same-site"},  # a sibling subdomain
        {"origin": "https://evil.example"},  # a browser from before Fetch Metadata
        {},  # neither (every browser sends Origin on a handshake): fail closed
    ],
)
def test_another_sites_page_gets_no_websocket_on_the_session(
    bob: tuple[Site, Browser], headers: dict[str, str]
) -> None:
    site, browser = bob
    with pytest.raises(websocket_denial_class()) as denied:
        _open(browser, headers)
    error = denied.value.json()
    assert (denied.value.status_code, error["Code"], error["Message"]) == (
        403, "NoPermission", CrossSiteRequest.default_message
    )  # fmt: skip
    event = site.world.audit.events[-1]
    assert (event.decision, event.principal_arn) == ("Rejected", None)
    # Refused, not signed out: the session goes on working on the site's own pages.
    assert browser.get("/reports").status_code == 200
