"""Two accounts in one store: an administrator of one reaches nothing of the other.

Account A is the bootstrap account (its ``admin`` holds AdministratorAccess); account B, made as
``ram init --new-account`` makes it, has a user ``alice`` as A does, a group, a custom policy with two
versions, a role that trusts only B, a virtual MFA device bound to its alice, an AccessKey and an alias. A's
admin names each of them through the official SDKs and the ``ram`` command: B's names, serial numbers and key
ids are simply not found in A (404), B's role refuses A's callers (403), and B is unchanged afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from alibabacloud_sts20150401 import models as sts_models  # type: ignore[import-untyped]
from aliyunsdkcore.acs_exception.exceptions import ServerException
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.bootstrap import initialise
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.organisation import export
from ram_middleware.service import RamService
from tests.cli.test_remote import Remote

from .conftest import start_live
from .live import RAM_VERSION, STS_VERSION, Key, Live, core_call, fails, ram_client, sts_client

ALLOW_ALL = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _trusting(account_id: str) -> str:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
    }
    return json.dumps({"Version": "1", "Statement": [statement]})


@dataclass
class Tenants:
    """The live plane, account B and what B holds that A's admin will name."""

    live: Live
    b: str
    b_admin: Key
    b_alice: Key  # B's alice's AccessKey (AliyunRAMReadOnlyAccess)
    serial: str  # B's device, bound to B's alice

    @property
    def a(self) -> str:
        return self.live.account_id

    def state_of_b(self) -> dict[str, Any]:
        """Everything of B a cross-account call could change."""
        service: RamService = self.live.ram.service
        return {
            "export": export(service, self.b),
            "versions": [v.version_id for v in service.list_policy_versions(self.b, "BPolicy")],
            "keys": [(k.access_key_id, k.status) for k in service.list_access_keys(self.b, "alice")],
            "devices": [(d.serial_number, d.user_name) for d in service.list_virtual_mfa_devices(self.b)],
            "groups of alice": [g.group.group_name for g in service.list_groups_for_user(self.b, "alice")],
        }


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    for live in start_live(str(tmp_path_factory.mktemp("tenants")), alias="a-co"):
        service = live.ram.service
        boot = initialise(service, alias="b-co", new_account=True)
        b = boot.account_id
        service.create_user(live.account_id, "alice")
        service.create_user(b, "alice")
        service.create_group(b, "BGroup")
        service.add_user_to_group(b, "BGroup", "alice")
        service.create_policy(b, "BPolicy", json.dumps(ALLOW_ALL))
        service.create_policy_version(b, "BPolicy", json.dumps(ALLOW_ALL))
        service.create_role(b, "BRole", _trusting(b))
        service.attach_policy_to_role(b, "System", "AdministratorAccess", "BRole")
        service.attach_policy_to_user(b, "System", "AliyunRAMReadOnlyAccess", "alice")
        created = service.create_virtual_mfa_device(b, "BPhone")
        step = time_step(datetime.now(UTC))
        seed, serial = created.base32_seed, created.device.serial_number
        service.bind_mfa_device(b, serial, "alice", code_at(seed, step - 2), code_at(seed, step - 1))
        key = service.create_access_key(b, "alice")
        yield Tenants(
            live, b, Key(boot.access_key_id, boot.access_key_secret),
            Key(key.key.access_key_id, key.secret), serial,
        )  # fmt: skip


