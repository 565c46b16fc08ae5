"""Attaching System and Custom policies to users, groups and roles, and listing who has what.

Listing order (decision; Alibaba does not document one): ListPoliciesFor* by attach date, then policy name;
ListEntitiesForPolicy each kind by stored name in codepoint order (``Bob`` before ``alice``). Both read a
fixed number of statements however many policies or holders there are.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import errors
from ..identity import Policy, PolicyType
from ..store.base import Repository
from ..store.records import Attachment, AttachTarget
from .base import ServiceBase, must_exist
from .policies import check_policy_type, system_policy_record
from .results import Attached, PolicyEntities

__all__ = ["AttachmentOps"]

_TARGET_CODE = {"user": "User", "group": "Group", "role": "Role"}
_TARGETS: dict[str, AttachTarget] = {"user": "user", "group": "group", "role": "role"}


def check_target_type(value: str) -> AttachTarget:
    """``user``, ``group`` or ``role`` in any case (the API spells them ``User``…), else
    ``InvalidParameter.PolicyTargetType``."""
    found = _TARGETS.get(value.lower()) if isinstance(value, str) else None
    if found is None:
        raise errors.InvalidParameter("PolicyTargetType", "The policy target must be a user, group or role.")
    return found


def _attached_policy(attachment: Attachment, custom: Mapping[str, Policy]) -> Policy:
    """The policy record of an attachment: System policies are code, Custom ones are in ``custom`` (by
    lower-cased name)."""
    if attachment.policy_type == "System":
        return system_policy_record(attachment.policy_name)
    return must_exist(custom.get(attachment.policy_name.lower()), "Policy", attachment.policy_name, 128)


class AttachmentOps(ServiceBase):
    """AttachPolicyTo*/DetachPolicyFrom*, ListPoliciesFor*, ListEntitiesForPolicy."""

    def _target(
        self, repo: Repository, account_id: str, target_type: AttachTarget, name: str
    ) -> tuple[str, str]:
        """(id, stored name) of the user, group or role (``target_type`` already checked)."""
        if target_type == "user":
            user = self._user(repo, account_id, name)
            return user.user_id, user.user_name
        if target_type == "group":
            group = self._group(repo, account_id, name)
            return group.group_id, group.group_name
        role = self._role(repo, account_id, name)
        return role.role_id, role.role_name

    def _policy(self, repo: Repository, account_id: str, kind: PolicyType, policy_name: str) -> Policy:
        if kind == "System":
            return system_policy_record(policy_name)
        return self._custom_policy(repo, account_id, policy_name)

    def attach_policy(
        self, account_id: str, target_type: AttachTarget, target_name: str, policy_type: str, policy_name: str
    ) -> None:
        """Attach a policy; ``EntityAlreadyExists.<Target>.Policy`` if it already is, ``LimitExceeded.*``
        at the quota."""
        target_type, kind = check_target_type(target_type), check_policy_type(policy_type)
        with self.store.write() as repo:
            self._account(repo, account_id)
            target_id, stored_name = self._target(repo, account_id, target_type, target_name)
            policy = self._policy(repo, account_id, kind, policy_name)
            current = repo.attachments_for_target(target_type, target_id)
            self._check_attachable(current, target_type, stored_name, policy)
            attachment = Attachment(
                account_id, target_type, target_id, stored_name, kind, policy.policy_name, self._now()
            )
            repo.attach(attachment)

    def _check_attachable(
        self, current: list[Attachment], target_type: AttachTarget, target_name: str, policy: Policy
    ) -> None:
        code, kind = _TARGET_CODE[target_type], policy.policy_type
        if any(a.policy_type == kind and a.policy_name == policy.policy_name for a in current):
            raise errors.EntityAlreadyExists(
                f"{code}.Policy", f"The policy is already attached to {target_type} {target_name}."
            )
        if kind == "System":
            quota = self.limits.system_policies_per_target
        else:
            quota = self.limits.custom_policies_per(target_type)
        if sum(1 for a in current if a.policy_type == kind) >= quota:
            raise errors.LimitExceeded(
                f"{code}.Policy", f"{target_type} {target_name} has the maximum number of {kind} policies."
            )

    def detach_policy(
        self, account_id: str, target_type: AttachTarget, target_name: str, policy_type: str, policy_name: str
    ) -> None:
        """Detach a policy; ``EntityNotExist.<Target>.Policy`` when it is not attached."""
        target_type, kind = check_target_type(target_type), check_policy_type(policy_type)
        with self.store.write() as repo:
            target_id, stored_name = self._target(repo, account_id, target_type, target_name)
            policy = self._policy(repo, account_id, kind, policy_name)
            if not repo.detach(target_type, target_id, kind, policy.policy_name):
                raise errors.EntityNotExist(
                    f"{_TARGET_CODE[target_type]}.Policy", f"The policy is not attached to {stored_name}."
                )

    def list_policies_for(
        self, account_id: str, target_type: AttachTarget, target_name: str
    ) -> list[Attached[Policy]]:
        """The policies attached to one user, group or role, with their attach dates (their custom
        policies read together, not one by one)."""
        target_type = check_target_type(target_type)
        with self.store.read() as repo:
            target_id, _ = self._target(repo, account_id, target_type, target_name)
            attached = repo.attachments_for_target(target_type, target_id)
            custom = repo.policies_named(
                account_id, [a.policy_name for a in attached if a.policy_type == "Custom"]
            )
        return [Attached(_attached_policy(a, custom), a.attach_date) for a in attached]

    def list_entities_for_policy(self, account_id: str, policy_type: str, policy_name: str) -> PolicyEntities:
        """The users, groups and roles a policy is attached to, with attach dates: one statement per kind of
        holder, however many there are."""
        kind = check_policy_type(policy_type)
        with self.store.read() as repo:
            self._account(repo, account_id)
            name = self._policy(repo, account_id, kind, policy_name).policy_name
            return PolicyEntities(
                tuple(repo.users_for_policy(account_id, kind, name)),
                tuple(repo.groups_for_policy(account_id, kind, name)),
                tuple(repo.roles_for_policy(account_id, kind, name)),
            )

    # --- the API's per-target spellings ---------------------------------------------------------------

    def attach_policy_to_user(
        self, account_id: str, policy_type: str, policy_name: str, user_name: str
    ) -> None:
        """AttachPolicyToUser."""
        self.attach_policy(account_id, "user", user_name, policy_type, policy_name)

    def attach_policy_to_group(
        self, account_id: str, policy_type: str, policy_name: str, group_name: str
    ) -> None:
        """AttachPolicyToGroup."""
        self.attach_policy(account_id, "group", group_name, policy_type, policy_name)

    def attach_policy_to_role(
        self, account_id: str, policy_type: str, policy_name: str, role_name: str
    ) -> None:
        """AttachPolicyToRole."""
        self.attach_policy(account_id, "role", role_name, policy_type, policy_name)

    def detach_policy_from_user(
        self, account_id: str, policy_type: str, policy_name: str, user_name: str
    ) -> None:
        """DetachPolicyFromUser."""
        self.detach_policy(account_id, "user", user_name, policy_type, policy_name)

    def detach_policy_from_group(
        self, account_id: str, policy_type: str, policy_name: str, group_name: str
    ) -> None:
        """DetachPolicyFromGroup."""
        self.detach_policy(account_id, "group", group_name, policy_type, policy_name)

    def detach_policy_from_role(
        self, account_id: str, policy_type: str, policy_name: str, role_name: str
    ) -> None:
        """DetachPolicyFromRole."""
        self.detach_policy(account_id, "role", role_name, policy_type, policy_name)

    def list_policies_for_user(self, account_id: str, user_name: str) -> list[Attached[Policy]]:
        """ListPoliciesForUser."""
        return self.list_policies_for(account_id, "user", user_name)

    def list_policies_for_group(self, account_id: str, group_name: str) -> list[Attached[Policy]]:
        """ListPoliciesForGroup."""
        return self.list_policies_for(account_id, "group", group_name)

    def list_policies_for_role(self, account_id: str, role_name: str) -> list[Attached[Policy]]:
        """ListPoliciesForRole."""
        return self.list_policies_for(account_id, "role", role_name)
