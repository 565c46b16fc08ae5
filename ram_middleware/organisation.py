"""Declarative organisation files: ``ram apply`` / ``ram export``.

An organisation file (JSON, or YAML when PyYAML is installed) names users, groups, memberships, custom
policies, attachments and roles, in the RAM API's own field names (see
``examples/company_x/organisation.json``). :func:`plan` compares it with an account and lists the changes;
:func:`apply` carries them out. Applying the same file twice changes nothing the second time.

Scope decision: apply creates and updates what the file declares and reconciles the memberships and
attachments of the users, groups and roles it declares; it never deletes a user, group, policy or role
that the file does not mention (a bootstrap admin created by ``ram init`` survives an apply). A user
with ``"AccessKey": true`` gets one key if it has none; ``"Console": true`` gets a login profile with a
generated password that must be changed at first logon. New secrets appear once, in the apply result.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from . import errors
from .identity import AttachTarget
from .service import RamService

__all__ = ["ApplyResult", "Change", "apply", "export", "load_organisation", "plan"]


@dataclass(frozen=True)
class Change:
    """One step of a plan: what will be done, in words, and the call that does it."""

    description: str
    run: Callable[[], object] = field(repr=False, compare=False)
    secret_label: str | None = None  # set when the step yields a secret to show once


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)


def load_organisation(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read an organisation file (path or already-parsed mapping) and check its top-level shape."""
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        path = Path(source)
        text = path.read_text(encoding="utf-8")
        data = _parse_text(text, yaml_like=path.suffix.lower() in {".yaml", ".yml"})
    if not isinstance(data, dict):
        raise errors.InvalidParameter("OrganisationFile", "The organisation file must hold an object.")
    for key in ("Users", "Groups", "Policies", "Roles"):
        if not isinstance(data.get(key, []), list):
            raise errors.InvalidParameter("OrganisationFile", f"{key} must be a list.")
    return data


def _parse_text(text: str, *, yaml_like: bool) -> Any:
    if yaml_like:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise errors.InvalidParameter("OrganisationFile", "YAML files need PyYAML installed.") from exc
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.InvalidParameter("OrganisationFile", f"Not valid JSON: {exc}") from exc


def _document_text(document: Any, account_id: str) -> str:
    text = document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))
    return text.replace("${AccountId}", account_id)


