"""Binding or unbinding an identity's MFA device ends its other console sessions, on both apps.

After a lost phone is unbound, no session signed in with it may still count as MFA (``acs:MFAPresent``,
``require_mfa``); the sessions end, as after a password change. The browser that changed its own device
stays signed in, without MFA. alice and the root have devices; bob has none (``world.py``).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp

from .client import JSON, Browser, Site
from .test_password_ends_sessions import REPORTS, _ended, _signed_in
from .test_selfservice import _binding
from .world import PASSWORD, ROOT_PASSWORD

MESSAGE = "MFA device was changed"


def _alice(site: Site) -> Browser:
    """alice signed in with MFA; the clock then moves on, so the next logon has a fresh code."""
    browser = _signed_in(site, "alice")
    site.world.clock.advance(seconds=30)
    return browser


def _mfa_pages_pass(browser: Browser) -> bool:
    """Whether the session counts as MFA: the PayWithMFA policy and ``require_mfa`` both let it through."""
    return browser.get("/pay").status_code == 200 and browser.get("/danger").status_code == 200


def test_an_administrator_unbinding_a_lost_device_ends_the_sessions_made_with_it(site: Site) -> None:
    world = site.world
    first, second, bob = _alice(site), _alice(site), _signed_in(site)
    assert _mfa_pages_pass(first) and _mfa_pages_pass(second)
    serial = world.ram.service.get_user_mfa_info(world.account_id, "alice").serial_number
    world.ram.service.unbind_mfa_device(world.account_id, "alice")
    world.ram.service.delete_virtual_mfa_device(world.account_id, serial)
    _ended(first, MESSAGE)
    _ended(second, MESSAGE)
    for page in ("/pay", "/danger"):
        assert second.get(page).headers["location"].startswith("/console/logon")
    assert bob.get(REPORTS).status_code == 200  # another user's session is untouched
    again = site.client()
    assert again.logon("alice").headers["location"] == "/console/"  # no device now: the password alone
    assert again.get("/pay").headers["location"] == "/console/mfa?next=%2Fpay"


def test_unbinding_the_root_device_ends_the_root_sessions(site: Site) -> None:
    world = site.world
    root = _signed_in(site, "", ROOT_PASSWORD)
    world.ram.service.unbind_root_mfa_device(world.account_id)
    _ended(root, MESSAGE)


def test_own_unbinding_ends_the_other_sessions_and_this_one_keeps_no_mfa(site: Site) -> None:
    world = site.world
    here, elsewhere = _alice(site), _alice(site)
    before = here.session or ""
    removed = here.submit("/console/mfa-device", {"action": "unbind", "code": world.code("alice")})
    assert removed.status_code == 200 and "was removed" in removed.text
    assert here.get(REPORTS).status_code == 200  # still signed in …
    assert here.get("/pay").headers["location"] == "/console/mfa?next=%2Fpay"  # … without MFA
    assert '<dd id="mfa-state">no</dd>' in here.get("/console/").text
    _ended(elsewhere, MESSAGE)
    refused = here.with_session(REPORTS, before, JSON)  # the cookie from before the unbinding
    assert refused.status_code == 401 and refused.json()["Code"] == "InvalidSession.Revoked"


def test_binding_ends_the_other_password_only_sessions(site: Site) -> None:
    world = site.world
    here, elsewhere = _signed_in(site), _signed_in(site)
    totp, form = _binding(here)
    now = world.clock.now
    codes = {"code1": totp.at(now - timedelta(seconds=30)), "code2": totp.at(now)}
    assert here.submit("/console/mfa-device", {**form, **codes, "password": PASSWORD}).status_code == 200
    assert here.get(REPORTS).status_code == 200
    _ended(elsewhere, MESSAGE)  # it must sign in again, now with MFA
    assert site.client().logon("bob").headers["location"] == "/console/logon/mfa"


def test_an_administrator_binding_ends_password_only_sessions(site: Site) -> None:
    world = site.world
    bob = _signed_in(site)
    created = world.ram.service.create_virtual_mfa_device(world.account_id, "bob-phone")
    totp = pyotp.TOTP(created.base32_seed)
    now = world.clock.now
    world.ram.service.bind_mfa_device(
        world.account_id, created.device.serial_number, "bob",
        totp.at(now - timedelta(seconds=30)), totp.at(now),
    )  # fmt: skip
    _ended(bob, MESSAGE)


def test_a_device_unbound_during_the_logon_restarts_it(site: Site) -> None:
    world = site.world
    world.ram.service.update_login_profile(world.account_id, "alice", password_reset_required=True)
    browser = site.client()
    assert browser.logon("alice").headers["location"] == "/console/logon/mfa"
    assert browser.logon_mfa(world.code("alice")).headers["location"] == "/console/logon/password"
    world.ram.service.unbind_mfa_device(world.account_id, "alice")  # after the code was accepted
    data = {"new_password": "N3w-Passw0rd!", "confirm": "N3w-Passw0rd!"}
    reply = browser.submit("/console/logon/password", data)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/logon?expired=1"
    assert browser.session is None  # no session carries the MFA proved with the removed device
    again = site.client()
    assert again.logon("alice", "N3w-Passw0rd!").headers["location"] == "/console/"
    assert again.get("/pay").headers["location"] == "/console/mfa?next=%2Fpay"


def test_the_first_logon_binding_a_device_counts_as_mfa(site: Site) -> None:
    # The forced binding needs no password again (this logon proved it) and gives a session with MFA.
    world = site.world
    browser = site.client()
    assert browser.logon("carol").headers["location"] == "/console/logon/bind"
    page = browser.get("/console/logon/bind")
    seed = re.search(r'<code id="seed">([A-Z2-7 ]+)</code>', page.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    binding = re.search(r'name="binding" value="([^"]+)"', page.text)
    assert seed and token and binding and 'name="password"' not in page.text
    totp, now = pyotp.TOTP(seed.group(1).replace(" ", "")), world.clock.now
    done = browser.post(
        "/console/logon/bind",
        {"csrf_token": token.group(1), "binding": binding.group(1),
         "code1": totp.at(now - timedelta(seconds=30)), "code2": totp.at(now)},
    )  # fmt: skip
    assert done.status_code == 303 and browser.get(REPORTS).status_code == 200
    assert '<dd id="mfa-state">yes</dd>' in browser.get("/console/").text
