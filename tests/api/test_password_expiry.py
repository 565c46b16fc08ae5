"""An expired password through alibabacloud-ram20150501: with HardExpiry only an administrator may set a new
one; without it the user changes it (ChangePassword) as the console's logon asks them to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_ram20150501 import models as m  # type: ignore[import-untyped]

from ram_middleware import errors
from ram_middleware.credentials.password import PasswordPolicy
from ram_middleware.service import RamService

from .conftest import start_live
from .live import Key, Live, fails, ram_client

OLD, NEW, ADMIN_SET = "Old-Passw0rd!", "New-Passw0rd!", "Adm1n-Ch0sen!"
HARD = PasswordPolicy(max_password_age=1, hard_expiry=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(str(tmp_path_factory.mktemp("password-expiry")), alias="expiry-co")


@pytest.fixture(autouse=True)
def _default_policy(live: Live) -> Iterator[None]:
    yield
    live.ram.service.set_password_policy(live.account_id, PasswordPolicy())


def person_with_old_password(live: Live, name: str) -> Key:
    """A RAM user whose console password was set 3 days ago, and an AccessKey of theirs."""
    service, account = live.ram.service, live.account_id
    service.create_user(account, name)
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    past = RamService(service.store, clock=lambda: three_days_ago)
    past.create_login_profile(account, name, OLD)
    created = service.create_access_key(account, name)
    return Key(created.key.access_key_id, created.secret)


def password_is(live: Live, name: str, password: str) -> bool:
    try:
        live.ram.service.verify_login_password(live.account_id, name, password)
    except errors.RAMError:
        return False
    return True


def test_a_hard_expired_password_is_not_changed_by_its_user(live: Live) -> None:
    key = person_with_old_password(live, "lapsed")
    live.ram.service.set_password_policy(live.account_id, HARD)
    change = m.ChangePasswordRequest(old_password=OLD, new_password=NEW)
    fails("PasswordExpired", 403, ram_client(live, key).change_password, change)
    assert password_is(live, "lapsed", OLD) and not password_is(live, "lapsed", NEW)
    # An administrator's reset is the way back, after which the user may change it again.
    admin = ram_client(live, live.admin)
    admin.update_login_profile(m.UpdateLoginProfileRequest(user_name="lapsed", password=ADMIN_SET))
    ram_client(live, key).change_password(m.ChangePasswordRequest(old_password=ADMIN_SET, new_password=NEW))
    assert password_is(live, "lapsed", NEW)


def test_a_soft_expired_password_is_changed_by_its_user(live: Live) -> None:
    key = person_with_old_password(live, "overdue")
    live.ram.service.set_password_policy(live.account_id, PasswordPolicy(max_password_age=1))
    ram_client(live, key).change_password(m.ChangePasswordRequest(old_password=OLD, new_password=NEW))
    assert password_is(live, "overdue", NEW)


def test_a_wrong_old_password_is_still_the_answer_to_a_hard_expired_one(live: Live) -> None:
    # As at logon, only whoever knows the password learns that it expired.
    key = person_with_old_password(live, "guessed")
    live.ram.service.set_password_policy(live.account_id, HARD)
    change = m.ChangePasswordRequest(old_password="Wr0ng-Passw0rd!", new_password=NEW)
    fails("InvalidParameter.OldPassword", 400, ram_client(live, key).change_password, change)
