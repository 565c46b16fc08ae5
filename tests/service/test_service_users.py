"""Users: name rules, uniqueness, update, listing, quotas, delete conflicts and forced delete."""

from __future__ import annotations

import pytest

from ram_middleware.service import Limits, RamService
from ram_middleware.store import Store

from ..store.backends import FakeClock, expect_code

DOC = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*"}]}'


def test_create_and_get(svc: RamService, acct: str, clock: FakeClock) -> None:
    user = svc.create_user(
        acct, "alice.w-1_x", display_name="Alice", mobile_phone="86-13900001234", email="a@example.com",
        comments="R&D",
    )  # fmt: skip
    assert user.user_id.isdigit() and len(user.user_id) == 18
    assert user.create_date == user.update_date == clock.now
    assert user.arn == f"acs:ram::{acct}:user/alice.w-1_x"
    assert svc.get_user(acct, "ALICE.W-1_X") == user


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "InvalidParameter.UserName.Length"),
        ("a" * 65, "InvalidParameter.UserName.Length"),
        ("al ice", "InvalidParameter.UserName.InvalidChars"),
        ("alice@x", "InvalidParameter.UserName.InvalidChars"),
        ("アリス", "InvalidParameter.UserName.InvalidChars"),
    ],
)
def test_user_name_rules(svc: RamService, acct: str, name: str, code: str) -> None:
    with expect_code(code):
        svc.create_user(acct, name)
    assert svc.list_users(acct).items == ()


def test_longest_name_is_accepted(svc: RamService, acct: str) -> None:
    assert svc.create_user(acct, "a" * 64).user_name == "a" * 64


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("display_name", "d" * 129, "InvalidParameter.DisplayName.Length"),
        ("display_name", "bad\nname", "InvalidParameter.DisplayName.InvalidChars"),
        ("display_name", "bad\uffffname", "InvalidParameter.DisplayName.InvalidChars"),
        ("comments", "bad\ufffe", "InvalidParameter.Comments.InvalidChars"),
        ("comments", "bad\ud800", "InvalidParameter.Comments.InvalidChars"),
        ("comments", "c" * 129, "InvalidParameter.Comments.Length"),
        ("email", "not-an-address", "InvalidParameter.Email.Format"),
        ("mobile_phone", "13900001234", "InvalidParameter.MobilePhone.Format"),
    ],
)
def test_attribute_rules(svc: RamService, acct: str, field: str, value: str, code: str) -> None:
    with expect_code(code):
        svc.create_user(acct, "alice", **{field: value})


def test_names_are_unique_case_insensitively(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "Alice")
    with expect_code("EntityAlreadyExists.User"):
        svc.create_user(acct, "aLICE")
    other = svc.create_account().account_id
    assert svc.create_user(other, "alice").account_id == other  # unique per account only


def test_update_renames_and_changes_fields(svc: RamService, acct: str, clock: FakeClock) -> None:
    created = svc.create_user(acct, "alice", display_name="A")
    svc.create_user(acct, "bob")
    clock.advance(60)
    updated = svc.update_user(acct, "alice", new_user_name="Alice2", new_email="x@y.org")
    assert (updated.user_name, updated.display_name, updated.email) == ("Alice2", "A", "x@y.org")
    assert updated.user_id == created.user_id and updated.update_date == clock.now
    assert svc.get_user(acct, "alice2") == updated
    with expect_code("EntityNotExist.User"):
        svc.get_user(acct, "alice")
    with expect_code("EntityAlreadyExists.User"):
        svc.update_user(acct, "alice2", new_user_name="BOB")
    assert svc.update_user(acct, "alice2", new_user_name="ALICE2").user_name == "ALICE2"  # case-only rename
    with expect_code("InvalidParameter.NewUserName.InvalidChars"):
        svc.update_user(acct, "alice2", new_user_name="a b")
    with expect_code("EntityNotExist.User"):
        svc.update_user(acct, "nobody", new_display_name="x")


