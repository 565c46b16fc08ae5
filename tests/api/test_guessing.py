"""Guessing through the RAM API (alibabacloud-ram20150501 against the live control plane): an AccessKey is
not a way around the console's lock-outs, and codes spent on a device stay spent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alibabacloud_ram20150501 import models as m  # type: ignore[import-untyped]
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]
from click.testing import CliRunner

from tests.cli.conftest import Ram as RamCommand
from tests.console.client import Browser

from .company_x import create_key
from .conftest import start_live
from .live import Key, Live, fails, ram_client

PASSWORD = "Guess-Me-N0t!"
NEW_PASSWORD = "Brand-New-Pa55word!"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(str(tmp_path_factory.mktemp("guessing")), alias="guessing-co")


@pytest.fixture(scope="module")
def admin(live: Live) -> RamClient:
    admin = ram_client(live, live.admin)
    admin.set_password_policy(m.SetPasswordPolicyRequest(max_login_attemps=3))
    return admin


def _user_with_key(admin: RamClient, name: str) -> Key:
    admin.create_user(m.CreateUserRequest(user_name=name))
    admin.create_login_profile(m.CreateLoginProfileRequest(user_name=name, password=PASSWORD))
    return create_key(admin, name)


def _console_logon(live: Live, user: str, password: str) -> int:
    """The status of a console logon at the live server (303: signed in or on to the next step)."""
    with httpx.Client(base_url=f"http://{live.endpoint}", timeout=10) as http:
        return Browser(http).logon(user, password, account="guessing-co").status_code


def _change(old: str) -> m.ChangePasswordRequest:
    return m.ChangePasswordRequest(old_password=old, new_password=NEW_PASSWORD)


def test_old_password_guesses_through_the_api_count_towards_max_login_attempts(
    live: Live, admin: RamClient
) -> None:
    own = ram_client(live, _user_with_key(admin, "guesser"))
    for n in range(3):
        fails("InvalidParameter.OldPassword", 400, own.change_password, _change(f"guess-{n}"))
    fails("LoginLocked", 429, own.change_password, _change(PASSWORD))  # even the right one, now
    assert _console_logon(live, "guesser", PASSWORD) == 429  # the same lock-out as the console's
    assert live.ram.service.verify_login_password(live.account_id, "guesser", PASSWORD)  # not changed


def test_the_right_old_password_through_the_api_never_clears_earlier_failed_logons(
    live: Live, admin: RamClient
) -> None:
    own = ram_client(live, _user_with_key(admin, "steady"))
    assert [_console_logon(live, "steady", f"guess-{n}") for n in range(2)] == [401] * 2
    weak = m.ChangePasswordRequest(old_password=PASSWORD, new_password="weak")
    fails("InvalidParameter.PasswordPolicy", 400, own.change_password, weak)  # no guess, no clean slate
    own.change_password(_change(PASSWORD))
    assert _console_logon(live, "steady", "guess-2") == 401  # the third failure in the hour
    assert _console_logon(live, "steady", NEW_PASSWORD) == 429


def test_an_administrators_password_reset_ends_the_lock_out(live: Live, admin: RamClient) -> None:
    own = ram_client(live, _user_with_key(admin, "forgetful"))
    for n in range(3):
        fails("InvalidParameter.OldPassword", 400, own.change_password, _change(f"guess-{n}"))
    assert _console_logon(live, "forgetful", PASSWORD) == 429
    admin.update_login_profile(m.UpdateLoginProfileRequest(user_name="forgetful", password=NEW_PASSWORD))
    assert _console_logon(live, "forgetful", NEW_PASSWORD) == 303  # MaxLoginAttemps: reset on a new password


def _lock_out(admin: RamClient, live: Live, name: str) -> None:
    own = ram_client(live, _user_with_key(admin, name))
    for n in range(3):
        fails("InvalidParameter.OldPassword", 400, own.change_password, _change(f"guess-{n}"))
    assert _console_logon(live, name, PASSWORD) == 429


def test_a_new_login_profile_ends_the_lock_out(live: Live, admin: RamClient) -> None:
    _lock_out(admin, live, "recreated")
    admin.delete_login_profile(m.DeleteLoginProfileRequest(user_name="recreated"))
    admin.create_login_profile(m.CreateLoginProfileRequest(user_name="recreated", password=NEW_PASSWORD))
    assert _console_logon(live, "recreated", NEW_PASSWORD) == 303


def test_a_password_reset_with_the_cli_ends_the_lock_out(live: Live, admin: RamClient) -> None:
    """`ram users disable-console` + `enable-console` on the server's store, from another process's view:
    the lock-out lives in the guard, which the command reaches through the same settings as the server."""
    _lock_out(admin, live, "reset-by-cli")
    cli = RamCommand(live.ram.config.store_url, live.account_id, live.ram.service, CliRunner())
    cli.ok("users", "disable-console", "reset-by-cli")
    cli.ok("users", "enable-console", "reset-by-cli", "--password", NEW_PASSWORD)
    assert _console_logon(live, "reset-by-cli", NEW_PASSWORD) == 303
