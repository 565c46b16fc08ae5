"""Guessing in the console: every place that checks a password or a TOTP code is counted, locked and audited.

Both apps (Flask, Starlette). alice has an MFA device; bob has none. World and helpers: ``world.py``.
"""

from __future__ import annotations

from datetime import timedelta

from ram_middleware.credentials.password import PasswordPolicy
from ram_middleware.credentials.preference import SecurityPreference

from .client import Browser, Site
from .test_selfservice import NEW_PASSWORD, _binding
from .world import PASSWORD


def _wrong(site: Site, who: str = "alice") -> str:
    return "000000" if site.world.code(who) != "000000" else "111111"


def _events(site: Site, action: str) -> list[tuple[str, int, str | None]]:
    return [(e.decision, e.status, e.code) for e in site.world.audit.events if e.action == action]


def _alice_signed_in(site: Site) -> Browser:
    browser = site.client()
    assert browser.logon("alice").status_code == 303
    assert browser.logon_mfa(site.world.code("alice")).status_code == 303
    site.world.clock.advance(seconds=30)  # the code used to sign in is spent; the next one is fresh
    return browser


def test_mfa_codes_lock_after_five_wrong_even_when_max_login_attempts_is_unlimited(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=0))
    browser = site.client()
    assert browser.logon("alice").status_code == 303
    assert [browser.logon_mfa(_wrong(site)).status_code for _ in range(5)] == [400] * 5
    assert browser.logon_mfa(world.code("alice")).status_code == 429  # even the right code, now
    assert _events(site, "console:Logon")[-6:] == [("Rejected", 400, "InvalidAuthenticationCode")] * 5 + [
        ("Rejected", 429, "LoginLocked")
    ]


def test_unbinding_mfa_is_locked_after_five_wrong_codes(site: Site) -> None:
    browser = _alice_signed_in(site)
    unbind = {"action": "unbind", "code": _wrong(site)}
    statuses = [browser.submit("/console/mfa-device", unbind).status_code for _ in range(5)]
    right = browser.submit("/console/mfa-device", {"action": "unbind", "code": site.world.code("alice")})
    assert statuses == [400] * 5 and right.status_code == 429
    assert site.world.ram.service.get_user_mfa_info(site.world.account_id, "alice") is not None  # still bound
    assert _events(site, "ram:UnbindMFADevice")[-1] == ("Rejected", 429, "LoginLocked")


def test_step_up_codes_share_the_mfa_lock(site: Site) -> None:
    browser = _alice_signed_in(site)
    statuses = [browser.submit("/console/mfa", {"code": _wrong(site)}).status_code for _ in range(5)]
    assert statuses == [400] * 5
    assert browser.submit("/console/mfa", {"code": site.world.code("alice")}).status_code == 429
    assert len(_events(site, "console:MFAStepUp")) == 6


def test_old_password_guesses_count_towards_max_login_attempts(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=3))
    browser = site.client()
    assert browser.logon("bob").status_code == 303  # completed: the count starts at zero
    change = {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    guesses = [
        browser.submit("/console/password", {"old_password": f"guess-{n}", **change}) for n in range(3)
    ]
    assert [reply.status_code for reply in guesses] == [400] * 3
    locked = browser.submit("/console/password", {"old_password": PASSWORD, **change})
    assert locked.status_code == 429
    assert site.client().logon("bob", NEW_PASSWORD).status_code == 429  # locked, and not changed either
    assert _events(site, "ram:ChangePassword") == [("Rejected", 400, "InvalidParameter.OldPassword")] * 3 + [
        ("Rejected", 429, "LoginLocked")
    ]


def test_password_guesses_when_binding_mfa_count_towards_max_login_attempts(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=3))
    browser = site.client()
    assert browser.logon("bob").status_code == 303  # completed: the count starts at zero
    totp, form = _binding(browser)
    now = world.clock.now
    form |= {"code1": totp.at(now - timedelta(seconds=30)), "code2": totp.at(now)}
    guesses = [browser.submit("/console/mfa-device", {**form, "password": f"guess-{n}"}) for n in range(3)]
    assert [reply.status_code for reply in guesses] == [401] * 3
    assert browser.submit("/console/mfa-device", {**form, "password": PASSWORD}).status_code == 429
    assert site.client().logon("bob").status_code == 429  # the same lock-out as the logon's
    assert "No MFA device is bound" in browser.get("/console/mfa-device").text
    assert _events(site, "ram:BindMFADevice") == [("Rejected", 401, "InvalidLogin")] * 3 + [
        ("Rejected", 429, "LoginLocked")
    ]


def test_a_user_name_typed_in_another_case_signs_in_under_the_stored_name(site: Site) -> None:
    browser = site.client()
    assert browser.logon("BOB").status_code == 303
    home = browser.get("/console/")
    assert 'Signed in as <span id="who">bob@company-x' in home.text
    assert browser.submit("/console/mfa-device", {"action": "start"}).status_code == 200
    again = site.client()
    assert again.logon("Bob").status_code == 303
    assert again.submit("/console/mfa-device", {"action": "start"}).status_code == 200  # no 409
    devices = site.world.ram.service.list_virtual_mfa_devices(site.world.account_id)
    names = [d.device_name for d in devices if "bob" in d.device_name.lower()]
    assert names and all(name.startswith("console-bob-") for name in names)


