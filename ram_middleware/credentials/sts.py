"""STS temporary credentials: self-contained sealed tokens, AssumeRole, GetCallerIdentity.

A SecurityToken carries everything needed to check a request signed with temporary credentials, so any
instance verifies it without a lookup; it is opaque: only the servers holding the token keys can read it.

* ``AccessKeyId`` = ``STS.`` + random; ``AccessKeySecret`` = HMAC(server key, AccessKeyId) — never stored,
  recomputed by :meth:`StsTokens.secret_for`, derivable only by the server;
* ``SecurityToken`` = base64url(``version ‖ key id ‖ nonce ‖ AES-256-GCM(raw DEFLATE(JSON claims)) ‖ tag``):
  version byte 2, the 4-byte id of the sealing key, a fresh random 12-byte nonce per token; the version and
  key id are authenticated as associated data. The AEAD key is HKDF-derived from each configured token key
  under a label of its own (:func:`~ram_middleware.crypto.derive_key`); the secrets' key and the key id
  are HMAC-derived under labels of their own, so no configured key serves two purposes. Key rotation:
  ``keys[0]`` seals, every listed key opens; the key id picks the key (no trial decryption), and the
  secret is derived from the key that sealed the token.

Only the sealing key's id and the token's length show (about how large its session policy and role chain
are). The claims are compressed before sealing; every claim is known to the caller who obtained the token,
so compression tells an observer nothing beyond that length.

The token is unpadded canonical base64url, so no two token strings carry the same bytes: flipping any
character makes it fail. Revocation does not compare clocks: the claims carry the role's session generation
read from the store at issuance (``g``), revoking the role's sessions counts it up in the store, and a
token of an older generation is revoked (:class:`~ram_middleware.identity.SessionRevocation`, checked with
:func:`ensure_not_revoked`) — so a token issued just before a revocation by an instance whose clock runs
ahead is revoked too. A chained session's claims name the sessions above it (role, RoleId, issue time, and
in ``cg`` their generations), so revoking or deleting any of their roles ends it too.

Compatibility: ``g`` and ``cg`` are claims of their own, which earlier code ignores, so every instance of a
rolling upgrade reads every token. A token without them (issued before generations existed, or by an
instance not upgraded yet) keeps the time rule: revoked when issued (by its issuer's clock) before the
role's revocation time, which every revocation still sets.

Tokens of the previous format (decision: kept readable for the transition) — ``v1.<base64url(zlib(JSON
claims))>.<signature>``, signed (itsdangerous, HMAC-SHA256) but readable by anyone — are still accepted
while the key that signed them is listed, with every check a sealed token gets; none is issued any more.
They live at most 12 hours (the longest MaxSessionDuration), after which none is left to open, and reading
them can go.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, Signer

from .. import errors
from ..crypto import MasterKeyError, SecretBox, derive_key, key_id
from ..identity import (
    SESSION_CHAIN,
    SESSION_EXPIRES,
    SESSION_GENERATION,
    SESSION_ISSUED,
    Principal,
    Role,
    SessionLink,
    SessionRevocation,
    SigningKey,
    encode_chain,
    ram_arn,
    session_chain,
    session_generation,
)
from ..policy.document import parse_policy
from ..policy.evaluate import Decision, evaluate_trust
from .password import parse_api_int

TOKEN_VERSION = 2  # the first byte of a sealed token
MAX_TOKEN_CHARS = 16_384  # our tokens stay far below this (session policy ≤ 2,048 chars, compressed)
MAX_SESSION_POLICY_CHARS = 2048
CHAINED_MAX_DURATION = 3600
MAX_CHAIN = 10  # sessions above a chained one; each adds to every token below it
MIN_DURATION = 900
DEFAULT_DURATION = 3600

_LEGACY_PREFIX = "v1."
_LEGACY_SALT = b"ram-middleware.sts-token.v1"
_AEAD_LABEL = b"ram-middleware/sts-token-aead/v2"
_HEADER_BYTES = 5  # version byte and the 4-byte key id, in clear and authenticated
_SECRET_LABEL = b"ram-middleware/sts-secret/v1"
_KID_LABEL = b"ram-middleware/sts-key-id/v1"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

_SESSION_NAME = re.compile(r"[A-Za-z0-9.@_-]{2,64}")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
_SOURCE_IDENTITY = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
# ASCII only: case-insensitive matching would otherwise read the Kelvin sign as "k".
_ROLE_ARN = re.compile(r"acs:ram::([0-9]{1,32}):role/([A-Za-z0-9.-]{1,64})", re.IGNORECASE | re.ASCII)

Clock = Callable[[], datetime]

__all__ = [
    "AssumeRoleResult",
    "IssuedCredentials",
    "SessionClaims",
    "StsTokens",
    "assume_role",
    "assume_role_decision",
    "assume_role_target",
    "caller_identity",
    "ensure_not_revoked",
    "format_timestamp",
    "is_revoked",
    "parse_role_arn",
    "principal_from_claims",
    "role_not_found",
    "trust_decision",
]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` in UTC, as STS writes ``Expiration``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode_canonical(text: str) -> bytes:
    """Decode unpadded base64url, refusing any non-canonical spelling (stray bits in the last char)."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(raw) != text:
        raise ValueError("non-canonical base64url")
    return raw


