"""Entity lifecycles through alibabacloud-ram20150501: paging, renames, conflicts, versions, MFA, keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pyotp
import pytest
from alibabacloud_ram20150501 import models as m  # type: ignore[import-untyped]
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]

from ram_middleware.credentials.password import PasswordPolicy
from ram_middleware.service import Limits

from .company_x import create_key
from .conftest import start_live
from .live import Live, fails, ram_client

ALLOW_ALL_OSS = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(str(tmp_path_factory.mktemp("lifecycle")), alias="lifecycle-co")


@pytest.fixture(scope="module")
def admin(live: Live) -> RamClient:
    return ram_client(live, live.admin)


def test_user_paging_and_rename(admin: RamClient) -> None:
    for name in ("p1", "p2", "p3", "p4"):
        admin.create_user(m.CreateUserRequest(user_name=name))
    seen: list[str] = []
    marker = None
    while True:
        page = admin.list_users(m.ListUsersRequest(max_items=2, marker=marker)).body
        seen += [u.user_name for u in page.users.user]
        assert len(page.users.user) <= 2
        if not page.is_truncated:
            assert page.marker is None
            break
        marker = page.marker
    assert seen == ["admin", "p1", "p2", "p3", "p4"]
    updated = admin.update_user(
        m.UpdateUserRequest(
            user_name="p4", new_user_name="p5", new_email="p5@example.com", new_mobile_phone="86-13900000000"
        )
    ).body.user
    assert (updated.user_name, updated.email, updated.mobile_phone) == (
        "p5",
        "p5@example.com",
        "86-13900000000",
    )
    fails("EntityNotExist.User", 404, admin.get_user, m.GetUserRequest(user_name="p4"))
    fails("EntityAlreadyExists.User", 409, admin.create_user, m.CreateUserRequest(user_name="P1"))
    fails("InvalidParameter.MaxItems", 400, admin.list_users, m.ListUsersRequest(max_items=1001))
    fails("InvalidParameter.Marker", 400, admin.list_users, m.ListUsersRequest(marker="@@not-ours@@"))


def test_group_membership_conflicts(admin: RamClient) -> None:
    group = admin.create_group(m.CreateGroupRequest(group_name="Ops", comments="operators")).body.group
    assert (group.group_name, group.comments) == ("Ops", "operators")
    admin.add_user_to_group(m.AddUserToGroupRequest(group_name="Ops", user_name="p1"))
    fails(
        "EntityAlreadyExists.User.Group",
        409,
        admin.add_user_to_group,
        m.AddUserToGroupRequest(group_name="Ops", user_name="p1"),
    )
    fails("DeleteConflict.Group.User", 409, admin.delete_group, m.DeleteGroupRequest(group_name="Ops"))
    admin.remove_user_from_group(m.RemoveUserFromGroupRequest(group_name="Ops", user_name="p1"))
    assert admin.list_groups(m.ListGroupsRequest()).body.groups.group[0].group_name == "Ops"
    admin.delete_group(m.DeleteGroupRequest(group_name="Ops"))
    assert admin.list_groups(m.ListGroupsRequest()).body.groups.group == []


def test_policy_versions_and_deletion(admin: RamClient) -> None:
    doc = json.dumps(ALLOW_ALL_OSS)
    admin.create_policy(m.CreatePolicyRequest(policy_name="Oss", policy_document=doc, description="d1"))
    for _ in range(4):
        admin.create_policy_version(m.CreatePolicyVersionRequest(policy_name="Oss", policy_document=doc))
    fails(
        "LimitExceeded.Policy.Version", 409, admin.create_policy_version,
        m.CreatePolicyVersionRequest(policy_name="Oss", policy_document=doc),
    )  # fmt: skip
    rotated = admin.create_policy_version(
        m.CreatePolicyVersionRequest(
            policy_name="Oss",
            policy_document=doc,
            rotate_strategy="DeleteOldestNonDefaultVersionWhenLimitExceeded",
        )
    ).body.policy_version
    assert rotated.version_id == "v6" and rotated.is_default_version is False
    admin.set_default_policy_version(m.SetDefaultPolicyVersionRequest(policy_name="Oss", version_id="v6"))
    got = admin.get_policy_version(
        m.GetPolicyVersionRequest(policy_name="Oss", policy_type="Custom", version_id="v6")
    )
    assert got.body.policy_version.is_default_version is True
    fails(
        "DeleteConflict.Policy.Version",
        409,
        admin.delete_policy_version,
        m.DeletePolicyVersionRequest(policy_name="Oss", version_id="v6"),
    )
    admin.delete_policy_version(m.DeletePolicyVersionRequest(policy_name="Oss", version_id="v1"))
    described = admin.update_policy_description(
        m.UpdatePolicyDescriptionRequest(policy_name="Oss", new_description="d2")
    ).body.policy
    assert described.description == "d2" and described.default_version == "v6"
    # Without NewDescription the description stays, as UpdateUser/UpdateGroup/UpdateRole leave absent fields.
    admin.update_policy_description(m.UpdatePolicyDescriptionRequest(policy_name="Oss"))
    kept = admin.get_policy(m.GetPolicyRequest(policy_name="Oss", policy_type="Custom")).body.policy
    assert kept.description == "d2"
    admin.attach_policy_to_user(
        m.AttachPolicyToUserRequest(policy_type="Custom", policy_name="Oss", user_name="p1")
    )
    fails(
        "EntityAlreadyExists.User.Policy", 409, admin.attach_policy_to_user,
        m.AttachPolicyToUserRequest(policy_type="Custom", policy_name="Oss", user_name="p1"),
    )  # fmt: skip
    fails("DeleteConflict.Policy.User", 409, admin.delete_policy, m.DeletePolicyRequest(policy_name="Oss"))
    listed = admin.list_policies(m.ListPoliciesRequest(policy_type="Custom")).body.policies.policy
    assert [(p.policy_name, p.attachment_count) for p in listed] == [("Oss", 1)]
    admin.delete_policy(m.DeletePolicyRequest(policy_name="Oss", cascading_delete=True))
    fails(
        "EntityNotExist.Policy",
        404,
        admin.get_policy,
        m.GetPolicyRequest(policy_name="Oss", policy_type="Custom"),
    )
    system = admin.list_policies(
        m.ListPoliciesRequest(policy_type="System", max_items=1000)
    ).body.policies.policy
    assert {"AdministratorAccess", "AliyunRAMFullAccess"} <= {p.policy_name for p in system}
    fails(
        "MalformedPolicyDocument",
        400,
        admin.create_policy,
        m.CreatePolicyRequest(policy_name="Bad", policy_document='{"Version":"1"'),
    )


def test_roles(admin: RamClient, live: Live) -> None:
    trust = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [live.arn("root")]}}
            ],
        }
    )
    role = admin.create_role(
        m.CreateRoleRequest(role_name="Deployer", assume_role_policy_document=trust, description="ci")
    ).body.role
    assert (role.role_name, role.max_session_duration, role.allow_console_login) == ("Deployer", 3600, False)
    updated = admin.update_role(
        m.UpdateRoleRequest(role_name="deployer", new_max_session_duration=7200)
    ).body.role
    assert updated.max_session_duration == 7200 and updated.role_name == "Deployer"
    fails(
        "InvalidParameter.MaxSessionDuration",
        400,
        admin.create_role,
        m.CreateRoleRequest(role_name="R2", assume_role_policy_document=trust, max_session_duration=60),
    )
    fails(
        "InvalidParameter.AllowConsoleLogin",
        400,
        admin.create_role,
        m.CreateRoleRequest(role_name="R3", assume_role_policy_document=trust, allow_console_login=True),
    )
    admin.attach_policy_to_role(
        m.AttachPolicyToRoleRequest(
            policy_type="System", policy_name="AliyunOSSReadOnlyAccess", role_name="Deployer"
        )
    )
    listed = admin.list_policies_for_role(
        m.ListPoliciesForRoleRequest(role_name="Deployer")
    ).body.policies.policy
    assert [p.policy_name for p in listed] == ["AliyunOSSReadOnlyAccess"] and listed[0].attach_date.endswith(
        "Z"
    )
    fails("DeleteConflict.Role.Policy", 409, admin.delete_role, m.DeleteRoleRequest(role_name="Deployer"))
    admin.detach_policy_from_role(
        m.DetachPolicyFromRoleRequest(
            policy_type="System", policy_name="AliyunOSSReadOnlyAccess", role_name="Deployer"
        )
    )
    roles = admin.list_roles(m.ListRolesRequest()).body
    assert [r.arn for r in roles.roles.role] == [live.arn("role/deployer")] and roles.is_truncated is False
    admin.delete_role(m.DeleteRoleRequest(role_name="Deployer"))
    fails("EntityNotExist.Role", 404, admin.get_role, m.GetRoleRequest(role_name="Deployer"))


def test_login_profile_and_mfa(admin: RamClient, live: Live) -> None:
    admin.create_login_profile(m.CreateLoginProfileRequest(user_name="p2", password="Strong-Passw0rd!"))
    fails(
        "InvalidParameter.PasswordPolicy",
        400,
        admin.create_login_profile,
        m.CreateLoginProfileRequest(user_name="p3", password="weak"),
    )
    profile = admin.update_login_profile(
        m.UpdateLoginProfileRequest(user_name="p2", mfabind_required=True)
    ).body
    assert profile.request_id
    got = admin.get_login_profile(m.GetLoginProfileRequest(user_name="p2")).body.login_profile
    assert (got.mfabind_required, got.password_reset_required) == (True, False)
    device = admin.create_virtual_mfadevice(
        m.CreateVirtualMFADeviceRequest(virtual_mfadevice_name="p2-phone")
    ).body.virtual_mfadevice
    totp = pyotp.TOTP(device.base_32string_seed)
    now = time.time()
    wrong = m.BindMFADeviceRequest(
        serial_number=device.serial_number,
        user_name="p2",
        authentication_code_1="000000",
        authentication_code_2="000000",
    )
    fails("InvalidAuthenticationCode", 400, admin.bind_mfadevice, wrong)
    admin.bind_mfadevice(
        m.BindMFADeviceRequest(
            serial_number=device.serial_number, user_name="p2",
            authentication_code_1=totp.at(now - 30), authentication_code_2=totp.at(now),
        )
    )  # fmt: skip
    info = admin.get_user_mfainfo(m.GetUserMFAInfoRequest(user_name="p2")).body.mfadevice
    assert (info.serial_number, info.type) == (device.serial_number, "VMFA")
    listed = admin.list_virtual_mfadevices().body.virtual_mfadevices.virtual_mfadevice
    assert listed[0].user.user_name == "p2" and listed[0].activate_date.endswith("Z")
    fails(
        "DeleteConflict.VirtualMFADevice.User",
        409,
        admin.delete_virtual_mfadevice,
        m.DeleteVirtualMFADeviceRequest(serial_number=device.serial_number),
    )
    unbound = admin.unbind_mfadevice(m.UnbindMFADeviceRequest(user_name="p2")).body.mfadevice
    assert unbound.serial_number == device.serial_number
    admin.delete_virtual_mfadevice(m.DeleteVirtualMFADeviceRequest(serial_number=device.serial_number))
    admin.delete_login_profile(m.DeleteLoginProfileRequest(user_name="p2"))
    fails(
        "EntityNotExist.User.LoginProfile",
        404,
        admin.get_login_profile,
        m.GetLoginProfileRequest(user_name="p2"),
    )


def test_recreating_a_login_profile_cannot_reuse_a_recent_password(admin: RamClient, live: Live) -> None:
    """The password history is the user's: DeleteLoginProfile + CreateLoginProfile does not forget it."""
    admin.create_user(m.CreateUserRequest(user_name="cycler"))
    admin.set_password_policy(m.SetPasswordPolicyRequest(password_reuse_prevention=2))
    try:
        old, new, third = "Old-Passw0rd!", "New-Passw0rd!", "Th1rd-Passw0rd!"
        admin.create_login_profile(m.CreateLoginProfileRequest(user_name="cycler", password=old))
        admin.update_login_profile(m.UpdateLoginProfileRequest(user_name="cycler", password=new))
        admin.delete_login_profile(m.DeleteLoginProfileRequest(user_name="cycler"))
        for reused in (new, old):
            fails(
                "InvalidParameter.PasswordPolicy",
                400,
                admin.create_login_profile,
                m.CreateLoginProfileRequest(user_name="cycler", password=reused),
            )
        admin.create_login_profile(m.CreateLoginProfileRequest(user_name="cycler", password=third))
        fails(
            "InvalidParameter.PasswordPolicy",
            400,
            admin.update_login_profile,
            m.UpdateLoginProfileRequest(user_name="cycler", password=new),
        )
        # DeleteUser takes the history with it: a new user of the same name starts with none.
        admin.delete_login_profile(m.DeleteLoginProfileRequest(user_name="cycler"))
        admin.delete_user(m.DeleteUserRequest(user_name="cycler"))
        admin.create_user(m.CreateUserRequest(user_name="cycler"))
        admin.create_login_profile(m.CreateLoginProfileRequest(user_name="cycler", password=new))
    finally:
        live.ram.service.set_password_policy(live.account_id, PasswordPolicy())