def test_list_users_pages_with_markers(svc: RamService, acct: str) -> None:
    names = [f"user{n:03d}" for n in range(250)]
    for name in reversed(names):
        svc.create_user(acct, name)
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        page = svc.list_users(acct, marker=marker, max_items=100)
        seen += [u.user_name for u in page.items]
        pages += 1
        if not page.is_truncated:
            assert page.marker is None
            break
        marker = page.marker
    assert pages == 3
    assert seen == names


@pytest.mark.parametrize("max_items", [0, 1001, -5])
def test_list_users_max_items_range(svc: RamService, acct: str, max_items: int) -> None:
    with expect_code("InvalidParameter.MaxItems"):
        svc.list_users(acct, max_items=max_items)


def test_bad_marker(svc: RamService, acct: str) -> None:
    with expect_code("InvalidParameter.Marker"):
        svc.list_users(acct, marker="%%%")


def test_user_quota(store: Store, clock: FakeClock) -> None:
    svc = RamService(store, clock=clock, limits=Limits(users_per_account=2))
    acct = svc.create_account().account_id
    svc.create_user(acct, "a")
    svc.create_user(acct, "b")
    with expect_code("LimitExceeded.User"):
        svc.create_user(acct, "c")


def test_unknown_account(svc: RamService) -> None:
    with expect_code("EntityNotExist.Account"):
        svc.create_user("1111111111111111", "alice")


def _give_everything(svc: RamService, acct: str) -> None:
    svc.create_group(acct, "g")
    svc.add_user_to_group(acct, "g", "alice")
    svc.create_policy(acct, "P", DOC)
    svc.attach_policy_to_user(acct, "Custom", "P", "alice")
    svc.create_access_key(acct, "alice")
    svc.create_login_profile(acct, "alice", "Str0ng!Passw0rd")


@pytest.mark.parametrize("dependent", ["AccessKey", "Group", "Policy", "LoginProfile", "MFADevice"])
def test_each_dependent_blocks_delete(svc: RamService, acct: str, clock: FakeClock, dependent: str) -> None:
    svc.create_user(acct, "alice")
    if dependent == "AccessKey":
        svc.create_access_key(acct, "alice")
    elif dependent == "Group":
        svc.create_group(acct, "g")
        svc.add_user_to_group(acct, "g", "alice")
    elif dependent == "Policy":
        svc.attach_policy_to_user(acct, "System", "ReadOnlyAccess", "alice")
    elif dependent == "LoginProfile":
        svc.create_login_profile(acct, "alice", "Str0ng!Passw0rd")
    else:
        from .mfa_helpers import bind_new_device

        bind_new_device(svc, acct, "alice", clock)
    with expect_code(f"DeleteConflict.User.{dependent}"):
        svc.delete_user(acct, "alice")
    assert svc.get_user(acct, "alice").user_name == "alice"


def test_forced_delete_removes_every_dependent(svc: RamService, acct: str, clock: FakeClock) -> None:
    from .mfa_helpers import bind_new_device

    svc.create_user(acct, "alice")
    _give_everything(svc, acct)
    serial = bind_new_device(svc, acct, "alice", clock)
    svc.delete_user(acct, "alice", force=True)
    with expect_code("EntityNotExist.User"):
        svc.get_user(acct, "alice")
    assert svc.list_users_for_group(acct, "g").items == ()
    assert svc.list_entities_for_policy(acct, "Custom", "P").users == ()
    assert svc.get_policy(acct, "P", "Custom").policy.attachment_count == 0
    assert [d.serial_number for d in svc.list_virtual_mfa_devices(acct) if not d.is_bound] == [serial]
    svc.create_user(acct, "alice")  # a new user of the same name starts empty
    assert svc.list_access_keys(acct, "alice") == []
    assert svc.list_groups_for_user(acct, "alice") == []
    assert svc.list_policies_for_user(acct, "alice") == []
    with expect_code("EntityNotExist.User.LoginProfile"):
        svc.get_login_profile(acct, "alice")
    svc.delete_user(acct, "alice")


def test_delete_unknown_user(svc: RamService, acct: str) -> None:
    with expect_code("EntityNotExist.User"):
        svc.delete_user(acct, "nobody", force=True)
