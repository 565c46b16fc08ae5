"""Export: an account's users, groups, custom policies, attachments and roles as an organisation file."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..identity import AttachTarget
from ..service import RamService
from .plan import as_target
from .schema import ACCOUNT_PLACEHOLDER, read_json
from .target import Api, OrgTarget

__all__ = ["export"]


def _generalise(value: Any, account_id: str) -> Any:
    """The document with the account's own id written as ``${AccountId}``."""
    if isinstance(value, str):
        return value.replace(account_id, ACCOUNT_PLACEHOLDER)
    if isinstance(value, list):
        return [_generalise(item, account_id) for item in value]
    if isinstance(value, dict):
        return {key: _generalise(item, account_id) for key, item in value.items()}
    return value


def _attached(target: OrgTarget, target_type: AttachTarget, name: str) -> list[dict[str, str]]:
    rows = target.list_policies_for(target_type, name)
    return sorted(
        ({"PolicyType": a["PolicyType"], "PolicyName": a["PolicyName"]} for a in rows),
        key=lambda d: (d["PolicyType"], d["PolicyName"].lower()),
    )


def _export_user(target: OrgTarget, user: Api) -> dict[str, Any]:
    name = user["UserName"]
    entry: dict[str, Any] = {"UserName": name, "DisplayName": user.get("DisplayName", "")}
    entry.update({key: user[key] for key in ("Email", "MobilePhone", "Comments") if user.get(key)})
    entry["Groups"] = sorted((g["GroupName"] for g in target.list_groups_for_user(name)), key=str.lower)
    entry["Policies"] = _attached(target, "user", name)
    if target.list_access_keys(name):
        entry["AccessKey"] = True
    try:
        profile = target.get_login_profile(name)
    except errors.EntityNotExist:
        return entry
    entry["Console"] = True
    if profile.get("MFABindRequired"):
        entry["MFABindRequired"] = True
    return entry


def export(where: RamService | OrgTarget, account_id: str | None = None) -> dict[str, Any]:
    """The account's users, groups, custom policies, attachments and roles as an organisation file."""
    t = as_target(where, account_id)
    with t.read_ahead():  # per-entity reads, answered from one account read on the local store
        return _export(t)


def _export(t: OrgTarget) -> dict[str, Any]:
    acct = t.account_id

    def document(name: str) -> Any:
        return _generalise(
            read_json(t.get_policy(name, "Custom")["DefaultPolicyVersion"]["PolicyDocument"]), acct
        )

    policies = [
        {
            "PolicyName": p["PolicyName"],
            "Description": p.get("Description", ""),
            "PolicyDocument": document(p["PolicyName"]),
        }
        for p in t.list_policies("Custom")
    ]
    groups = [
        {
            "GroupName": g["GroupName"],
            "Comments": g.get("Comments", ""),
            "Policies": _attached(t, "group", g["GroupName"]),
        }
        for g in t.list_groups()
    ]
    users = [_export_user(t, u) for u in t.list_users()]
    roles = []
    for listed in t.list_roles():
        role = t.get_role(listed["RoleName"])
        roles.append(
            {
                "RoleName": role["RoleName"],
                "Description": role.get("Description", ""),
                "MaxSessionDuration": role["MaxSessionDuration"],
                "AssumeRolePolicyDocument": _generalise(read_json(role["AssumeRolePolicyDocument"]), acct),
                "Policies": _attached(t, "role", role["RoleName"]),
            }
        )
    alias = t.get_account_alias()
    return {
        "Account": {"Alias": alias} if alias else {},
        "Policies": policies,
        "Groups": groups,
        "Users": users,
        "Roles": roles,
    }
