"""Groups and memberships."""

from __future__ import annotations

import pytest

from ram_middleware.service import Limits, RamService
from ram_middleware.store import Store

from ..store.backends import FakeClock, expect_code


def test_create_get_update(svc: RamService, acct: str, clock: FakeClock) -> None:
    group = svc.create_group(acct, "R.n-D_1", comments="research")
    assert group.group_id.isdigit() and group.create_date == clock.now
    assert svc.get_group(acct, "r.N-d_1") == group
    clock.advance(5)
    renamed = svc.update_group(acct, "r.n-d_1", new_group_name="rnd", new_comments="")
    assert (renamed.group_name, renamed.comments, renamed.update_date) == ("rnd", "", clock.now)
    assert renamed.group_id == group.group_id


@pytest.mark.parametrize(
    ("name", "code"),
    [("", "InvalidParameter.GroupName.Length"), ("g" * 65, "InvalidParameter.GroupName.Length"),
     ("R&D", "InvalidParameter.GroupName.InvalidChars")],
)  # fmt: skip
def test_group_name_rules(svc: RamService, acct: str, name: str, code: str) -> None:
    with expect_code(code):
        svc.create_group(acct, name)


def test_group_names_unique_and_rename_conflicts(svc: RamService, acct: str) -> None:
    svc.create_group(acct, "HR")
    svc.create_group(acct, "ops")
    with expect_code("EntityAlreadyExists.Group"):
        svc.create_group(acct, "hr")
    with expect_code("EntityAlreadyExists.Group"):
        svc.update_group(acct, "ops", new_group_name="Hr")
    with expect_code("InvalidParameter.Comments.Length"):
        svc.create_group(acct, "x", comments="c" * 129)


def test_memberships_with_join_dates(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "dave")
    svc.create_group(acct, "ops")
    svc.create_group(acct, "rnd")
    svc.add_user_to_group(acct, "ops", "dave")
    joined_ops = clock.now
    clock.advance(3600)
    svc.add_user_to_group(acct, "RND", "DAVE")
    groups = svc.list_groups_for_user(acct, "dave")
    assert [(j.group.group_name, j.join_date) for j in groups] == [("ops", joined_ops), ("rnd", clock.now)]
    members = svc.list_users_for_group(acct, "ops")
    assert [(j.user.user_name, j.join_date) for j in members.items] == [("dave", joined_ops)]
    with expect_code("EntityAlreadyExists.User.Group"):
        svc.add_user_to_group(acct, "ops", "dave")
    svc.remove_user_from_group(acct, "ops", "dave")
    assert [j.group.group_name for j in svc.list_groups_for_user(acct, "dave")] == ["rnd"]
    with expect_code("EntityNotExist.User.Group"):
        svc.remove_user_from_group(acct, "ops", "dave")
    with expect_code("EntityNotExist.Group"):
        svc.add_user_to_group(acct, "nope", "dave")
    with expect_code("EntityNotExist.User"):
        svc.add_user_to_group(acct, "ops", "nope")


def test_groups_per_user_quota(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "d")
    for n in range(6):
        svc.create_group(acct, f"g{n}")
    for n in range(5):
        svc.add_user_to_group(acct, f"g{n}", "d")
    with expect_code("LimitExceeded.User.Group"):
        svc.add_user_to_group(acct, "g5", "d")
    assert len(svc.list_groups_for_user(acct, "d")) == 5


def test_groups_per_account_quota(store: Store, clock: FakeClock) -> None:
    svc = RamService(store, clock=clock, limits=Limits(groups_per_account=1))
    acct = svc.create_account().account_id
    svc.create_group(acct, "one")
    with expect_code("LimitExceeded.Group"):
        svc.create_group(acct, "two")


def test_delete_conflicts_and_force(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "u")
    svc.create_group(acct, "g")
    svc.add_user_to_group(acct, "g", "u")
    with expect_code("DeleteConflict.Group.User"):
        svc.delete_group(acct, "g")
    svc.remove_user_from_group(acct, "g", "u")
    svc.attach_policy_to_group(acct, "System", "ReadOnlyAccess", "g")
    with expect_code("DeleteConflict.Group.Policy"):
        svc.delete_group(acct, "g")
    svc.add_user_to_group(acct, "g", "u")
    svc.delete_group(acct, "g", force=True)
    with expect_code("EntityNotExist.Group"):
        svc.get_group(acct, "g")
    assert svc.list_groups_for_user(acct, "u") == []
    assert svc.list_entities_for_policy(acct, "System", "ReadOnlyAccess").groups == ()
    svc.create_group(acct, "empty")
    svc.delete_group(acct, "empty")


def test_list_groups_pages_and_caps_max_items_at_100(svc: RamService, acct: str) -> None:
    for n in range(7):
        svc.create_group(acct, f"g{n}")
    first = svc.list_groups(acct, max_items=4)
    second = svc.list_groups(acct, marker=first.marker, max_items=4)
    assert first.is_truncated and not second.is_truncated
    assert [g.group_name for g in first.items + second.items] == [f"g{n}" for n in range(7)]
    with expect_code("InvalidParameter.MaxItems"):
        svc.list_groups(acct, max_items=101)


def test_list_users_for_group_pages(svc: RamService, acct: str) -> None:
    svc.create_group(acct, "g")
    for n in range(5):
        svc.create_user(acct, f"u{n}")
        svc.add_user_to_group(acct, "g", f"u{n}")
    first = svc.list_users_for_group(acct, "g", max_items=2)
    rest = svc.list_users_for_group(acct, "g", marker=first.marker, max_items=10)
    assert [j.user.user_name for j in first.items + rest.items] == [f"u{n}" for n in range(5)]
