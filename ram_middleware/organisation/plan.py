"""Plan and apply: compare an organisation file with an account, then make the account match it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from .. import errors
from ..identity import AttachTarget
from ..policy import PolicyKind, parse_policy
from ..policy.values import json_text
from ..service import RamService
from .schema import ACCOUNT_PLACEHOLDER, OrganisationFileError, at_path, validate_organisation
from .target import Api, NewPassword, OrgTarget, ServiceTarget, plain_password

__all__ = [
    "ApplyResult",
    "Change",
    "NewPasswords",
    "PlanChanged",
    "apply",
    "as_target",
    "plan",
    "run_changes",
]

_ROTATE = "DeleteOldestNonDefaultVersionWhenLimitExceeded"
_SECRET_FIELDS = ("UserName", "Password", "AccessKeyId", "AccessKeySecret")
_COMMIT = "commit"  # ApplyResult.failed when the store failed at the commit, after every change ran


@dataclass(frozen=True)
class Change:
    """One step of a plan: what will be done, in words, and the call that does it. ``prepare``, when set,
    is slow work the call needs (a new password's hash), done before the unit of work opens
    (:func:`run_changes`) so that it never holds the store's write lock."""

    description: str
    run: Callable[[], object] = field(repr=False, compare=False)
    secret_label: str | None = None  # set when the step yields a secret to show once
    prepare: Callable[[], object] | None = field(default=None, repr=False, compare=False)


@dataclass
class ApplyResult:
    """What apply did; ``secrets`` holds new credentials by label (shown once, never stored).

    When a change failed, ``failed`` names it and ``error`` is why. ``rolled_back``: the target undid every
    change (the local store), so ``applied`` and ``secrets`` are empty. Otherwise (the RAM API) the changes
    in ``applied`` stay made and their secrets are here, so that none is lost. ``in_doubt``: the commit
    itself failed (``failed`` is ``"commit"``), so whether ``applied`` happened is unknown.
    """

    applied: list[str] = field(default_factory=list)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    failed: str | None = None
    error: errors.RAMError | None = None
    rolled_back: bool = False
    in_doubt: bool = False


class NewPasswords:
    """The initial console passwords of one apply: one per user, made and prepared
    (:meth:`OrgTarget.prepare_password`; on the local store, hashed) once. The plans of one apply share it,
    so the passwords prepared for the plan that was shown, before the store transaction opened, are the ones
    the same plan made again inside the transaction stores."""

    def __init__(self, target: OrgTarget) -> None:
        self._target = target
        self._made: dict[str, NewPassword] = {}

    def get(self, user_name: str) -> NewPassword:
        """``user_name``'s new password, made and prepared on first use."""
        key = user_name.lower()
        if key not in self._made:
            self._made[key] = self._target.prepare_password(user_name, _initial_password(user_name))
        return self._made[key]


def _initial_password(user_name: str) -> str:
    """A password any policy the spec allows accepts: all four character classes, 32 characters (the
    longest MinimumPasswordLength), and not the user name ('!' is in no name, so only the random part could
    hold a short one: it is then made again)."""
    while True:
        tail = secrets.token_urlsafe(19)
        if len(user_name) < 3 or user_name.casefold() not in tail.casefold():  # as the policy checks
            return "a!A!1!" + tail


class PlanChanged(errors.RAMError):
    """The account changed between the plan someone approved and the apply; nothing was done."""

    default_code = "Conflict.PlanChanged"
    default_status = 409
    default_message = "The account changed after the plan was shown; nothing was applied. Apply again."


def _by_name(entries: Iterable[Api], key: str) -> dict[str, Api]:
    return {str(entry[key]).lower(): entry for entry in entries}


def _same_document(a: str, b: str) -> bool:
    try:  # numbers as exact decimals: no float holds 1e309, and int() refuses 5,000 digits
        return bool(_decimals(a) == _decimals(b))
    except ValueError:
        return a == b


def _decimals(text: str) -> Any:
    return json.loads(text, parse_int=Decimal, parse_float=Decimal)


class _Planner:
    """Builds the list of changes for one account; reads the account, never writes it."""

    def __init__(self, target: OrgTarget, org: Mapping[str, Any], passwords: NewPasswords) -> None:
        self.t = target
        self.org = org
        self.passwords = passwords
        self.changes: list[Change] = []
        self.users = _by_name(target.list_users(), "UserName")
        self.groups = _by_name(target.list_groups(), "GroupName")
        self.policies = _by_name(target.list_policies("Custom"), "PolicyName")
        self.roles = _by_name(target.list_roles(), "RoleName")

    def add(
        self,
        description: str,
        run: Callable[[], object],
        secret_label: str | None = None,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self.changes.append(Change(description, run, secret_label, prepare))

    def build(self) -> list[Change]:
        self._check_references()
        alias = self.org.get("Account", {}).get("Alias")
        if alias is not None and alias != self.t.get_account_alias():
            self.add(f"set account alias {alias}", partial(self.t.set_account_alias, alias))
        self._policies()
        self._groups()
        for spec in self.org.get("Users", []):
            self._user(spec)
        self._roles()
        return self.changes

    def _document(
        self, value: str | Mapping[str, Any], path: str, kind: PolicyKind, current: str | None = None
    ) -> str:
        """The document's text, validated; one the account already holds (``current``) is read as stored, so
        a check added since it was accepted does not block an apply that leaves it as it is."""
        try:
            text = value if isinstance(value, str) else json_text(value)
        except ValueError:  # from YAML: .inf or .nan
            raise OrganisationFileError(path, "a number is not a JSON number") from None
        text = text.replace(ACCOUNT_PLACEHOLDER, self.t.account_id)
        try:
            parse_policy(text, kind=kind, stored=current is not None and _same_document(current, text))
        except errors.MalformedPolicyDocument as exc:
            raise OrganisationFileError(at_path(path, exc.path) if exc.path else path, exc.problem) from None
        except errors.InvalidParameter as exc:
            raise OrganisationFileError(path, exc.message) from None
        return text

    def _check_references(self) -> None:
        groups = set(self.groups) | {g["GroupName"].lower() for g in self.org.get("Groups", [])}
        policies = set(self.policies) | {p["PolicyName"].lower() for p in self.org.get("Policies", [])}
        for section in ("Groups", "Users", "Roles"):
            for index, spec in enumerate(self.org.get(section, [])):
                for g_index, group in enumerate(spec.get("Groups", [])):
                    if group.lower() not in groups:
                        path = f"{section}[{index}].Groups[{g_index}]"
                        raise OrganisationFileError(
                            path, f"group {group!r} is neither declared nor in the account"
                        )
                for p_index, ref in enumerate(spec.get("Policies", [])):
                    if (
                        ref.get("PolicyType", "Custom") == "Custom"
                        and ref["PolicyName"].lower() not in policies
                    ):
                        path = f"{section}[{index}].Policies[{p_index}].PolicyName"
                        message = (
                            f"custom policy {ref['PolicyName']!r} is neither declared nor in the account"
                        )
                        raise OrganisationFileError(path, message)

    def _policies(self) -> None:
        t = self.t
        for index, spec in enumerate(self.org.get("Policies", [])):
            name, desc = spec["PolicyName"], spec.get("Description", "")
            current = self.policies.get(name.lower())
            stored = None
            if current is not None:
                stored = t.get_policy(name, "Custom")["DefaultPolicyVersion"]["PolicyDocument"]
            path = f"Policies[{index}].PolicyDocument"
            doc = self._document(spec["PolicyDocument"], path, "identity", stored)
            if current is None:
                self.add(f"create policy {name}", partial(t.create_policy, name, doc, description=desc))
                continue
            if not _same_document(stored or "", doc):
                self.add(
                    f"new default version of policy {name}",
                    partial(t.create_policy_version, name, doc, set_as_default=True, rotate_strategy=_ROTATE),
                )
            if current.get("Description", "") != desc:
                self.add(
                    f"update description of policy {name}", partial(t.update_policy_description, name, desc)
                )

    def _attachments(
        self, target_type: AttachTarget, name: str, wanted: list[Mapping[str, Any]], exists: bool
    ) -> None:
        have: dict[tuple[str, str], str] = {}
        if exists:
            have = {
                (a["PolicyType"], a["PolicyName"].lower()): a["PolicyName"]
                for a in self.t.list_policies_for(target_type, name)
            }
        want = {
            (str(w.get("PolicyType", "Custom")), w["PolicyName"].lower()): w["PolicyName"] for w in wanted
        }
        for key in sorted(want.keys() - have.keys()):
            ptype, pname = key[0], want[key]
            self.add(
                f"attach {ptype} policy {pname} to {target_type} {name}",
                partial(self.t.attach_policy, target_type, name, ptype, pname),
            )
        for key in sorted(have.keys() - want.keys()):
            ptype, pname = key[0], have[key]
            self.add(
                f"detach {ptype} policy {pname} from {target_type} {name}",
                partial(self.t.detach_policy, target_type, name, ptype, pname),
            )

    def _groups(self) -> None:
        for spec in self.org.get("Groups", []):
            name, comments = spec["GroupName"], spec.get("Comments", "")
            current = self.groups.get(name.lower())
            if current is None:
                self.add(f"create group {name}", partial(self.t.create_group, name, comments=comments))
            elif current.get("Comments", "") != comments:
                self.add(
                    f"update comments of group {name}",
                    partial(self.t.update_group, name, new_comments=comments),
                )
            self._attachments("group", name, spec.get("Policies", []), current is not None)

    def _user(self, spec: Mapping[str, Any]) -> None:
        t, name = self.t, spec["UserName"]
        current = self.users.get(name.lower())
        fields = {
            "display_name": "DisplayName",
            "email": "Email",
            "mobile_phone": "MobilePhone",
            "comments": "Comments",
        }
        if current is None:
            values = {arg: spec.get(key, "") for arg, key in fields.items()}
            self.add(f"create user {name}", partial(t.create_user, name, **values))
        else:
            changed = {
                f"new_{arg}": spec.get(key, "")
                for arg, key in fields.items()
                if current.get(key, "") != spec.get(key, "")
            }
            if changed:
                what = ", ".join(sorted(k[4:].replace("_", " ") for k in changed))
                self.add(f"update {what} of user {name}", partial(t.update_user, name, **changed))
        have = (
            {g["GroupName"].lower(): g["GroupName"] for g in t.list_groups_for_user(name)} if current else {}
        )
        want = {g.lower(): g for g in spec.get("Groups", [])}
        for key in sorted(want.keys() - have.keys()):
            self.add(f"add user {name} to group {want[key]}", partial(t.add_user_to_group, want[key], name))
        for key in sorted(have.keys() - want.keys()):
            self.add(
                f"remove user {name} from group {have[key]}",
                partial(t.remove_user_from_group, have[key], name),
            )
        self._attachments("user", name, spec.get("Policies", []), current is not None)
        self._credentials(spec, current is not None)

    def _credentials(self, spec: Mapping[str, Any], exists: bool) -> None:
        t, name = self.t, spec["UserName"]
        if spec.get("AccessKey") and not (exists and t.list_access_keys(name)):
            self.add(
                f"create an AccessKey for user {name}",
                partial(t.create_access_key, name),
                secret_label=f"AccessKey of {name}",
            )
        if not spec.get("Console"):
            return
        bind = bool(spec.get("MFABindRequired", False))
        profile = self._login_profile(name) if exists else None
        if profile is None:
            self.add(
                f"create a console logon for user {name} (password to change at first logon"
                + (", MFA to bind)" if bind else ")"),
                partial(_new_login_profile, t, self.passwords, name, bind),
                secret_label=f"initial password of {name}",
                prepare=partial(self.passwords.get, name),
            )
        elif bool(profile.get("MFABindRequired")) != bind:
            self.add(
                f"set MFABindRequired={str(bind).lower()} for user {name}",
                partial(t.update_login_profile, name, mfa_bind_required=bind),
            )

    def _login_profile(self, name: str) -> Api | None:
        try:
            return self.t.get_login_profile(name)
        except errors.EntityNotExist:
            return None

    def _roles(self) -> None:
        t = self.t
        for index, spec in enumerate(self.org.get("Roles", [])):
            name = spec["RoleName"]
            exists = name.lower() in self.roles
            role = t.get_role(name) if exists else None
            current = None if role is None else role["AssumeRolePolicyDocument"]
            path = f"Roles[{index}].AssumeRolePolicyDocument"
            trust = self._document(spec["AssumeRolePolicyDocument"], path, "trust", current)
            desc, duration = spec.get("Description", ""), int(spec.get("MaxSessionDuration", 3600))
            if role is None:
                self.add(
                    f"create role {name}",
                    partial(t.create_role, name, trust, description=desc, max_session_duration=duration),
                )
            else:
                same_trust = _same_document(role["AssumeRolePolicyDocument"], trust)
                same_rest = role.get("Description", "") == desc and role["MaxSessionDuration"] == duration
                if not (same_trust and same_rest):
                    self.add(
                        f"update role {name}",
                        partial(
                            t.update_role,
                            name,
                            new_trust_policy=None if same_trust else trust,  # unchanged: not resubmitted
                            new_description=desc,
                            new_max_session_duration=duration,
                        ),
                    )
            self._attachments("role", name, spec.get("Policies", []), exists)


def _new_login_profile(target: OrgTarget, passwords: NewPasswords, user_name: str, mfa_bind: bool) -> Api:
    password = passwords.get(user_name)
    target.create_login_profile(user_name, password, password_reset_required=True, mfa_bind_required=mfa_bind)
    return {"UserName": user_name, "Password": plain_password(password)}


def as_target(where: RamService | OrgTarget, account_id: str | None = None) -> OrgTarget:
    """``where`` itself, or a RamService wrapped for ``account_id`` (which must exist)."""
    if isinstance(where, RamService):
        if account_id is None:
            raise errors.MissingParameter("AccountId", "An AccountId is needed with a RamService.")
        where.get_account(account_id)
        return ServiceTarget(where, account_id)
    return where


def plan(
    where: RamService | OrgTarget,
    account_id: str | None,
    org: Mapping[str, Any],
    *,
    passwords: NewPasswords | None = None,
) -> list[Change]:
    """The changes that would make the account match ``org`` (empty when it already does).

    ``where`` is a RamService (with ``account_id``) or any :class:`OrgTarget` (``account_id`` None). The
    whole file is checked first (grammar, every document, every reference), so a plan is never half built.
    ``passwords``: the new console passwords, shared by the plans of one apply (planning makes none).
    """
    target = as_target(where, account_id)
    org = validate_organisation(dict(org))
    with target.read_ahead():  # the planner reads per entity; the local store answers from one account read
        return _Planner(target, org, NewPasswords(target) if passwords is None else passwords).build()


def apply(where: RamService | OrgTarget, account_id: str | None, org: Mapping[str, Any]) -> ApplyResult:
    """Plan, prepare the new passwords, then carry out the changes as one unit of work
    (:func:`run_changes`); if the account changes in between, :class:`PlanChanged` and nothing is done. A
    failed change raises its error, which carries the :class:`ApplyResult` as ``detail["result"]``. When the
    account already matches, nothing is written at all."""
    target = as_target(where, account_id)
    passwords = NewPasswords(target)

    def planned() -> list[Change]:
        return plan(target, None, org, passwords=passwords)

    expected = planned()
    if not expected:
        # Nothing to change: no unit of work, so no write and no change announced (which would make every
        # instance drop its snapshot of the account for nothing).
        return ApplyResult()
    result = run_changes(target, planned, expected=expected)
    if result.error is not None:
        result.error.detail["result"] = result
        raise result.error
    return result


def run_changes(
    target: OrgTarget, changes: Callable[[], list[Change]], *, expected: Sequence[Change] | None = None
) -> ApplyResult:
    """Carry out the changes ``changes()`` plans, in order, inside ``target.all_or_nothing()``, collecting
    the secrets they yield; stop at the first that fails (``failed``/``error`` in the result). An error
    before any change ran (the file, the plan, the store) is raised: nothing was done.

    On a target that can undo (the local store) the plan is made and carried out in one transaction:
    a failure rolls every change back (``rolled_back``; nothing applied, no secrets), and the plan cannot
    go stale under the writer lock. Otherwise (the RAM API) the changes before the failure stay made:
    ``applied`` names them and ``secrets`` holds what they yielded. ``expected``: the plan as shown to
    someone who approved it (made with the same :class:`NewPasswords`): its slow preparations
    (:attr:`Change.prepare`) run first, before the unit of work opens; if the account has changed since,
    :class:`PlanChanged` and nothing is done. A failure at the commit itself leaves the outcome unknown
    (``in_doubt``): ``applied`` and ``secrets`` then hold everything, valid only if the store committed;
    unless the store's error says the commit was rolled back (``detail["committed"]`` False): then
    ``rolled_back`` as for any other failure.
    """
    for change in expected or ():
        if change.prepare is not None:
            change.prepare()
    result = ApplyResult()
    running: Change | None = None
    undoable = False
    try:
        with target.all_or_nothing() as undoable:
            result.rolled_back = undoable
            planned = changes()
            if expected is not None and [c.description for c in planned] != [c.description for c in expected]:
                raise PlanChanged()
            for running in planned:
                outcome = running.run()
                result.applied.append(running.description)
                if running.secret_label is not None and isinstance(outcome, dict):
                    result.secrets[running.secret_label] = {
                        k: str(v) for k, v in outcome.items() if k in _SECRET_FIELDS
                    }
            running = None
            result.rolled_back = False
    except errors.RAMError as exc:
        if running is None and not result.applied:
            raise  # before any change ran (the plan, the file, the store's first answer): nothing was done
        result.error = exc
        if running is None:
            result.failed = _COMMIT
            # A store that knows its commit was rolled back says so (committed False); else it may have landed
            result.rolled_back = undoable and exc.detail.get("committed") is False
            result.in_doubt = not result.rolled_back
            if result.rolled_back:
                result.applied, result.secrets = [], {}
        else:
            result.failed = running.description
            if result.rolled_back:
                result.applied, result.secrets = [], {}
    return result
