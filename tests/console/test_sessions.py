"""Session cookies over HTTP on both apps: tampering, forgery, logout replay, rotation, timeouts, refresh."""

from __future__ import annotations

import base64
import json
import zlib

import httpx
import pytest

from ram_middleware.console.web import private_cache_control
from ram_middleware.credentials.preference import SecurityPreference
from ram_middleware.credentials.session import BrowserSessions
from ram_middleware.guard import MemoryGuard

from .apps import BROCHURE_CACHING
from .client import JSON, Browser, Site
from .world import PASSWORD

REPORTS = "/reports"


def _signed_in(site: Site, user: str = "bob") -> Browser:
    browser = site.client()
    assert browser.logon(user).status_code == 303
    if user == "alice":  # her MFA device is bound
        assert browser.logon_mfa(site.world.code("alice")).status_code == 303
    assert browser.session
    return browser


def _refused_for_browser(reply: httpx.Response) -> None:
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/logon?next=%2Freports"
    cleared = [c for c in reply.headers.get_list("set-cookie") if c.startswith("ram_session=;")]
    assert cleared and "Max-Age=0" in cleared[0]


def _payload(cookie: str) -> dict[str, object]:
    compressed = cookie.startswith(".")
    data = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    loaded: dict[str, object] = json.loads(zlib.decompress(raw) if compressed else raw)
    return loaded


def test_tampered_cookie_is_refused(site: Site) -> None:
    browser = _signed_in(site)
    cookie = browser.session
    assert cookie is not None
    payload, signature = cookie.rsplit(".", 1)
    claims = _payload(cookie)
    claims["u"] = "alice"  # claim to be someone else, keep the old signature
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]  # the first character is all data bits
    forgeries = (f"{body}.{signature}", f"{payload}.{flipped}", cookie + "x", "garbage", "x" * 5000)
    for forged in forgeries:
        _refused_for_browser(browser.with_session(REPORTS, forged))
        api = browser.with_session(REPORTS, forged, JSON)
        assert api.status_code == 401 and api.json()["Code"].startswith("InvalidSession")
    assert browser.with_session(REPORTS, cookie).status_code == 200  # the genuine one still works


def test_cookie_signed_with_another_key_is_refused(site: Site) -> None:
    world = site.world
    other = BrowserSessions([b"k" * 32], MemoryGuard(), clock=world.clock)
    _, forged = other.issue(world.account_id, "alice", lifetime=3600, mfa_time=world.clock.now)
    _refused_for_browser(site.client().with_session(REPORTS, forged))


def test_replayed_logout_cookie_is_refused(site: Site) -> None:
    browser = _signed_in(site)
    cookie = browser.session
    assert cookie is not None
    out = browser.submit("/console/logout", {}, form_page="/console/")
    assert out.status_code == 303 and out.headers["location"] == "/console/logon?signed_out=1"
    assert browser.session is None
    _refused_for_browser(browser.with_session(REPORTS, cookie))
    replay = browser.with_session(REPORTS, cookie, JSON)
    assert replay.status_code == 401 and replay.json()["Code"] == "InvalidSession.Revoked"


def test_logout_needs_the_csrf_token(site: Site) -> None:
    browser = _signed_in(site)
    browser.get("/console/")
    refused = browser.post("/console/logout", {})
    assert refused.status_code == 403
    assert browser.get(REPORTS).status_code == 200  # still signed in


def test_logon_gives_a_new_session_id_and_revokes_the_old_one(site: Site) -> None:
    browser = _signed_in(site)
    first = browser.session
    assert first is not None
    browser.logon("bob")
    second = browser.session
    assert second is not None and second != first
    assert _payload(first)["sid"] != _payload(second)["sid"]
    assert browser.with_session(REPORTS, first, JSON).json()["Code"] == "InvalidSession.Revoked"
    assert browser.with_session(REPORTS, second).status_code == 200


