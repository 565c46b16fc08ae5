"""What plan/apply/export act on: :class:`OrgTarget`, and :class:`ServiceTarget` over a RamService.

A target answers in the RAM API's response shapes (``{"UserName": …, "CreateDate": "…Z"}``), so the same code
runs against the local store (:class:`ServiceTarget`) or through the RAM API (the ``ram`` command's remote
backend). The ``*_api`` functions give the service's records those shapes; a listing answers in its RAM
action's shape (ListRoles without trust policies, ListGroupsForUser's and ListPoliciesFor*'s own entries), so
the two kinds of target print the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from .. import errors
from ..credentials.password import PreparedPassword
from ..identity import AccessKey, AttachTarget, Group, Policy, PolicyVersion, Role, User
from ..service import RamService
from ..service.policies import system_policy_record
from ..service.results import Attached
from ..service.shapes import (
    access_key_shape,
    api_date,
    attached_policy_shape,
    group_shape,
    joined_group_shape,
    login_profile_shape,
    policy_shape,
    role_shape,
    user_shape,
    version_shape,
)
from ..store.base import Repository
from ..store.records import LoginProfile, Page

__all__ = [
    "Api",
    "NewPassword",
    "OrgTarget",
    "ServiceTarget",
    "all_pages",
    "api_date",
    "group_api",
    "key_api",
    "login_profile_api",
    "plain_password",
    "policy_api",
    "present",
    "role_api",
    "user_api",
    "version_api",
]

Api = dict[str, Any]
NewPassword = str | PreparedPassword  # what OrgTarget.prepare_password gives for create_login_profile


def plain_password(password: NewPassword) -> str:
    """The password itself (what the RAM API is sent: the server hashes it)."""
    return password if isinstance(password, str) else password.password


class OrgTarget(Protocol):
    """RAM operations in one account, answering in RAM API response shapes (``{"UserName": …}``).

    A missing entity raises ``EntityNotExist.*``; names match case-insensitively. Lists are complete (the
    implementation follows Markers).
    """

    account_id: str

    def all_or_nothing(self) -> AbstractContextManager[bool]:
        """A unit of work around a whole apply; yields whether it can be undone. True: the operations inside
        happen together or (on an exception) not at all. False (the RAM API, one transaction per call):
        each operation stays made as soon as it returns."""
        ...

    def read_ahead(self) -> AbstractContextManager[None]:
        """A scope for many reads and no writes (planning, export): inside it the target may answer the
        per-entity reads from one account-wide read made on entering (the local store), or ask per call."""
        ...

    def get_account_alias(self) -> str | None: ...
    def set_account_alias(self, alias: str) -> None: ...
    def list_policies(self, policy_type: str | None = None) -> list[Api]: ...
    def get_policy(self, policy_name: str, policy_type: str) -> Api: ...
    def create_policy(self, policy_name: str, document: str, *, description: str = "") -> Api: ...
    def create_policy_version(
        self, policy_name: str, document: str, *, set_as_default: bool = False, rotate_strategy: str = "None"
    ) -> Api: ...
    def update_policy_description(self, policy_name: str, description: str) -> Api: ...
    def list_groups(self) -> list[Api]: ...
    def create_group(self, group_name: str, *, comments: str = "") -> Api: ...
    def update_group(
        self, group_name: str, *, new_group_name: str | None = None, new_comments: str | None = None
    ) -> Api: ...
    def list_users(self) -> list[Api]: ...
    def create_user(self, user_name: str, **fields: str) -> Api: ...
    def update_user(self, user_name: str, **changes: str) -> Api: ...
    def list_groups_for_user(self, user_name: str) -> list[Api]: ...
    def add_user_to_group(self, group_name: str, user_name: str) -> None: ...
    def remove_user_from_group(self, group_name: str, user_name: str) -> None: ...
    def list_policies_for(self, target_type: AttachTarget, name: str) -> list[Api]: ...
    def attach_policy(
        self, target_type: AttachTarget, name: str, policy_type: str, policy_name: str
    ) -> None: ...
    def detach_policy(
        self, target_type: AttachTarget, name: str, policy_type: str, policy_name: str
    ) -> None: ...
    def list_access_keys(self, user_name: str | None) -> list[Api]: ...
    def create_access_key(self, user_name: str | None) -> Api: ...
    def get_login_profile(self, user_name: str) -> Api: ...
    def prepare_password(self, user_name: str, password: str) -> NewPassword:
        """``password`` made ready ahead of :meth:`create_login_profile`: on the local store checked and
        hashed, so that inside :meth:`all_or_nothing` the slow hash does not hold the store's write lock."""
        ...

    def create_login_profile(
        self,
        user_name: str,
        password: NewPassword,
        *,
        password_reset_required: bool = False,
        mfa_bind_required: bool = False,
    ) -> Api: ...
    def update_login_profile(
        self,
        user_name: str,
        *,
        password: str | None = None,
        password_reset_required: bool | None = None,
        mfa_bind_required: bool | None = None,
    ) -> Api:
        """UpdateLoginProfile: a new password (checked against the password policy; it ends a
        ``MaxLoginAttemps`` lock-out) and/or flags; None leaves a field as it is."""
        ...

    def list_roles(self) -> list[Api]: ...
    def get_role(self, role_name: str) -> Api: ...
    def create_role(
        self, role_name: str, trust_policy: str, *, description: str = "", max_session_duration: int = 3600
    ) -> Api: ...
    def update_role(
        self,
        role_name: str,
        *,
        new_trust_policy: str | None = None,
        new_description: str | None = None,
        new_max_session_duration: int | None = None,
    ) -> Api: ...


