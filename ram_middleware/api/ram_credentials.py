"""RAM API: AccessKeys, login profiles, ChangePassword and virtual MFA devices.

AccessKey calls without ``UserName`` act on the caller's own keys (the root's, for the root). Secrets — a new
AccessKeySecret, an MFA seed and its QR code — appear only in the response of the call that created them,
and only once the event recording their issue is written (:class:`~.base.Issued`): a write-behind audit
sink that cannot write it makes the call a 503 instead of a secret handed out off the record.
ChangePassword's OldPassword is checked as a console logon's password is (``MaxLoginAttemps``, one rule:
:meth:`~ram_middleware.credentials.password.LogonThrottle.checked`): a wrong one answers
``InvalidParameter.OldPassword`` and counts; a locked-out caller gets ``LoginLocked`` even with the right one.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from .base import (
    Action,
    Backend,
    Call,
    Issued,
    account_wide,
    caller_itself,
    caller_user_name,
    entity,
    mfa_by_name,
    mfa_by_serial,
    user_or_caller,
)
from .ram_shapes import access_key_shape, login_profile_shape, mfa_device_shape, wrap
from .responses import iso

__all__ = ["ACTIONS"]


def _key_owner(c: Call) -> str | None:
    """UserName, or the caller's own name (None: the root)."""
    named = c.params.optional("UserName")
    return named if named is not None else caller_user_name(c.principal)


def create_access_key(b: Backend, c: Call) -> Issued:
    owner = _key_owner(c)
    created = b.service.create_access_key(c.account_id, owner)
    key = created.key
    body = {
        "AccessKey": {
            "AccessKeyId": key.access_key_id,
            "AccessKeySecret": created.secret,
            "Status": key.status,
            "CreateDate": iso(key.create_date),
        }
    }
    to = "the root" if owner is None else f"user {owner}"
    return Issued(body, f"Issued AccessKey {key.access_key_id} of {to}")


def update_access_key(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    b.service.update_access_key(
        c.account_id, p.required("UserAccessKeyId"), p.required("Status"), user_name=_key_owner(c)
    )
    return {}


def delete_access_key(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_access_key(c.account_id, c.params.required("UserAccessKeyId"), user_name=_key_owner(c))
    return {}


def list_access_keys(b: Backend, c: Call) -> Mapping[str, Any]:
    keys = b.service.list_access_keys(c.account_id, _key_owner(c))
    return wrap("AccessKeys", "AccessKey", (access_key_shape(k) for k in keys))


def get_access_key_last_used(b: Backend, c: Call) -> Mapping[str, Any]:
    used = b.service.get_access_key_last_used(
        c.account_id, c.params.required("UserAccessKeyId"), user_name=_key_owner(c)
    )
    return {"AccessKeyLastUsed": {"LastUsedDate": iso(used)}}


# --- login profiles -------------------------------------------------------------------------------------


def create_login_profile(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    profile = b.service.create_login_profile(
        c.account_id,
        p.required("UserName"),
        p.required("Password"),
        password_reset_required=bool(p.flag("PasswordResetRequired", False)),
        mfa_bind_required=bool(p.flag("MFABindRequired", False)),
    )
    return {"LoginProfile": login_profile_shape(profile)}


def get_login_profile(b: Backend, c: Call) -> Mapping[str, Any]:
    profile = b.service.get_login_profile(c.account_id, c.params.required("UserName"))
    return {"LoginProfile": login_profile_shape(profile)}


def update_login_profile(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    user, password = p.required("UserName"), p.optional("Password")
    profile = b.service.update_login_profile(
        c.account_id,
        user,
        password=password,
        password_reset_required=p.flag("PasswordResetRequired"),
        mfa_bind_required=p.flag("MFABindRequired"),
    )
    return {"LoginProfile": login_profile_shape(profile)}


def delete_login_profile(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_login_profile(c.account_id, c.params.required("UserName"))
    return {}


def change_password(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    old, new, user = p.required("OldPassword"), p.required("NewPassword"), caller_user_name(c.principal)
    # The service counts the old password like a console logon's (MaxLoginAttemps): a stolen AccessKey must
    # not guess the password freely.
    b.service.change_password(c.account_id, user, old, new)
    return {}


# --- virtual MFA devices --------------------------------------------------------------------------------


def create_virtual_mfa_device(b: Backend, c: Call) -> Issued:
    created = b.service.create_virtual_mfa_device(c.account_id, c.params.required("VirtualMFADeviceName"))
    body = {
        "VirtualMFADevice": {
            "SerialNumber": created.device.serial_number,
            "Base32StringSeed": created.base32_seed,
            "QRCodePNG": base64.b64encode(created.qr_code_png()).decode("ascii"),
        }
    }
    return Issued(body, f"Issued the seed of virtual MFA device {created.device.serial_number}")


def list_virtual_mfa_devices(b: Backend, c: Call) -> Mapping[str, Any]:
    devices = b.service.list_virtual_mfa_devices(c.account_id)
    return wrap("VirtualMFADevices", "VirtualMFADevice", (mfa_device_shape(d) for d in devices))


def delete_virtual_mfa_device(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_virtual_mfa_device(c.account_id, c.params.required("SerialNumber"))
    return {}


def bind_mfa_device(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    b.service.bind_mfa_device(
        c.account_id,
        p.required("SerialNumber"),
        p.required("UserName"),
        p.required("AuthenticationCode1"),
        p.required("AuthenticationCode2"),
    )
    return {}


def unbind_mfa_device(b: Backend, c: Call) -> Mapping[str, Any]:
    device = b.service.unbind_mfa_device(c.account_id, c.params.required("UserName"))
    return {"MFADevice": {"SerialNumber": device.serial_number}}


def get_user_mfa_info(b: Backend, c: Call) -> Mapping[str, Any]:
    device = b.service.get_user_mfa_info(c.account_id, c.params.required("UserName"))
    return {"MFADevice": {"SerialNumber": device.serial_number, "Type": "VMFA"}}


_USER = entity("user")

ACTIONS: tuple[Action, ...] = (
    Action("CreateAccessKey", create_access_key, user_or_caller),
    Action("UpdateAccessKey", update_access_key, user_or_caller),
    Action("DeleteAccessKey", delete_access_key, user_or_caller),
    Action("ListAccessKeys", list_access_keys, user_or_caller),
    Action("GetAccessKeyLastUsed", get_access_key_last_used, user_or_caller),
    Action("CreateLoginProfile", create_login_profile, _USER),
    Action("GetLoginProfile", get_login_profile, _USER),
    Action("UpdateLoginProfile", update_login_profile, _USER),
    Action("DeleteLoginProfile", delete_login_profile, _USER),
    Action("ChangePassword", change_password, caller_itself),
    Action("CreateVirtualMFADevice", create_virtual_mfa_device, mfa_by_name),
    Action("ListVirtualMFADevices", list_virtual_mfa_devices, account_wide),
    Action("DeleteVirtualMFADevice", delete_virtual_mfa_device, mfa_by_serial),
    Action("BindMFADevice", bind_mfa_device, _USER),
    Action("UnbindMFADevice", unbind_mfa_device, _USER),
    Action("GetUserMFAInfo", get_user_mfa_info, _USER),
)