def _malformed() -> errors.InvalidSecurityToken:
    return errors.InvalidSecurityToken("Malformed", "The security token is malformed.")


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a verified SecurityToken says about its role session."""

    account_id: str
    role_name: str
    role_id: str
    session_name: str
    access_key_id: str
    issued_at: datetime
    expiration: datetime
    session_policy: str | None
    mfa_present: bool | None
    source_identity: str | None
    key_id: str  # names the configured key that issued the token (not carried in the claims)
    chain: tuple[SessionLink, ...] = ()  # the sessions that assumed this one (role chaining), outermost first
    generation: int | None = None  # the role's session generation at issuance (None: a token without one)

    @property
    def role_arn(self) -> str:
        return ram_arn(self.account_id, f"role/{self.role_name.lower()}")

    @property
    def assumed_role_arn(self) -> str:
        return ram_arn(self.account_id, f"assumed-role/{self.role_name}/{self.session_name}")

    @property
    def assumed_role_id(self) -> str:
        return f"{self.role_id}:{self.session_name}"

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "a": self.account_id,
            "r": self.role_name,
            "ri": self.role_id,
            "s": self.session_name,
            "ak": self.access_key_id,
            "iat": int(self.issued_at.timestamp() * 1000),
            "exp": int(self.expiration.timestamp()),
            "p": self.session_policy,
            "m": self.mfa_present,
            "si": self.source_identity,
        }
        if self.generation is not None:
            payload["g"] = self.generation
        if self.chain:  # absent when unchained, so those tokens read as before
            payload["c"] = [
                [k.account_id, k.role_name, k.role_id, int(k.issued_at.timestamp() * 1000)]
                for k in self.chain
            ]
            # Apart from "c", whose links earlier code reads as exactly four items.
            if any(k.generation is not None for k in self.chain):
                payload["cg"] = [k.generation for k in self.chain]
        return payload

    @classmethod
    def from_payload(cls, data: object, key_id: str) -> SessionClaims:
        """The claims of a token opened with the configured key ``key_id``; Malformed if ill-shaped."""
        if not isinstance(data, dict):
            raise _malformed()
        strings = ("a", "r", "ri", "s", "ak")
        if not all(isinstance(data.get(name), str) for name in strings):
            raise _malformed()
        if not all(type(data.get(name)) is int for name in ("iat", "exp")):
            raise _malformed()
        optional = {"p": str, "m": bool, "si": str, "g": int}
        if any(data.get(key) is not None and type(data[key]) is not kind for key, kind in optional.items()):
            raise _malformed()
        try:
            issued_at = datetime.fromtimestamp(data["iat"] / 1000, UTC)
            expiration = datetime.fromtimestamp(data["exp"], UTC)
            chain = _chain_from_payload(data.get("c", []), data.get("cg"))
        except (OverflowError, OSError, ValueError) as exc:
            raise _malformed() from exc
        return cls(
            account_id=data["a"],
            role_name=data["r"],
            role_id=data["ri"],
            session_name=data["s"],
            access_key_id=data["ak"],
            issued_at=issued_at,
            expiration=expiration,
            session_policy=data.get("p"),
            mfa_present=data.get("m"),
            source_identity=data.get("si"),
            key_id=key_id,
            chain=chain,
            generation=data.get("g"),
        )


def _chain_from_payload(links: object, generations: object) -> tuple[SessionLink, ...]:
    """The links of claims ``c``, with the generations of claims ``cg`` (None: none known)."""
    if not isinstance(links, list):
        raise ValueError("chain is not a list")
    if generations is None:
        generations = [None] * len(links)
    if not isinstance(generations, list) or len(generations) != len(links):
        raise ValueError("chain generations do not match the chain")
    chain = []
    for link, generation in zip(links, generations, strict=True):
        if not (isinstance(link, list) and len(link) == 4 and all(isinstance(p, str) for p in link[:3])):
            raise ValueError("bad chain link")
        if type(link[3]) is not int or not (generation is None or type(generation) is int):
            raise ValueError("bad chain link")
        issued_at = datetime.fromtimestamp(link[3] / 1000, UTC)
        chain.append(SessionLink(link[0], link[1], link[2], issued_at, generation))
    return tuple(chain)


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A fresh set of temporary credentials. The secret and token never appear in ``repr``."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)
    expiration: datetime
    claims: SessionClaims

    def to_api(self) -> dict[str, str]:
        """The ``Credentials`` object of the AssumeRole response."""
        return {
            "AccessKeyId": self.access_key_id,
            "AccessKeySecret": self.access_key_secret,
            "SecurityToken": self.security_token,
            "Expiration": format_timestamp(self.expiration),
        }


class StsTokens:
    """Issue and verify STS tokens with a list of server keys (``keys[0]`` seals; all open).

    Keys are secrets of at least 32 bytes (e.g. ``secrets.token_urlsafe(32)``) from configuration. ``clock``
    returns an aware UTC datetime; it decides issue times and expiry.
    """

    def __init__(self, keys: Sequence[bytes | str], *, clock: Clock = _utcnow) -> None:
        raw = [key.encode() if isinstance(key, str) else bytes(key) for key in keys]
        if not raw:
            raise errors.InvalidParameter("StsKeys", "At least one STS token key is required.")
        if any(len(key) < 32 for key in raw):
            raise errors.InvalidParameter("StsKeys", "STS token keys must be at least 32 bytes long.")
        self._kids = [hmac.new(key, _KID_LABEL, hashlib.sha256).hexdigest()[:16] for key in raw]
        aead_keys = [derive_key(key, _AEAD_LABEL) for key in raw]
        # The sealing key's id in the token picks the key that opens it and the issuer's secret key.
        self._kid_by_box_id = {key_id(k): kid for k, kid in zip(aead_keys, self._kids, strict=True)}
        if len(set(self._kids)) != len(raw) or len(self._kid_by_box_id) != len(raw):
            raise errors.InvalidParameter("StsKeys", "STS token keys must be distinct.")
        self._secret_keys = {
            kid: hmac.new(key, _SECRET_LABEL, hashlib.sha256).digest()
            for kid, key in zip(self._kids, raw, strict=True)
        }
        self._box = SecretBox(aead_keys)
        self._header = bytes([TOKEN_VERSION]) + bytes.fromhex(self._box.current_key_id)
        # Previous format (read only): itsdangerous verifies with every key of its list.
        self._legacy = Signer(raw, salt=_LEGACY_SALT, key_derivation="hmac", digest_method=hashlib.sha256)
        self._clock = clock

    def __repr__(self) -> str:
        return f"StsTokens(keys={len(self._kids)})"

    def now(self) -> datetime:
        return self._clock()

    def issue(
        self,
        *,
        account_id: str,
        role_name: str,
        role_id: str,
        session_name: str,
        duration_seconds: int,
        session_policy: str | None = None,
        mfa_present: bool | None = None,
        source_identity: str | None = None,
        not_after: datetime | None = None,
        chain: tuple[SessionLink, ...] = (),
        generation: int | None = None,
    ) -> IssuedCredentials:
        """Mint credentials for a role session valid ``duration_seconds`` from now, but never past
        ``not_after``; ``chain``: the sessions that assumed it; ``generation``: the role's session generation
        read from the store (no parameter checks)."""
        issued_at = self._clock().astimezone(UTC)
        issued_at = issued_at.replace(microsecond=issued_at.microsecond // 1000 * 1000)
        expiration = (issued_at + timedelta(seconds=duration_seconds)).replace(microsecond=0)
        if not_after is not None:
            expiration = min(expiration, not_after.astimezone(UTC))
        access_key_id = "STS.N" + "".join(secrets.choice(_ALNUM) for _ in range(23))
        claims = SessionClaims(
            account_id=account_id,
            role_name=role_name,
            role_id=role_id,
            session_name=session_name,
            access_key_id=access_key_id,
            issued_at=issued_at,
            expiration=expiration,
            session_policy=session_policy,
            mfa_present=mfa_present,
            source_identity=source_identity,
            key_id=self._kids[0],
            chain=chain,
            generation=generation,
        )
        text = json.dumps(claims.to_payload(), separators=(",", ":"), ensure_ascii=False)
        # Raw DEFLATE: the AEAD tag already guards the bytes, so zlib's header and checksum add nothing.
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = packer.compress(text.encode("utf-8")) + packer.flush()
        token = _b64encode(self._header + self._box.seal(packed, self._header))
        return IssuedCredentials(access_key_id, self.secret_for(claims), token, expiration, claims)

    def verify(self, access_key_id: str, token: str) -> SessionClaims:
        """Check a token presented with ``access_key_id``; raise ``InvalidSecurityToken.*`` if unusable.

        Order as the spec lists it: Malformed (unreadable, tampered, or not sealed by a listed key),
        Expired, MismatchWithAccessKey.
        """
        claims = self._decode(token)
        if self._clock() >= claims.expiration:
            raise errors.InvalidSecurityToken("Expired", "The security token has expired.")
        if not isinstance(access_key_id, str) or not hmac.compare_digest(
            claims.access_key_id.encode(), access_key_id.encode("utf-8", "replace")
        ):
            raise errors.InvalidSecurityToken(
                "MismatchWithAccessKey", "The security token does not belong to this AccessKeyId."
            )
        return claims

    def _decode(self, token: str) -> SessionClaims:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise _malformed()
        if token.startswith(_LEGACY_PREFIX):
            return self._decode_legacy(token)
        try:
            raw = _b64decode_canonical(token)
        except ValueError as exc:
            raise _malformed() from exc
        header, sealed = raw[:_HEADER_BYTES], raw[_HEADER_BYTES:]
        box_id = header[1:].hex()
        kid = self._kid_by_box_id.get(box_id)
        if len(header) != _HEADER_BYTES or header[0] != TOKEN_VERSION or kid is None:
            raise _malformed()
        try:
            packed = self._box.unseal(box_id, sealed, header)
            # Only authenticated bytes reach zlib, so there is no decompression bomb to fear.
            data = json.loads(zlib.decompress(packed, -15).decode("utf-8"))
        except (MasterKeyError, zlib.error, UnicodeDecodeError, ValueError) as exc:
            raise _malformed() from exc
        return SessionClaims.from_payload(data, kid)

    def _decode_legacy(self, token: str) -> SessionClaims:
        """A token of the previous, signed-only format (see the module docs)."""
        parts = token.split(".")
        if len(parts) != 3:
            raise _malformed()
        try:
            _b64decode_canonical(parts[2])
            compressed = _b64decode_canonical(parts[1])
            body = self._legacy.unsign(token.encode("ascii"))
        except (BadData, ValueError, binascii.Error) as exc:
            raise _malformed() from exc
        if body != f"{_LEGACY_PREFIX}{parts[1]}".encode("ascii"):
            raise _malformed()
        try:
            # Only server-signed bytes reach zlib, so there is no decompression bomb to fear.
            data = json.loads(zlib.decompress(compressed).decode("utf-8"))
        except (zlib.error, UnicodeDecodeError, ValueError) as exc:
            raise _malformed() from exc
        kid = data.get("k") if isinstance(data, dict) else None
        if not isinstance(kid, str) or kid not in self._secret_keys:
            raise _malformed()
        return SessionClaims.from_payload(data, kid)

    def secret_for(self, claims: SessionClaims) -> str:
        """The AccessKeySecret of the session: HMAC(derived server key, AccessKeyId)."""
        key = self._secret_keys.get(claims.key_id)
        if key is None:
            raise _malformed()
        return _b64encode(hmac.new(key, claims.access_key_id.encode("utf-8"), hashlib.sha256).digest())

    def signing_key(
        self, access_key_id: str, token: str, *, revocation: SessionRevocation | None = None
    ) -> SigningKey:
        """Verify, check revocation, and build the SigningKey the signature verifiers need."""
        claims = self.verify(access_key_id, token)
        ensure_not_revoked(claims, revocation)
        principal = principal_from_claims(claims)
        return SigningKey(access_key_id, self.secret_for(claims), principal, "Active", token)


def is_revoked(claims: SessionClaims, revocation: SessionRevocation | None) -> bool:
    """True when ``revocation`` (the role's; None: nothing revoked) covers the session of ``claims``."""
    return revocation is not None and revocation.revokes(claims.issued_at, claims.generation)


def ensure_not_revoked(claims: SessionClaims, revocation: SessionRevocation | None) -> None:
    """Raise ``InvalidSecurityToken.Revoked`` when :func:`is_revoked`."""
    if is_revoked(claims, revocation):
        raise errors.InvalidSecurityToken("Revoked", "The security token has been revoked.")


def principal_from_claims(claims: SessionClaims) -> Principal:
    """The assumed-role Principal a verified token stands for."""
    extra = {"role_id": claims.role_id, "role_arn": claims.role_arn}
    extra[SESSION_ISSUED] = claims.issued_at.isoformat()
    extra[SESSION_EXPIRES] = claims.expiration.isoformat()
    if claims.generation is not None:
        extra[SESSION_GENERATION] = str(claims.generation)
    if claims.chain:
        extra[SESSION_CHAIN] = encode_chain(claims.chain)
    if claims.source_identity is not None:
        extra["source_identity"] = claims.source_identity
    return Principal(
        kind="assumed-role",
        account_id=claims.account_id,
        name=claims.role_name,
        principal_id=claims.assumed_role_id,
        arn=claims.assumed_role_arn,
        session_name=claims.session_name,
        session_policy=claims.session_policy,
        auth_method="sts",
        access_key_id=claims.access_key_id,
        mfa_present=claims.mfa_present,
        extra=extra,
    )


def caller_identity(principal: Principal) -> dict[str, str]:
    """The GetCallerIdentity body (without RequestId); null fields are omitted."""
    body = {"AccountId": principal.account_id, "Arn": principal.arn, "PrincipalId": principal.principal_id}
    if principal.kind == "root":
        root_arn = ram_arn(principal.account_id, "root")
        body.update(IdentityType="Account", Arn=root_arn, UserId=principal.principal_id)
    elif principal.kind == "user":
        body.update(IdentityType="RAMUser", UserId=principal.principal_id)
    else:
        role_id = principal.extra.get("role_id") or principal.principal_id.split(":", 1)[0]
        body.update(IdentityType="AssumedRoleUser", RoleId=role_id)
    return body


# --- AssumeRole -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssumeRoleResult:
    """The outcome of AssumeRole. ``trusted_by``: the trust policy's decision (the statement that trusted
    the caller), for the audit log; it is not part of the response."""

    credentials: IssuedCredentials
    assumed_role_arn: str
    assumed_role_id: str
    source_identity: str | None = None
    trusted_by: Decision | None = None

    def to_api(self) -> dict[str, Any]:
        """The AssumeRole response body without RequestId."""
        body: dict[str, Any] = {
            "AssumedRoleUser": {"Arn": self.assumed_role_arn, "AssumedRoleId": self.assumed_role_id},
            "Credentials": self.credentials.to_api(),
        }
        if self.source_identity is not None:
            body["SourceIdentity"] = self.source_identity
        return body


@dataclass(frozen=True, slots=True)
class _Params:
    session_name: str
    duration: int
    policy: str | None
    external_id: str | None
    source_identity: str | None


def _text_param(params: Mapping[str, object], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise errors.MissingParameter(name, f"{name} is mandatory for this action.")
        return None
    if not isinstance(value, str):
        raise errors.InvalidParameter(name, f"{name} must be text.")
    return value


def parse_role_arn(role_arn: str) -> tuple[str, str]:
    """(account id, role name as written) of ``acs:ram::<account>:role/<name>``; InvalidParameter else."""
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        raise errors.InvalidParameter(
            "RoleArn", "RoleArn must look like acs:ram::<account id>:role/<role name>."
        )
    return match.group(1), match.group(2)


def _check_role_arn(role_arn: str, role: Role) -> None:
    account_id, name = parse_role_arn(role_arn)
    if account_id != role.account_id or name.lower() != role.role_name.lower():
        raise errors.InvalidParameter("RoleArn", "RoleArn does not name the role that was looked up.")


def _parse_params(params: Mapping[str, object], role: Role, *, chained: bool) -> _Params:
    _check_role_arn(_text_param(params, "RoleArn", required=True) or "", role)
    session_name = _text_param(params, "RoleSessionName", required=True) or ""
    if not _SESSION_NAME.fullmatch(session_name):
        raise errors.InvalidParameter(
            "RoleSessionName", "RoleSessionName must be 2-64 characters of A-Z a-z 0-9 . @ _ -."
        )
    longest = min(role.max_session_duration, CHAINED_MAX_DURATION) if chained else role.max_session_duration
    raw_duration = params.get("DurationSeconds")
    duration = DEFAULT_DURATION if raw_duration in (None, "") else raw_duration
    duration = parse_api_int("DurationSeconds", duration, MIN_DURATION, max(longest, MIN_DURATION))
    policy = _text_param(params, "Policy")
    if policy is not None and len(policy) > MAX_SESSION_POLICY_CHARS:
        raise errors.InvalidParameter("PolicySize", "The session policy is longer than 2048 characters.")
    external_id = _text_param(params, "ExternalId")
    if external_id is not None and not _EXTERNAL_ID.fullmatch(external_id):
        raise errors.InvalidParameter(
            "ExternalId", "ExternalId must be 2-1224 characters of letters, digits and +=,.@:/-_."
        )
    source_identity = _text_param(params, "SourceIdentity")
    if source_identity is not None and not _SOURCE_IDENTITY.fullmatch(source_identity):
        raise errors.InvalidParameter(
            "SourceIdentity", "SourceIdentity must be 2-64 characters of letters, digits and +=,.@-_."
        )
    return _Params(session_name, duration, policy, external_id, source_identity)


def _check_session_policy(text: str) -> None:
    try:
        parse_policy(text, kind="session", max_length=MAX_SESSION_POLICY_CHARS)
    except errors.MalformedPolicyDocument as exc:
        message = f"The session policy is invalid: {exc.message}"
        raise errors.InvalidParameter("PolicyGrammar", message) from exc
    except errors.InvalidParameter as exc:
        raise errors.InvalidParameter("PolicySize", exc.message) from exc


def _caller_arns(caller: Principal) -> list[str]:
    if caller.kind == "assumed-role":
        return [caller.arn, ram_arn(caller.account_id, f"role/{caller.name.lower()}")]
    return [caller.arn]


ROOT_MAY_NOT_ASSUME = "The account root may not call AssumeRole; use a RAM user."


def assume_role_target(action: str, resource: str) -> tuple[str, str] | None:
    """(account id, role name) when the request is ``sts:AssumeRole`` on one role's ARN, the case where
    AssumeRole also asks the role's trust policy; None for any other request (a wildcard resource too)."""
    if action.lower() != "sts:assumerole":
        return None
    try:
        return parse_role_arn(resource)
    except errors.InvalidParameter:
        return None


def role_not_found(account_id: str, role_name: str) -> errors.EntityNotExist:
    """The error of AssumeRole (and of simulating it) on a role that does not exist."""
    return errors.EntityNotExist("Role", f"The role not exists: {ram_arn(account_id, f'role/{role_name}')}")


def trust_decision(
    caller: Principal,
    role: Role,
    context: Mapping[str, object],
    *,
    external_id: str | None = None,
    service: str | None = None,
) -> Decision:
    """What AssumeRole asks beyond the caller's own policies: the account root is refused, then the role's
    trust policy decides (its deciding statement named). ``context`` is the request's condition context;
    ``external_id`` the request's ExternalId (``sts:ExternalId``). A stored trust policy that no longer
    parses trusts nobody."""
    if caller.kind == "root":
        return Decision("ImplicitDeny", None, None, ROOT_MAY_NOT_ASSUME)
    try:
        trust = parse_policy(role.trust_policy, kind="trust", stored=True)
    except errors.RAMError:
        return Decision("ImplicitDeny", None, None, "The role's trust policy is not valid; it trusts nobody")
    ctx = dict(context)
    if external_id is not None:
        ctx["sts:ExternalId"] = external_id
    if caller.mfa_present is not None:
        ctx.setdefault("acs:MFAPresent", caller.mfa_present)
    return evaluate_trust(
        trust,
        account_id=caller.account_id,
        principal_arns=_caller_arns(caller),
        service=service,
        context=ctx,
        role_arn=role.arn,
        role_name=role.role_name,
    )


def assume_role_decision(identity: Decision, trust: Decision) -> Decision:
    """AssumeRole's decision from the caller's own one (``sts:AssumeRole`` on the role) and
    :func:`trust_decision`, in the order AssumeRole asks them: the first that refuses decides; when both
    allow, the caller's statement is named and the reason says which trust statement trusted the caller."""
    if not identity.allowed:
        return identity
    if not trust.allowed:
        return trust
    return replace(identity, reason=f"{identity.reason}; {trust.reason}")


def _check_trust(
    caller: Principal, role: Role, p: _Params, context: Mapping[str, object], service: str | None
) -> Decision:
    """The trust policy's Allow (its deciding statement); AuthorizationError when it does not trust."""
    verdict = trust_decision(caller, role, context, external_id=p.external_id, service=service)
    if not verdict.allowed:
        # "trust": the verdict itself, from which the control plane builds the AccessDeniedDetail.
        detail = {"reason": verdict.reason, "role": role.arn, "effect": verdict.effect, "trust": verdict}
        raise errors.AuthorizationError(detail=detail)
    return verdict


def _source_identity(caller: Principal, requested: str | None) -> str | None:
    inherited = caller.extra.get("source_identity") if caller.kind == "assumed-role" else None
    if inherited is not None and requested is not None and requested != inherited:
        message = "A role chain keeps its SourceIdentity; it cannot change."
        raise errors.InvalidParameter("SourceIdentity", message)
    return requested if requested is not None else inherited


def _chain_below(caller: Principal) -> tuple[SessionLink, ...]:
    """The chain of a session ``caller`` assumes: the caller's own chain and the caller itself, so that
    revoking or deleting any role above ends it too."""
    if caller.kind != "assumed-role" or SESSION_ISSUED not in caller.extra:
        return ()
    issued = datetime.fromisoformat(caller.extra[SESSION_ISSUED])
    role_id = caller.extra.get("role_id", "")
    own = SessionLink(caller.account_id, caller.name, role_id, issued, session_generation(caller))
    chain = (*session_chain(caller), own)
    if len(chain) > MAX_CHAIN:
        raise errors.LimitExceeded("RoleChain", f"A role chain may hold at most {MAX_CHAIN} sessions.")
    return chain


def assume_role(
    caller: Principal,
    decision: Decision,
    role: Role,
    params: Mapping[str, object],
    tokens: StsTokens,
    *,
    context: Mapping[str, object] | None = None,
    service: str | None = None,
) -> AssumeRoleResult:
    """AssumeRole: validate ``params`` (API names), authorise, check trust, mint credentials.

    ``decision`` is the caller's own PolicySet decision for ``sts:AssumeRole`` on the role ARN; ``context``
    the request's condition context (acs:SourceIp, acs:CurrentTime, …) for trust-policy conditions. The
    caller looked ``role`` up from RoleArn (``EntityNotExist.Role`` is theirs to raise).
    """
    if caller.kind == "root":
        raise errors.AuthorizationError(ROOT_MAY_NOT_ASSUME, detail={"reason": "root caller"})
    p = _parse_params(params, role, chained=caller.kind == "assumed-role")
    if p.policy is not None:
        _check_session_policy(p.policy)
    if not decision.allowed:
        detail = {"reason": decision.reason, "role": role.arn, "effect": decision.effect}
        raise errors.AuthorizationError(detail=detail)
    trusted_by = _check_trust(caller, role, p, context or {}, service)
    source_identity = _source_identity(caller, p.source_identity)
    parent_expires = caller.extra.get(SESSION_EXPIRES) if caller.kind == "assumed-role" else None
    chain = _chain_below(caller)
    credentials = tokens.issue(
        account_id=role.account_id,
        role_name=role.role_name,
        role_id=role.role_id,
        session_name=p.session_name,
        duration_seconds=p.duration,
        session_policy=p.policy,
        mfa_present=caller.mfa_present,
        source_identity=source_identity,
        # A chained session cannot outlive the session that assumed it.
        not_after=None if parent_expires is None else datetime.fromisoformat(parent_expires),
        chain=chain,
        # Read from the store with the role: a revocation committed before this read ends the session.
        generation=role.session_generation,
    )
    claims = credentials.claims
    return AssumeRoleResult(
        credentials, claims.assumed_role_arn, claims.assumed_role_id, source_identity, trusted_by
    )
