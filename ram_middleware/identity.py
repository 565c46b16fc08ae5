"""Identities: immutable records for accounts, users, groups, roles, policies, keys, and the Principal.

These are plain frozen dataclasses shared by the store, the service, the credentials and the adapters.
Timestamps are timezone-aware UTC ``datetime`` objects; the API layer formats them as the spec says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Literal

PolicyType = Literal["System", "Custom"]
KeyStatus = Literal["Active", "Inactive"]
PrincipalKind = Literal["root", "user", "assumed-role"]
AttachTarget = Literal["user", "group", "role"]


def ram_arn(account_id: str, relative: str) -> str:
    """ARN of a RAM entity: ``acs:ram::<account>:<relative>`` (RAM ARNs have an empty region)."""
    return f"acs:ram::{account_id}:{relative}"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str  # 16 digits
    alias: str | None
    create_date: datetime

    @property
    def root_arn(self) -> str:
        return ram_arn(self.account_id, "root")


@dataclass(frozen=True, slots=True)
class User:
    account_id: str
    user_id: str
    user_name: str
    display_name: str = ""
    email: str = ""
    mobile_phone: str = ""
    comments: str = ""
    create_date: datetime | None = None
    update_date: datetime | None = None
    last_login_date: datetime | None = None

    @property
    def arn(self) -> str:
        return ram_arn(self.account_id, f"user/{self.user_name}")


@dataclass(frozen=True, slots=True)
class Group:
    account_id: str
    group_id: str
    group_name: str
    comments: str = ""
    create_date: datetime | None = None
    update_date: datetime | None = None

    @property
    def arn(self) -> str:
        return ram_arn(self.account_id, f"group/{self.group_name}")


@dataclass(frozen=True, slots=True)
class Role:
    account_id: str
    role_id: str
    role_name: str
    trust_policy: str  # the AssumeRolePolicyDocument as JSON text
    description: str = ""
    max_session_duration: int = 3600
    create_date: datetime | None = None
    update_date: datetime | None = None
    # Counts the revocations of the role's sessions; sealed into each token at issuance (see
    # :class:`SessionRevocation`). Not part of any API shape.
    session_generation: int = 0

    @property
    def arn(self) -> str:
        # Alibaba Cloud writes role ARNs with the role name in lower case (spec decision).
        return ram_arn(self.account_id, f"role/{self.role_name.lower()}")


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version_id: str  # "v1", "v2", ...
    document: str  # JSON text as submitted
    is_default: bool
    create_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A stored policy (its metadata); documents live in :class:`PolicyVersion`."""

    policy_name: str
    policy_type: PolicyType
    description: str = ""
    default_version: str = "v1"
    attachment_count: int = 0
    create_date: datetime | None = None
    update_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An AccessKey's public record. The secret is never part of this object."""

    account_id: str
    access_key_id: str
    user_name: str | None  # None: the account root's key
    status: KeyStatus
    create_date: datetime | None = None
    last_used_date: datetime | None = None


SESSION_ISSUED = "issued_at"
"""``Principal.extra`` key of an STS session: when its token was issued (ISO 8601), for revocation."""
SESSION_GENERATION = "session_generation"
"""``Principal.extra`` key of an STS session: the role's session generation its token was issued in (decimal
text), for revocation; absent for a token issued before generations existed."""
SESSION_EXPIRES = "expires_at"
"""``Principal.extra`` key of an STS session: when its token expires (ISO 8601); a session it assumes
(role chaining) expires no later."""
SESSION_CHAIN = "chain"
"""``Principal.extra`` key of an STS session assumed by another role session (role chaining): the sessions
above it, as :func:`encode_chain` writes them. Revoking or deleting any of their roles ends it too."""
PASSWORD_CHANGED = "password_changed"
"""``Principal.extra`` key of a console session: the PasswordChangedDate (ISO 8601) it was checked against."""
MFA_BOUND = "mfa_bound"
"""``Principal.extra`` key of a console session: the ActivateDate (ISO 8601) of the MFA device bound when it
was checked, or "" when none was."""


