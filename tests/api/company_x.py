"""Provision the Company X organisation (examples/company_x/organisation.json) through the official RAM SDK.

Every call asserts the *parsed* model fields: a response with a wrong field type does not raise in
alibabacloud-ram20150501, it silently parses to an empty model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]

from .live import Key, Live, ram_client

ORGANISATION = Path(__file__).resolve().parents[2] / "examples" / "company_x" / "organisation.json"
CONSOLE_PASSWORD = "Initial-Passw0rd!"  # meets the default password policy


@dataclass
class Org:
    """What the provisioning produced: the file it followed and the AccessKeys it created."""

    spec: dict[str, Any]
    keys: dict[str, Key] = field(default_factory=dict)
    role_arns: dict[str, str] = field(default_factory=dict)


def load_organisation() -> dict[str, Any]:
    return dict(json.loads(ORGANISATION.read_text(encoding="utf-8")))


def _document(value: Any, account_id: str) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("${AccountId}", account_id)


def _attach(client: RamClient, kind: str, name: str, policies: list[dict[str, str]]) -> None:
    for policy in policies:
        args = {"policy_type": policy["PolicyType"], "policy_name": policy["PolicyName"]}
        if kind == "group":
            resp: Any = client.attach_policy_to_group(
                ram_models.AttachPolicyToGroupRequest(group_name=name, **args)
            )
        elif kind == "user":
            resp = client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(user_name=name, **args))
        else:
            resp = client.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(role_name=name, **args))
        assert resp.status_code == 200 and resp.body.request_id


def create_key(client: RamClient, user_name: str) -> Key:
    created = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name=user_name)).body
    assert created is not None and created.access_key is not None
    key = created.access_key
    assert key.access_key_id.startswith("LTAI") and len(key.access_key_secret) >= 30
    assert key.status == "Active" and key.create_date.endswith("Z")
    return Key(key.access_key_id, key.access_key_secret)


def provision(live: Live) -> Org:
    """Create the whole organisation with the bootstrap admin's key (ACS3, the SDK's default)."""
    spec = load_organisation()
    org = Org(spec)
    client = ram_client(live, live.admin)
    account = live.account_id
    for policy in spec["Policies"]:
        body = client.create_policy(
            ram_models.CreatePolicyRequest(
                policy_name=policy["PolicyName"],
                policy_document=_document(policy["PolicyDocument"], account),
                description=policy["Description"],
            )
        ).body
        assert body.policy.policy_name == policy["PolicyName"]
        assert (body.policy.policy_type, body.policy.default_version) == ("Custom", "v1")
    for group in spec["Groups"]:
        body = client.create_group(
            ram_models.CreateGroupRequest(group_name=group["GroupName"], comments=group["Comments"])
        ).body
        assert body.group.group_name == group["GroupName"] and body.group.group_id
        _attach(client, "group", group["GroupName"], group["Policies"])
    for user in spec["Users"]:
        _provision_user(client, org, user)
    for role in spec["Roles"]:
        body = client.create_role(
            ram_models.CreateRoleRequest(
                role_name=role["RoleName"],
                assume_role_policy_document=_document(role["AssumeRolePolicyDocument"], account),
                description=role["Description"],
                max_session_duration=role["MaxSessionDuration"],
            )
        ).body
        assert body.role.arn == f"acs:ram::{account}:role/{role['RoleName'].lower()}"
        assert body.role.max_session_duration == role["MaxSessionDuration"]
        org.role_arns[role["RoleName"]] = body.role.arn
        _attach(client, "role", role["RoleName"], role["Policies"])
    return org


def _provision_user(client: RamClient, org: Org, user: dict[str, Any]) -> None:
    name = user["UserName"]
    body = client.create_user(
        ram_models.CreateUserRequest(user_name=name, display_name=user["DisplayName"])
    ).body
    assert body.user.user_name == name and body.user.display_name == user["DisplayName"]
    assert body.user.user_id and body.user.create_date.endswith("Z")
    for group in user["Groups"]:
        client.add_user_to_group(ram_models.AddUserToGroupRequest(group_name=group, user_name=name))
    _attach(client, "user", name, user.get("Policies", []))
    if user.get("Console"):
        mfa = bool(user.get("MFABindRequired", False))
        profile = client.create_login_profile(
            ram_models.CreateLoginProfileRequest(
                user_name=name, password=CONSOLE_PASSWORD, password_reset_required=True, mfabind_required=mfa
            )
        ).body.login_profile
        assert profile.user_name == name
        assert profile.password_reset_required is True and profile.mfabind_required is mfa
    if user.get("AccessKey"):
        org.keys[name] = create_key(client, name)