def present(entries: Mapping[str, Any]) -> Api:
    """``entries`` without the fields that have no value (the RAM API leaves them out)."""
    return {key: value for key, value in entries.items() if value is not None}


def user_api(user: User) -> Api:
    """A User as the RAM API shows it."""
    return present(user_shape(user))


def group_api(group: Group) -> Api:
    """A Group as the RAM API shows it."""
    return present(group_shape(group))


def policy_api(policy: Policy) -> Api:
    """A Policy as the RAM API shows it."""
    return present(policy_shape(policy))


def version_api(version: PolicyVersion) -> Api:
    """A PolicyVersion as the RAM API shows it."""
    return present(version_shape(version))


def role_api(role: Role) -> Api:
    """A Role as the RAM API shows it (GetRole's shape, so local and remote backends print the same)."""
    return present(role_shape(role))


def key_api(key: AccessKey) -> Api:
    """An AccessKey's public record as the RAM API shows it (never the secret)."""
    return present(access_key_shape(key))


def login_profile_api(profile: LoginProfile) -> Api:
    """A LoginProfile as the RAM API shows it."""
    return present(login_profile_shape(profile))


def all_pages(fetch: Callable[[str | None], Page[Any]]) -> list[Any]:
    """Every item of a paged listing, following Markers."""
    items: list[Any] = []
    marker: str | None = None
    while True:
        page = fetch(marker)
        items.extend(page.items)
        if not page.is_truncated:
            return items
        marker = page.marker


@dataclass(frozen=True)
class _Ahead:
    """One account read whole in one store transaction, in the shapes :class:`ServiceTarget` answers with;
    keyed by lower-cased name."""

    users: list[Api]
    groups: list[Api]
    policies: list[Api]  # Custom
    roles: list[Api]  # ListRoles' shape
    groups_for_user: dict[str, list[Api]]
    policies_for: dict[tuple[str, str], list[Api]]  # (target type, name)
    access_keys: dict[str, list[Api]]
    login_profiles: dict[str, Api]
    policy_details: dict[str, Api]  # GetPolicy's answer
    role_details: dict[str, Api]  # GetRole's answer
    names: dict[str, frozenset[str]]  # the users', groups' and roles' names by target type

    @classmethod
    def read(cls, repo: Repository, account_id: str) -> _Ahead:
        """Every user, group, custom policy and role of the account with their memberships, attachments,
        keys and login profiles: a fixed number of statements, whatever the account's size."""
        everyone = 2**31
        users = repo.list_users(account_id, "", everyone)
        groups = repo.list_groups(account_id, "", everyone)
        policies = repo.list_policies(account_id, "", everyone)
        roles = repo.list_roles(account_id, "", everyone)
        names = {u.user_id: u.user_name.lower() for u in users}
        groups_for_user: dict[str, list[Api]] = {}
        for user_id, joined in repo.account_memberships(account_id):
            groups_for_user.setdefault(names[user_id], []).append(present(joined_group_shape(joined)))
        custom = {p.policy_name: p for p in policies}
        policies_for: dict[tuple[str, str], list[Api]] = {}
        for a in repo.account_attachments(account_id):
            policy = (
                custom[a.policy_name] if a.policy_type == "Custom" else system_policy_record(a.policy_name)
            )
            shape = present(attached_policy_shape(Attached(policy, a.attach_date)))
            policies_for.setdefault((a.target_type, a.target_name.lower()), []).append(shape)
        access_keys: dict[str, list[Api]] = {}
        for record in repo.account_access_keys(account_id):
            if record.user_id is not None:
                access_keys.setdefault(names[record.user_id], []).append(key_api(record.key))
        versions = repo.default_versions(account_id)
        return cls(
            users=[user_api(u) for u in users],
            groups=[group_api(g) for g in groups],
            policies=[policy_api(p) for p in policies],
            roles=[present(role_shape(r, document=False)) for r in roles],
            groups_for_user=groups_for_user,
            policies_for=policies_for,
            access_keys=access_keys,
            login_profiles={
                names[r.user_id]: login_profile_api(r.profile)
                for r in repo.account_login_profiles(account_id)
                if r.user_id is not None
            },
            policy_details={
                p.policy_name.lower(): {
                    "Policy": policy_api(p),
                    "DefaultPolicyVersion": version_api(versions[p.policy_name.lower()]),
                }
                for p in policies
            },
            role_details={r.role_name.lower(): role_api(r) for r in roles},
            names={
                "user": frozenset(names.values()),
                "group": frozenset(g.group_name.lower() for g in groups),
                "role": frozenset(r.role_name.lower() for r in roles),
            },
        )

    def named(self, target_type: AttachTarget, name: str) -> bool:
        """Whether the account held a user, group or role by that name (case-insensitively)."""
        return name.lower() in self.names[target_type]


