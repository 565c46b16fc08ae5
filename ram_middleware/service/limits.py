"""Quotas, with the real service's values as defaults (spec policy-language.md §4, sts-and-ram-api.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-account quotas; exceeding one raises the matching ``LimitExceeded.*`` error."""

    users_per_account: int = 1000
    groups_per_account: int = 50
    roles_per_account: int = 1000
    custom_policies_per_account: int = 1500
    groups_per_user: int = 5
    access_keys_per_user: int = 2
    custom_policies_per_user: int = 10
    custom_policies_per_group: int = 5
    custom_policies_per_role: int = 5
    system_policies_per_target: int = 20
    policy_versions: int = 5
    policy_document_length: int = 6144
    trust_policy_length: int = 6144
    policy_description_length: int = 1024
    role_description_length: int = 1024

    def custom_policies_per(self, target_type: str) -> int:
        """The custom-policy attachment quota for a user, group or role."""
        return {
            "user": self.custom_policies_per_user,
            "group": self.custom_policies_per_group,
            "role": self.custom_policies_per_role,
        }[target_type]