def test_self_service_changes_and_logout_are_audited(site: Site) -> None:
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    change = {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert browser.submit("/console/password", change).status_code == 200
    assert browser.submit("/console/logout", {}, form_page="/console/logout").status_code == 303
    arn = site.world.arn("bob")
    recent = [(e.action, e.decision, e.principal_arn) for e in site.world.audit.events[-3:]]
    assert recent == [
        ("console:Logon", "Allow", arn),
        ("ram:ChangePassword", "Allow", arn),
        ("console:Logout", "Allow", arn),
    ]


def test_new_passwords_the_policy_refuses_are_not_guesses(site: Site) -> None:
    world = site.world
    world.ram.service.set_password_policy(
        world.account_id, PasswordPolicy(max_login_attempts=3, minimum_password_length=20)
    )
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    short = {"old_password": PASSWORD, "new_password": "Sh0rt-Pass!", "confirm": "Sh0rt-Pass!"}
    assert [browser.submit("/console/password", short).status_code for _ in range(4)] == [400] * 4
    long = "A-much-l0nger-passw0rd!"
    done = browser.submit(
        "/console/password", {"old_password": PASSWORD, "new_password": long, "confirm": long}
    )
    assert done.status_code == 200


# --- a right answer anywhere takes back only its own count ---------------------------------------------


def _two_failed_logons(site: Site, who: str = "bob") -> None:
    """Two wrong passwords at the logon page (from another browser) under MaxLoginAttemps 3."""
    world = site.world
    world.ram.service.set_password_policy(world.account_id, PasswordPolicy(max_login_attempts=3))
    assert [site.client().logon(who, f"guess-{n}").status_code for n in range(2)] == [401] * 2


def _one_more_guess_locks(site: Site, password: str = PASSWORD) -> None:
    """The earlier two failures were kept: a third locks, so even the right password is refused next."""
    assert site.client().logon("bob", "guess-2").status_code == 401
    assert site.client().logon("bob", password).status_code == 429


def test_the_right_old_password_never_clears_earlier_failed_logons(site: Site) -> None:
    browser = _bob_signed_in(site)
    _two_failed_logons(site)
    change = {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert browser.submit("/console/password", change).status_code == 200
    _one_more_guess_locks(site, NEW_PASSWORD)


def test_a_new_password_the_policy_refuses_keeps_earlier_failed_logons_too(site: Site) -> None:
    browser = _bob_signed_in(site)
    _two_failed_logons(site)
    weak = {"old_password": PASSWORD, "new_password": "weak", "confirm": "weak"}
    assert browser.submit("/console/password", weak).status_code == 400
    _one_more_guess_locks(site)


def test_the_right_password_when_binding_mfa_never_clears_earlier_failed_logons(site: Site) -> None:
    browser = _bob_signed_in(site)
    _two_failed_logons(site)
    totp, form = _binding(browser)
    now = site.world.clock.now
    form |= {"code1": totp.at(now - timedelta(seconds=30)), "code2": totp.at(now), "password": PASSWORD}
    assert browser.submit("/console/mfa-device", form).status_code == 200
    assert site.client().logon("bob", "guess-2").status_code == 401
    assert site.client().logon("bob").status_code == 429


def test_the_right_password_for_a_new_access_key_never_clears_earlier_failed_logons(site: Site) -> None:
    world = site.world
    world.ram.service.set_security_preference(
        world.account_id, SecurityPreference(allow_user_to_manage_access_keys=True)
    )
    browser = _bob_signed_in(site)
    _two_failed_logons(site)
    created = browser.submit("/console/access-keys", {"action": "create", "password": PASSWORD})
    assert created.status_code == 200 and 'id="new-key-secret"' in created.text
    _one_more_guess_locks(site)


def test_a_locked_user_cannot_change_the_password_with_the_right_old_one(site: Site) -> None:
    browser = _bob_signed_in(site)
    _two_failed_logons(site)
    assert site.client().logon("bob", "guess-2").status_code == 401
    change = {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert browser.submit("/console/password", change).status_code == 429
    assert _events(site, "ram:ChangePassword")[-1] == ("Rejected", 429, "LoginLocked")
    site.world.ram.service.update_login_profile(site.world.account_id, "bob", password=NEW_PASSWORD)
    assert site.client().logon("bob", NEW_PASSWORD).status_code == 303  # an administrator's reset ends it


def test_a_right_step_up_code_never_clears_earlier_wrong_codes(site: Site) -> None:
    browser = _alice_signed_in(site)
    assert [browser.submit("/console/mfa", {"code": _wrong(site)}).status_code for _ in range(4)] == [400] * 4
    assert browser.submit("/console/mfa", {"code": site.world.code("alice")}).status_code == 303
    site.world.clock.advance(seconds=30)  # a fresh code for the next right answer
    assert browser.submit("/console/mfa", {"code": _wrong(site)}).status_code == 400  # the fifth wrong one
    assert browser.submit("/console/mfa", {"code": site.world.code("alice")}).status_code == 429


def _bob_signed_in(site: Site) -> Browser:
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    return browser
