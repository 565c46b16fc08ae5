"""What the account's security preference grants RAM users on the control plane, as a policy.

While ``AllowUserToChangePassword`` is on (the default), a RAM user may change its own password without any
policy of its own. :class:`SelfServicePolicies` expresses that as one more identity policy of the user — an
``Allow`` of ``ram:ChangePassword`` on the user's own ARN — so the middleware decides ChangePassword like
every other action, once: an explicit ``Deny`` in the user's policies still wins (as everywhere in RAM), a
policy granting ``ram:ChangePassword`` still works with the preference off, and the single audit event of
the call names what decided it (``securitypreference policy AllowUserToChangePassword (user alice)``).
The spec is silent on a Deny against the preference; decision: the Deny wins, as RAM users would expect of
an explicit Deny anywhere. A role session has no password (the action's resource refuses it, 400).
"""

from __future__ import annotations

import json

from ..identity import Principal
from ..policy import AttachedPolicy, PolicySet, parse_policy
from ..service import RamService
from ..store.cache import Directory

__all__ = ["PREFERENCE_GRANT", "SelfServicePolicies"]

PREFERENCE_GRANT = "AllowUserToChangePassword"
"""The name the grant goes by in decisions and audit events (the security preference it stands for)."""
_GRANT_TYPE = "SecurityPreference"
_CACHED = 1024  # combined sets remembered (each identity set is the directory's, per user and snapshot)


def _grant(principal: Principal) -> AttachedPolicy:
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "ram:ChangePassword", "Resource": principal.arn}],
    }
    compiled = parse_policy(json.dumps(document), kind="identity")
    return AttachedPolicy(PREFERENCE_GRANT, _GRANT_TYPE, "", "user", principal.name, compiled)


class SelfServicePolicies:
    """The control plane's policy source: the directory's identity policies, plus the security preference's
    grant for a RAM user while the preference is on."""

    def __init__(self, directory: Directory, service: RamService) -> None:
        self._directory = directory
        self._service = service
        self._combined: dict[tuple[int, str], tuple[PolicySet, PolicySet]] = {}

    def policy_set(self, principal: Principal) -> PolicySet:
        """The principal's identity policies (with the grant, for a RAM user whose account allows it)."""
        identity = self._directory.policy_set(principal)
        if principal.kind != "user":
            return identity
        if not self._service.get_security_preference(principal.account_id).allow_user_to_change_password:
            return identity
        # The directory hands out the same set until something changes: compile the union once per set.
        key = (id(identity), principal.arn.lower())
        found = self._combined.get(key)
        if found is not None and found[0] is identity:  # holding the set keeps its id from being reused
            return found[1]
        combined = PolicySet((*identity.policies, _grant(principal)))
        if len(self._combined) >= _CACHED:
            self._combined.clear()
        self._combined[key] = (identity, combined)
        return combined
