"""Response shapes of RAM entities, field for field as alibabacloud-ram20150501's models read them.

Strings stay strings, ``IsDefaultVersion``/``PasswordResetRequired``/``IsTruncated`` are JSON booleans,
``MaxSessionDuration``/``AttachmentCount`` integers, dates ``YYYY-MM-DDThh:mm:ssZ``; a None value is dropped
by the renderer. Lists are wrapped twice: ``wrap("Users", "User", items)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..identity import AccessKey, Group, Policy, PolicyVersion, Role, User
from ..store.records import LoginProfile, MFADevice, Page
from .responses import iso

__all__ = [
    "access_key_shape",
    "group_shape",
    "login_profile_shape",
    "mfa_device_shape",
    "page_fields",
    "policy_shape",
    "role_shape",
    "user_shape",
    "version_shape",
    "wrap",
]


def wrap(outer: str, inner: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{outer: {inner: [...]}}`` — the double wrapping of every RAM list."""
    return {outer: {inner: list(items)}}


def page_fields(page: Page[Any]) -> dict[str, Any]:
    """``IsTruncated`` and, when there is a next page, ``Marker``."""
    return {"IsTruncated": page.is_truncated, "Marker": page.marker}


def user_shape(user: User) -> dict[str, Any]:
    """GetUser's ``User`` (a superset of CreateUser's and ListUsers' shapes)."""
    return {
        "UserId": user.user_id,
        "UserName": user.user_name,
        "DisplayName": user.display_name,
        "MobilePhone": user.mobile_phone,
        "Email": user.email,
        "Comments": user.comments,
        "CreateDate": iso(user.create_date),
        "UpdateDate": iso(user.update_date),
        "LastLoginDate": iso(user.last_login_date),
    }


def group_shape(group: Group) -> dict[str, Any]:
    """GetGroup's ``Group``."""
    return {
        "GroupId": group.group_id,
        "GroupName": group.group_name,
        "Comments": group.comments,
        "CreateDate": iso(group.create_date),
        "UpdateDate": iso(group.update_date),
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
        "CreateDate": iso(role.create_date),
        "UpdateDate": iso(role.update_date),
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
        "CreateDate": iso(policy.create_date),
        "UpdateDate": iso(policy.update_date),
    }


def version_shape(version: PolicyVersion) -> dict[str, Any]:
    """A ``PolicyVersion``."""
    return {
        "VersionId": version.version_id,
        "IsDefaultVersion": version.is_default,
        "PolicyDocument": version.document,
        "CreateDate": iso(version.create_date),
    }


def access_key_shape(key: AccessKey) -> dict[str, Any]:
    """A listed ``AccessKey`` (never with its secret)."""
    return {"AccessKeyId": key.access_key_id, "Status": key.status, "CreateDate": iso(key.create_date)}


def login_profile_shape(profile: LoginProfile) -> dict[str, Any]:
    """A ``LoginProfile``."""
    return {
        "UserName": profile.user_name,
        "PasswordResetRequired": profile.password_reset_required,
        "MFABindRequired": profile.mfa_bind_required,
        "CreateDate": iso(profile.create_date),
        "UpdateDate": iso(profile.update_date),
    }


def mfa_device_shape(device: MFADevice) -> dict[str, Any]:
    """A listed ``VirtualMFADevice`` with the user it is bound to."""
    shape: dict[str, Any] = {"SerialNumber": device.serial_number, "ActivateDate": iso(device.activate_date)}
    if device.user_name is not None:
        shape["User"] = {
            "UserName": device.user_name,
            "UserId": device.user_id,
            "DisplayName": device.display_name,
        }
    return shape
