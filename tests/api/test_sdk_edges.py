"""Edge cases of the RAM API seen through the official SDK: deployment quotas and paging Markers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alibabacloud_ram20150501 import models as m  # type: ignore[import-untyped]
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]

from ram_middleware.service import Limits

from .conftest import start_live
from .live import Live, fails, ram_client

ALLOW_ALL_OSS = json.dumps(
    {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def one_version(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A plane whose deployment allows one version per policy (stricter than Alibaba's five)."""
    yield from start_live(str(tmp_path_factory.mktemp("one-version")), limits=Limits(policy_versions=1))


def test_rotating_under_a_one_version_quota_is_a_limit_not_an_outage(one_version: Live) -> None:
    """The only version is the default, so there is nothing to rotate out: 409, as without rotation."""
    admin = ram_client(one_version, one_version.admin)
    admin.create_policy(m.CreatePolicyRequest(policy_name="Oss", policy_document=ALLOW_ALL_OSS))
    for strategy in ("None", "DeleteOldestNonDefaultVersionWhenLimitExceeded"):
        request = m.CreatePolicyVersionRequest(
            policy_name="Oss", policy_document=ALLOW_ALL_OSS, rotate_strategy=strategy, set_as_default=True
        )
        fails("LimitExceeded.Policy.Version", 409, admin.create_policy_version, request)
    listed = admin.list_policy_versions(m.ListPolicyVersionsRequest(policy_name="Oss", policy_type="Custom"))
    versions = listed.body.policy_versions.policy_version
    assert [(v.version_id, v.is_default_version) for v in versions] == [("v1", True)]


@pytest.fixture(scope="module")
def live_admin(live: Live) -> RamClient:
    return ram_client(live, live.admin)


def test_a_marker_another_listing_issued_is_refused_by_list_policies(live_admin: RamClient) -> None:
    """ListPolicies continues only at its own keys: a ListUsers Marker used to answer an empty, complete
    page (or restart from the top), so a client paging with the wrong Marker silently lost policies."""
    for name in ("m1", "m2"):
        live_admin.create_user(m.CreateUserRequest(user_name=name))
    users = live_admin.list_users(m.ListUsersRequest(max_items=1)).body
    assert users.is_truncated and users.marker
    fails(
        "InvalidParameter.Marker", 400, live_admin.list_policies, m.ListPoliciesRequest(marker=users.marker)
    )
    # Its own Markers still continue where they left off.
    first = live_admin.list_policies(m.ListPoliciesRequest(max_items=1)).body
    after = live_admin.list_policies(m.ListPoliciesRequest(max_items=1, marker=first.marker)).body
    assert after.policies.policy[0].policy_name != first.policies.policy[0].policy_name


def test_a_resource_group_scope_is_refused_not_widened_to_the_account(live_admin: RamClient) -> None:
    """Attachments here are account-wide. AttachPolicyToUser with ResourceGroupId used to succeed and grant
    the policy on the whole account, more than the caller asked for; now it is refused and nothing changes.
    A detach naming a resource group is refused too: it would name an attachment that cannot exist."""
    live_admin.create_user(m.CreateUserRequest(user_name="scoped"))
    live_admin.create_policy(m.CreatePolicyRequest(policy_name="Scoped", policy_document=ALLOW_ALL_OSS))
    scope = {"policy_type": "Custom", "policy_name": "Scoped", "resource_group_id": "rg-acfmykd63gt****"}
    attach = m.AttachPolicyToUserRequest(user_name="scoped", **scope)
    fails("InvalidParameter.ResourceGroupId", 400, live_admin.attach_policy_to_user, attach)
    for_user = m.ListPoliciesForUserRequest(user_name="scoped")
    assert live_admin.list_policies_for_user(for_user).body.policies.policy == []

    live_admin.attach_policy_to_user(
        m.AttachPolicyToUserRequest(user_name="scoped", **{**scope, "resource_group_id": None})
    )
    detach = m.DetachPolicyFromUserRequest(user_name="scoped", **scope)
    fails("InvalidParameter.ResourceGroupId", 400, live_admin.detach_policy_from_user, detach)
    names = [p.policy_name for p in live_admin.list_policies_for_user(for_user).body.policies.policy]
    assert names == ["Scoped"]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("new_email", "not-an-address", "InvalidParameter.NewEmail.Format"),
        ("new_email", "a@b." + "c" * 130, "InvalidParameter.NewEmail.Length"),
        ("new_mobile_phone", "13900001234", "InvalidParameter.NewMobilePhone.Format"),
    ],
)
def test_update_user_refusals_name_the_parameter_sent(
    live_admin: RamClient, field: str, value: str, code: str
) -> None:
    """A bad NewEmail or NewMobilePhone used to be reported as Email / MobilePhone, parameters UpdateUser
    does not have (NewDisplayName and NewComments were already named as sent); the user is unchanged."""
    name = f"updated-{code.split('.')[1]}-{len(value)}"
    live_admin.create_user(m.CreateUserRequest(user_name=name, email="kept@example.com"))
    fails(code, 400, live_admin.update_user, m.UpdateUserRequest(user_name=name, **{field: value}))
    user = live_admin.get_user(m.GetUserRequest(user_name=name)).body.user
    assert (user.email, user.mobile_phone) == ("kept@example.com", "")


def test_a_list_policies_marker_is_refused_by_the_name_listings(live_admin: RamClient) -> None:
    """ListUsers, ListGroups, ListRoles and ListUsersForGroup continue at a name: a ListPolicies Marker
    (``0:<policy>``, which no name can be) used to be taken as one, so the page silently left out every
    entry sorting before it (a user named ``0``). Now it is refused, as ListPolicies refuses theirs."""
    live_admin.create_user(m.CreateUserRequest(user_name="0"))
    live_admin.create_group(m.CreateGroupRequest(group_name="markers"))
    live_admin.add_user_to_group(m.AddUserToGroupRequest(group_name="markers", user_name="0"))
    marker = live_admin.list_policies(m.ListPoliciesRequest(max_items=1)).body.marker
    assert marker
    fails("InvalidParameter.Marker", 400, live_admin.list_users, m.ListUsersRequest(marker=marker))
    fails("InvalidParameter.Marker", 400, live_admin.list_groups, m.ListGroupsRequest(marker=marker))
    fails("InvalidParameter.Marker", 400, live_admin.list_roles, m.ListRolesRequest(marker=marker))
    members = m.ListUsersForGroupRequest(group_name="markers", marker=marker)
    fails("InvalidParameter.Marker", 400, live_admin.list_users_for_group, members)
    # Their own Markers still continue where they left off.
    first = live_admin.list_users(m.ListUsersRequest(max_items=1)).body
    after = live_admin.list_users(m.ListUsersRequest(max_items=1, marker=first.marker)).body
    assert [u.user_name for u in first.users.user + after.users.user] == ["0", "admin"]