# Read for every audit event: a table built once rather than a dict literal built on each read.
_PRINCIPAL_TYPES = {"root": "Account", "user": "SubUser", "assumed-role": "AssumedRoleUser"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, once authenticated.

    ``kind`` is ``root``, ``user`` or ``assumed-role``. For users ``name`` is the user name and ``groups``
    their group names; for assumed roles ``name`` is the role name and ``session_name`` the session.
    ``session_policy`` is the AssumeRole ``Policy`` JSON text, or None. ``extra`` holds kind-specific
    facts: ``role_id``/``role_arn`` and :data:`SESSION_ISSUED` for STS sessions, :data:`PASSWORD_CHANGED`
    and :data:`MFA_BOUND` for console sessions.
    """

    kind: PrincipalKind
    account_id: str
    name: str
    principal_id: str
    arn: str
    groups: tuple[str, ...] = ()
    session_name: str | None = None
    session_policy: str | None = None
    auth_method: str = "none"  # rpc-v1, acs3, roa, oss-v1, oss-v4, sts, session, internal
    access_key_id: str | None = None
    mfa_present: bool | None = None  # None: not an interactive session, so acs:MFAPresent is absent
    mfa_time: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def principal_type(self) -> str:
        """The AuthPrincipalType Alibaba Cloud reports: Account, SubUser or AssumedRoleUser."""
        return _PRINCIPAL_TYPES[self.kind]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """What signature verification needs for one AccessKeyId: the secret and whose key it is.

    Built by the directory (long-term keys, secret decrypted from the store) or by the STS token
    verifier (temporary keys). ``secret`` must never be logged or put in an error.
    """

    access_key_id: str
    secret: str = field(repr=False)
    principal: Principal
    status: KeyStatus = "Active"
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SessionRevocation:
    """Which sessions of a role are revoked.

    Tokens carrying the role's session generation (read from the store when they were issued) are revoked
    when it is older than ``generation``: the store orders issuance and revocation, so no instance's clock
    takes part. Tokens without one (issued before generations existed, or by an instance not upgraded yet)
    keep the time rule: revoked when issued (by the issuer's clock) before ``before``.
    """

    before: datetime | None
    generation: int

    def revokes(self, issued_at: datetime, generation: int | None) -> bool:
        """True when the session issued at ``issued_at`` in ``generation`` (None: unknown) is revoked."""
        if generation is None:
            return self.before is not None and issued_at < self.before
        return generation < self.generation


@dataclass(frozen=True, slots=True)
class SessionLink:
    """One role session up a chain of AssumeRole calls: whose role, when it was issued, and in which of the
    role's session generations (None: its token predates generations)."""

    account_id: str
    role_name: str
    role_id: str
    issued_at: datetime
    generation: int | None = None


def encode_chain(links: tuple[SessionLink, ...]) -> str:
    """The :data:`SESSION_CHAIN` text of ``links`` (outermost first)."""
    return json.dumps(
        [[k.account_id, k.role_name, k.role_id, k.issued_at.isoformat(), k.generation] for k in links]
    )


@lru_cache(maxsize=1024)
def decode_chain(text: str) -> tuple[SessionLink, ...]:
    """The links :func:`encode_chain` wrote (cached: a chained session's requests all carry the same text)."""
    return tuple(SessionLink(a, r, ri, datetime.fromisoformat(at), g) for a, r, ri, at, g in json.loads(text))


def session_generation(principal: Principal) -> int | None:
    """The role's session generation a role session was issued in (None: its token predates them)."""
    text = principal.extra.get(SESSION_GENERATION)
    return None if text is None else int(text)


def session_chain(principal: Principal) -> tuple[SessionLink, ...]:
    """The sessions above a chained role session, outermost first (empty for any other principal)."""
    text = principal.extra.get(SESSION_CHAIN)
    return () if text is None else decode_chain(text)
