"""Rotating the console's ``secret_keys`` across instances that share a store and a guard.

Each instance is a runtime of its own on one SQLite file and one Redis guard, serving the test app with the
key list its operator gave it, as a load balancer would send one browser to either. The browser's cookies go
with it from one instance to the next; forms it was shown are posted to whichever instance comes next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ram_middleware.config import Ram, RamConfig, build
from tests.scaleout.servers import redis_guard_url

from .apps import VARIANTS, make_app
from .client import Browser, Site
from .world import PASSWORD, World, make_world

pytestmark = pytest.mark.redis

OLD = "the-console-key-before-rotation-0001"
NEW = "the-console-key-after-rotation-00002"
_ALERT = re.compile(r'role="alert"[^>]*>\s*(.*?)\s*<', re.S)


@dataclass
class Instances:
    """Instances of one app variant over a shared store and guard, each with its own console keys."""

    variant: str
    world: World
    store_url: str
    guard_url: str
    runtimes: list[Ram] = field(default_factory=list)

    def start(self, *keys: str) -> Site:
        """A new instance whose console has ``keys`` (newest first)."""
        config = RamConfig(
            store_url=self.store_url, guard_url=self.guard_url, clock=self.world.clock, audit=self.world.audit
        )
        ram = build(config)
        self.runtimes.append(ram)
        app, _ = make_app(self.variant, ram, secret_keys=list(keys))
        return Site(self.variant, app, self.world)


@pytest.fixture(params=VARIANTS)
def instances(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Instances]:
    with redis_guard_url() as guard_url:
        store_url = f"sqlite:///{tmp_path / 'ram.db'}"
        world = make_world(store_url=store_url, guard_url=guard_url)
        made = Instances(request.param, world, store_url, guard_url)
        try:
            yield made
        finally:
            for ram in made.runtimes:
                ram.close()
            world.ram.close()


def to(site: Site, browser: Browser) -> Browser:
    """``browser`` (its cookies) as it reaches ``site`` next."""
    moved = site.client()
    moved.http.cookies.update(browser.http.cookies)
    return moved


def logon_form(token: str, user: str) -> dict[str, str]:
    return {"csrf_token": token, "account": "company-x", "user_name": user, "password": PASSWORD, "next": ""}


def test_forms_logons_and_sessions_from_before_a_rotation_go_on_after_it(instances: Instances) -> None:
    """The new key listed first, the old one second: what the old key signed keeps working."""
    before, after = instances.start(OLD), instances.start(NEW, OLD)
    world = instances.world
    # A logon form shown before the rotation, submitted after it.
    browser = before.client()
    token = browser.token("/console/logon")
    signed_in = to(after, browser).post("/console/logon", logon_form(token, "bob"))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/"
    # A logon half done (password proved, MFA code to give) on its MFA form.
    browser = before.client()
    assert browser.logon("alice").headers["location"] == "/console/logon/mfa"
    token = browser.token("/console/logon/mfa")
    browser = to(after, browser)
    finished = browser.post("/console/logon/mfa", {"csrf_token": token, "code": world.code("alice")})
    assert finished.status_code == 303 and browser.session is not None
    # A session from before, and a form shown to it (the logout button), used after.
    browser = before.client()
    assert browser.logon("bob").status_code == 303
    token = browser.token("/console/")
    browser = to(after, browser)
    assert browser.get("/reports").status_code == 200
    logout = browser.post("/console/logout", {"csrf_token": token})
    assert logout.status_code == 303 and browser.session is None


def test_once_the_old_key_is_removed_its_cookies_and_forms_start_again_cleanly(instances: Instances) -> None:
    before, after = instances.start(OLD), instances.start(NEW)
    # A session: back to the logon page, the cookie cleared.
    browser = before.client()
    assert browser.logon("bob").status_code == 303
    browser = to(after, browser)
    refused = browser.get("/console/")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/console/logon")
    assert browser.session is None
    # A logon half done: it starts again, saying why.
    browser = before.client()
    browser.logon("alice")
    browser = to(after, browser)
    restart = browser.get("/console/logon/mfa")
    assert restart.status_code == 303 and restart.headers["location"] == "/console/logon?expired=1"
    assert "took too long or was interrupted" in browser.get(restart.headers["location"]).text
    # A form: refused with a page that says to reload it.
    browser = before.client()
    token = browser.token("/console/logon")
    refused = to(after, browser).post("/console/logon", logon_form(token, "bob"))
    assert refused.status_code == 403 and "Reload the page and try again" in refused.text


def _session_moves(first: Site, second: Site) -> httpx.Response:
    """A logon on ``first``, then its session on ``second``."""
    browser = first.client()
    assert browser.logon("bob").status_code == 303
    return to(second, browser).get("/reports")


def test_a_rolling_rotation_lists_the_new_key_second_everywhere_before_it_signs(instances: Instances) -> None:
    """README: instances upgraded one by one each see the other's cookies only while every instance lists
    the key that signs. Listing the new key second first (it verifies, the old key still signs), then
    first, keeps every browser signed in; listing it first on one instance at once does not."""
    old = instances.start(OLD)
    listed = instances.start(OLD, NEW)
    assert _session_moves(old, listed).status_code == 200
    assert _session_moves(listed, old).status_code == 200
    signing = instances.start(NEW, OLD)
    assert _session_moves(listed, signing).status_code == 200
    assert _session_moves(signing, listed).status_code == 200
    # Skipping the first step: the old instance does not know the new key and signs the browser out.
    refused = _session_moves(signing, old)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/console/logon")