class ServiceTarget:
    """:class:`OrgTarget` over a :class:`RamService` for one account (the local store)."""

    def __init__(self, service: RamService, account_id: str) -> None:
        self.service = service
        self.account_id = account_id
        self._ahead: _Ahead | None = None

    @contextmanager
    def read_ahead(self) -> Iterator[None]:
        """Read the whole account in one transaction (a fixed number of statements) and answer the reads
        inside the scope from it: planning an apply over thousands of users would otherwise cost several
        statements per user. Writes inside the scope are not seen by its reads; plan and export write
        nothing."""
        with self.service.store.read() as repo:
            self.service.get_account(self.account_id)
            ahead = _Ahead.read(repo, self.account_id)
        self._ahead = ahead
        try:
            yield
        finally:
            self._ahead = None

    @contextmanager
    def all_or_nothing(self) -> Iterator[bool]:
        """One store write transaction: the service's operations inside join it (a transaction opened on a
        thread that holds one becomes part of it), so an exception rolls all of them back, and caches and
        other instances hear of the changes once, after the commit. It holds the store's write lock
        throughout, as any write does."""
        with self.service.store.write():
            yield True

    def get_account_alias(self) -> str | None:
        return self.service.get_account_alias(self.account_id)

    def set_account_alias(self, alias: str) -> None:
        self.service.set_account_alias(self.account_id, alias)

    def list_policies(self, policy_type: str | None = None) -> list[Api]:
        if self._ahead is not None and policy_type == "Custom":
            return list(self._ahead.policies)
        s, a = self.service, self.account_id
        return [
            policy_api(p) for p in all_pages(lambda m: s.list_policies(a, policy_type=policy_type, marker=m))
        ]

    def get_policy(self, policy_name: str, policy_type: str) -> Api:
        if (
            self._ahead is not None
            and policy_type == "Custom"
            and policy_name.lower() in self._ahead.policy_details
        ):
            return dict(self._ahead.policy_details[policy_name.lower()])
        detail = self.service.get_policy(self.account_id, policy_name, policy_type)
        return {
            "Policy": policy_api(detail.policy),
            "DefaultPolicyVersion": version_api(detail.default_version),
        }

    def create_policy(self, policy_name: str, document: str, *, description: str = "") -> Api:
        return policy_api(
            self.service.create_policy(self.account_id, policy_name, document, description=description)
        )

    def create_policy_version(
        self, policy_name: str, document: str, *, set_as_default: bool = False, rotate_strategy: str = "None"
    ) -> Api:
        return version_api(
            self.service.create_policy_version(
                self.account_id,
                policy_name,
                document,
                set_as_default=set_as_default,
                rotate_strategy=rotate_strategy,
            )
        )

    def update_policy_description(self, policy_name: str, description: str) -> Api:
        return policy_api(self.service.update_policy_description(self.account_id, policy_name, description))

    def list_groups(self) -> list[Api]:
        if self._ahead is not None:
            return list(self._ahead.groups)
        s, a = self.service, self.account_id
        return [group_api(g) for g in all_pages(lambda m: s.list_groups(a, marker=m))]

    def create_group(self, group_name: str, *, comments: str = "") -> Api:
        return group_api(self.service.create_group(self.account_id, group_name, comments=comments))

    def update_group(
        self, group_name: str, *, new_group_name: str | None = None, new_comments: str | None = None
    ) -> Api:
        return group_api(
            self.service.update_group(
                self.account_id, group_name, new_group_name=new_group_name, new_comments=new_comments
            )
        )

    def list_users(self) -> list[Api]:
        if self._ahead is not None:
            return list(self._ahead.users)
        s, a = self.service, self.account_id
        return [user_api(u) for u in all_pages(lambda m: s.list_users(a, marker=m))]

    def create_user(self, user_name: str, **fields: str) -> Api:
        """``fields``: display_name, email, mobile_phone, comments."""
        return user_api(self.service.create_user(self.account_id, user_name, **fields))

    def update_user(self, user_name: str, **changes: str) -> Api:
        """``changes``: new_user_name, new_display_name, new_email, new_mobile_phone, new_comments."""
        return user_api(self.service.update_user(self.account_id, user_name, **changes))

    def list_groups_for_user(self, user_name: str) -> list[Api]:
        if self._ahead is not None and self._ahead.named("user", user_name):
            return list(self._ahead.groups_for_user.get(user_name.lower(), ()))
        joined = self.service.list_groups_for_user(self.account_id, user_name)
        return [present(joined_group_shape(j)) for j in joined]

    def add_user_to_group(self, group_name: str, user_name: str) -> None:
        self.service.add_user_to_group(self.account_id, group_name, user_name)

    def remove_user_from_group(self, group_name: str, user_name: str) -> None:
        self.service.remove_user_from_group(self.account_id, group_name, user_name)

    def list_policies_for(self, target_type: AttachTarget, name: str) -> list[Api]:
        if self._ahead is not None and self._ahead.named(target_type, name):
            return list(self._ahead.policies_for.get((target_type, name.lower()), ()))
        attached = self.service.list_policies_for(self.account_id, target_type, name)
        return [present(attached_policy_shape(a)) for a in attached]

    def attach_policy(self, target_type: AttachTarget, name: str, policy_type: str, policy_name: str) -> None:
        self.service.attach_policy(self.account_id, target_type, name, policy_type, policy_name)

    def detach_policy(self, target_type: AttachTarget, name: str, policy_type: str, policy_name: str) -> None:
        self.service.detach_policy(self.account_id, target_type, name, policy_type, policy_name)

    def list_access_keys(self, user_name: str | None) -> list[Api]:
        if self._ahead is not None and user_name is not None and self._ahead.named("user", user_name):
            return list(self._ahead.access_keys.get(user_name.lower(), ()))
        return [key_api(k) for k in self.service.list_access_keys(self.account_id, user_name)]

    def create_access_key(self, user_name: str | None) -> Api:
        created = self.service.create_access_key(self.account_id, user_name)
        return {**key_api(created.key), "AccessKeySecret": created.secret}

    def get_login_profile(self, user_name: str) -> Api:
        if self._ahead is not None and self._ahead.named("user", user_name):
            found = self._ahead.login_profiles.get(user_name.lower())
            if found is None:  # as the service says it
                raise errors.EntityNotExist(
                    "User.LoginProfile", f"There is no login profile for {user_name}."
                )
            return dict(found)
        return login_profile_api(self.service.get_login_profile(self.account_id, user_name))

    def prepare_password(self, user_name: str, password: str) -> NewPassword:
        return self.service.prepare_password(self.account_id, user_name, password)

    def create_login_profile(
        self,
        user_name: str,
        password: NewPassword,
        *,
        password_reset_required: bool = False,
        mfa_bind_required: bool = False,
    ) -> Api:
        return login_profile_api(
            self.service.create_login_profile(
                self.account_id,
                user_name,
                password,
                password_reset_required=password_reset_required,
                mfa_bind_required=mfa_bind_required,
            )
        )

    def update_login_profile(
        self,
        user_name: str,
        *,
        password: str | None = None,
        password_reset_required: bool | None = None,
        mfa_bind_required: bool | None = None,
    ) -> Api:
        return login_profile_api(
            self.service.update_login_profile(
                self.account_id,
                user_name,
                password=password,
                password_reset_required=password_reset_required,
                mfa_bind_required=mfa_bind_required,
            )
        )

    def list_roles(self) -> list[Api]:
        if self._ahead is not None:
            return list(self._ahead.roles)
        s, a = self.service, self.account_id
        # ListRoles' Role: no AssumeRolePolicyDocument (get_role has it).
        return [
            present(role_shape(r, document=False)) for r in all_pages(lambda m: s.list_roles(a, marker=m))
        ]

    def get_role(self, role_name: str) -> Api:
        if self._ahead is not None and role_name.lower() in self._ahead.role_details:
            return dict(self._ahead.role_details[role_name.lower()])
        return role_api(self.service.get_role(self.account_id, role_name))

    def create_role(
        self, role_name: str, trust_policy: str, *, description: str = "", max_session_duration: int = 3600
    ) -> Api:
        return role_api(
            self.service.create_role(
                self.account_id,
                role_name,
                trust_policy,
                description=description,
                max_session_duration=max_session_duration,
            )
        )

    def update_role(
        self,
        role_name: str,
        *,
        new_trust_policy: str | None = None,
        new_description: str | None = None,
        new_max_session_duration: int | None = None,
    ) -> Api:
        return role_api(
            self.service.update_role(
                self.account_id,
                role_name,
                new_assume_role_policy_document=new_trust_policy,
                new_description=new_description,
                new_max_session_duration=new_max_session_duration,
            )
        )
