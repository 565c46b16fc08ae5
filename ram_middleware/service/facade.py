"""RamService: the admin façade — one method per RAM operation, each one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

from .. import errors
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
    ) -> Decision:
        """The decision the request path would take for ``subject`` (a Principal or a user name).

        Uses the control plane's policies (:attr:`self_service`: the directory's PolicySet plus what the
        security preference grants, so ``ram:ChangePassword`` on the user's own ARN is decided as the RAM
        API decides it); an assumed-role Principal's session policy is intersected as on the request path.
        The root is always allowed.
        """
        if isinstance(subject, str):
            principal = self.directory.principal_for_user(account_id, subject)
        elif subject.account_id != account_id:
            raise errors.InvalidParameter("Principal", "The principal belongs to another account.")
        else:
            principal = subject
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
        return decide_with_session(identity, session, request)
