"""Records the store keeps besides the shared identities of :mod:`ram_middleware.identity`.

Public records (:class:`LoginProfile`, :class:`MFADevice`, :class:`JoinedGroup`, …) are what the service
returns. ``*Record`` types add the stored secrets (password hashes, encrypted AccessKey secrets and TOTP
seeds); they never leave the store/service layers and their secret fields are excluded from ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from ..identity import AccessKey, Group, PolicyType, PolicyVersion, Role, SessionRevocation, User

__all__ = [
    "ROOT",
    "AppliedPolicy",
    "AttachTarget",
    "Attached",
    "Attachment",
    "Counted",
    "JoinedGroup",
    "JoinedUser",
    "KeyOwner",
    "KeyRecord",
    "LoginProfile",
    "LoginProfileRecord",
    "LoginTimes",
    "MFADevice",
    "MFARecord",
    "Page",
    "RoleRecord",
    "UserGroups",
    "key_secret_context",
    "mfa_seed_context",
]

ROOT = "root"
"""The ``subject`` of the account root in login profiles and MFA bindings (users use their UserId)."""

AttachTarget = Literal["user", "group", "role"]


def key_secret_context(access_key_id: str) -> str:
    """SecretBox context of an AccessKey secret: the ciphertext only decrypts for this AccessKeyId."""
    return f"ak:{access_key_id}"


def mfa_seed_context(serial_number: str) -> str:
    """SecretBox context of a TOTP seed: the ciphertext only decrypts for this device."""
    return f"mfa:{serial_number}"


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing. ``marker`` (opaque) fetches the next page when ``is_truncated``."""

    items: tuple[T, ...]
    is_truncated: bool = False
    marker: str | None = None


@dataclass(frozen=True, slots=True)
class Attached(Generic[T]):
    """An entity together with the date a policy was attached to it (or it to a policy)."""

    entity: T
    attach_date: datetime


@dataclass(frozen=True, slots=True)
class JoinedGroup:
    """A group as listed for one of its members (ListGroupsForUser)."""

    group: Group
    join_date: datetime


@dataclass(frozen=True, slots=True)
class JoinedUser:
    """A user as listed for a group (ListUsersForGroup)."""

    user: User
    join_date: datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """One policy attached to one user, group or role."""

    account_id: str
    target_type: AttachTarget
    target_id: str
    target_name: str
    policy_type: PolicyType
    policy_name: str
    attach_date: datetime


@dataclass(frozen=True, slots=True)
class AppliedPolicy:
    """A policy attached to a principal (or to one of its groups), with the default version of a custom
    policy's document (None: a System policy, or a custom policy without one)."""

    attachment: Attachment
    version: PolicyVersion | None


@dataclass(frozen=True, slots=True)
class Counted(Generic[T_co]):
    """A request-path read's answer with the change counter its statement read along with it (so both come
    from one snapshot: the answer is current as of ``counter``)."""

    counter: int
    value: T_co


@dataclass(frozen=True, slots=True)
class LoginTimes:
    """What a console session of a user (or the root) is checked against: when the current password was
    set (None: no login profile) and when the bound MFA device was bound (None: none bound)."""

    password_changed: datetime | None
    mfa_bound: datetime | None


@dataclass(frozen=True, slots=True)
class UserGroups:
    """A user with the names of the groups it belongs to, in name order: what its Principal names."""

    user: User
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoleRecord:
    """A role with which of its sessions are revoked."""

    role: Role
    revocation: SessionRevocation


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An AccessKey row: the public record, its owner's UserId (None: root), the encrypted secret."""

    key: AccessKey
    user_id: str | None
    secret_ciphertext: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """An AccessKey row with its owner: the user with its groups (None: a root key, or the user is gone)."""

    record: KeyRecord
    user: UserGroups | None


@dataclass(frozen=True, slots=True)
class LoginProfile:
    """Console logon data of a user (``user_name``) or of the account root (``user_name`` None)."""

    account_id: str
    user_name: str | None
    password_reset_required: bool = False
    mfa_bind_required: bool = False
    create_date: datetime | None = None
    update_date: datetime | None = None
    password_changed_date: datetime | None = None
    last_logon_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class LoginProfileRecord:
    """A login profile with its password hash and the hashes of earlier passwords (newest first)."""

    profile: LoginProfile
    subject: str  # UserId, or ROOT
    user_id: str | None
    password_hash: str = field(repr=False)
    history: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class MFADevice:
    """A virtual MFA device; bound to a user, to the root (``bound_to_root``), or to nobody."""

    account_id: str
    serial_number: str
    device_name: str
    user_name: str | None = None
    user_id: str | None = None
    display_name: str = ""
    bound_to_root: bool = False
    activate_date: datetime | None = None
    create_date: datetime | None = None

    @property
    def is_bound(self) -> bool:
        return self.bound_to_root or self.user_id is not None

    @property
    def bound_since(self) -> datetime | None:
        """When it was bound (ActivateDate), None when unbound: console sessions name their binding by it."""
        if not self.is_bound:
            return None
        # Binding sets ActivateDate; the fallbacks only make the type total.
        return self.activate_date or self.create_date or datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class MFARecord:
    """An MFA device with its encrypted seed and the last accepted time step (one-time use)."""

    device: MFADevice
    seed_ciphertext: str = field(repr=False)
    last_used_step: int | None = None
