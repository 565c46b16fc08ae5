"""Who may change the directory, through the live control plane and aliyun-python-sdk-core (RPC v1): a
read-only administrator only reads, a custom Deny of ``ram:*`` beats AliyunRAMFullAccess whatever the case
the request spells a name in, and a role session is held to its session policy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from .live import RAM_VERSION, STS_VERSION, Key, Live, core_call


@dataclass
class People:
    reader: Key
    hr: Key
    dev: Key


def _key(live: Live, name: str) -> Key:
    created = live.ram.service.create_access_key(live.account_id, name)
    return Key(created.key.access_key_id, created.secret)


@pytest.fixture(scope="module")
def people(live: Live) -> People:
    service, account = live.ram.service, live.account_id
    for name, policy in (("reader", "AliyunRAMReadOnlyAccess"), ("hr", "AliyunRAMFullAccess"),
                         ("dev", "AliyunSTSAssumeRoleAccess")):  # fmt: skip
        service.create_user(account, name)
        service.attach_policy_to_user(account, "System", policy, name)
    service.create_login_profile(account, "reader", "First-Passw0rd!1")
    protected = ["acs:ram:*:*:user/alice", "acs:ram:*:*:group/Admins", "acs:ram:*:*:role/BreakGlass"]
    deny = {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "ram:*", "Resource": protected}]}
    service.create_policy(account, "HandsOffAdmins", json.dumps(deny))
    service.attach_policy_to_user(account, "Custom", "HandsOffAdmins", "hr")
    service.create_user(account, "alice")
    service.create_group(account, "admins")
    trusted = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [live.arn("root")]}}
    trust = {"Version": "1", "Statement": [trusted]}
    for role in ("breakglass", "RamAdmin"):
        service.create_role(account, role, json.dumps(trust))
    service.attach_policy_to_role(account, "System", "AliyunRAMFullAccess", "RamAdmin")
    return People(_key(live, "reader"), _key(live, "hr"), _key(live, "dev"))


def _refused(live: Live, key: Key, action: str, **params: str) -> tuple[str, int]:
    with pytest.raises(ServerException) as failed:
        core_call(live, key, RAM_VERSION, action, **params)
    return failed.value.get_error_code(), failed.value.get_http_status()


def _call(live: Live, key: Key, action: str, **params: str) -> dict[str, Any]:
    return core_call(live, key, RAM_VERSION, action, **params)


ADMIN = "AdministratorAccess"
WRITES = [
    ("CreateUser", {"UserName": "mallory"}),
    ("UpdateUser", {"UserName": "alice", "NewDisplayName": "Mallory"}),
    ("CreateAccessKey", {}),
    ("CreateAccessKey", {"UserName": "alice"}),
    ("CreateLoginProfile", {"UserName": "alice", "Password": "Mallory-Passw0rd!"}),
    ("AddUserToGroup", {"UserName": "reader", "GroupName": "admins"}),
    ("AttachPolicyToUser", {"UserName": "reader", "PolicyType": "System", "PolicyName": ADMIN}),
    ("CreateVirtualMFADevice", {"VirtualMFADeviceName": "mine"}),
    ("SetSecurityPreference", {"AllowUserToManageAccessKeys": "true"}),
    ("SetPasswordPolicy", {"MinimumPasswordLength": "8"}),
    ("SetAccountAlias", {"AccountAlias": "mallory-corp"}),
]


@pytest.mark.parametrize(("action", "params"), WRITES, ids=[f"{a}-{len(p)}" for a, p in WRITES])
def test_read_only_access_reads_but_never_writes(
    live: Live, people: People, action: str, params: dict[str, str]
) -> None:
    assert _refused(live, people.reader, action, **params) == ("NoPermission", 403)


def test_read_only_access_reads_and_changes_only_its_own_password(live: Live, people: People) -> None:
    assert _call(live, people.reader, "GetUser", UserName="alice")["User"]["UserName"] == "alice"
    assert _call(live, people.reader, "ListAccessKeys")["AccessKeys"]["AccessKey"][0]["Status"] == "Active"
    # The security preference's AllowUserToChangePassword (on by default) grants its own password only.
    _call(live, people.reader, "ChangePassword", OldPassword="First-Passw0rd!1", NewPassword="Second-Pass!2")
    reset = {"UserName": "reader", "Password": "Third-Passw0rd!3"}
    assert _refused(live, people.reader, "UpdateLoginProfile", **reset) == ("NoPermission", 403)


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("CreateAccessKey", {"UserName": "ALICE"}),
        ("DeleteUser", {"UserName": "Alice"}),
        ("AddUserToGroup", {"UserName": "hr", "GroupName": "ADMINS"}),
        ("AttachPolicyToRole", {"RoleName": "BREAKGLASS", "PolicyType": "System", "PolicyName": ADMIN}),
        ("UpdateRole", {"RoleName": "breakglass", "NewDescription": "mine now"}),
    ],
)
def test_a_deny_of_ram_star_beats_full_access_in_any_spelling(
    live: Live, people: People, action: str, params: dict[str, str]
) -> None:
    assert _refused(live, people.hr, action, **params) == ("NoPermission", 403)


def test_full_access_still_administers_what_the_deny_does_not_name(live: Live, people: People) -> None:
    _call(live, people.hr, "CreateUser", UserName="temp-worker")
    _call(live, people.hr, "DeleteUser", UserName="temp-worker")


def test_a_role_session_is_held_to_its_session_policy(live: Live, people: People) -> None:
    only_reads = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ram:Get*", "Resource": "*"}]}
    issued = core_call(
        live, people.dev, STS_VERSION, "AssumeRole", RoleArn=live.arn("role/ramadmin"),
        RoleSessionName="narrow", Policy=json.dumps(only_reads, separators=(",", ":")),
    )["Credentials"]  # fmt: skip
    session = Key(issued["AccessKeyId"], issued["AccessKeySecret"], issued["SecurityToken"])
    assert _call(live, session, "GetUser", UserName="alice")["User"]["UserName"] == "alice"
    assert _refused(live, session, "CreateUser", UserName="mallory") == ("NoPermission", 403)
    assert _refused(live, session, "CreateAccessKey", UserName="alice") == ("NoPermission", 403)
    # A role session owns no AccessKey or password of a RAM user: it must name the user (400, not a grant).
    assert _refused(live, session, "CreateAccessKey") == ("MissingParameter.UserName", 400)