def test_inactive_key_is_refused_then_works_again(admin: RamClient, live: Live) -> None:
    admin.attach_policy_to_user(
        m.AttachPolicyToUserRequest(
            policy_type="System", policy_name="AliyunRAMReadOnlyAccess", user_name="p3"
        )
    )
    key = create_key(admin, "p3")
    reader = ram_client(live, key)
    assert reader.get_user(m.GetUserRequest(user_name="p3")).body.user.user_name == "p3"
    admin.update_access_key(
        m.UpdateAccessKeyRequest(user_name="p3", user_access_key_id=key.access_key_id, status="Inactive")
    )
    listed = admin.list_access_keys(m.ListAccessKeysRequest(user_name="p3")).body.access_keys.access_key
    assert [(k.access_key_id, k.status) for k in listed] == [(key.access_key_id, "Inactive")]
    fails("InvalidAccessKeyId.Inactive", 400, reader.get_user, m.GetUserRequest(user_name="p3"))
    admin.update_access_key(
        m.UpdateAccessKeyRequest(user_name="p3", user_access_key_id=key.access_key_id, status="Active")
    )
    assert reader.get_user(m.GetUserRequest(user_name="p3")).body.user.user_name == "p3"
    fails(
        "InvalidParameter.Status",
        400,
        admin.update_access_key,
        m.UpdateAccessKeyRequest(user_name="p3", user_access_key_id=key.access_key_id, status="Paused"),
    )
    create_key(admin, "p3")
    fails("LimitExceeded.User.AccessKey", 409, create_key, admin, "p3")
    fails(
        "EntityNotExist.AccessKey",
        404,
        admin.delete_access_key,
        m.DeleteAccessKeyRequest(user_name="p1", user_access_key_id=key.access_key_id),
    )