def _b_names(t: Tenants) -> list[tuple[str, dict[str, str], str]]:
    """(action, parameters naming something of B, the Code A's admin must get: all 404)."""
    key_id = t.b_alice.access_key_id
    return [
        ("GetGroup", {"GroupName": "BGroup"}, "EntityNotExist.Group"),
        ("ListUsersForGroup", {"GroupName": "BGroup"}, "EntityNotExist.Group"),
        ("AddUserToGroup", {"GroupName": "BGroup", "UserName": "alice"}, "EntityNotExist.Group"),
        ("DeleteGroup", {"GroupName": "BGroup"}, "EntityNotExist.Group"),
        ("GetPolicy", {"PolicyType": "Custom", "PolicyName": "BPolicy"}, "EntityNotExist.Policy"),
        ("GetPolicyVersion", {"PolicyType": "Custom", "PolicyName": "BPolicy", "VersionId": "v2"},
         "EntityNotExist.Policy"),
        ("ListPolicyVersions", {"PolicyType": "Custom", "PolicyName": "BPolicy"}, "EntityNotExist.Policy"),
        ("SetDefaultPolicyVersion", {"PolicyName": "BPolicy", "VersionId": "v2"}, "EntityNotExist.Policy"),
        ("DeletePolicyVersion", {"PolicyName": "BPolicy", "VersionId": "v1"}, "EntityNotExist.Policy"),
        ("ListEntitiesForPolicy", {"PolicyType": "Custom", "PolicyName": "BPolicy"}, "EntityNotExist.Policy"),
        ("AttachPolicyToUser", {"PolicyType": "Custom", "PolicyName": "BPolicy", "UserName": "alice"},
         "EntityNotExist.Policy"),
        ("DeletePolicy", {"PolicyName": "BPolicy"}, "EntityNotExist.Policy"),
        ("GetRole", {"RoleName": "BRole"}, "EntityNotExist.Role"),
        ("UpdateRole", {"RoleName": "BRole", "NewAssumeRolePolicyDocument": _trusting(t.a)},
         "EntityNotExist.Role"),
        ("DeleteRole", {"RoleName": "BRole"}, "EntityNotExist.Role"),
        # A's alice has no device: B's alice's is not hers.
        ("GetUserMFAInfo", {"UserName": "alice"}, "EntityNotExist.User.MFADevice"),
        ("UnbindMFADevice", {"UserName": "alice"}, "EntityNotExist.User.MFADevice"),
        ("DeleteVirtualMFADevice", {"SerialNumber": t.serial}, "EntityNotExist.VirtualMFADevice"),
        ("BindMFADevice", {"SerialNumber": t.serial, "UserName": "alice", "AuthenticationCode1": "123456",
                           "AuthenticationCode2": "654321"}, "EntityNotExist.VirtualMFADevice"),
        # B's key, without UserName (the caller's own) and with A's alice: not a key of A either way.
        ("UpdateAccessKey", {"UserAccessKeyId": key_id, "Status": "Inactive"}, "EntityNotExist.AccessKey"),
        ("UpdateAccessKey", {"UserAccessKeyId": key_id, "Status": "Inactive", "UserName": "alice"},
         "EntityNotExist.AccessKey"),
        ("GetAccessKeyLastUsed", {"UserAccessKeyId": key_id}, "EntityNotExist.AccessKey"),
        ("DeleteAccessKey", {"UserAccessKeyId": key_id, "UserName": "alice"}, "EntityNotExist.AccessKey"),
    ]  # fmt: skip


def test_names_of_another_account_are_not_found_and_change_nothing(tenants: Tenants) -> None:
    t = tenants
    before = t.state_of_b()
    for action, params, code in _b_names(t):
        with pytest.raises(ServerException) as refused:
            core_call(t.live, t.live.admin, RAM_VERSION, action, **params)
        assert (refused.value.get_error_code(), refused.value.get_http_status()) == (code, 404), action
    # A's own listings show none of B's entities; a Marker is a name within the caller's account.
    a_admin = ram_client(t.live, t.live.admin)
    first = a_admin.list_users(ram_models.ListUsersRequest(max_items=1)).body
    rest = a_admin.list_users(ram_models.ListUsersRequest(marker=first.marker)).body
    assert [u.user_name for u in first.users.user + rest.users.user] == ["admin", "alice"]
    assert a_admin.list_groups(ram_models.ListGroupsRequest()).body.groups.group == []
    custom = a_admin.list_policies(ram_models.ListPoliciesRequest(policy_type="Custom")).body
    assert custom.policies.policy == []
    assert a_admin.list_roles(ram_models.ListRolesRequest()).body.roles.role == []
    assert a_admin.list_virtual_mfadevices().body.virtual_mfadevices.virtual_mfadevice == []
    # AdministratorAccess is held by both admins: A counts and lists only its own.
    held = a_admin.list_entities_for_policy(
        ram_models.ListEntitiesForPolicyRequest(policy_type="System", policy_name="AdministratorAccess")
    ).body
    assert [u.user_name for u in held.users.user] == ["admin"] and held.roles.role == []
    assert t.state_of_b() == before
    # The refusals are audited in A's names: the caller is A's admin, the resource an ARN of A.
    last = t.live.audit.events[-1]
    assert last.principal_arn == t.live.arn("user/admin") and t.b not in json.dumps(last._asdict())


def test_a_role_that_trusts_only_its_own_account_refuses_the_other(tenants: Tenants) -> None:
    t = tenants
    request = sts_models.AssumeRoleRequest(
        role_arn=f"acs:ram::{t.b}:role/brole", role_session_name="intruder"
    )
    fails("NoPermission", 403, sts_client(t.live, t.live.admin).assume_role, request)
    # A trust policy in A naming B's root does not make B's role trust A: B's role still refuses.
    t.live.ram.service.create_role(t.a, "TrustsB", _trusting(t.b))
    fails("NoPermission", 403, sts_client(t.live, t.live.admin).assume_role, request)
    # The other way round it is a cross-account grant: B's admin may assume A's role, and its session acts
    # in A with the role's policies (none yet), not in B.
    into_a = sts_models.AssumeRoleRequest(role_arn=t.live.arn("role/trustsb"), role_session_name="from-b")
    issued = sts_client(t.live, t.b_admin).assume_role(into_a).body.credentials
    session = Key(issued.access_key_id, issued.access_key_secret, issued.security_token)
    assert core_call(t.live, session, STS_VERSION, "GetCallerIdentity")["AccountId"] == t.a
    fails(
        "NoPermission",
        403,
        ram_client(t.live, session).get_role,
        ram_models.GetRoleRequest(role_name="BRole"),
    )


