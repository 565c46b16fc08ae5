"""The console of an app that sits below a path of its host (``/app``): every redirect, form, link and
console cookie the browser sees stays under ``/app``, whether the framework mounts the app there or a
proxy strips ``/app`` and tells the server (``SCRIPT_NAME`` / ``root_path``)."""

from __future__ import annotations

import re

import httpx
import pytest

from .apps import MFA_MAX_AGE, VARIANTS, WAYS, mounted_app
from .client import Site
from .world import World

MOUNT = "/app"
HOME = "/app/console/"


@pytest.fixture(params=[(variant, way) for variant in VARIANTS for way in WAYS], ids="-".join)
def mounted(request: pytest.FixtureRequest, world: World) -> Site:
    variant, way = request.param
    return Site(variant, mounted_app(variant, world.ram, MOUNT, way), world, mount=MOUNT)


def _cookie(reply: httpx.Response, name: str) -> str:
    found = [value for value in reply.headers.get_list("set-cookie") if value.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {reply.headers.get_list('set-cookie')}"
    return found[0]


def _hidden_next(page: httpx.Response) -> str | None:
    found = re.search(r'name="next" value="([^"]*)"', page.text)
    return found.group(1) if found else None


def test_a_protected_page_sends_the_browser_to_the_logon_page_under_the_mount(mounted: Site) -> None:
    browser = mounted.client()
    reply = browser.get("/app/reports?view=all")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/app/console/logon?next=%2Fapp%2Freports%3Fview%3Dall"
    page = browser.get(reply.headers["location"])
    assert page.status_code == 200
    assert 'action="/app/console/logon"' in page.text
    assert _hidden_next(page) == "/app/reports?view=all"
    assert "Path=/app/console;" in _cookie(page, "ram_csrf")
    assert browser.get("/console/logon").status_code == 404  # nothing of the app outside its mount


def test_logon_returns_to_next_under_the_mount_and_logout_stays_there(mounted: Site) -> None:
    browser = mounted.client()
    reply = browser.logon("bob", next_url="/app/reports")
    assert reply.status_code == 303 and reply.headers["location"] == "/app/reports"
    assert "Path=/;" in _cookie(reply, "ram_session")  # the session reaches every route of the host
    assert "Path=/app/console;" in _cookie(reply, "ram_logon")  # cleared where it was set
    page = browser.get("/app/reports")
    assert page.status_code == 200 and mounted.world.arn("bob") in page.text
    home = browser.get(HOME)
    assert home.status_code == 200
    assert 'href="/app/console/password"' in home.text and 'action="/app/console/logout"' in home.text
    out = browser.submit("/app/console/logout", {})
    assert out.status_code == 303 and out.headers["location"] == "/app/console/logon?signed_out=1"
    assert browser.get("/app/reports").status_code == 303


def test_mfa_logon_and_step_up_stay_under_the_mount(mounted: Site) -> None:
    world = mounted.world
    browser = mounted.client()
    reply = browser.logon("alice", next_url="/app/ops/danger")
    assert reply.status_code == 303 and reply.headers["location"] == "/app/console/logon/mfa"
    assert "Path=/app/console;" in _cookie(reply, "ram_logon")
    assert 'action="/app/console/logon/mfa"' in browser.get("/app/console/logon/mfa").text
    done = browser.logon_mfa(world.code("alice"))
    assert done.status_code == 303 and done.headers["location"] == "/app/ops/danger"
    assert browser.get("/app/ops/danger").status_code == 200
    world.clock.advance(seconds=MFA_MAX_AGE + 60)
    # require_mfa on a route that a Mount inside the app serves: the step-up page is still the app's.
    stale = browser.get("/app/ops/danger")
    assert stale.status_code == 303
    assert stale.headers["location"] == "/app/console/mfa?next=%2Fapp%2Fops%2Fdanger"
    form = browser.get(stale.headers["location"])
    assert 'action="/app/console/mfa"' in form.text and _hidden_next(form) == "/app/ops/danger"
    stepped = browser.submit(
        "/app/console/mfa",
        {"code": world.code("alice"), "next": "/app/ops/danger"},
        stale.headers["location"],
    )
    assert stepped.status_code == 303 and stepped.headers["location"] == "/app/ops/danger"
    assert browser.get("/app/ops/danger").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "/reports",
        "/apple",
        "/app/../reports",
        "/app/%2E%2E/reports",
        "//evil.example",
        "https://evil.example/app/",
    ],
)
def test_next_outside_the_mount_goes_to_the_console_home(mounted: Site, target: str) -> None:
    reply = mounted.client().logon("bob", next_url=target)
    assert reply.status_code == 303 and reply.headers["location"] == HOME
