"""A password change or a removed login profile ends the identity's other console sessions, on both apps.

The world's clock stands still unless a test moves it, so every logon and change below happens in the same
second: the sessions must be told apart by the password they proved, not by their whole-second times.
"""

from __future__ import annotations

import httpx

from .client import JSON, Browser, Site
from .world import PASSWORD, ROOT_PASSWORD

REPORTS = "/reports"
NEW_PASSWORD = "An0ther-Secret!"
CHANGE = {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}


def _signed_in(site: Site, user: str = "bob", password: str = PASSWORD) -> Browser:
    browser = site.client()
    assert browser.logon(user, password).status_code == 303
    if user in ("alice", ""):  # alice's and the root's MFA devices are bound
        assert browser.logon_mfa(site.world.code(user or "root")).status_code == 303
    assert browser.session and browser.get(REPORTS).status_code == 200
    return browser


def _ended(browser: Browser, message: str) -> None:
    """The browser's session is refused: 401 InvalidSession.Revoked for an API call, logon for a page."""
    api = browser.get(REPORTS, headers=JSON)
    assert api.status_code == 401, api.text
    assert api.json()["Code"] == "InvalidSession.Revoked" and message in api.json()["Message"]
    page = browser.get(REPORTS)
    assert page.status_code == 303 and page.headers["location"] == "/console/logon?next=%2Freports"


def _logs_on(site: Site, user: str, password: str) -> bool:
    reply = site.client().logon(user, password)
    return reply.status_code == 303 and reply.headers["location"] != "/console/logon"


def test_own_change_keeps_this_session_and_ends_the_others(site: Site) -> None:
    first, second, alice = _signed_in(site), _signed_in(site), _signed_in(site, "alice")
    before = first.session
    done = first.submit("/console/password", CHANGE)
    assert done.status_code == 200 and "Your password was changed" in done.text
    assert first.session != before  # re-issued: new id, the new password, authentication time now
    assert first.get(REPORTS).status_code == 200
    assert first.get("/console/").status_code == 200
    _ended(second, "password was changed")
    assert first.with_session(REPORTS, before or "", JSON).status_code == 401  # the pre-change cookie
    assert alice.get(REPORTS).status_code == 200  # another user's session is untouched
    assert _logs_on(site, "bob", NEW_PASSWORD) and not _logs_on(site, "bob", PASSWORD)
    assert _signed_in(site, "bob", NEW_PASSWORD).get(REPORTS).status_code == 200


def test_administrator_reset_ends_every_session(site: Site) -> None:
    world = site.world
    first, second, alice = _signed_in(site), _signed_in(site), _signed_in(site, "alice")
    world.ram.service.update_login_profile(world.account_id, "bob", password=NEW_PASSWORD)
    _ended(first, "password was changed")
    _ended(second, "password was changed")
    assert alice.get(REPORTS).status_code == 200
    assert _signed_in(site, "bob", NEW_PASSWORD).get(REPORTS).status_code == 200


def test_flag_only_profile_update_keeps_sessions(site: Site) -> None:
    world = site.world
    bob = _signed_in(site)
    world.ram.service.update_login_profile(world.account_id, "bob", mfa_bind_required=True)
    assert bob.get(REPORTS).status_code == 200


def test_removed_console_access_ends_every_session(site: Site) -> None:
    world = site.world
    first, second, alice = _signed_in(site), _signed_in(site), _signed_in(site, "alice")
    cookie = first.session or ""
    world.ram.service.delete_login_profile(world.account_id, "bob")
    _ended(first, "Console access was removed")
    _ended(second, "Console access was removed")
    assert alice.get(REPORTS).status_code == 200
    assert not _logs_on(site, "bob", PASSWORD)
    # A new login profile is a new password (a new PasswordChangedDate): the old sessions stay ended.
    world.clock.advance(milliseconds=1)
    world.ram.service.create_login_profile(world.account_id, "bob", NEW_PASSWORD)
    again = first.with_session(REPORTS, cookie, JSON)
    assert again.status_code == 401 and again.json()["Code"] == "InvalidSession.Revoked"
    assert _signed_in(site, "bob", NEW_PASSWORD).get(REPORTS).status_code == 200


def test_root_password_change_ends_root_sessions(site: Site) -> None:
    world = site.world
    root, bob = _signed_in(site, "", ROOT_PASSWORD), _signed_in(site)
    world.ram.service.set_root_password(world.account_id, "N3w-R00t-Rests!")
    _ended(root, "password was changed")
    assert bob.get(REPORTS).status_code == 200


def test_password_changed_during_the_logon_restarts_it(site: Site) -> None:
    world = site.world
    browser = site.client()
    assert browser.logon("alice").headers["location"] == "/console/logon/mfa"
    world.ram.service.update_login_profile(world.account_id, "alice", password=NEW_PASSWORD)
    reply = browser.logon_mfa(world.code("alice"))
    assert reply.status_code == 303 and reply.headers["location"] == "/console/logon?expired=1"
    assert browser.session is None


def test_forced_new_password_at_logon_gives_a_working_session(site: Site) -> None:
    browser = site.client()
    assert browser.logon("dave").headers["location"] == "/console/logon/password"
    data = {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    set_new: httpx.Response = browser.submit("/console/logon/password", data)
    assert set_new.status_code == 303 and browser.session
    home = browser.get("/console/")
    assert home.status_code == 200 and "dave@company-x" in home.text
