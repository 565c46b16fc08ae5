"""The RAM API's shapes of the service's records, as alibabacloud-ram20150501's models read them.

Shared by the control plane's handlers and the ``ram`` command's local backend, so both answer alike (each
list entry in the shape of its own listing: ListRoles' ``Role`` without the trust policy, a listed attached
``Policy`` without AttachmentCount, …).
Strings stay strings, ``IsDefaultVersion``/``PasswordResetRequired`` are booleans,
``MaxSessionDuration``/``AttachmentCount`` integers, dates ``YYYY-MM-DDThh:mm:ssZ``. A field without a value
is None here; the control plane's renderer leaves such fields out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..credentials.sts import format_timestamp
from ..identity import AccessKey, Group, Policy, PolicyVersion, Role, User
from ..store.records import JoinedGroup, JoinedUser, LoginProfile, MFADevice
from .results import Attached, PolicyEntities

__all__ = [
    "access_key_shape",
    "api_date",
    "attached_policy_shape",
    "group_member_shape",
    "group_shape",
    "joined_group_shape",
    "login_profile_shape",
    "mfa_device_shape",
    "policy_entities_shape",
    "policy_shape",
    "role_shape",
    "user_shape",
    "version_shape",
]


def api_date(moment: datetime | None) -> str | None:
    """``YYYY-MM-DDThh:mm:ssZ`` in UTC (None stays None)."""
    return None if moment is None else format_timestamp(moment)


def user_shape(user: User) -> dict[str, Any]:
    """GetUser's ``User`` (a superset of CreateUser's and ListUsers' shapes)."""
    return {
        "UserId": user.user_id,
        "UserName": user.user_name,
        "DisplayName": user.display_name,
        "MobilePhone": user.mobile_phone,
        "Email": user.email,
        "Comments": user.comments,
        "CreateDate": api_date(user.create_date),
        "UpdateDate": api_date(user.update_date),
        "LastLoginDate": api_date(user.last_login_date),
    }


def group_shape(group: Group) -> dict[str, Any]:
    """GetGroup's ``Group``."""
    return {
        "GroupId": group.group_id,
        "GroupName": group.group_name,
        "Comments": group.comments,
        "CreateDate": api_date(group.create_date),
        "UpdateDate": api_date(group.update_date),
    }


def joined_group_shape(joined: JoinedGroup) -> dict[str, Any]:
    """A ListGroupsForUser ``Group``: the group's id, name and comments, and when the user joined."""
    return {
        "GroupId": joined.group.group_id,
        "GroupName": joined.group.group_name,
        "Comments": joined.group.comments,
        "JoinDate": api_date(joined.join_date),
    }


def group_member_shape(joined: JoinedUser) -> dict[str, Any]:
    """A ListUsersForGroup ``User``: the member's name, id and display name, and when they joined."""
    return {
        "UserName": joined.user.user_name,
        "UserId": joined.user.user_id,
        "DisplayName": joined.user.display_name,
        "JoinDate": api_date(joined.join_date),
    }


def role_shape(role: Role, *, document: bool = True) -> dict[str, Any]:
    """GetRole's ``Role``. Console logon for roles is not offered, so ``AllowConsoleLogin`` is false."""
    shape: dict[str, Any] = {
        "RoleId": role.role_id,
        "RoleName": role.role_name,
        "Arn": role.arn,
        "Description": role.description,
        "MaxSessionDuration": role.max_session_duration,
        "AllowConsoleLogin": False,
        "IsServiceLinkedRole": False,
        "CreateDate": api_date(role.create_date),
        "UpdateDate": api_date(role.update_date),
    }
    if document:
        shape["AssumeRolePolicyDocument"] = role.trust_policy
    return shape


def policy_shape(policy: Policy) -> dict[str, Any]:
    """GetPolicy's / ListPolicies' ``Policy``."""
    return {
        "PolicyName": policy.policy_name,
        "PolicyType": policy.policy_type,
        "Description": policy.description,
        "DefaultVersion": policy.default_version,
        "AttachmentCount": policy.attachment_count,
        "CreateDate": api_date(policy.create_date),
        "UpdateDate": api_date(policy.update_date),
    }


def attached_policy_shape(attached: Attached[Policy]) -> dict[str, Any]:
    """A ListPoliciesForUser/-Group/-Role ``Policy``: no AttachmentCount or dates, but the AttachDate."""
    policy = attached.entity
    return {
        "PolicyName": policy.policy_name,
        "PolicyType": policy.policy_type,
        "Description": policy.description,
        "DefaultVersion": policy.default_version,
        "AttachDate": api_date(attached.attach_date),
    }


def policy_entities_shape(found: PolicyEntities) -> dict[str, list[dict[str, Any]]]:
    """ListEntitiesForPolicy's ``Users``, ``Groups`` and ``Roles`` (each list not yet wrapped)."""
    return {
        "Users": [
            {
                "UserName": a.entity.user_name,
                "UserId": a.entity.user_id,
                "DisplayName": a.entity.display_name,
                "AttachDate": api_date(a.attach_date),
            }
            for a in found.users
        ],
        "Groups": [
            {
                "GroupName": a.entity.group_name,
                "Comments": a.entity.comments,
                "AttachDate": api_date(a.attach_date),
            }
            for a in found.groups
        ],
        "Roles": [
            {
                "RoleName": a.entity.role_name,
                "RoleId": a.entity.role_id,
                "Arn": a.entity.arn,
                "Description": a.entity.description,
                "AttachDate": api_date(a.attach_date),
            }
            for a in found.roles
        ],
    }


def version_shape(version: PolicyVersion) -> dict[str, Any]:
    """A ``PolicyVersion``."""
    return {
        "VersionId": version.version_id,
        "IsDefaultVersion": version.is_default,
        "PolicyDocument": version.document,
        "CreateDate": api_date(version.create_date),
    }


def access_key_shape(key: AccessKey) -> dict[str, Any]:
    """A listed ``AccessKey`` (never with its secret)."""
    return {"AccessKeyId": key.access_key_id, "Status": key.status, "CreateDate": api_date(key.create_date)}


def login_profile_shape(profile: LoginProfile) -> dict[str, Any]:
    """A ``LoginProfile``."""
    return {
        "UserName": profile.user_name,
        "PasswordResetRequired": profile.password_reset_required,
        "MFABindRequired": profile.mfa_bind_required,
        "CreateDate": api_date(profile.create_date),
        "UpdateDate": api_date(profile.update_date),
    }


def mfa_device_shape(device: MFADevice) -> dict[str, Any]:
    """A listed ``VirtualMFADevice`` with the user it is bound to."""
    shape: dict[str, Any] = {
        "SerialNumber": device.serial_number,
        "ActivateDate": api_date(device.activate_date),
    }
    if device.user_name is not None:
        shape["User"] = {
            "UserName": device.user_name,
            "UserId": device.user_id,
            "DisplayName": device.display_name,
        }
    return shape
