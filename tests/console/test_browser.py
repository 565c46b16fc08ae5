"""The whole console flow in a real browser: Debian's Chromium driven by Playwright, on both apps.

logon → TOTP → protected page → step-up on a sensitive route → logout (and the logout cookie replayed),
plus a first logon that must bind an MFA device. The apps run on real servers on 127.0.0.1 (uvicorn for
Starlette, wsgiref for Flask). Screenshots of every page go to ``test-artifacts/console/<variant>/``.

Chromium must be Debian's package (Playwright's own download does not work here); the README's test
command installs it (``apt-get install -y chromium``) when it can. Without it the test skips, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from ..services import require
from .apps import VARIANTS, make_app
from .live import serve_asgi, serve_wsgi
from .world import ALIAS, PASSWORD, World

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

pytestmark = pytest.mark.timeout(120)


def _playwright_ready() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM.exists()


@pytest.fixture
def chromium() -> Iterator[Any]:
    require(_playwright_ready(), "Debian's Chromium (/usr/bin/chromium) driven by Playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(params=VARIANTS)
def live(request: pytest.FixtureRequest, world: World) -> Iterator[tuple[str, str]]:
    """(variant, base URL) of the test app on a real server."""
    app, _ = make_app(request.param, world.ram)
    serve: AbstractContextManager[str] = serve_wsgi(app) if request.param == "flask" else serve_asgi(app)
    with serve as base:
        yield request.param, base


class Shots:
    """Numbered full-page screenshots for one variant."""

    def __init__(self, variant: str, scenario: str) -> None:
        self.folder = ARTIFACTS / variant / scenario
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def take(self, page: Any, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def _totp(world: World, who: str) -> pyotp.TOTP:
    return pyotp.TOTP(world.seeds[who])


def _submit_password(page: Any, user_name: str) -> None:
    """Fill in the logon page's first step (account alias, user, password) and send it."""
    page.fill("#account", ALIAS)
    page.fill("#user_name", user_name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def _focus_lands_on(page: Any, element_id: str) -> None:
    """Autofocus applies once the page has loaded, which can be after the URL changed: wait for it."""
    page.wait_for_function(
        "id => document.activeElement !== null && document.activeElement.id === id",
        arg=element_id,
        timeout=5000,
    )
    assert page.evaluate("document.activeElement.id") == element_id


def test_logon_totp_protected_step_up_logout(chromium: Any, live: tuple[str, str], world: World) -> None:
    variant, base = live
    shots = Shots(variant, "flow")
    context = chromium.new_context()
    page = context.new_page()
    alice = _totp(world, "alice")

    page.goto(f"{base}/reports")
    page.wait_for_url(f"{base}/console/logon?next=%2Freports")
    _focus_lands_on(page, "account")  # focus starts on the first field
    shots.take(page, "logon")

    _submit_password(page, "alice")
    page.wait_for_url(f"{base}/console/logon/mfa")
    _focus_lands_on(page, "code")
    shots.take(page, "totp")

    page.fill("#code", "000000" if alice.at(world.clock.now) != "000000" else "111111")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text().startswith("The MFA authentication code is incorrect")
    shots.take(page, "totp-wrong-code")

    page.fill("#code", alice.at(world.clock.now))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/reports")
    assert page.inner_text("#who") == world.arn("alice") and page.inner_text("#mfa") == "true"
    shots.take(page, "protected-page")

    world.clock.advance(minutes=6)  # the logon MFA is now older than the route's max_age (300 s)
    page.goto(f"{base}/danger")
    page.wait_for_url(f"{base}/console/mfa?next=%2Fdanger")
    assert "needs a recent MFA check" in page.inner_text("main")
    shots.take(page, "step-up")

    page.fill("#code", alice.at(world.clock.now))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/danger")
    assert page.inner_text("h1") == "Danger zone"
    shots.take(page, "sensitive-page")

    page.goto(f"{base}/console/")
    assert page.inner_text("#mfa-state") == "yes"
    shots.take(page, "account-home")
    session = next(c for c in context.cookies() if c["name"] == "ram_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/console/logon?signed_out=1")
    assert page.get_by_role("status").inner_text() == "You have signed out."
    shots.take(page, "signed-out")

    context.add_cookies([session])  # the cookie from before the logout, replayed
    page.goto(f"{base}/reports")
    page.wait_for_url(f"{base}/console/logon?next=%2Freports")
    shots.take(page, "replayed-cookie-refused")
    context.close()


def test_first_logon_binds_an_mfa_device(chromium: Any, live: tuple[str, str], world: World) -> None:
    variant, base = live
    shots = Shots(variant, "bind")
    context = chromium.new_context()
    page = context.new_page()

    page.goto(f"{base}/console/logon")
    _submit_password(page, "carol")
    page.wait_for_url(f"{base}/console/logon/bind")
    assert page.locator("div.qr svg").is_visible()
    shots.take(page, "bind-qr-code")

    carol = pyotp.TOTP(page.inner_text("#seed").replace(" ", ""))
    now = world.clock.now
    page.fill("#code1", carol.at(now - timedelta(seconds=30)))
    page.fill("#code2", carol.at(now))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")
    assert page.inner_text("#mfa-state") == "yes"
    shots.take(page, "bound-home")
    context.close()


def test_back_after_logout_shows_no_page_of_the_session(
    chromium: Any, live: tuple[str, str], world: World
) -> None:
    """On a shared computer, the next person pressing Back after a logout must not see the pages the
    signed-in user saw (the app's pages may be cached by the browser): the browser asks the server again,
    which sends it to the logon page."""
    _, base = live
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{base}/reports")
    _submit_password(page, "bob")
    page.wait_for_url(f"{base}/reports")
    assert page.inner_text("#who") == world.arn("bob")
    page.goto(f"{base}/console/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/console/logon?signed_out=1")

    page.go_back()  # the account page
    assert page.url == f"{base}/console/logon?next=%2Fconsole%2F"
    page.go_back()  # the app's page
    assert page.url == f"{base}/console/logon?next=%2Freports"
    assert world.arn("bob") not in page.content()
    context.close()


def _without_fetch_metadata(route: Any) -> None:
    """Send the browser's POSTs as a browser from before Fetch Metadata would: with the Origin and Referer
    Chromium sets, but no ``Sec-Fetch-*`` (which Chromium adds below any interception, so the request is
    sent from the context itself, with its cookies; the redirect is left to the page)."""
    request = route.request
    if request.method != "POST":
        route.continue_()
        return
    headers = {name: value for name, value in request.headers.items() if not name.startswith("sec-fetch-")}
    route.fulfill(response=route.fetch(headers=headers, max_redirects=0))


def _form_posting_to(target: str) -> Any:
    """A WSGI app whose one page is a form posting to ``target`` (another origin's page)."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = f'<form method="post" action="{target}"><button id="go">Go</button></form>'.encode()
        start_response("200 OK", [("content-type", "text/html"), ("content-length", str(len(body)))])
        return [body]

    return app


def test_without_fetch_metadata_only_this_origin_posts(
    chromium: Any, live: tuple[str, str], world: World
) -> None:
    """A browser without ``Sec-Fetch-Site``: its own forms post (their Origin is the site's), while another
    origin of the same site (another port: SameSite=Lax sends the cookie along) is refused, and the session
    goes on."""
    _, base = live
    context = chromium.new_context()
    context.route("**/*", _without_fetch_metadata)
    page = context.new_page()
    page.goto(f"{base}/console/logon?next=%2Fdanger")
    _submit_password(page, "alice")
    page.wait_for_url(f"{base}/console/logon/mfa")
    page.fill("#code", _totp(world, "alice").at(world.clock.now))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/danger")

    with serve_wsgi(_form_posting_to(f"{base}/danger")) as other:
        assert other != base and other.startswith("http://127.0.0.1:")  # same site, another origin
        page.goto(other)
        with page.expect_navigation() as posted:
            page.click("#go")
        refused = posted.value
        assert refused is not None and refused.status == 403
        assert "only from this site" in page.inner_text("main")

    page.goto(f"{base}/reports")  # still signed in: refused, not signed out
    assert page.inner_text("#who") == world.arn("alice")
    page.evaluate(  # a form of this origin's own page
        """() => { const form = document.createElement("form"); form.method = "post";
                   form.action = "/danger"; document.body.append(form); form.submit(); }"""
    )
    page.wait_for_url(f"{base}/danger")
    assert page.inner_text("h1") == "Danger zone"
    context.close()
