"""Policies: custom policy documents with up to five versions, and the built-in System policies.

A document is validated with :func:`parse_policy` *before* the write transaction opens, so an invalid
document stores nothing. System policies are read-only and have a single version ``v1``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Final, Literal

from .. import errors
from ..identity import Policy, PolicyType, PolicyVersion
from ..policy import SYSTEM_POLICIES, parse_policy
from ..store.base import Repository
from ..store.records import Page
from .base import ServiceBase, must_exist, page_of
from .results import PolicyDetail
from .rules import MAX_ITEMS, check_max_items, check_name, check_text, decode_marker

__all__ = ["SYSTEM_POLICY_DATE", "PolicyOps", "RotateStrategy", "check_policy_type"]

RotateStrategy = Literal["None", "DeleteOldestNonDefaultVersionWhenLimitExceeded"]
_ROTATE: Final = "DeleteOldestNonDefaultVersionWhenLimitExceeded"

SYSTEM_POLICY_DATE: Final = datetime(2015, 5, 1, tzinfo=UTC)
"""Create/update date reported for System policies (they have no creation event of their own)."""


def check_policy_type(value: str) -> PolicyType:
    """``System`` or ``Custom`` exactly, else ``InvalidParameter.PolicyType``."""
    if value == "System":
        return "System"
    if value == "Custom":
        return "Custom"
    raise errors.InvalidParameter("PolicyType", "PolicyType must be System or Custom.")


def system_policy_record(name: str, attachment_count: int = 0) -> Policy:
    """The Policy record of a System policy; ``EntityNotExist.Policy`` when there is none by that name."""
    found = must_exist(SYSTEM_POLICIES.get(name) if isinstance(name, str) else None, "Policy", name, 128)
    return Policy(
        found.name,
        "System",
        found.description,
        "v1",
        attachment_count,
        SYSTEM_POLICY_DATE,
        SYSTEM_POLICY_DATE,
    )


class PolicyOps(ServiceBase):
    """CreatePolicy … SetDefaultPolicyVersion."""

    def _validated(self, document: str) -> str:
        if not isinstance(document, str):
            raise errors.InvalidParameter("PolicyDocument", "PolicyDocument must be JSON text.")
        parse_policy(document, kind="identity", max_length=self.limits.policy_document_length)
        return document

    def create_policy(
        self, account_id: str, policy_name: str, policy_document: str, *, description: str = ""
    ) -> Policy:
        """A new custom policy with version v1; an invalid document stores nothing."""
        check_name("PolicyName", policy_name)
        check_text("Description", description, self.limits.policy_description_length)
        self._validated(policy_document)
        with self.store.write() as repo:
            self._account(repo, account_id)
            if repo.get_policy(account_id, policy_name) is not None:
                raise errors.EntityAlreadyExists("Policy", f"The policy already exists: {policy_name}")
            if repo.count_policies(account_id) >= self.limits.custom_policies_per_account:
                raise errors.LimitExceeded("Policy", "The account has reached its number of custom policies.")
            now = self._now()
            policy = Policy(policy_name, "Custom", description, "v1", 0, now, now)
            repo.insert_policy(account_id, policy, PolicyVersion("v1", policy_document, True, now))
        return policy

    def get_policy(self, account_id: str, policy_name: str, policy_type: str) -> PolicyDetail:
        """The policy (System or Custom) with its default version's document."""
        kind = check_policy_type(policy_type)
        with self.store.read() as repo:
            self._account(repo, account_id)
            if kind == "System":
                system_policy_record(policy_name)  # EntityNotExist.Policy before counting anything
                counts = repo.attachment_counts(account_id, "System", (policy_name,))
                policy = system_policy_record(policy_name, counts.get(policy_name, 0))
                return PolicyDetail(policy, _system_version(policy_name))
            policy = self._custom_policy(repo, account_id, policy_name)
            version = repo.get_version(account_id, policy.policy_name, policy.default_version)
        if version is None:
            raise errors.EntityNotExist("Policy.Version", "The default version is missing.")
        return PolicyDetail(policy, version)

    def list_policies(
        self,
        account_id: str,
        *,
        policy_type: str | None = None,
        marker: str | None = None,
        max_items: int = 100,
    ) -> Page[Policy]:
        """System then Custom policies (each in name order), optionally of one type.

        The Marker continues at a key, ``0:<lower-cased name>`` for System and ``1:<lower-cased name>`` for
        Custom policies; each page reads only its own rows (System policies are code, not rows) and the
        attachment counts of its own policies, so listing every page costs the policies once."""
        kind = None if policy_type is None else check_policy_type(policy_type)
        check_max_items(max_items, MAX_ITEMS)
        start = decode_marker(marker, prefixes=_POLICY_KEY_PREFIXES)
        system = [n for n in _SYSTEM_ORDER if kind != "Custom" and _policy_key("System", n) >= start]
        system = system[: max_items + 1]
        custom_start = _custom_start(start)
        with self.store.read() as repo:
            self._account(repo, account_id)
            counts = repo.attachment_counts(account_id, "System", system[:max_items])
            rows = [system_policy_record(n, counts.get(n, 0)) for n in system]
            if kind != "System" and custom_start is not None and len(rows) <= max_items:
                rows += repo.list_policies(account_id, custom_start, max_items + 1 - len(rows))
        return page_of(rows, max_items, lambda p: _policy_key(p.policy_type, p.policy_name))

    def update_policy_description(
        self, account_id: str, policy_name: str, new_description: str | None
    ) -> Policy:
        """Change a custom policy's description (None leaves it, as the other Update calls do)."""
        if new_description is not None:
            check_text("NewDescription", new_description, self.limits.policy_description_length)
        with self.store.write() as repo:
            policy = self._custom_policy(repo, account_id, policy_name)
            description = policy.description if new_description is None else new_description
            updated = replace(policy, description=description, update_date=self._now())
            repo.update_policy(account_id, updated)
        return updated

    def delete_policy(self, account_id: str, policy_name: str, *, cascading_delete: bool = False) -> None:
        """Delete a custom policy. Attachments block it (``DeleteConflict.Policy.User/Group/Role``), and so
        do non-default versions (``DeleteConflict.Policy.Version``), unless ``cascading_delete`` — which
        detaches it everywhere and deletes every version in the same transaction."""
        with self.store.write() as repo:
            policy = self._custom_policy(repo, account_id, policy_name)
            attached = repo.attachments_for_policy(account_id, "Custom", policy.policy_name)
            if not cascading_delete:
                for target in ("user", "group", "role"):
                    if any(a.target_type == target for a in attached):
                        raise errors.DeleteConflict(
                            f"Policy.{target.capitalize()}",
                            f"The policy is attached to a {target}: {policy_name}",
                        )
                if len(repo.list_versions(account_id, policy.policy_name)) > 1:
                    raise errors.DeleteConflict(
                        "Policy.Version", f"The policy has other versions: {policy_name}"
                    )
            for attachment in attached:
                repo.detach(attachment.target_type, attachment.target_id, "Custom", policy.policy_name)
            repo.delete_policy(account_id, policy.policy_name)

    # --- versions -----------------------------------------------------------------------------------

    def create_policy_version(
        self,
        account_id: str,
        policy_name: str,
        policy_document: str,
        *,
        set_as_default: bool = False,
        rotate_strategy: str = "None",
    ) -> PolicyVersion:
        """Add a version; at the limit either fail (``LimitExceeded.Policy.Version``) or, with
        ``DeleteOldestNonDefaultVersionWhenLimitExceeded``, delete the oldest non-default version."""
        if rotate_strategy not in ("None", _ROTATE):
            raise errors.InvalidParameter("RotateStrategy", f"RotateStrategy must be None or {_ROTATE}.")
        self._validated(policy_document)
        with self.store.write() as repo:
            policy = self._custom_policy(repo, account_id, policy_name)
            versions = repo.list_versions(account_id, policy.policy_name)
            if len(versions) >= self.limits.policy_versions:
                # Under a quota of one version, the only version is the default: nothing to rotate out.
                oldest = next((v for v in versions if not v.is_default), None)
                if rotate_strategy != _ROTATE or oldest is None:
                    raise errors.LimitExceeded(
                        "Policy.Version", f"The policy has {len(versions)} versions already."
                    )
                repo.delete_version(account_id, policy.policy_name, oldest.version_id)
            now = self._now()
            version = repo.add_version(account_id, policy.policy_name, policy_document, now)
            default = version.version_id if set_as_default else policy.default_version
            repo.update_policy(account_id, replace(policy, default_version=default, update_date=now))
        return replace(version, is_default=set_as_default)

    def get_policy_version(
        self, account_id: str, policy_name: str, policy_type: str, version_id: str
    ) -> PolicyVersion:
        """One version (System policies have only v1)."""
        for version in self.list_policy_versions(account_id, policy_name, policy_type):
            if version.version_id == version_id:
                return version
        raise _no_such_version(version_id)

    def list_policy_versions(
        self, account_id: str, policy_name: str, policy_type: str = "Custom"
    ) -> list[PolicyVersion]:
        """All versions, oldest first."""
        if check_policy_type(policy_type) == "System":
            system_policy_record(policy_name)
            return [_system_version(policy_name)]
        with self.store.read() as repo:
            policy = self._custom_policy(repo, account_id, policy_name)
            return repo.list_versions(account_id, policy.policy_name)

    def _policy_with_version(
        self, repo: Repository, account_id: str, policy_name: str, version_id: str
    ) -> Policy:
        """The custom policy, which must have version ``version_id``."""
        policy = self._custom_policy(repo, account_id, policy_name)
        if repo.get_version(account_id, policy.policy_name, version_id) is None:
            raise _no_such_version(version_id)
        return policy

    def delete_policy_version(self, account_id: str, policy_name: str, version_id: str) -> None:
        """Delete a non-default version (the default one: ``DeleteConflict.Policy.Version``)."""
        with self.store.write() as repo:
            policy = self._policy_with_version(repo, account_id, policy_name, version_id)
            if version_id == policy.default_version:
                raise errors.DeleteConflict("Policy.Version", "The default version cannot be deleted.")
            repo.delete_version(account_id, policy.policy_name, version_id)

    def set_default_policy_version(self, account_id: str, policy_name: str, version_id: str) -> Policy:
        """Make a version the one that applies."""
        with self.store.write() as repo:
            policy = self._policy_with_version(repo, account_id, policy_name, version_id)
            updated = replace(policy, default_version=version_id, update_date=self._now())
            repo.update_policy(account_id, updated)
        return updated


_POLICY_KEY_PREFIXES: Final = ("0:", "1:")


def _policy_key(kind: PolicyType, name: str) -> str:
    """Where a policy sorts in ListPolicies, and what its Marker holds: System before Custom, then by
    lower-cased name."""
    return f"{'0' if kind == 'System' else '1'}:{name.lower()}"


_SYSTEM_ORDER: Final = tuple(sorted(SYSTEM_POLICIES, key=str.lower))


def _custom_start(start: str) -> str | None:
    """The lowest lower-cased Custom name whose key is >= ``start`` (None: no Custom policy is)."""
    if start.startswith("1:"):
        return start[2:]
    return "" if start < "1:" else None


def _no_such_version(version_id: object) -> errors.EntityNotExist:
    message = f"The policy version does not exist: {str(version_id)[:16]}"
    return errors.EntityNotExist("Policy.Version", message)


def _system_version(name: str) -> PolicyVersion:
    return PolicyVersion("v1", SYSTEM_POLICIES[name].document, True, SYSTEM_POLICY_DATE)
