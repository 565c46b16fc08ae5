"""RAM roles: trust policy, session duration, and revocation of issued sessions.

Revocation (decision): each call ends every session of the role issued before it, whichever instance
issued it and however that instance's clock is set. It counts the role's session generation up in the
store; every token carries the generation it was issued in (read from the store at issuance), and an older
one is revoked (:class:`~ram_middleware.identity.SessionRevocation`). The call also moves the role's
revocation time, which only tokens without a generation follow (issued before generations existed, or by an
instance not yet upgraded during a rolling upgrade): ``before`` sets that time, and an earlier time than
the current one leaves it. A ``before`` in the past therefore still ends every session issued until the
call (fail closed), and one in the future does not end sessions issued after the call that carry a
generation: a Deny policy blocks new sessions.
During a rolling upgrade, revoke through an upgraded instance: one still running the previous release
(opened before the store was migrated) moves only the time, which tokens carrying a generation ignore.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from .. import errors
from ..identity import Role, SessionRevocation
from ..policy import parse_policy
from ..store.records import Page
from . import ids
from .base import ServiceBase
from .rules import MAX_ITEMS, check_name, check_text

__all__ = ["MAX_SESSION", "MIN_SESSION", "RoleOps", "check_session_duration"]

MIN_SESSION, MAX_SESSION = 3600, 43200


def check_session_duration(param: str, seconds: int) -> int:
    """A role's MaxSessionDuration: whole seconds from MIN_SESSION to MAX_SESSION."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_SESSION <= seconds <= MAX_SESSION:
        raise errors.InvalidParameter(param, f"{param} must be {MIN_SESSION} to {MAX_SESSION} seconds.")
    return seconds


class RoleOps(ServiceBase):
    """CreateRole, GetRole, UpdateRole, DeleteRole, ListRoles, and session revocation."""

    def _trust(self, document: str) -> str:
        if not isinstance(document, str):
            raise errors.InvalidParameter("AssumeRolePolicyDocument", "The trust policy must be JSON text.")
        parse_policy(document, kind="trust", max_length=self.limits.trust_policy_length)
        return document

    def create_role(
        self,
        account_id: str,
        role_name: str,
        assume_role_policy_document: str,
        *,
        description: str = "",
        max_session_duration: int = MIN_SESSION,
    ) -> Role:
        """A new role; the trust policy is validated (kind="trust") before anything is stored."""
        check_name("RoleName", role_name)
        check_text("Description", description, self.limits.role_description_length)
        check_session_duration("MaxSessionDuration", max_session_duration)
        self._trust(assume_role_policy_document)
        with self.store.write() as repo:
            self._account(repo, account_id)
            if repo.get_role(account_id, role_name) is not None:
                raise errors.EntityAlreadyExists("Role", f"The role already exists: {role_name}")
            if repo.count_roles(account_id) >= self.limits.roles_per_account:
                raise errors.LimitExceeded("Role", "The account has reached its number of roles.")
            now = self._now()
            role = Role(
                account_id, ids.role_id(), role_name, assume_role_policy_document, description,
                max_session_duration, now, now,
            )  # fmt: skip
            repo.insert_role(role)
        return role

    def get_role(self, account_id: str, role_name: str) -> Role:
        """The role; ``EntityNotExist.Role`` when unknown."""
        with self.store.read() as repo:
            return self._role(repo, account_id, role_name)

    def update_role(
        self,
        account_id: str,
        role_name: str,
        *,
        new_assume_role_policy_document: str | None = None,
        new_description: str | None = None,
        new_max_session_duration: int | None = None,
    ) -> Role:
        """Change trust policy, description and/or MaxSessionDuration (None leaves a field)."""
        if new_assume_role_policy_document is not None:
            self._trust(new_assume_role_policy_document)
        if new_description is not None:
            check_text("NewDescription", new_description, self.limits.role_description_length)
        if new_max_session_duration is not None:
            check_session_duration("NewMaxSessionDuration", new_max_session_duration)
        with self.store.write() as repo:
            role = self._role(repo, account_id, role_name)
            updated = replace(
                role,
                trust_policy=new_assume_role_policy_document or role.trust_policy,
                description=role.description if new_description is None else new_description,
                max_session_duration=new_max_session_duration or role.max_session_duration,
                update_date=self._now(),
            )
            repo.update_role(updated)
        return updated

    def delete_role(self, account_id: str, role_name: str, *, force: bool = False) -> None:
        """Delete a role; attached policies block it (``DeleteConflict.Role.Policy``) unless ``force``."""
        with self.store.write() as repo:
            role = self._role(repo, account_id, role_name)
            if repo.attachments_for_target("role", role.role_id):
                if not force:
                    raise errors.DeleteConflict(
                        "Role.Policy", f"The role still has policies: {role.role_name}"
                    )
                repo.detach_all("role", role.role_id)
            repo.delete_role(role.role_id)

    def list_roles(self, account_id: str, *, marker: str | None = None, max_items: int = 100) -> Page[Role]:
        """One page of roles in name order."""
        return self._account_page(
            account_id,
            marker,
            max_items,
            MAX_ITEMS,
            lambda repo: repo.list_roles,
            lambda r: r.role_name.lower(),
            "RoleName",
        )

    def revoke_role_sessions(
        self, account_id: str, role_name: str, *, before: datetime | None = None
    ) -> datetime:
        """Invalidate every session of the role issued until now (see the module docs); returns the
        revocation time that tokens without a generation now follow: ``before`` (default: now), or the
        later one already set, as the time never moves backwards.
        """
        when = self._now() if before is None else before
        if when.tzinfo is None:
            raise errors.InvalidParameter("RevokeBefore", "The revocation time must carry a time zone.")
        with self.store.write() as repo:
            role = self._role(repo, account_id, role_name)
            current = repo.get_role_revocation(role.role_id)
            if current is not None and current.before is not None and current.before >= when:
                when = current.before
            repo.revoke_role_sessions(role.role_id, when)
        return when

    def get_role_revoked_before(self, account_id: str, role_name: str) -> datetime | None:
        """Sessions without a generation issued before this time are revoked (None: none are)."""
        return self.get_role_revocation(account_id, role_name).before

    def get_role_revocation(self, account_id: str, role_name: str) -> SessionRevocation:
        """Which of the role's sessions are revoked."""
        with self.store.read() as repo:
            found = repo.get_role_revocation(self._role(repo, account_id, role_name).role_id)
        return SessionRevocation(None, 0) if found is None else found
