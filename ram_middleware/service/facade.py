"""RamService: the admin façade — one method per RAM operation, each one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

from .. import errors
from ..credentials.sts import assume_role_decision, assume_role_target, role_not_found, trust_decision
from ..identity import Principal
from ..policy import AttachedPolicy, Decision, PolicySet, decide_with_session, make_request, parse_policy
from .attachments import AttachmentOps
from .groups import GroupOps
from .keys import KeyOps
from .logon import LogonOps
from .mfa import MFAOps
from .policies import PolicyOps
from .roles import RoleOps
from .self_service import SelfServicePolicies
from .users import UserOps

__all__ = ["RamService"]


class RamService(UserOps, GroupOps, PolicyOps, AttachmentOps, KeyOps, RoleOps, MFAOps, LogonOps):
    """Administer accounts, users, groups, policies, keys, roles, login profiles and MFA devices.

    ``RamService(store, *, limits=Limits(), clock=..., directory=None, mfa_issuer="ram-middleware",
    guard=None)``.
    Every method takes the ``account_id`` it acts in first. Every write is one store transaction: it
    happens whole or not at all, and (through the store's change notification) the directory of this
    process drops its snapshot before the method returns. Pass the request path's :class:`Directory`
    as ``directory`` so :meth:`simulate` and last-used dates share it; otherwise one is created. Pass the
    runtime's ``guard`` so that a password an administrator sets (CreateLoginProfile, UpdateLoginProfile
    with a Password) ends the user's ``MaxLoginAttemps`` lock-out, whoever sets it: API, CLI or code.
    """

    @cached_property
    def self_service(self) -> SelfServicePolicies:
        """The control plane's policy source over this service's directory (the security preference's
        grant included), which :meth:`simulate` decides with."""
        return SelfServicePolicies(self.directory, self)

    def simulate(
        self,
        account_id: str,
        subject: Principal | str,
        action: str,
        resource: str,
        context: Mapping[str, object] | None = None,
        *,
        trust: bool = True,
    ) -> Decision:
        """The decision the request path would take for ``subject`` (a Principal or a user name).

        Uses the control plane's policies (:attr:`self_service`: the directory's PolicySet plus what the
        security preference grants, so ``ram:ChangePassword`` on the user's own ARN is decided as the RAM
        API decides it); an assumed-role Principal's session policy is intersected as on the request path.
        The root is always allowed. ``sts:AssumeRole`` on one role's ARN is decided as AssumeRole decides
        it: the caller's policies and then the role's trust policy (:meth:`simulate_trust`), the first that
        refuses naming its statement; ``trust=False`` leaves the trust policy out (the caller's own
        decision, which AssumeRole itself is given).
        """
        principal = self._simulated_principal(account_id, subject)
        request = make_request(action, resource, context)
        identity = self.self_service.policy_set(principal)
        session = None
        if principal.kind == "assumed-role" and principal.session_policy:
            compiled = parse_policy(principal.session_policy, kind="session", stored=True)
            session = PolicySet(
                [
                    AttachedPolicy(
                        "SessionPolicy", "Session", "", "session", principal.session_name or "", compiled
                    )
                ]
            )
        own = decide_with_session(identity, session, request)
        trusted = self.simulate_trust(account_id, principal, action, resource, context) if trust else None
        return own if trusted is None else assume_role_decision(own, trusted)

    def simulate_trust(
        self,
        account_id: str,
        subject: Principal | str,
        action: str,
        resource: str,
        context: Mapping[str, object] | None = None,
    ) -> Decision | None:
        """For ``sts:AssumeRole`` on one role's ARN (in any account of the store, as AssumeRole allows):
        whether the role's trust policy trusts ``subject``, decided by AssumeRole's own check
        (:func:`~ram_middleware.credentials.sts.trust_decision`; ``context`` carries any ``sts:ExternalId``).
        None for any other request; ``EntityNotExist.Role`` when there is no such role."""
        target = assume_role_target(action, resource)
        if target is None:
            return None
        principal = self._simulated_principal(account_id, subject)
        try:
            role = self.get_role(*target)
        except errors.EntityNotExist:
            raise role_not_found(*target) from None
        return trust_decision(principal, role, context or {})

    def _simulated_principal(self, account_id: str, subject: Principal | str) -> Principal:
        if isinstance(subject, str):
            return self.directory.principal_for_user(account_id, subject)
        if subject.account_id != account_id:
            raise errors.InvalidParameter("Principal", "The principal belongs to another account.")
        return subject
