"""What the account's security preference grants RAM users on the control plane, as a policy.

While ``AllowUserToChangePassword`` is on (the default), a RAM user may change its own password without any
policy of its own. :class:`SelfServicePolicies` expresses that as one more identity policy of the user — an
``Allow`` of ``ram:ChangePassword`` on the user's own ARN — so the middleware decides ChangePassword like
every other action, once: an explicit ``Deny`` in the user's policies still wins (as everywhere in RAM), a
policy granting ``ram:ChangePassword`` still works with the preference off, and the single audit event of
the call names what decided it (``securitypreference policy AllowUserToChangePassword (user alice)``).
The spec is silent on a Deny against the preference; decision: the Deny wins, as RAM users would expect of
an explicit Deny anywhere. A role session has no password (the action's resource refuses it, 400).

It lives in the service layer so that the control plane and :meth:`RamService.simulate` (``ram simulate``)
share one definition: a simulation decides a control-plane action as the control plane does.
"""

from __future__ import annotations

import json
from typing import Protocol

from ..credentials.preference import SecurityPreference
from ..identity import Principal
from ..policy import AttachedPolicy, PolicySet, parse_policy
from ..store.cache import Directory

__all__ = [
    "PREFERENCE_GRANT",
    "Preferences",
    "SelfServicePolicies",
    "preference_grant",
    "with_preference_grant",
]

PREFERENCE_GRANT = "AllowUserToChangePassword"
"""The name the grant goes by in decisions and audit events (the security preference it stands for)."""
_GRANT_TYPE = "SecurityPreference"
_CACHED = 1024  # combined sets remembered (each identity set is the directory's, per user and snapshot)


class Preferences(Protocol):
    """Where an account's security preference is read (:class:`RamService`)."""

    def get_security_preference(self, account_id: str) -> SecurityPreference: ...


def preference_grant(user_arn: str, user_name: str) -> AttachedPolicy:
    """The grant as a policy of the RAM user ``user_name`` (``user_arn``): ram:ChangePassword on itself."""
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "ram:ChangePassword", "Resource": user_arn}],
    }
    compiled = parse_policy(json.dumps(document), kind="identity")
    return AttachedPolicy(PREFERENCE_GRANT, _GRANT_TYPE, "", "user", user_name, compiled)


def with_preference_grant(
    identity: PolicySet, user_arn: str, user_name: str, preference: SecurityPreference
) -> PolicySet:
    """``identity`` plus the grant while ``preference`` allows users to change their passwords."""
    if not preference.allow_user_to_change_password:
        return identity
    return PolicySet((*identity.policies, preference_grant(user_arn, user_name)))


class SelfServicePolicies:
    """The control plane's policy source: the directory's identity policies, plus the security preference's
    grant for a RAM user while the preference is on."""

    def __init__(self, directory: Directory, preferences: Preferences) -> None:
        self._directory = directory
        self._preferences = preferences
        self._combined: dict[tuple[int, str], tuple[PolicySet, PolicySet]] = {}

    def policy_set(self, principal: Principal) -> PolicySet:
        """The principal's identity policies (with the grant, for a RAM user whose account allows it)."""
        identity = self._directory.policy_set(principal)
        if principal.kind != "user":
            return identity
        preference = self._preferences.get_security_preference(principal.account_id)
        if not preference.allow_user_to_change_password:
            return identity
        # The directory hands out the same set until something changes: compile the union once per set.
        key = (id(identity), principal.arn.lower())
        found = self._combined.get(key)
        if found is not None and found[0] is identity:  # holding the set keeps its id from being reused
            return found[1]
        combined = with_preference_grant(identity, principal.arn, principal.name, preference)
        if len(self._combined) >= _CACHED:
            self._combined.clear()
        self._combined[key] = (identity, combined)
        return combined
