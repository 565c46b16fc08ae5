"""Self-service pages on both apps, each open only when the security preference allows it."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import timedelta

import pyotp

from ram_middleware.audit import JsonLinesSink, open_sink
from ram_middleware.credentials.preference import SecurityPreference

from .client import JSON, Browser, Site
from .world import PASSWORD

NEW_PASSWORD = "An0ther-Secret!"


def _bob(site: Site) -> Browser:
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    return browser


def _alert(text: str) -> str | None:
    found = re.search(r'role="alert" id="error">([^<]*)<', text)
    return found.group(1) if found else None


def _prefer(site: Site, **settings: object) -> None:
    world = site.world
    world.ram.service.set_security_preference(world.account_id, SecurityPreference(**settings))  # type: ignore[arg-type]


def test_home_lists_what_the_preference_allows(site: Site) -> None:
    browser = _bob(site)
    home = browser.get("/console/")
    assert home.status_code == 200 and site.world.arn("bob") in home.text
    assert 'href="/console/password"' in home.text and 'href="/console/mfa-device"' in home.text
    assert 'href="/console/access-keys"' not in home.text  # AllowUserToManageAccessKeys defaults to false
    assert '<dd id="mfa-state">no</dd>' in home.text
    assert 'Signed in as <span id="who">bob@company-x' in home.text


def test_change_own_password(site: Site) -> None:
    browser = _bob(site)
    old_cookie = browser.session
    wrong = browser.submit(
        "/console/password", {"old_password": "nope", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert wrong.status_code == 400 and "old password is incorrect" in wrong.text
    weak = browser.submit(
        "/console/password", {"old_password": PASSWORD, "new_password": "weak", "confirm": "weak"}
    )
    assert weak.status_code == 400 and "does not meet the policy" in weak.text
    done = browser.submit(
        "/console/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.status_code == 200 and "Your password was changed" in done.text
    assert browser.session != old_cookie and browser.get("/reports").status_code == 200
    assert browser.with_session("/reports", old_cookie or "", JSON).status_code == 401
    assert site.client().logon("bob", NEW_PASSWORD).status_code == 303
    assert site.client().logon("bob", PASSWORD).status_code == 401


def test_password_change_refused_when_the_preference_forbids_it(site: Site) -> None:
    _prefer(site, allow_user_to_change_password=False)
    browser = _bob(site)
    assert browser.get("/console/password").status_code == 403
    refused = browser.submit(
        "/console/password",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        form_page="/console/",
    )
    assert refused.status_code == 403
    assert site.client().logon("bob", PASSWORD).status_code == 303


def _attach(site: Site, name: str, effect: str) -> None:
    world = site.world
    statement = {"Effect": effect, "Action": "ram:ChangePassword", "Resource": world.arn("bob")}
    document = json.dumps({"Version": "1", "Statement": [statement]})
    world.ram.service.create_policy(world.account_id, name, document)
    world.ram.service.attach_policy_to_user(world.account_id, "Custom", name, "bob")


def _change(browser: Browser) -> int:
    fields = {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    return browser.submit("/console/password", fields, form_page="/console/").status_code


def test_an_explicit_deny_of_change_password_holds_in_the_console_as_in_the_api(site: Site) -> None:
    """The page decides ram:ChangePassword as the RAM API does: the preference is a grant, a Deny wins."""
    _attach(site, "NoOwnPassword", "Deny")
    browser = _bob(site)
    assert browser.get("/console/password").status_code == 403
    assert 'href="/console/password"' not in browser.get("/console/").text
    assert _change(browser) == 403
    assert site.client().logon("bob", PASSWORD).status_code == 303  # unchanged


def test_a_policy_allowing_change_password_works_in_the_console_with_the_preference_off(site: Site) -> None:
    _prefer(site, allow_user_to_change_password=False)
    _attach(site, "OwnPassword", "Allow")
    browser = _bob(site)
    assert 'href="/console/password"' in browser.get("/console/").text
    assert _change(browser) == 200
    assert site.client().logon("bob", NEW_PASSWORD).status_code == 303


def test_access_keys_only_when_allowed_and_secret_shown_once(site: Site) -> None:
    world = site.world
    browser = _bob(site)
    assert browser.get("/console/access-keys").status_code == 403
    _prefer(site, allow_user_to_manage_access_keys=True)
    page = browser.get("/console/access-keys")
    existing, _ = world.keys["bob"]
    assert page.status_code == 200 and existing in page.text
    created = browser.submit("/console/access-keys", {"action": "create", "password": PASSWORD})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    key_id = re.search(r'<code id="new-key-id">([^<]+)<', created.text)
    secret = re.search(r'<code id="new-key-secret">([^<]+)<', created.text)
    assert key_id and secret
    listed = browser.get("/console/access-keys")
    assert key_id.group(1) in listed.text and secret.group(1) not in listed.text
    limit = browser.submit("/console/access-keys", {"action": "create", "password": PASSWORD})
    assert limit.status_code == 409 and "maximum number of keys" in limit.text
    disabled = browser.submit("/console/access-keys", {"action": "disable", "access_key_id": key_id.group(1)})
    assert disabled.status_code == 303
    keys = world.ram.service.list_access_keys(world.account_id, "bob")
    assert {k.access_key_id: k.status for k in keys}[key_id.group(1)] == "Inactive"
    other = browser.submit("/console/access-keys", {"action": "disable", "access_key_id": "LTAIsomeoneelse"})
    assert other.status_code == 404


def test_creating_an_access_key_asks_for_the_password_again(site: Site) -> None:
    # The key outlives the session, its logout and a password change: whoever copied the session cookie
    # must not get a lasting credential from it.
    world = site.world
    _prefer(site, allow_user_to_manage_access_keys=True)
    browser = _bob(site)  # or whoever copied bob's session cookie
    before = len(world.ram.service.list_access_keys(world.account_id, "bob"))
    for form in ({"action": "create"}, {"action": "create", "password": "Wrong-passw0rd!"}):
        refused = browser.submit("/console/access-keys", form)
        assert 'id="new-key-secret"' not in refused.text
        assert refused.status_code == 401 and _alert(refused.text) == "The password is incorrect."
    page = browser.get("/console/access-keys")
    assert 'name="password" type="password" autocomplete="current-password" required' in page.text
    assert len(world.ram.service.list_access_keys(world.account_id, "bob")) == before
    created = browser.submit("/console/access-keys", {"action": "create", "password": PASSWORD})
    assert created.status_code == 200 and 'id="new-key-secret"' in created.text
    creations = [(e.decision, e.code) for e in world.audit.events if e.action == "ram:CreateAccessKey"]
    assert creations == [("Rejected", "InvalidLogin")] * 2 + [("Allow", None)]
    # Wrong passwords here count towards MaxLoginAttemps, like logons.
    for _ in range(5):
        browser.submit("/console/access-keys", {"action": "create", "password": "Wrong-passw0rd!"})
    locked = browser.submit("/console/access-keys", {"action": "create", "password": PASSWORD})
    assert locked.status_code == 429 and 'id="new-key-secret"' not in locked.text


def test_bind_and_unbind_own_mfa_device(site: Site) -> None:
    world = site.world
    browser = _bob(site)
    assert "No MFA device is bound" in browser.get("/console/mfa-device").text
    setup = browser.submit("/console/mfa-device", {"action": "start"})
    assert setup.status_code == 200 and "<svg" in setup.text
    seed = re.search(r'<code id="seed">([A-Z2-7 ]+)</code>', setup.text)
    binding = re.search(r'name="binding" value="([^"]+)"', setup.text)
    assert seed and binding
    totp = pyotp.TOTP(seed.group(1).replace(" ", ""))
    now = world.clock.now
    tampered = browser.submit(
        "/console/mfa-device",
        {"action": "bind", "binding": binding.group(1)[:-8], "code1": "000000", "code2": "000000"},
        form_page="/console/mfa-device",
    )
    assert tampered.status_code == 200 and "setup was interrupted" in tampered.text  # a new QR code instead
    binding = re.search(r'name="binding" value="([^"]+)"', tampered.text)
    seed = re.search(r'<code id="seed">([A-Z2-7 ]+)</code>', tampered.text)
    assert seed and binding
    totp = pyotp.TOTP(seed.group(1).replace(" ", ""))
    bound = browser.submit(
        "/console/mfa-device",
        {"action": "bind", "binding": binding.group(1), "code1": totp.at(now - timedelta(seconds=30)),
         "code2": totp.at(now), "password": PASSWORD},
    )  # fmt: skip
    assert bound.status_code == 200 and "Your MFA device is bound" in bound.text
    world.clock.advance(seconds=30)
    # Binding is no MFA proof: a step-up with the device is.
    assert browser.get("/pay").headers["location"] == "/console/mfa?next=%2Fpay"
    assert (
        browser.submit("/console/mfa", {"code": totp.at(world.clock.now), "next": "/pay"}).status_code == 303
    )
    assert browser.get("/pay").status_code == 200
    world.clock.advance(seconds=30)
    page = browser.get("/console/mfa-device")
    assert 'id="serial"' in page.text
    wrong = browser.submit("/console/mfa-device", {"action": "unbind", "code": "000000"})
    assert wrong.status_code == 400
    removed = browser.submit("/console/mfa-device", {"action": "unbind", "code": totp.at(world.clock.now)})
    assert removed.status_code == 200 and "was removed" in removed.text
    devices = world.ram.service.list_virtual_mfa_devices(world.account_id)
    assert not [device for device in devices if device.user_name == "bob"]


def _binding(browser: Browser) -> tuple[pyotp.TOTP, dict[str, str]]:
    """Start binding a device on the self-service page: its TOTP and the form's fields with two codes."""
    setup = browser.submit("/console/mfa-device", {"action": "start"})
    seed = re.search(r'<code id="seed">([A-Z2-7 ]+)</code>', setup.text)
    binding = re.search(r'name="binding" value="([^"]+)"', setup.text)
    assert seed and binding
    totp = pyotp.TOTP(seed.group(1).replace(" ", ""))
    return totp, {"action": "bind", "binding": binding.group(1)}


