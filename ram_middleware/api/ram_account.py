"""RAM API: account-wide settings — password policy, security preference, account alias — and
DecodeDiagnosticMessage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors
from ..credentials.password import PasswordPolicy
from ..credentials.preference import SecurityPreference
from .base import Action, Backend, Call, account_wide

__all__ = ["ACTIONS"]


def get_password_policy(b: Backend, c: Call) -> Mapping[str, Any]:
    return {"PasswordPolicy": b.service.get_password_policy(c.account_id).to_api()}


def set_password_policy(b: Backend, c: Call) -> Mapping[str, Any]:
    # Fields not given keep their current value, as in RAM.
    changed = b.service.update_password_policy(
        c.account_id, lambda current: PasswordPolicy.from_api(c.params.raw(), base=current)
    )
    return {"PasswordPolicy": changed.to_api()}


def get_security_preference(b: Backend, c: Call) -> Mapping[str, Any]:
    return {"SecurityPreference": b.service.get_security_preference(c.account_id).to_api()}


def set_security_preference(b: Backend, c: Call) -> Mapping[str, Any]:
    changed = b.service.update_security_preference(
        c.account_id, lambda current: SecurityPreference.from_api(c.params.raw(), base=current)
    )
    return {"SecurityPreference": changed.to_api()}


def get_account_alias(b: Backend, c: Call) -> Mapping[str, Any]:
    return {"AccountAlias": b.service.get_account_alias(c.account_id) or ""}


def set_account_alias(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.set_account_alias(c.account_id, c.params.required("AccountAlias"))
    return {}


def clear_account_alias(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.clear_account_alias(c.account_id)
    return {}


_DIAGNOSTIC_FIELDS = (
    "AuthAction",
    "AuthResource",
    "AuthPrincipal",
    "AuthConditions",
    "ExplicitDeny",
    "NoPermissionPolicyType",
    "MatchedPolicies",
    "Reason",
)


def decode_diagnostic_message(b: Backend, c: Call) -> Mapping[str, Any]:
    if b.diagnostics is None:
        raise errors.InvalidParameter(
            "EncodedDiagnosticMessage", "This server does not issue diagnostic messages."
        )
    decoded = b.diagnostics.decode(c.params.required("EncodedDiagnosticMessage"))
    principal = decoded.get("AuthPrincipal")
    owner = principal.get("AuthPrincipalOwnerId") if isinstance(principal, dict) else None
    if owner != c.account_id:
        # A denial in another account is that account's business; say no more than "not ours".
        raise errors.InvalidParameter(
            "EncodedDiagnosticMessage", "The diagnostic message does not belong to this account."
        )
    return {"DecodedDiagnosticMessage": {key: decoded[key] for key in _DIAGNOSTIC_FIELDS if key in decoded}}


ACTIONS: tuple[Action, ...] = (
    Action("GetPasswordPolicy", get_password_policy, account_wide),
    Action("SetPasswordPolicy", set_password_policy, account_wide),
    Action("GetSecurityPreference", get_security_preference, account_wide),
    Action("SetSecurityPreference", set_security_preference, account_wide),
    Action("GetAccountAlias", get_account_alias, account_wide),
    Action("SetAccountAlias", set_account_alias, account_wide),
    Action("ClearAccountAlias", clear_account_alias, account_wide),
    Action("DecodeDiagnosticMessage", decode_diagnostic_message, account_wide),
)