def _same_document(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except json.JSONDecodeError:
        return a == b


def _attachment_keys(entries: list[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(str(e.get("PolicyType", "Custom")), str(e["PolicyName"])) for e in entries}


class _Planner:
    """Builds the list of changes for one account; reads the account, never writes it."""

    def __init__(self, service: RamService, account_id: str, org: Mapping[str, Any]) -> None:
        self.svc = service
        self.acct = account_id
        self.org = org
        self.changes: list[Change] = []

    def add(self, description: str, run: Callable[[], object], secret_label: str | None = None) -> None:
        self.changes.append(Change(description, run, secret_label))

    def build(self) -> list[Change]:
        self._policies()
        self._groups()
        self._users()
        self._roles()
        return self.changes

    def _exists(self, getter: Callable[[], object]) -> bool:
        try:
            getter()
        except errors.EntityNotExist:
            return False
        return True

    def _policies(self) -> None:
        svc, acct = self.svc, self.acct
        for spec in self.org.get("Policies", []):
            name, doc = spec["PolicyName"], _document_text(spec["PolicyDocument"], acct)
            desc = spec.get("Description", "")
            if not self._exists(partial(svc.get_policy, acct, name, "Custom")):
                self.add(f"create policy {name}",
                         partial(svc.create_policy, acct, name, doc, description=desc))
                continue
            current = svc.get_policy(acct, name, "Custom").default_version.document
            if not _same_document(current, doc):
                self.add(f"new default version of policy {name}", partial(
                    svc.create_policy_version, acct, name, doc, set_as_default=True,
                    rotate_strategy="DeleteOldestNonDefaultVersionWhenLimitExceeded"))

    def _attachments(
        self, target_type: AttachTarget, name: str, wanted: list[Mapping[str, Any]], exists: bool
    ) -> None:
        svc, acct = self.svc, self.acct
        have: set[tuple[str, str]] = set()
        if exists:
            have = {(a.entity.policy_type, a.entity.policy_name)
                    for a in svc.list_policies_for(acct, target_type, name)}
        want = _attachment_keys(wanted)
        for ptype, pname in sorted(want - have):
            self.add(f"attach {ptype} policy {pname} to {target_type} {name}",
                     partial(svc.attach_policy, acct, target_type, name, ptype, pname))
        for ptype, pname in sorted(have - want):
            self.add(f"detach {ptype} policy {pname} from {target_type} {name}",
                     partial(svc.detach_policy, acct, target_type, name, ptype, pname))

    def _groups(self) -> None:
        svc, acct = self.svc, self.acct
        for spec in self.org.get("Groups", []):
            name, comments = spec["GroupName"], spec.get("Comments", "")
            exists = self._exists(partial(svc.get_group, acct, name))
            if not exists:
                self.add(f"create group {name}", partial(svc.create_group, acct, name, comments=comments))
            elif svc.get_group(acct, name).comments != comments:
                self.add(f"update comments of group {name}",
                         partial(svc.update_group, acct, name, new_comments=comments))
            self._attachments("group", name, spec.get("Policies", []), exists)

    def _users(self) -> None:
        for spec in self.org.get("Users", []):
            self._user(spec)

    def _user(self, spec: Mapping[str, Any]) -> None:
        svc, acct = self.svc, self.acct
        name, display = spec["UserName"], spec.get("DisplayName", "")
        exists = self._exists(lambda: svc.get_user(acct, name))
        if not exists:
            self.add(f"create user {name}", lambda: svc.create_user(acct, name, display_name=display))
        elif svc.get_user(acct, name).display_name != display:
            self.add(f"update display name of user {name}",
                     lambda: svc.update_user(acct, name, new_display_name=display))
        have = {j.group.group_name for j in svc.list_groups_for_user(acct, name)} if exists else set()
        want = set(spec.get("Groups", []))
        for group in sorted(want - have):
            self.add(f"add user {name} to group {group}", partial(svc.add_user_to_group, acct, group, name))
        for group in sorted(have - want):
            self.add(f"remove user {name} from group {group}",
                     partial(svc.remove_user_from_group, acct, group, name))
        self._attachments("user", name, spec.get("Policies", []), exists)
        self._user_credentials(spec, exists)

    def _user_credentials(self, spec: Mapping[str, Any], exists: bool) -> None:
        svc, acct, name = self.svc, self.acct, spec["UserName"]
        if spec.get("AccessKey") and not (exists and svc.list_access_keys(acct, name)):
            self.add(f"create an AccessKey for user {name}",
                     lambda: svc.create_access_key(acct, name), secret_label=f"AccessKey of {name}")
        if spec.get("Console") and not (exists and self._exists(lambda: svc.get_login_profile(acct, name))):
            bind = bool(spec.get("MFABindRequired", False))
            self.add(f"create a console logon for user {name} (password to change at first logon)",
                     partial(_new_login_profile, svc, acct, name, bind),
                     secret_label=f"initial password of {name}")

    def _roles(self) -> None:
        svc, acct = self.svc, self.acct
        for spec in self.org.get("Roles", []):
            name = spec["RoleName"]
            trust = _document_text(spec["AssumeRolePolicyDocument"], acct)
            desc, duration = spec.get("Description", ""), int(spec.get("MaxSessionDuration", 3600))
            exists = self._exists(partial(svc.get_role, acct, name))
            if not exists:
                self.add(f"create role {name}", partial(
                    svc.create_role, acct, name, trust, description=desc, max_session_duration=duration))
            else:
                role = svc.get_role(acct, name)
                if (not _same_document(role.trust_policy, trust) or role.description != desc
                        or role.max_session_duration != duration):
                    self.add(f"update role {name}", partial(
                        svc.update_role, acct, name, new_assume_role_policy_document=trust,
                        new_description=desc, new_max_session_duration=duration))
            self._attachments("role", name, spec.get("Policies", []), exists)


def _new_login_profile(service: RamService, account_id: str, user_name: str, mfa_bind: bool) -> str:
    # Meets any password policy the spec allows: all four character classes, 24 characters.
    password = "Aa1!" + secrets.token_urlsafe(15)
    service.create_login_profile(
        account_id, user_name, password, password_reset_required=True, mfa_bind_required=mfa_bind
    )
    return password


def plan(service: RamService, account_id: str, org: Mapping[str, Any]) -> list[Change]:
    """The changes that would make the account match ``org`` (empty when it already does)."""
    service.get_account(account_id)
    return _Planner(service, account_id, org).build()


def apply(service: RamService, account_id: str, org: Mapping[str, Any]) -> ApplyResult:
    """Plan, then carry out each change in order. Each change is one store transaction."""
    result = ApplyResult()
    for change in plan(service, account_id, org):
        outcome = change.run()
        result.applied.append(change.description)
        if change.secret_label is not None:
            result.secrets[change.secret_label] = _secret_of(outcome)
    return result


def _secret_of(outcome: object) -> str:
    if isinstance(outcome, str):
        return outcome
    key = getattr(outcome, "key", None)
    secret = getattr(outcome, "secret", "")
    return f"{getattr(key, 'access_key_id', '')}:{secret}"


def export(service: RamService, account_id: str) -> dict[str, Any]:
    """The account's users, groups, custom policies, attachments and roles as an organisation file."""
    acct = account_id
    def document(name: str) -> Any:
        return json.loads(service.get_policy(acct, name, "Custom").default_version.document)

    policies = [
        {"PolicyName": p.policy_name, "Description": p.description, "PolicyDocument": document(p.policy_name)}
        for p in _all(lambda m: service.list_policies(acct, policy_type="Custom", marker=m))
    ]
    groups = [
        {"GroupName": g.group_name, "Comments": g.comments,
         "Policies": _attached(service, acct, "group", g.group_name)}
        for g in _all(lambda m: service.list_groups(acct, marker=m))
    ]
    users = [_export_user(service, acct, u.user_name, u.display_name)
             for u in _all(lambda m: service.list_users(acct, marker=m))]
    roles = [
        {"RoleName": r.role_name, "Description": r.description, "MaxSessionDuration": r.max_session_duration,
         "AssumeRolePolicyDocument": json.loads(r.trust_policy),
         "Policies": _attached(service, acct, "role", r.role_name)}
        for r in _all(lambda m: service.list_roles(acct, marker=m))
    ]
    account = service.get_account(acct)
    return {"Account": {"Alias": account.alias} if account.alias else {},
            "Policies": policies, "Groups": groups, "Users": users, "Roles": roles}


def _export_user(service: RamService, acct: str, name: str, display: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "UserName": name, "DisplayName": display,
        "Groups": sorted(j.group.group_name for j in service.list_groups_for_user(acct, name)),
        "Policies": _attached(service, acct, "user", name),
    }
    if service.list_access_keys(acct, name):
        entry["AccessKey"] = True
    try:
        profile = service.get_login_profile(acct, name)
    except errors.EntityNotExist:
        return entry
    entry["Console"] = True
    if profile.mfa_bind_required:
        entry["MFABindRequired"] = True
    return entry


def _attached(service: RamService, acct: str, target_type: AttachTarget, name: str) -> list[dict[str, str]]:
    rows = service.list_policies_for(acct, target_type, name)
    return sorted(({"PolicyType": a.entity.policy_type, "PolicyName": a.entity.policy_name} for a in rows),
                  key=lambda d: (d["PolicyType"], d["PolicyName"]))


def _all(fetch: Callable[[str | None], Any]) -> list[Any]:
    items: list[Any] = []
    marker: str | None = None
    while True:
        page = fetch(marker)
        items.extend(page.items)
        if not page.is_truncated:
            return items
        marker = page.marker