def test_account_alias(admin: RamClient) -> None:
    assert admin.get_account_alias().body.account_alias == "lifecycle-co"
    admin.set_account_alias(m.SetAccountAliasRequest(account_alias="renamed-co"))
    assert admin.get_account_alias().body.account_alias == "renamed-co"
    fails(
        "InvalidParameter.AccountAlias.Format",
        400,
        admin.set_account_alias,
        m.SetAccountAliasRequest(account_alias="-bad-"),
    )
    admin.clear_account_alias()
    assert admin.get_account_alias().body.account_alias == ""


def test_tags_from_the_sdk_are_refused_not_dropped(admin: RamClient, live: Live) -> None:
    # The tea SDK sends tags as one JSON parameter, bare ``Tag``, not as ``Tag.N.Key``.
    trust = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [live.arn("root")]}}
            ],
        }
    )
    env = {"key": "env", "value": "prod"}
    tagged_role = m.CreateRoleRequest(
        role_name="Tagged", assume_role_policy_document=trust, tag=[m.CreateRoleRequestTag(**env)]
    )
    tagged_policy = m.CreatePolicyRequest(
        policy_name="Tagged", policy_document=json.dumps(ALLOW_ALL_OSS), tag=[m.CreatePolicyRequestTag(**env)]
    )
    role_filter = m.ListRolesRequest(tag=[m.ListRolesRequestTag(**env)])
    policy_filter = m.ListPoliciesRequest(policy_type="Custom", tag=[m.ListPoliciesRequestTag(**env)])
    fails("InvalidParameter.Tag", 400, admin.create_role, tagged_role)
    fails("InvalidParameter.Tag", 400, admin.create_policy, tagged_policy)
    fails("InvalidParameter.Tag", 400, admin.list_roles, role_filter)
    fails("InvalidParameter.Tag", 400, admin.list_policies, policy_filter)
    fails("EntityNotExist.Role", 404, admin.get_role, m.GetRoleRequest(role_name="Tagged"))
    fails(
        "EntityNotExist.Policy",
        404,
        admin.get_policy,
        m.GetPolicyRequest(policy_name="Tagged", policy_type="Custom"),
    )