def test_binding_a_device_asks_for_the_password_again(site: Site) -> None:
    world = site.world
    browser = _bob(site)  # or whoever copied bob's session cookie
    totp, form = _binding(browser)
    now = world.clock.now
    form |= {"code1": totp.at(now - timedelta(seconds=30)), "code2": totp.at(now)}
    for password in ("Wrong-passw0rd!", ""):
        refused = browser.submit("/console/mfa-device", {**form, "password": password})
        assert refused.status_code == 401 and _alert(refused.text) == "The password is incorrect."
        assert totp.secret.upper() in refused.text.replace(" ", "")  # the same setup, to try again
    assert "No MFA device is bound" in browser.get("/console/mfa-device").text
    assert site.client().logon("bob").headers["location"] == "/console/"  # still no MFA at logon
    wrong_codes = {**form, "code1": form["code2"], "password": PASSWORD}
    assert browser.submit("/console/mfa-device", wrong_codes).status_code == 400
    assert browser.submit("/console/mfa-device", {**form, "password": PASSWORD}).status_code == 200
    assert 'id="serial"' in browser.get("/console/mfa-device").text
    assert site.client().logon("bob").headers["location"] == "/console/logon/mfa"
    bindings = [(e.decision, e.code) for e in world.audit.events if e.action == "ram:BindMFADevice"]
    assert bindings == [("Rejected", "InvalidLogin")] * 2 + [
        ("Rejected", "InvalidAuthenticationCode"),
        ("Allow", None),
    ]