def test_a_diagnostic_of_another_account_is_not_decoded(tenants: Tenants) -> None:
    t = tenants
    with pytest.raises(TeaException) as denied:  # B's read-only alice may not delete a user
        ram_client(t.live, t.b_alice).delete_user(ram_models.DeleteUserRequest(user_name="alice"))
    sealed = denied.value.access_denied_detail["EncodedDiagnosticMessage"]
    request = ram_models.DecodeDiagnosticMessageRequest(encoded_diagnostic_message=sealed)
    fails("InvalidParameter.EncodedDiagnosticMessage", 400,
          ram_client(t.live, t.live.admin).decode_diagnostic_message, request)  # fmt: skip
    decoded = ram_client(t.live, t.b_admin).decode_diagnostic_message(request).body.decoded_diagnostic_message
    assert decoded.auth_principal.auth_principal_owner_id == t.b


def test_the_alias_of_another_account_cannot_be_taken(tenants: Tenants) -> None:
    t = tenants
    a_admin = ram_client(t.live, t.live.admin)
    fails("EntityAlreadyExists.AccountAlias", 409, a_admin.set_account_alias,
          ram_models.SetAccountAliasRequest(account_alias="b-co"))  # fmt: skip
    assert a_admin.get_account_alias().body.account_alias == "a-co"
    b_admin = ram_client(t.live, t.b_admin)
    assert b_admin.get_account_alias().body.account_alias == "b-co"


def test_revoking_one_accounts_alice_leaves_the_others(tenants: Tenants) -> None:
    t = tenants
    service = t.live.ram.service
    service.attach_policy_to_user(t.a, "System", "AliyunRAMReadOnlyAccess", "alice")
    a_alice = service.create_access_key(t.a, "alice")
    a_key = Key(a_alice.key.access_key_id, a_alice.secret)
    b_alice = ram_client(t.live, t.b_alice)
    for key in (a_key, t.b_alice):  # both alices may read their own account
        ram_client(t.live, key).list_users(ram_models.ListUsersRequest())
    a_admin = ram_client(t.live, t.live.admin)
    a_admin.detach_policy_from_user(ram_models.DetachPolicyFromUserRequest(
        policy_type="System", policy_name="AliyunRAMReadOnlyAccess", user_name="alice"))  # fmt: skip
    fails("NoPermission", 403, ram_client(t.live, a_key).list_users, ram_models.ListUsersRequest())
    assert [u.user_name for u in b_alice.list_users(ram_models.ListUsersRequest()).body.users.user] == [
        "admin", "alice",
    ]  # fmt: skip
    a_admin.delete_access_key(
        ram_models.DeleteAccessKeyRequest(user_name="alice", user_access_key_id=a_key.access_key_id)
    )
    a_admin.delete_user(ram_models.DeleteUserRequest(user_name="alice"))
    b_alice.list_users(ram_models.ListUsersRequest())  # B's alice, her key and her device are untouched
    assert service.get_user_mfa_info(t.b, "alice").serial_number == t.serial
    service.create_user(t.a, "alice")  # for the other tests of this module


def test_the_ram_command_reaches_nothing_of_the_other_account(tenants: Tenants) -> None:
    t = tenants
    before = t.state_of_b()
    remote = Remote(f"http://{t.live.endpoint}", "", t.live.admin.access_key_id, t.live.admin.secret)
    key_id = t.b_alice.access_key_id
    for args, code in (
        (("keys", "disable", "alice", key_id), "EntityNotExist.AccessKey"),
        (("keys", "delete", "admin", key_id), "EntityNotExist.AccessKey"),
        (("mfa", "delete-device", t.serial), "EntityNotExist.VirtualMFADevice"),
        (("policies", "show", "BPolicy"), "EntityNotExist.Policy"),
        (("policies", "attach", "BPolicy", "--user", "alice"), "EntityNotExist.Policy"),
        (("account", "set-alias", "b-co"), "EntityAlreadyExists.AccountAlias"),
    ):
        remote.fails(*args, code=code)
    assert t.state_of_b() == before
    assert core_call(t.live, t.b_admin, STS_VERSION, "GetCallerIdentity")["AccountId"] == t.b
