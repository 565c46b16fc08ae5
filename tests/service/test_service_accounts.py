"""Accounts, aliases, password policy and security preference."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from ram_middleware.credentials.password import PasswordPolicy
from ram_middleware.credentials.preference import SecurityPreference
from ram_middleware.service import RamService

from ..store.backends import FakeClock, expect_code


def test_accounts_have_16_digit_ids(svc: RamService, clock: FakeClock) -> None:
    accounts = [svc.create_account() for _ in range(20)]
    for account in accounts:
        assert len(account.account_id) == 16 and account.account_id.isdigit() and account.account_id[0] != "0"
        assert account.create_date == clock.now and account.alias is None
    assert len({a.account_id for a in accounts}) == 20
    assert svc.get_account(accounts[0].account_id) == accounts[0]
    assert {a.account_id for a in svc.list_accounts()} == {a.account_id for a in accounts}
    with expect_code("EntityNotExist.Account"):
        svc.get_account("0000000000000000")


@pytest.mark.parametrize(
    ("alias", "code"),
    [
        ("ab", "InvalidParameter.AccountAlias.Length"),
        ("a" * 33, "InvalidParameter.AccountAlias.Length"),
        ("Company", "InvalidParameter.AccountAlias.InvalidChars"),
        ("com_pany", "InvalidParameter.AccountAlias.InvalidChars"),
        ("-company", "InvalidParameter.AccountAlias.Format"),
        ("company-", "InvalidParameter.AccountAlias.Format"),
        ("com--pany", "InvalidParameter.AccountAlias.Format"),
        ("1234567890123456", "InvalidParameter.AccountAlias.Format"),
    ],
)
def test_alias_rules(svc: RamService, alias: str, code: str) -> None:
    with expect_code(code):
        svc.create_account(alias)
    account = svc.create_account()
    with expect_code(code):
        svc.set_account_alias(account.account_id, alias)


def test_alias_lifecycle_and_lookup(svc: RamService) -> None:
    first = svc.create_account("company-x")
    second = svc.create_account()
    assert svc.find_account("company-x") == first
    assert svc.find_account("COMPANY-X") == first
    assert svc.find_account(second.account_id) == second
    with expect_code("EntityAlreadyExists.AccountAlias"):
        svc.create_account("company-x")
    with expect_code("EntityAlreadyExists.AccountAlias"):
        svc.set_account_alias(second.account_id, "company-x")
    assert svc.set_account_alias(first.account_id, "company-x").alias == "company-x"  # idempotent
    svc.clear_account_alias(first.account_id)
    assert svc.get_account_alias(first.account_id) is None
    assert svc.set_account_alias(second.account_id, "company-x").alias == "company-x"
    with expect_code("EntityNotExist.Account"):
        svc.find_account("nobody-here")


def test_password_policy_round_trip(svc: RamService, acct: str) -> None:
    assert svc.get_password_policy(acct) == PasswordPolicy()
    policy = PasswordPolicy(minimum_password_length=12, require_symbols=False, max_login_attempts=3)
    assert svc.set_password_policy(acct, policy) == policy
    assert svc.get_password_policy(acct) == policy
    other = svc.create_account().account_id
    assert svc.get_password_policy(other) == PasswordPolicy()


def test_security_preference_round_trip(svc: RamService, acct: str) -> None:
    assert svc.get_security_preference(acct) == SecurityPreference()
    preference = SecurityPreference(
        allow_user_to_manage_access_keys=True, login_session_duration=2, login_network_masks=("10.0.0.0/8",)
    )
    svc.set_security_preference(acct, preference)
    assert svc.get_security_preference(acct) == preference
    with expect_code("EntityNotExist.Account"):
        svc.get_security_preference("1111111111111111")


def test_two_admins_changing_different_fields_at_once_both_keep_their_change(
    svc: RamService, acct: str
) -> None:
    # The first change is held inside its transaction while the second starts: had the second read the
    # policy before the first wrote it, its write would undo the first one.
    inside, release = threading.Event(), threading.Event()

    def slow(current: PasswordPolicy) -> PasswordPolicy:
        inside.set()
        assert release.wait(10)
        return dataclasses.replace(current, minimum_password_length=12)

    first = threading.Thread(target=svc.update_password_policy, args=(acct, slow))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(
        target=svc.update_password_policy,
        args=(acct, lambda current: dataclasses.replace(current, max_login_attempts=3)),
    )
    second.start()
    second.join(0.3)  # waits for the first transaction (or, were there none, is done by now)
    release.set()
    first.join(10)
    second.join(10)
    policy = svc.get_password_policy(acct)
    assert (policy.minimum_password_length, policy.max_login_attempts) == (12, 3)