def test_mfa_self_service_refused_when_the_preference_forbids_it(site: Site) -> None:
    _prefer(site, allow_user_to_manage_mfa_devices=False)
    browser = _bob(site)
    assert browser.get("/console/mfa-device").status_code == 403
    refused = browser.submit("/console/mfa-device", {"action": "start"}, form_page="/console/")
    assert refused.status_code == 403


def test_an_explicit_deny_in_the_users_policies_beats_the_preference_for_keys_and_mfa(site: Site) -> None:
    # The preference grants self-service; a "no long-term keys, no self-bound devices" Deny still wins, as a
    # Deny of ram:ChangePassword does on the password page.
    world = site.world
    _prefer(site, allow_user_to_manage_access_keys=True, allow_user_to_manage_mfa_devices=True)
    deny = {
        "Version": "1",
        "Statement": [
            {"Effect": "Deny", "Action": ["ram:CreateAccessKey", "ram:*MFADevice"], "Resource": "*"}
        ],
    }
    world.ram.service.create_policy(world.account_id, "NoSelfKeys", json.dumps(deny))
    world.ram.service.attach_policy_to_user(world.account_id, "Custom", "NoSelfKeys", "bob")
    browser = _bob(site)
    before = len(world.ram.service.list_access_keys(world.account_id, "bob"))
    created = browser.submit("/console/access-keys", {"action": "create", "password": PASSWORD})
    assert created.status_code == 403 and "denies ram:CreateAccessKey" in created.text
    assert len(world.ram.service.list_access_keys(world.account_id, "bob")) == before
    event = world.audit.events[-1]
    assert (event.decision, event.action) == ("ExplicitDeny", "ram:CreateAccessKey")
    existing, _ = world.keys["bob"]
    disabled = browser.submit("/console/access-keys", {"action": "disable", "access_key_id": existing})
    assert disabled.status_code == 303  # UpdateAccessKey is not denied
    started = browser.submit("/console/mfa-device", {"action": "start"})
    assert started.status_code == 403 and "denies ram:CreateVirtualMFADevice" in started.text


def test_a_new_key_whose_creation_a_full_disk_kept_off_the_record_is_not_shown(site: Site) -> None:
    world = site.world
    _prefer(site, allow_user_to_manage_access_keys=True)
    browser = _bob(site)
    recorded = world.ram.authorizer.audit
    # The default write-behind file sink; /dev/full refuses every write as a full disk does.
    full = open_sink("/dev/full", flush_interval=30)
    assert isinstance(full, JsonLinesSink)
    world.ram.authorizer.audit = full
    try:
        created = browser.submit("/console/access-keys", {"action": "create", "password": PASSWORD})
    finally:
        world.ram.authorizer.audit = recorded
        with contextlib.suppress(OSError):
            full.close()
    # Before: 200 with the secret on the page, and the record of its creation lost with the refused batch.
    assert created.status_code == 503 and 'id="new-key-secret"' not in created.text
