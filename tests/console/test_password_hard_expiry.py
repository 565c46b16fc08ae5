"""A password that expires, under HardExpiry, while its user is signed in: the console's change-password
page refuses it as the logon does (an administrator must reset it), on both apps."""

from __future__ import annotations

from ram_middleware.credentials.password import PasswordPolicy

from .client import Site
from .world import PASSWORD, ROOT_PASSWORD

NEW_PASSWORD = "An0ther-Secret!"
CHANGE = {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}


def test_a_session_cannot_change_a_password_that_expired_under_hard_expiry(site: Site) -> None:
    world = site.world
    policy = PasswordPolicy(max_password_age=1, hard_expiry=True)
    world.ram.service.set_password_policy(world.account_id, policy)
    world.clock.advance(hours=23, minutes=50)  # the password is one day old in ten minutes
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    world.clock.advance(minutes=15)
    refused = browser.submit("/console/password", CHANGE)
    assert refused.status_code == 403 and "Ask an administrator" in refused.text
    assert site.client().logon("bob", NEW_PASSWORD).status_code == 401  # not changed
    assert site.client().logon("bob").status_code == 403  # and still expired


def test_the_root_password_does_not_expire_under_the_ram_users_policy(site: Site) -> None:
    # MaxPasswordAge and HardExpiry are the RAM users' policy: the account's owner, whom no administrator
    # can reset, is never sent to "ask an administrator" nor made to change its password at logon.
    world = site.world
    world.ram.service.set_password_policy(
        world.account_id, PasswordPolicy(max_password_age=1, hard_expiry=True)
    )
    world.clock.advance(days=3)
    assert site.client().logon("bob").status_code == 403  # a RAM user's password has expired
    root = site.client()
    assert root.logon("", ROOT_PASSWORD, account=world.account_id).headers["location"] == "/console/logon/mfa"
    assert root.logon_mfa(world.code("root")).headers["location"] == "/console/"
    changed = root.submit(
        "/console/password",
        {"old_password": ROOT_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 200 and "<title>Done" in changed.text
    assert site.client().logon("", NEW_PASSWORD, account=world.account_id).status_code == 303