def test_mfa_serial_numbers_ignore_case(admin: RamClient, live: Live) -> None:
    created = admin.create_virtual_mfadevice(m.CreateVirtualMFADeviceRequest(virtual_mfadevice_name="Dev1"))
    assert created.body.virtual_mfadevice.serial_number == live.arn("mfa/Dev1")
    fails(
        "EntityAlreadyExists.VirtualMFADevice",
        409,
        admin.create_virtual_mfadevice,
        m.CreateVirtualMFADeviceRequest(virtual_mfadevice_name="dev1"),
    )
    admin.delete_virtual_mfadevice(m.DeleteVirtualMFADeviceRequest(serial_number=live.arn("mfa/dev1")))
    devices = admin.list_virtual_mfadevices().body.virtual_mfadevices.virtual_mfadevice
    assert live.arn("mfa/Dev1") not in [d.serial_number for d in devices]


def test_policy_paging_and_holders(admin: RamClient) -> None:
    names = ["pg-b", "Pg-A", "PG-c"]
    for name in names:
        admin.create_policy(
            m.CreatePolicyRequest(policy_name=name, policy_document=json.dumps(ALLOW_ALL_OSS))
        )
    seen: list[tuple[str, str]] = []
    marker = None
    while True:
        page = admin.list_policies(m.ListPoliciesRequest(max_items=5, marker=marker)).body
        seen += [(p.policy_type, p.policy_name) for p in page.policies.policy]
        assert len(page.policies.policy) <= 5
        if not page.is_truncated:
            assert page.marker is None
            break
        marker = page.marker
    system = [n for kind, n in seen if kind == "System"]
    assert seen[: len(system)] == [("System", n) for n in sorted(system, key=str.lower)] and len(system) > 5
    assert seen[len(system) :] == [("Custom", "Pg-A"), ("Custom", "pg-b"), ("Custom", "PG-c")]
    for user in ("pager-z", "Pager-y"):
        admin.create_user(m.CreateUserRequest(user_name=user))
        admin.attach_policy_to_user(
            m.AttachPolicyToUserRequest(policy_type="Custom", policy_name="pg-a", user_name=user)
        )
    holders = admin.list_entities_for_policy(
        m.ListEntitiesForPolicyRequest(policy_type="Custom", policy_name="Pg-A")
    ).body
    assert [u.user_name for u in holders.users.user] == ["Pager-y", "pager-z"]
    for user in ("pager-z", "Pager-y"):
        admin.detach_policy_from_user(
            m.DetachPolicyFromUserRequest(policy_type="Custom", policy_name="Pg-A", user_name=user)
        )
        admin.delete_user(m.DeleteUserRequest(user_name=user))
    for name in names:
        admin.delete_policy(m.DeletePolicyRequest(policy_name=name))


def test_the_control_plane_keeps_to_the_configured_quotas(tmp_path_factory: pytest.TempPathFactory) -> None:
    # The bootstrap admin is the account's first user.
    limits = Limits(users_per_account=2, groups_per_account=1)
    lives = start_live(str(tmp_path_factory.mktemp("quotas")), alias="quota-co", limits=limits)
    try:
        live = next(lives)
        admin = ram_client(live, live.admin)
        admin.create_user(m.CreateUserRequest(user_name="second"))
        fails("LimitExceeded.User", 409, admin.create_user, m.CreateUserRequest(user_name="third"))
        admin.create_group(m.CreateGroupRequest(group_name="only"))
        fails("LimitExceeded.Group", 409, admin.create_group, m.CreateGroupRequest(group_name="another"))
    finally:
        lives.close()  # stops the server and closes the runtime
