"""The logon flow over HTTP, on the Flask and the Starlette app: password, lock-out, MFA, binding, reset."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pyotp
import pytest

from ram_middleware.console.binding import device_name
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.credentials.password import MAX_PASSWORD_CHARS, PasswordPolicy
from ram_middleware.credentials.preference import SecurityPreference

from .client import Browser, Site
from .world import PASSWORD, ROOT_PASSWORD

SAME_MESSAGE = "The user name or password is incorrect."


def _alert(text: str) -> str | None:
    found = re.search(r'role="alert" id="error">([^<]*)<', text)
    return found.group(1) if found else None


def test_logon_page_is_an_accessible_form_with_csrf(site: Site) -> None:
    page = site.client().get("/console/logon")
    assert page.status_code == 200
    text = page.text
    for field in ("account", "user_name", "password"):
        assert f'<label for="{field}">' in text and f'id="{field}"' in text
    assert 'name="csrf_token"' in text and "autofocus" in text
    assert 'id="root-warning"' in text  # the root logon is discouraged on the page
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("ram_csrf=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_password_logon_issues_a_session_and_returns_to_next(site: Site) -> None:
    browser = site.client()
    reply = browser.logon("bob", next_url="/reports")
    assert reply.status_code == 303 and reply.headers["location"] == "/reports"
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("ram_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS: test_session_cookie.py
    assert "Max-Age" not in cookie  # a browser-session cookie; the server enforces the timeouts
    page = browser.get("/reports")
    assert page.status_code == 200 and site.world.arn("bob") in page.text
    assert '<p id="mfa">false</p>' in page.text
    assert site.world.ram.service.get_user(site.world.account_id, "bob").last_login_date is not None


def test_unknown_user_and_wrong_password_look_the_same(site: Site) -> None:
    browser = site.client()
    token = browser.token("/console/logon")
    replies = [
        browser.post("/console/logon", {"csrf_token": token, "account": "company-x", "user_name": user,
                                        "password": password})
        for user, password in (("bob", "Wrong-passw0rd!"), ("nobody", PASSWORD), ("bob", ""))
    ]  # fmt: skip
    unknown_account = browser.post(
        "/console/logon",
        {"csrf_token": token, "account": "no-such-account", "user_name": "bob", "password": PASSWORD},
    )
    assert {reply.status_code for reply in replies} == {401}
    assert replies[0].text == replies[1].text == replies[2].text  # the user name is not echoed back
    assert unknown_account.status_code == 401 and _alert(unknown_account.text) == SAME_MESSAGE
    assert _alert(replies[0].text) == SAME_MESSAGE
    assert browser.session is None


def test_lockout_after_max_login_attempts(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=3))
    browser = site.client()
    for _ in range(3):
        assert browser.logon("bob", "Wrong-passw0rd!").status_code == 401
    locked = browser.logon("bob")  # the right password no longer helps
    assert locked.status_code == 429 and "Too many failed logon attempts" in locked.text
    assert browser.session is None
    # Unknown users are counted the same way (no enumeration through the lock-out).
    for _ in range(3):
        browser.logon("ghost", "Wrong-passw0rd!")
    assert browser.logon("ghost", "Wrong-passw0rd!").status_code == 429
    assert site.client().logon("alice").status_code == 303  # other users are not affected


def test_post_without_csrf_token_is_refused(site: Site) -> None:
    browser = site.client()
    browser.get("/console/logon")  # has the CSRF cookie, but sends no token
    data = {"account": "company-x", "user_name": "bob", "password": PASSWORD}
    refused = browser.post("/console/logon", data)
    assert refused.status_code == 403 and "was not sent from this site" in refused.text
    forged = browser.post("/console/logon", {**data, "csrf_token": "A" * 43})
    assert forged.status_code == 403
    # A token from another browser does not fit this browser's cookie.
    other = site.client().token("/console/logon")
    assert browser.post("/console/logon", {**data, "csrf_token": other}).status_code == 403
    # A token without any CSRF cookie at all.
    assert site.client().post("/console/logon", {**data, "csrf_token": other}).status_code == 403
    assert browser.session is None


def test_mfa_logon_asks_for_a_code_and_accepts_it_once(site: Site) -> None:
    world = site.world
    browser = site.client()
    reply = browser.logon("alice", next_url="/reports")
    assert reply.status_code == 303 and reply.headers["location"] == "/console/logon/mfa"
    assert browser.session is None
    page = browser.get("/console/logon/mfa")
    assert 'autocomplete="one-time-code"' in page.text and '<label for="code">' in page.text
    wrong = browser.logon_mfa("000000" if world.code("alice") != "000000" else "111111")
    assert wrong.status_code == 400 and _alert(wrong.text) is not None
    code = world.code("alice")
    done = browser.logon_mfa(code)
    assert done.status_code == 303 and done.headers["location"] == "/reports"
    assert '<p id="mfa">true</p>' in browser.get("/reports").text
    # The same code cannot sign in a second browser (one-time use).
    other = site.client()
    other.logon("alice")
    assert other.logon_mfa(code).status_code == 400


def test_pending_logon_cookie_cannot_be_replayed_after_its_step(site: Site) -> None:
    browser = site.client()
    browser.logon("alice")
    pending = browser.http.cookies.get("ram_logon")
    assert pending
    browser.logon_mfa(site.world.code("alice"))
    replay = site.client()
    token = replay.token("/console/logon")
    replay.set_cookie("ram_logon", pending, path="/console")
    site.world.clock.advance(seconds=30)
    reply = replay.post("/console/logon/mfa", {"csrf_token": token, "code": site.world.code("alice")})
    assert reply.status_code == 303 and reply.headers["location"] == "/console/logon?expired=1"
    assert replay.session is None


@pytest.mark.parametrize("limit", [3, 5])
def test_a_right_password_and_wrong_codes_lock_after_exactly_max_login_attempts_codes(
    site: Site, limit: int
) -> None:
    """The right password does not count; each wrong code counts once (not its password step too)."""
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=limit))
    browser = site.client()
    assert browser.logon("alice").status_code == 303
    wrong = "000000" if world.code("alice") != "000000" else "111111"
    assert [browser.logon_mfa(wrong).status_code for _ in range(limit)] == [400] * limit
    assert browser.logon_mfa(world.code("alice")).status_code == 429  # even the right code, now
    assert site.client().logon("alice").status_code == 429


def test_knowing_the_password_does_not_reset_the_mfa_guess_count(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=3))
    wrong = "000000" if world.code("alice") != "000000" else "111111"
    attacker = site.client()
    statuses = []
    for _ in range(3):
        statuses.append(attacker.logon("alice").status_code)  # the password is right every time
        statuses.append(attacker.logon_mfa(wrong).status_code)
    assert statuses == [303, 400] * 3  # the wrong codes add up across logons until one completes
    assert attacker.logon("alice").status_code == 429


def test_right_passwords_do_not_count_towards_the_lockout(site: Site) -> None:
    """Logons that get the password right, completed or not (left at the MFA step), never lock; wrong ones
    around them add up."""
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=3))
    browser = site.client()
    assert [browser.logon("alice").status_code for _ in range(4)] == [303] * 4  # each waits for a code
    assert [browser.logon("bob").status_code for _ in range(4)] == [303] * 4  # signed in each time
    assert browser.logon("alice", "Wrong-passw0rd!").status_code == 401
    assert browser.logon("alice", "Wrong-passw0rd!").status_code == 401
    assert browser.logon("alice").status_code == 303  # not counted, and not clearing the two before it
    assert browser.logon("alice", "Wrong-passw0rd!").status_code == 401
    assert browser.logon("alice").status_code == 429  # 3 wrong passwords in the hour
    assert site.client().logon("alice").status_code == 429


def test_a_complete_logon_resets_the_failure_count(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=3))
    browser = site.client()
    for _ in range(2):
        browser.logon("bob", "Wrong-passw0rd!")
    assert browser.logon("bob").status_code == 303
    for _ in range(2):
        browser.logon("bob", "Wrong-passw0rd!")
    assert browser.logon("bob").status_code == 303  # 2 failures since the last logon, not 4


def _logon_bind_form(browser: Browser) -> tuple[pyotp.TOTP, dict[str, str]]:
    """The logon's MFA binding page: the TOTP of the device it shows, and its form's hidden fields."""
    page = browser.get("/console/logon/bind")
    assert page.status_code == 200 and "<svg" in page.text and 'role="img"' in page.text
    seed = re.search(r'<code id="seed">([A-Z2-7 ]+)</code>', page.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    binding = re.search(r'name="binding" value="([^"]+)"', page.text)
    assert seed and token and binding
    return pyotp.TOTP(seed.group(1).replace(" ", "")), {
        "csrf_token": token.group(1),
        "binding": binding.group(1),
    }


def test_first_logon_with_mfa_bind_required_binds_a_device(site: Site) -> None:
    world = site.world
    browser = site.client()
    reply = browser.logon("carol", next_url="/reports")
    assert reply.headers["location"] == "/console/logon/bind"
    totp, form = _logon_bind_form(browser)
    now = world.clock.now
    bad = browser.post("/console/logon/bind", {**form, "code1": totp.at(now), "code2": totp.at(now)})
    assert bad.status_code == 400 and "<svg" in bad.text  # same QR again, not a new device
    done = browser.post(
        "/console/logon/bind", {**form, "code1": totp.at(now - timedelta(seconds=30)), "code2": totp.at(now)}
    )
    assert done.status_code == 303 and done.headers["location"] == "/reports"
    assert '<p id="mfa">true</p>' in browser.get("/reports").text
    assert world.ram.service.get_user_mfa_info(world.account_id, "carol").is_bound
    bindings = [
        (e.decision, e.code, e.principal_arn) for e in world.audit.events if e.action == "ram:BindMFADevice"
    ]
    assert bindings == [
        ("Rejected", "InvalidAuthenticationCode", world.arn("carol")),
        ("Allow", None, world.arn("carol")),
    ]
    world.clock.advance(seconds=60)
    again = site.client()
    assert again.logon("carol").headers["location"] == "/console/logon/mfa"  # MFA from now on
    assert again.logon_mfa(totp.at(world.clock.now)).status_code == 303


def test_mfa_enforced_by_the_security_preference(site: Site) -> None:
    world = site.world
    world.ram.service.set_security_preference(
        world.account_id, SecurityPreference(mfa_enforced_users=("bob",))
    )
    assert site.client().logon("bob").headers["location"] == "/console/logon/bind"


def test_password_reset_required_forces_a_policy_compliant_password(site: Site) -> None:
    browser = site.client()
    reply = browser.logon("dave", next_url="/reports")
    assert reply.headers["location"] == "/console/logon/password"
    page = browser.get("/console/logon/password")
    assert "At least 8 characters" in page.text and "a symbol" in page.text
    weak = browser.submit("/console/logon/password", {"new_password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "does not meet the policy" in weak.text
    assert browser.session is None
    differ = browser.submit(
        "/console/logon/password", {"new_password": "N3w-Passw0rd!", "confirm": "N3w-Passw0rd?"}
    )
    assert differ.status_code == 400 and "differ" in differ.text
    done = browser.submit(
        "/console/logon/password", {"new_password": "N3w-Passw0rd!", "confirm": "N3w-Passw0rd!"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/reports"
    assert browser.get("/reports").status_code == 200
    assert site.client().logon("dave", PASSWORD).status_code == 401
    assert site.client().logon("dave", "N3w-Passw0rd!").headers["location"] == "/console/"
    # The password changed at logon is audited as one changed on the password page: refused, then done.
    changes = [e for e in site.world.audit.events if e.action == "ram:ChangePassword"]
    assert [(e.decision, e.status, e.principal_arn) for e in changes] == [
        ("Rejected", 400, site.world.arn("dave")),
        ("Allow", 303, site.world.arn("dave")),
    ]
    assert changes[0].code is not None and changes[0].code.startswith("InvalidParameter")


def test_a_forced_or_expired_password_cannot_be_changed_to_itself(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_password_age=1))
    world.clock.advance(days=2)
    for user in ("dave", "bob"):  # PasswordResetRequired; past MaxPasswordAge
        browser = site.client()
        assert browser.logon(user).headers["location"] == "/console/logon/password"
        same = browser.submit("/console/logon/password", {"new_password": PASSWORD, "confirm": PASSWORD})
        assert same.status_code == 400
        assert _alert(same.text) == "The new password must differ from the old one."
        assert browser.session is None
        # Still to be changed: the next logon asks again.
        assert site.client().logon(user).headers["location"] == "/console/logon/password"
        done = browser.submit(
            "/console/logon/password", {"new_password": "N3w-Passw0rd!", "confirm": "N3w-Passw0rd!"}
        )
        assert done.status_code == 303 and browser.session is not None


def test_a_logon_refused_at_its_end_for_a_password_changed_meanwhile_is_audited(site: Site) -> None:
    world = site.world
    browser = site.client()
    assert browser.logon("alice").headers["location"] == "/console/logon/mfa"
    # The administrator resets alice's password while someone who knew the old one is at the MFA step.
    world.ram.service.update_login_profile(world.account_id, "alice", password="Adm1n-Ch0sen!")
    world.audit.clear()
    late = browser.logon_mfa(world.code("alice"))
    assert late.status_code == 303 and late.headers["location"] == "/console/logon?expired=1"
    assert browser.session is None
    # Before: no event at all for a logon that proved a password and an MFA code, then was refused.
    logons = [(e.decision, e.status, e.code) for e in world.audit.events if e.action == "console:Logon"]
    assert logons == [("Rejected", 303, "InvalidSession.Logon")]
    assert world.audit.events[-1].principal_arn == world.arn("alice")


def test_a_reset_by_an_administrator_during_the_logon_is_not_overwritten(site: Site) -> None:
    world = site.world
    browser = site.client()
    assert browser.logon("dave").headers["location"] == "/console/logon/password"
    # Dave's password leaked; the administrator resets it while someone is at the new-password step.
    world.ram.service.update_login_profile(
        world.account_id, "dave", password="Adm1n-Ch0sen!", password_reset_required=True
    )
    late = browser.submit(
        "/console/logon/password", {"new_password": "N3w-Passw0rd!", "confirm": "N3w-Passw0rd!"}
    )
    assert late.status_code == 303 and late.headers["location"] == "/console/logon?expired=1"
    assert browser.session is None
    assert site.client().logon("dave", "N3w-Passw0rd!").status_code == 401
    assert site.client().logon("dave", "Adm1n-Ch0sen!").headers["location"] == "/console/logon/password"


def test_expired_password_must_be_changed_or_with_hard_expiry_is_refused(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_password_age=1))
    world.clock.advance(days=2)
    assert site.client().logon("bob").headers["location"] == "/console/logon/password"
    world.ram.service.set_password_policy(
        world.account_id, PasswordPolicy(max_password_age=1, hard_expiry=True)
    )
    refused = site.client().logon("bob")
    assert refused.status_code == 403 and "Ask an administrator" in refused.text


def test_root_logon_requires_mfa_once_bound(site: Site) -> None:
    world = site.world
    for account in (world.account_id, "company-x"):  # the AccountId or the alias
        reply = site.client().logon("", ROOT_PASSWORD, account=account)
        assert reply.headers["location"] == "/console/logon/mfa"
    root = site.client()
    root.logon("", ROOT_PASSWORD, account=world.account_id)
    assert root.logon_mfa(world.code("root")).headers["location"] == "/console/"
    home = root.get("/console/")
    assert f"acs:ram::{world.account_id}:root" in home.text
    assert "You are signed in as the account root" in home.text
    assert root.get("/console/access-keys").status_code == 403  # the root gets no AccessKeys here
    # The root's password does not work with a user name ("root" is an ordinary RAM user name).
    assert site.client().logon("root", ROOT_PASSWORD).status_code == 401


def test_a_root_without_a_device_binds_one_at_logon(site: Site) -> None:
    # The root always signs in with MFA: with no device bound, its password leads to binding one.
    world = site.world
    world.ram.service.unbind_root_mfa_device(world.account_id)
    root = site.client()
    reply = root.logon("", ROOT_PASSWORD, account=world.account_id)
    assert reply.headers["location"] == "/console/logon/bind"
    assert root.get("/console/").headers["location"].startswith("/console/logon")  # not signed in yet


def test_login_network_masks_refuse_other_networks(site: Site) -> None:
    world = site.world
    world.ram.service.set_security_preference(
        world.account_id, SecurityPreference(login_network_masks=("198.51.100.0/24",))
    )
    refused = site.client().logon("bob")
    assert refused.status_code == 403 and "not allowed from your network" in refused.text
    assert site.client().session is None


def test_logons_are_audited_without_secrets(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    world = site.world
    caplog.set_level(logging.DEBUG)
    site.client().logon("bob", "Wrong-passw0rd!")
    alice = site.client()
    alice.logon("alice")
    alice.logon_mfa(world.code("alice"))
    root = site.client()
    root.logon("", ROOT_PASSWORD, account=world.account_id)
    root.logon_mfa(world.code("root"))
    logons = [event for event in world.audit.events if event.action == "console:Logon"]
    failed, good, rooted = logons
    assert failed.decision == "Rejected" and failed.code == "InvalidLogin" and failed.principal_arn is None
    assert good.decision == "Allow" and good.principal_arn == world.arn("alice")
    assert good.reason == "Console logon (password and MFA)"
    assert rooted.principal_type == "Account" and "the root should rest" in rooted.reason
    recorded = json.dumps([event.to_dict() for event in world.audit.events]) + caplog.text
    for secret in (PASSWORD, ROOT_PASSWORD, "Wrong-passw0rd!", world.seeds["alice"], alice.session or "?"):
        assert secret not in recorded


def test_the_console_without_its_trailing_slash_leads_to_its_home(site: Site) -> None:
    """`/console` is where people type; the middleware must not refuse it as an undeclared route."""
    browser = site.client()
    bare = browser.get("/console")
    assert bare.status_code == 307 and bare.headers["location"] == "/console/"
    assert browser.logon("bob").status_code == 303
    again = browser.get("/console")
    assert again.status_code == 307 and again.headers["location"] == "/console/"
    assert browser.get(again.headers["location"]).status_code == 200


def test_a_password_is_never_cut_to_fit(site: Site) -> None:
    """A password of the longest length the policy stores, with more typed after it, is a wrong password (it
    was once cut to the stored length and let in); a new one over that length is refused, not stored cut."""
    world = site.world
    longest = "Aa1!" + "x" * (MAX_PASSWORD_CHARS - 4)
    world.ram.service.update_login_profile(world.account_id, "bob", password=longest)
    assert site.client().logon("bob", longest + "-and-more").status_code == 401
    assert site.client().logon("bob", longest).headers["location"] == "/console/"
    browser = site.client()
    assert browser.logon("dave").headers["location"] == "/console/logon/password"
    too_long = longest + "y"
    refused = browser.submit("/console/logon/password", {"new_password": too_long, "confirm": too_long})
    assert refused.status_code == 400 and "at most" in (_alert(refused.text) or "")
    assert browser.session is None
    assert site.client().logon("dave", longest).status_code == 401  # nothing was stored


def test_a_device_under_the_consoles_name_bound_to_someone_else_does_not_stop_a_binding(site: Site) -> None:
    """Whoever may create and bind devices could take the name the console gives a user's device (the root's:
    ``console-root``) and bind it to someone else: the root's logon then stopped at "The MFA device is bound;
    unbind it first", with no way on. The console binds a device of another name instead (one at a time)."""
    world = site.world
    service, account = world.ram.service, world.account_id
    service.unbind_root_mfa_device(account)
    taken = service.create_virtual_mfa_device(account, device_name(None))
    step, seed = time_step(world.clock.now), taken.base32_seed
    serial = taken.device.serial_number
    service.bind_mfa_device(account, serial, "bob", code_at(seed, step - 2), code_at(seed, step - 1))
    root = site.client()
    assert root.logon("", ROOT_PASSWORD, account=account).headers["location"] == "/console/logon/bind"
    _logon_bind_form(root)  # a page opened and left: its device is replaced by the next one, not kept
    totp, form = _logon_bind_form(root)
    now = world.clock.now
    codes = {"code1": totp.at(now - timedelta(seconds=30)), "code2": totp.at(now)}
    done = root.post("/console/logon/bind", {**form, **codes})
    assert done.status_code == 303 and done.headers["location"] == "/console/"
    bound = service.get_root_mfa_info(account)
    assert bound is not None and bound.serial_number != serial
    assert service.get_user_mfa_info(account, "bob").serial_number == serial
    unbound = [d.device_name for d in service.list_virtual_mfa_devices(account) if not d.is_bound]
    assert unbound == ["root-phone"]  # the world's, unbound above; no console device left behind


def test_a_user_signs_in_only_to_their_own_account(site: Site) -> None:
    """Another account of the store has a bob too: each bob's password opens only his own account, by alias
    or AccountId, and locking one bob out leaves the other alone."""
    world = site.world
    service, other_password = world.ram.service, "B0b-Elsewhere!"
    other = service.create_account("other-co").account_id
    service.create_user(other, "bob")
    service.create_login_profile(other, "bob", other_password)
    browser = site.client()
    for account in ("other-co", other):
        assert browser.logon("bob", PASSWORD, account=account).status_code == 401
    assert browser.logon("bob", other_password).status_code == 401  # at company-x
    service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=2))
    for _ in range(3):
        browser.logon("bob", "Wrong-passw0rd!")
    assert browser.logon("bob").status_code == 429
    elsewhere = site.client()
    assert elsewhere.logon("bob", other_password, account="other-co").status_code == 303
    home = elsewhere.get("/console/")
    assert f"acs:ram::{other}:user/bob" in home.text and world.account_id not in home.text