def test_idle_timeout_and_rolling_refresh(site: Site) -> None:
    clock = site.world.clock
    browser = _signed_in(site)
    first = browser.session
    clock.advance(minutes=2)
    renewed = browser.get(REPORTS)
    assert renewed.status_code == 200
    assert any(c.startswith("ram_session=") for c in renewed.headers.get_list("set-cookie"))
    second = browser.session
    assert second != first and _payload(second or "")["sid"] == _payload(first or "")["sid"]
    clock.advance(minutes=29)  # 31 minutes after logon, 29 after the last request
    assert browser.get(REPORTS).status_code == 200
    clock.advance(minutes=31)
    expired = browser.get(REPORTS, headers=JSON)
    assert expired.status_code == 401 and expired.json()["Code"] == "InvalidSession.Expired"


def test_no_refresh_before_it_is_due(site: Site) -> None:
    browser = _signed_in(site)
    reply = browser.get(REPORTS)
    assert not any(c.startswith("ram_session=") for c in reply.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    ("path", "caching"),
    [(REPORTS, "private"), ("/static/app.css", "private, no-cache"), ("/brochure", BROCHURE_CACHING)],
)
def test_a_renewed_session_cookie_is_kept_out_of_shared_caches(site: Site, path: str, caching: str) -> None:
    # A CDN or caching proxy may store a response with its Set-Cookie and give the next visitor this
    # session: the renewal comes only on a response marked private, and never on one meant for such caches.
    browser = _signed_in(site)
    site.world.clock.advance(minutes=2)
    reply = browser.get(path)
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == caching
    renewed = any(c.startswith("ram_session=") for c in reply.headers.get_list("set-cookie"))
    assert renewed is (path != "/brochure")
    if not renewed:  # the session goes on, renewed by the next private response
        assert any(c.startswith("ram_session=") for c in browser.get(REPORTS).headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (None, "private"),
        ("", "private"),
        ("no-store", "no-store"),
        ("Private, max-age=60", "Private, max-age=60"),
        ("max-age=60", "private, max-age=60"),
        ('private="Authorization"', 'private, private="Authorization"'),
        ("PUBLIC", None),
        ("max-age=0, s-maxage=600", None),
    ],
)
def test_the_cache_control_a_session_cookie_travels_with(given: str | None, sent: str | None) -> None:
    assert private_cache_control(given) == sent


def test_absolute_timeout_from_login_session_duration(site: Site) -> None:
    world = site.world
    world.ram.service.set_security_preference(world.account_id, SecurityPreference(login_session_duration=1))
    browser = _signed_in(site)
    for _ in range(3):  # active all along: the idle timeout never strikes
        world.clock.advance(minutes=19)
        assert browser.get(REPORTS).status_code == 200
    world.clock.advance(minutes=4)  # 61 minutes after logon
    expired = browser.get(REPORTS, headers=JSON)
    assert expired.status_code == 401 and expired.json()["Code"] == "InvalidSession.Expired"


def test_deleted_user_loses_the_session_at_once(site: Site) -> None:
    world = site.world
    service = world.ram.service
    service.create_user(world.account_id, "erin")
    service.create_login_profile(world.account_id, "erin", PASSWORD)
    service.attach_policy_to_user(world.account_id, "System", "AliyunECSReadOnlyAccess", "erin")
    browser = _signed_in(site, "erin")
    assert browser.get(REPORTS).status_code == 200
    service.detach_policy_from_user(world.account_id, "System", "AliyunECSReadOnlyAccess", "erin")
    assert browser.get(REPORTS).status_code == 403  # policy changes reach live sessions
    service.delete_login_profile(world.account_id, "erin")
    service.delete_user(world.account_id, "erin")
    gone = browser.get(REPORTS, headers=JSON)
    assert gone.status_code == 401 and gone.json()["Code"] == "InvalidSession"


def test_console_pages_need_a_session(site: Site) -> None:
    browser = site.client()
    for page in ("/console/", "/console/password", "/console/mfa-device", "/console/access-keys"):
        reply = browser.get(page)
        assert reply.status_code == 303
        assert reply.headers["location"].startswith("/console/logon?next=%2Fconsole%2F")
