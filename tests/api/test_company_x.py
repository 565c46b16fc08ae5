"""Company X provisioned through alibabacloud-ram20150501 against the live control plane, then administered
by its people: HR manages users, R&D may not, the bootstrap admin may do anything, leavers' keys die."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from alibabacloud_sts20150401 import models as sts_models  # type: ignore[import-untyped]
from aliyunsdkcore.acs_exception.exceptions import ServerException
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from .company_x import CONSOLE_PASSWORD, Org, create_key, provision
from .conftest import start_live
from .live import RAM_VERSION, Key, Live, core_call, fails, ram_client, sts_client


@pytest.fixture(scope="module")
def org(live: Live) -> Iterator[Org]:
    provisioned = provision(live)
    admin = ram_client(live, live.admin)
    # Test identities beyond the file: keys for HR's A and R&D's B.
    for name in ("A", "B"):
        provisioned.keys[name] = create_key(admin, name)
    yield provisioned


def test_provisioned_organisation_reads_back_through_the_sdk(live: Live, org: Org) -> None:
    client = ram_client(live, live.admin)
    users = client.list_users(ram_models.ListUsersRequest(max_items=100)).body
    assert users.is_truncated is False
    assert sorted(u.user_name for u in users.users.user) == ["A", "B", "C", "D", "E", "admin", "app"]
    d_groups = client.list_groups_for_user(ram_models.ListGroupsForUserRequest(user_name="D")).body
    assert sorted(g.group_name for g in d_groups.groups.group) == ["OandM", "RnD"]
    assert all(g.join_date.endswith("Z") for g in d_groups.groups.group)
    members = client.list_users_for_group(ram_models.ListUsersForGroupRequest(group_name="RnD")).body
    assert sorted(u.user_name for u in members.users.user) == ["B", "C", "D"]
    rnd = client.list_policies_for_group(ram_models.ListPoliciesForGroupRequest(group_name="RnD")).body
    assert sorted((p.policy_type, p.policy_name) for p in rnd.policies.policy) == [
        ("Custom", "RnDOSSOfficeNetworkWorkingHours"),
        ("System", "AliyunECSReadOnlyAccess"),
        ("System", "AliyunRDSReadOnlyAccess"),
    ]
    custom = org.spec["Policies"][0]
    got = client.get_policy(
        ram_models.GetPolicyRequest(policy_name=custom["PolicyName"], policy_type="Custom")
    ).body
    assert got.policy.attachment_count == 1 and got.policy.description == custom["Description"]
    assert got.default_policy_version.is_default_version is True
    assert json.loads(got.default_policy_version.policy_document) == custom["PolicyDocument"]
    entities = client.list_entities_for_policy(
        ram_models.ListEntitiesForPolicyRequest(policy_type="System", policy_name="AliyunECSReadOnlyAccess")
    ).body
    assert [g.group_name for g in entities.groups.group] == ["RnD"]
    assert [u.user_name for u in entities.users.user] == ["app"]
    assert entities.roles.role == []
    role = client.get_role(ram_models.GetRoleRequest(role_name="OSSReader")).body.role
    assert role.arn == org.role_arns["OSSReader"] and role.role_id
    assert json.loads(role.assume_role_policy_document)["Statement"][0]["Principal"]["RAM"] == [
        live.arn("root")
    ]
    profile = client.get_login_profile(ram_models.GetLoginProfileRequest(user_name="D")).body.login_profile
    assert profile.mfabind_required is True and profile.password_reset_required is True
    keys = client.list_access_keys(ram_models.ListAccessKeysRequest(user_name="app")).body
    assert [k.access_key_id for k in keys.access_keys.access_key] == [org.keys["app"].access_key_id]
    # The application has an AccessKey only; console staff a password only.
    with pytest.raises(TeaException) as no_console:
        client.get_login_profile(ram_models.GetLoginProfileRequest(user_name="app"))
    assert no_console.value.code == "EntityNotExist.User.LoginProfile"
    c_keys = client.list_access_keys(ram_models.ListAccessKeysRequest(user_name="C")).body
    assert c_keys.access_keys.access_key == []
    assert client.get_login_profile(ram_models.GetLoginProfileRequest(user_name="C")).body.login_profile
    assert client.get_account_alias().body.account_alias == "company-x"


def test_hr_can_create_users_rnd_cannot(live: Live, org: Org) -> None:
    hr = ram_client(live, org.keys["A"])
    created = hr.create_user(ram_models.CreateUserRequest(user_name="F", display_name="New joiner F")).body
    assert created.user.user_name == "F" and created.user.display_name == "New joiner F"
    hr.add_user_to_group(ram_models.AddUserToGroupRequest(group_name="RnD", user_name="F"))
    rnd = ram_client(live, org.keys["B"])
    with pytest.raises(TeaException) as denied:
        rnd.create_user(ram_models.CreateUserRequest(user_name="G"))
    assert denied.value.code == "NoPermission" and denied.value.statusCode == 403
    # The same refusal through aliyun-python-sdk-core (RPC v1) and for a read outside R&D's policies.
    with pytest.raises(ServerException) as core_denied:
        core_call(live, org.keys["B"], RAM_VERSION, "ListUsers")
    assert core_denied.value.get_error_code() == "NoPermission"
    assert core_denied.value.get_http_status() == 403
    event = live.audit.events[-1]
    assert (event.decision, event.action, event.resource) == ("ImplicitDeny", "ram:ListUsers", "*")
    assert event.principal_arn == live.arn("user/B")


def test_denial_is_audited_on_the_entity_arn(live: Live, org: Org) -> None:
    rnd = ram_client(live, org.keys["B"])
    with pytest.raises(TeaException):
        rnd.delete_user(ram_models.DeleteUserRequest(user_name="C"))
    event = live.audit.events[-1]
    assert (event.action, event.resource) == ("ram:DeleteUser", live.arn("user/C"))
    assert event.status == 403


def test_bootstrap_admin_can_do_everything(live: Live, org: Org) -> None:
    admin = ram_client(live, live.admin)
    policy = admin.set_password_policy(
        ram_models.SetPasswordPolicyRequest(minimum_password_length=12, max_login_attemps=3)
    ).body.password_policy
    assert policy.minimum_password_length == 12 and policy.max_login_attemps == 3
    assert policy.require_symbols is True
    preference = admin.set_security_preference(
        ram_models.SetSecurityPreferenceRequest(
            login_session_duration=8, login_network_masks="203.0.113.0/24"
        )
    ).body.security_preference
    assert preference.login_profile_preference.login_session_duration == 8
    assert preference.login_profile_preference.login_network_masks == "203.0.113.0/24"
    assert preference.access_key_preference.allow_user_to_manage_access_keys is False
    version = admin.create_policy_version(
        ram_models.CreatePolicyVersionRequest(
            policy_name="RnDOSSOfficeNetworkWorkingHours",
            policy_document=json.dumps(
                {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:Get*", "Resource": "*"}]}
            ),
            set_as_default=True,
        )
    ).body.policy_version
    assert (version.version_id, version.is_default_version) == ("v2", True)
    versions = admin.list_policy_versions(
        ram_models.ListPolicyVersionsRequest(
            policy_name="RnDOSSOfficeNetworkWorkingHours", policy_type="Custom"
        )
    ).body.policy_versions.policy_version
    assert [(v.version_id, v.is_default_version) for v in versions] == [("v1", False), ("v2", True)]
    device = admin.create_virtual_mfadevice(
        ram_models.CreateVirtualMFADeviceRequest(virtual_mfadevice_name="D-phone")
    ).body.virtual_mfadevice
    assert device.serial_number == live.arn("mfa/D-phone") and len(device.base_32string_seed) >= 16
    assert device.qrcode_png
    listed = admin.list_virtual_mfadevices().body.virtual_mfadevices.virtual_mfadevice
    assert [d.serial_number for d in listed] == [device.serial_number]
    renamed = admin.update_group(
        ram_models.UpdateGroupRequest(group_name="OandM", new_comments="Ops and maintenance")
    ).body.group
    assert renamed.comments == "Ops and maintenance" and renamed.update_date.endswith("Z")


def test_deleted_users_key_fails_at_once(live: Live, org: Org) -> None:
    admin = ram_client(live, live.admin)
    admin.create_user(ram_models.CreateUserRequest(user_name="leaver"))
    admin.attach_policy_to_user(
        ram_models.AttachPolicyToUserRequest(
            user_name="leaver", policy_type="System", policy_name="AliyunRAMReadOnlyAccess"
        )
    )
    key = create_key(admin, "leaver")
    assert core_call(live, key, RAM_VERSION, "GetUser", UserName="leaver")["User"]["UserName"] == "leaver"
    with pytest.raises(TeaException) as conflict:
        admin.delete_user(ram_models.DeleteUserRequest(user_name="leaver"))
    assert conflict.value.code.startswith("DeleteConflict.User.") and conflict.value.statusCode == 409
    # The leaver process through the API: detach, delete the key, delete the user.
    admin.detach_policy_from_user(
        ram_models.DetachPolicyFromUserRequest(
            user_name="leaver", policy_type="System", policy_name="AliyunRAMReadOnlyAccess"
        )
    )
    admin.delete_access_key(
        ram_models.DeleteAccessKeyRequest(user_name="leaver", user_access_key_id=key.access_key_id)
    )
    admin.delete_user(ram_models.DeleteUserRequest(user_name="leaver"))
    with pytest.raises(ServerException) as gone:
        core_call(live, key, RAM_VERSION, "GetUser", UserName="leaver")
    assert gone.value.get_error_code() == "InvalidAccessKeyId.NotFound"


def test_force_deleted_users_key_fails_on_the_next_request(live: Live, org: Org) -> None:
    admin = ram_client(live, live.admin)
    admin.create_user(ram_models.CreateUserRequest(user_name="leaver2"))
    admin.add_user_to_group(ram_models.AddUserToGroupRequest(group_name="HR", user_name="leaver2"))
    key = create_key(admin, "leaver2")
    assert ram_client(live, key).get_user(ram_models.GetUserRequest(user_name="A")).body.user.user_name == "A"
    live.ram.service.delete_user(
        live.account_id, "leaver2", force=True
    )  # what `ram users delete --force` does
    with pytest.raises(TeaException) as gone:
        ram_client(live, key).get_user(ram_models.GetUserRequest(user_name="A"))
    assert gone.value.code == "InvalidAccessKeyId.NotFound"


def test_self_service_keys_and_password(live: Live, org: Org) -> None:
    admin = ram_client(live, live.admin)
    admin.create_user(ram_models.CreateUserRequest(user_name="selfie"))
    admin.create_login_profile(
        ram_models.CreateLoginProfileRequest(user_name="selfie", password="Own-First-Passw0rd!")
    )
    key = create_key(admin, "selfie")
    own = ram_client(live, key)
    # No policy at all: ChangePassword still works (AllowUserToChangePassword defaults to true) ...
    own.change_password(
        ram_models.ChangePasswordRequest(
            old_password="Own-First-Passw0rd!", new_password="Brand-New-Pa55word!"
        )
    )
    live.ram.service.verify_login_password(live.account_id, "selfie", "Brand-New-Pa55word!")
    # ... but listing its own keys needs ram:ListAccessKeys on its own user ARN.
    with pytest.raises(TeaException) as denied:
        own.list_access_keys(ram_models.ListAccessKeysRequest())
    assert denied.value.code == "NoPermission"
    assert (live.audit.events[-1].action, live.audit.events[-1].resource) == (
        "ram:ListAccessKeys",
        live.arn("user/selfie"),
    )
    admin.create_policy(
        ram_models.CreatePolicyRequest(
            policy_name="OwnKeys",
            policy_document=json.dumps(
                {
                    "Version": "1",
                    "Statement": [
                        {"Effect": "Allow", "Action": "ram:*AccessKey*", "Resource": live.arn("user/selfie")}
                    ],
                }
            ),
        )
    )
    admin.attach_policy_to_user(
        ram_models.AttachPolicyToUserRequest(user_name="selfie", policy_type="Custom", policy_name="OwnKeys")
    )
    mine = own.list_access_keys(ram_models.ListAccessKeysRequest()).body.access_keys.access_key
    assert [k.access_key_id for k in mine] == [key.access_key_id]
    second = own.create_access_key(ram_models.CreateAccessKeyRequest()).body.access_key
    assert second.access_key_id != key.access_key_id
    with pytest.raises(TeaException) as other:
        own.list_access_keys(ram_models.ListAccessKeysRequest(user_name="A"))
    assert other.value.code == "NoPermission"
    used = admin.get_access_key_last_used(
        ram_models.GetAccessKeyLastUsedRequest(user_name="selfie", user_access_key_id=key.access_key_id)
    ).body.access_key_last_used
    assert used.last_used_date.endswith("Z")


def test_the_root_rests_its_accesskey_administers_nothing(live: Live, org: Org) -> None:
    """Step 6 on the control plane: a root AccessKey someone created is refused by RAM and STS alike."""
    created = live.ram.service.create_access_key(live.account_id, None)
    root = Key(created.key.access_key_id, created.secret)
    role_arn = org.role_arns["OSSReader"]  # its trust policy names the root: only the key stands in the way
    try:
        listing = ram_models.ListUsersRequest()
        fails("Forbidden.RootAccessKey", 403, ram_client(live, root).list_users, listing)
        assume = sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="root-at-work")
        fails("Forbidden.RootAccessKey", 403, sts_client(live, root).assume_role, assume)
        with pytest.raises(ServerException) as v1:
            core_call(live, root, RAM_VERSION, "CreateUser", UserName="by-root")
        assert (v1.value.get_http_status(), v1.value.get_error_code()) == (403, "Forbidden.RootAccessKey")
        flagged = live.audit.events[-1]
        assert (flagged.decision, flagged.code) == ("Rejected", "Forbidden.RootAccessKey")
        assert flagged.access_key_id == root.access_key_id
    finally:
        live.ram.service.delete_access_key(live.account_id, root.access_key_id)
    assert live.ram.service.list_access_keys(live.account_id, None) == []


def _console_logon(live: Live, user: str) -> httpx.Response:
    """A browser's password logon on the console `ram serve` serves beside the APIs (real HTTP)."""
    browser = httpx.Client(base_url=f"http://{live.endpoint}", headers={"accept": "text/html"}, timeout=10)
    with browser:
        form = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/console/logon").text)
        assert form is not None
        fields = {"csrf_token": form.group(1), "account": "company-x", "user_name": user}
        origin = {"origin": f"http://{live.endpoint}", "accept": "text/html"}
        return browser.post("/console/logon", data={**fields, "password": CONSOLE_PASSWORD}, headers=origin)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Live]:
    """Company X on a control plane of its own (the module's has its logons limited to one network)."""
    for live in start_live(str(tmp_path)):
        provision(live)
        yield live


def test_console_staff_log_on_with_mfa_when_told_and_app_cannot_log_on(fresh: Live) -> None:
    """O&M must bind an MFA device at logon; the owner can make every console user do so; `app`, which has
    an AccessKey only, has no console logon at all."""
    live = fresh
    assert _console_logon(live, "D").headers["location"] == "/console/logon/bind"  # MFABindRequired
    assert _console_logon(live, "C").headers["location"] == "/console/logon/password"  # first: a new password
    refused = _console_logon(live, "app")
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    core_call(live, live.admin, RAM_VERSION, "SetSecurityPreference", EnforceMFAForLogin="true")
    try:
        assert _console_logon(live, "C").headers["location"] == "/console/logon/bind"
    finally:
        core_call(live, live.admin, RAM_VERSION, "SetSecurityPreference", EnforceMFAForLogin="false")
