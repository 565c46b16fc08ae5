"""Who signed this request? RequestFacts -> Principal, for every signature scheme the official SDKs use.

The first credential marker found picks the scheme: an ``Authorization`` header (ACS3, ROA ``acs``, OSS V1,
OSS V4, AWS SigV4), else ``OSSAccessKeyId`` in the query (an OSS V1 presigned URL), else
``x-oss-signature-version`` or ``x-oss-credential`` in the query (an OSS V4 presigned URL), else
``Signature``/``AccessKeyId`` in the query or form body (RPC v1). A request with no credential at all is
anonymous (``None``; the adapter decides); a credential that is present but wrong is always an error, never
anonymous. Shared checks, in order: the scheme's own format checks, timestamp skew (a presigned URL instead:
not past its expiry and, for V4, an x-oss-date not ahead of the clock by more than the skew), key lookup and
status, SecurityToken, the signature (constant time), root-key policy, then the one-time nonce (none in ROA,
OSS and AWS SigV4 requests, which carry none: see below). OSS requests addressed virtual-hosted style (``Host:
<bucket>.<domain>``) verify when ``<domain>`` is one of ``oss_domains``, CNAME-addressed ones (``Host:
<cname-host>``) when ``oss_cnames`` maps the host to its bucket (see :mod:`.oss`); every other scheme ignores
the Host.

Replays of requests without a nonce (ROA without ``x-acs-signature-nonce``, OSS V1 and V4 headers, AWS
SigV4) are refused only with ``replay_signatures``: the signature value itself is then claimed once in the
guard (under ``signature:``, apart from the ``nonce:`` keys) for as long as a nonce would be, and a second
use is refused as a replayed nonce is (400 ``SignatureNonceUsed``). Off by default: such requests carry no
random part, so two identical requests signed within the same second (parallel identical GETs by oss2, a
retry that does not sign again) share a signature and the second is refused. A request with a nonce has
only its nonce claimed. Presigned URLs are never claimed, whatever the setting: a link is made to be
fetched again until it expires (a browser reloading it, a player's range requests).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from .. import errors
from ..facts import RAW_BYTES, SECRET_PARAMETERS, RequestFacts
from ..guard import Guard
from ..identity import Principal, SigningKey
from .acs3 import parse_acs3
from .aws4 import parse_aws4
from .encoding import SignedRequest, redact, single
from .oss import (
    PRESIGN_MARKER,
    SCHEME_V1_QUERY,
    SCHEME_V4_QUERY,
    V4_PRESIGN_MARKERS,
    host_bucket,
    parse_oss_v1,
    parse_oss_v1_query,
    parse_oss_v4,
    parse_oss_v4_query,
    validated_cnames,
    validated_domains,
)
from .signature_v1 import RPC_MARKERS, parse_roa, parse_rpc

__all__ = [
    "AWS_PRESIGNED",
    "AWS_V2",
    "NONCE_CLOCK_MARGIN",
    "Authenticator",
    "KeyResolver",
    "SessionAuthenticating",
    "aws_service",
    "detect_scheme",
    "oss_signed",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Headers that carry a credential of ours even without an Authorization header (then they must verify).
_CREDENTIAL_HEADERS = (
    "x-acs-security-token",
    "x-acs-bearer-token",
    "x-acs-zero-trust-idtoken",  # the Tea SDKs' "id_token" credential, sent in place of a signature
    "x-acs-accesskey-id",
    "x-oss-security-token",
    "x-amz-security-token",
)
_AWS_PRESIGN_MARKERS = frozenset({"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"})
# S3's Signature Version 2 query form, which botocore's S3 client presigns with unless told "s3v4".
_AWS_V2_QUERY_MARKER = "AWSAccessKeyId"
AWS_PRESIGNED = "aws-presigned"
AWS_V2 = "aws-v2"
_STS_PREFIX = "STS."
_DERIVED_CACHE_SIZE = 4096
_HIDDEN = "<hidden: the server does not run in debug mode>"


class KeyResolver(Protocol):
    """Finds the signing secret for an AccessKeyId (implemented by the store's Directory)."""

    def signing_key(self, access_key_id: str) -> SigningKey | None:
        """The long-term key, or None when no such AccessKeyId exists."""
        ...

    def verify_security_token(self, access_key_id: str, token: str) -> SigningKey:
        """The temporary key a SecurityToken carries; raises errors.InvalidSecurityToken
        ("Malformed" | "Expired" | "MismatchWithAccessKey" | "Revoked")."""
        ...

    def note_key_used(self, access_key_id: str, when: datetime) -> None:
        """Record a successful use (the implementer batches the writes)."""
        ...


class SessionAuthenticating(Protocol):
    """The browser-session scheme (console logon cookie), tried when a request carries no signature."""

    def authenticate(self, facts: RequestFacts) -> Principal | None:
        """The session's Principal, None without a session cookie, or an AuthenticationError."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def detect_scheme(facts: RequestFacts) -> str | None:
    """The scheme whose marker the request carries: ``acs3``, ``roa``, ``oss-v1``, ``oss-v4``, ``aws-v4``,
    ``oss-v1-query``, ``oss-v4-query``, ``rpc-v1``, ``aws-presigned`` or ``aws-v2`` (AWS forms refused
    with their own message), ``unknown`` (a credential we cannot read), or None (anonymous)."""
    authorization = facts.header_map.get("authorization")
    if authorization is not None:
        return _scheme_of(single(authorization, "Authorization") or "")
    # Before RPC: a V1 presigned URL also carries "Signature". Only the query counts, as for OSS itself. The
    # substring tests spare every other request the scan. A V1 marker spelled with escapes is not recognised
    # and then fails as whatever else the request claims to be (never anonymous: it has "Signature"). A V4
    # marker spelled with escapes (no client does) is not recognised either: such a request is then only as
    # anonymous as one without it, its x-oss-* parameters granting nothing (scanning every query holding a
    # "%" instead would cost each RPC request about a microsecond).
    query = facts.query
    if PRESIGN_MARKER in query and any(name == PRESIGN_MARKER for name, _ in facts.query_pairs):
        return SCHEME_V1_QUERY
    if "x-oss-" in query and any(name in V4_PRESIGN_MARKERS for name, _ in facts.query_pairs):
        return SCHEME_V4_QUERY
    if "X-Amz-" in query and any(name in _AWS_PRESIGN_MARKERS for name, _ in facts.query_pairs):
        return AWS_PRESIGNED  # a credential, not accepted (never anonymous)
    params = facts.params
    if _AWS_V2_QUERY_MARKER in params and "AccessKeyId" not in params:
        return AWS_PRESIGNED  # its "Signature" would otherwise read as an RPC request without AccessKeyId
    if not params.keys().isdisjoint(RPC_MARKERS):
        return "rpc-v1"
    if any(facts.header(name) is not None for name in _CREDENTIAL_HEADERS):
        return "unknown"
    return None


def _scheme_of(authorization: str) -> str:
    word = authorization.lstrip().partition(" ")[0]
    if word.startswith("ACS3-"):
        return "acs3"
    return _SCHEME_WORDS.get(word, "unknown")


_SCHEME_WORDS = {
    "acs": "roa",
    "OSS": "oss-v1",
    "OSS4-HMAC-SHA256": "oss-v4",
    "AWS4-HMAC-SHA256": "aws-v4",
    "AWS": AWS_V2,
}


def aws_service(facts: RequestFacts) -> str | None:
    """The AWS service a request signed in an AWS scheme names (its credential scope's; ``s3`` for
    Signature Version 2, which only S3 clients send in these forms; ``""`` if unreadable), so that its
    refusal comes in that service's XML error shape; None for every other request. An Authorization
    header is read from its first value (two of them are refused, in the shape the first asks for)."""
    authorization = facts.header("authorization")
    if authorization is not None:
        scheme = _scheme_of(authorization)
        if scheme != "aws-v4":
            return "s3" if scheme == AWS_V2 else None
        credential = authorization.partition("Credential=")[2].partition(",")[0]
    else:
        try:
            if detect_scheme(facts) != AWS_PRESIGNED:
                return None
            credential = dict(facts.query_pairs).get("X-Amz-Credential", "")
        except errors.RAMError:  # a query that does not decode: no service to name
            return None
        if not credential:  # S3's Signature Version 2 form
            return "s3"
    scope = credential.split("/")
    return scope[3] if len(scope) == 5 else ""


def oss_signed(facts: RequestFacts) -> bool:
    """Whether a request is signed in an OSS scheme (V1, V4, or a presigned URL), so that its refusal comes
    in OSS's XML ``<Error>`` shape: oss2 reads an error's Code only from XML (from JSON it reports none)."""
    try:
        return (detect_scheme(facts) or "").startswith("oss-")
    except errors.RAMError:  # a repeated Authorization or a query that does not decode: no scheme to name
        return False


NONCE_CLOCK_MARGIN = 120.0
"""Seconds a nonce is kept beyond ``2 * max_skew``: how far apart the clocks of instances sharing one
replay guard may be (the guard counts a nonce's lifetime by its own clock from first use, while each
instance checks the signed time against its own)."""


class Authenticator:
    """Verifies signed requests against a :class:`KeyResolver`, refusing replays through a :class:`Guard`.

    ``max_skew`` (seconds) bounds how far the signed time may be from ``clock()``; nonces are remembered
    for ``nonce_ttl`` seconds (minimum ``2 * max_skew``: a request stays acceptable from ``now - skew`` to
    ``now + skew``; default that plus :data:`NONCE_CLOCK_MARGIN`, so that on instances sharing a guard
    whose clocks differ by up to the margin a request's window never outlives its nonce).
    ``debug_string_to_sign`` appends the server's string to sign (token, passwords and MFA codes redacted)
    to SignatureDoesNotMatch messages — for development only. ``oss_domains``: host names under which OSS
    requests arrive virtual-hosted (``<bucket>.<domain>``); InvalidParameter("OssDomains") for an entry
    that is no host name. ``oss_cnames``: CNAME host -> bucket, for OSS requests addressed to a
    bucket's own host name (oss2 ``is_cname=True``); InvalidParameter("OssCnames") for a bad entry (see
    :func:`.oss.validated_cnames`). ``replay_signatures``: claim the signature of a request without a
    nonce (not a presigned URL) as its one-time token, refusing its replays (see the module docstring for
    the trade-off).
    """

    def __init__(
        self,
        resolver: KeyResolver,
        guard: Guard,
        *,
        clock: Clock = _utc_now,
        max_skew: float = 900.0,
        nonce_ttl: float | None = None,
        allow_root_keys: bool = False,
        debug_string_to_sign: bool = False,
        session_authenticator: SessionAuthenticating | None = None,
        oss_domains: Iterable[str] = (),
        oss_cnames: Mapping[str, str] | None = None,
        replay_signatures: bool = False,
    ) -> None:
        if not 0 < max_skew < float("inf"):
            raise errors.InvalidParameter("MaxSkew", "max_skew must be a positive number of seconds.")
        ttl = 2 * max_skew + NONCE_CLOCK_MARGIN if nonce_ttl is None else nonce_ttl
        if not 2 * max_skew <= ttl < float("inf"):
            raise errors.InvalidParameter(
                "NonceTtl", "nonce_ttl must be at least twice max_skew, or replays become possible."
            )
        self._resolver = resolver
        self._guard = guard
        self._clock = clock
        self._max_skew = float(max_skew)
        self._nonce_ttl = float(ttl)
        self._allow_root = allow_root_keys
        self._replay_signatures = replay_signatures
        self._debug = debug_string_to_sign
        self._oss_domain_list = validated_domains(oss_domains)
        self._oss_domains = frozenset(self._oss_domain_list)
        self._oss_cnames = validated_cnames(oss_cnames or {}, self._oss_domain_list)
        # Public so the console can plug its session scheme into an already built runtime.
        self.session_authenticator = session_authenticator
        # (id(base), scheme, key id) -> (base, derived): the derived Principal is a pure function of the
        # three, and holding `base` keeps its id from being reused while the entry lives.
        self._derived: dict[tuple[int, str, str], tuple[Principal, Principal]] = {}

    def authenticate(self, facts: RequestFacts) -> Principal | None:
        """The signer's Principal, None for a request without any credential, or an AuthenticationError."""
        scheme = detect_scheme(facts)
        if scheme is None:
            sessions = self.session_authenticator
            return None if sessions is None else sessions.authenticate(facts)
        signed = self._parse(scheme, facts)
        now = self._clock()
        if signed.expires_at is not None:  # a presigned URL: no skew window, replayable until it expires
            if now.timestamp() > signed.expires_at:
                raise errors.RequestExpired(
                    "Request has expired: the presigned URL is past its expiry time.", status=403
                )
            # A V4 x-oss-date ahead of the clock would stretch the link past its 7-day limit: refused with
            # the same 403 as an expired link (a V1 URL carries no signing time: its signed_at is Expires).
            if signed.scheme == SCHEME_V4_QUERY and signed.signed_at - now.timestamp() > self._max_skew:
                raise errors.RequestExpired(
                    "Request is not yet valid: the presigned URL's x-oss-date is ahead of the server's time.",
                    status=403,
                )
        elif abs(signed.signed_at - now.timestamp()) > self._max_skew:
            raise errors.RequestExpired()
        key = self._signing_key(signed)
        if not signed.matches(key.secret):
            raise self._mismatch(signed, facts)
        if key.principal.kind == "root":
            self._root_used(signed)
        if signed.nonce is not None:
            self._claim_once(f"nonce:{signed.access_key_id}:{signed.nonce}", signed)
        elif self._replay_signatures and signed.expires_at is None:
            # The signature alone names the request: only the secret's holder can make another, whereas the
            # AccessKeyId is not in every string to sign (SigV4's scope leaves it out).
            self._claim_once(f"signature:{signed.signature}", signed)
        self._resolver.note_key_used(signed.access_key_id, now)
        return self._principal(key.principal, signed.scheme, signed.access_key_id)

    def parse(self, facts: RequestFacts) -> SignedRequest | None:
        """The parsed (unverified) signed request, or None when it carries no credential."""
        scheme = detect_scheme(facts)
        return None if scheme is None else self._parse(scheme, facts)

    @property
    def oss_domains(self) -> tuple[str, ...]:
        """The OSS virtual-host domains, lower-cased, in the order given."""
        return self._oss_domain_list

    @property
    def oss_cnames(self) -> Mapping[str, str]:
        """The OSS CNAME hosts (lower-cased) and their buckets, read-only."""
        return self._oss_cnames

    def host_bucket(self, facts: RequestFacts) -> str | None:
        """The bucket an OSS request names by its Host (virtual-hosted or CNAME under this authenticator's
        ``oss_domains``/``oss_cnames``), which an OSS signature covers; None when the Host names none."""
        return host_bucket(facts, self._oss_domains, self._oss_cnames)

    def _parse(self, scheme: str, facts: RequestFacts) -> SignedRequest:
        if not facts.path.isascii():
            # Raw bytes a server passed through (gunicorn) come as their latin-1 text, which every scheme
            # would sign as the UTF-8 of that text: another path than the one the app reads. SDKs escape.
            raise errors.InvalidParameter("Encoding", RAW_BYTES.format("path"))
        if scheme == "rpc-v1":
            return parse_rpc(facts)
        domains, cnames = self._oss_domains, self._oss_cnames
        if scheme == SCHEME_V1_QUERY:
            return parse_oss_v1_query(facts, domains=domains, cnames=cnames)
        if scheme == SCHEME_V4_QUERY:
            return parse_oss_v4_query(facts, domains=domains, cnames=cnames)
        authorization = facts.header("authorization") or ""
        if scheme == "acs3":
            return parse_acs3(facts, authorization)
        if scheme == "roa":
            return parse_roa(facts, authorization)
        if scheme == "oss-v1":
            return parse_oss_v1(facts, authorization, domains=domains, cnames=cnames)
        if scheme == "oss-v4":
            return parse_oss_v4(facts, authorization, domains=domains, cnames=cnames)
        if scheme == "aws-v4":
            return parse_aws4(facts, authorization)
        if scheme == AWS_PRESIGNED:
            raise errors.IncompleteSignature(
                "AWS presigned URLs (X-Amz-Signature, or AWSAccessKeyId and Signature, in the query) are not "
                "accepted: sign each request with an AWS4-HMAC-SHA256 Authorization header, or use an OSS "
                "presigned URL."
            )
        if scheme == AWS_V2:
            raise errors.IncompleteSignature(
                "AWS Signature Version 2 (Authorization: AWS <AccessKeyId>:<Signature>) is not accepted: "
                'sign with AWS4-HMAC-SHA256 (botocore: Config(signature_version="s3v4")).'
            )
        raise errors.IncompleteSignature(
            "The request carries a credential in a form this service does not accept "
            "(use RPC v1, ACS3-HMAC-SHA256, ROA, OSS, OSS4-HMAC-SHA256 or AWS4-HMAC-SHA256 signatures, "
            "or OSS V1 or V4 presigned URLs)."
        )

    def _claim_once(self, key: str, signed: SignedRequest) -> None:
        """Claim ``key`` (a nonce's or a signature's) for the nonce TTL; NonceReused if already claimed."""
        if not self._guard.claim(key, self._nonce_ttl):
            raise errors.NonceReused()
        if signed.signed_at < self._guard.remembers_since():
            # Signed before the guard last forgot its claims (a Redis restarted empty): it may have been
            # used then, and a replay is indistinguishable from a late first use.
            raise errors.NonceReused(
                "The replay guard was restarted after this request was signed; sign it again."
            )

    def _signing_key(self, signed: SignedRequest) -> SigningKey:
        access_key_id = signed.access_key_id
        if signed.security_token:
            key = self._resolver.verify_security_token(access_key_id, signed.security_token)
            if key.access_key_id != access_key_id:
                raise errors.InvalidSecurityToken(
                    "MismatchWithAccessKey", "The SecurityToken was not issued for this AccessKeyId."
                )
        elif access_key_id.startswith(_STS_PREFIX):
            raise errors.MissingSecurityToken()
        else:
            found = self._resolver.signing_key(access_key_id)
            if found is None:
                raise errors.UnknownAccessKey()
            key = found
        if key.status != "Active":
            raise errors.InactiveAccessKey()
        return key

    def _principal(self, base: Principal, scheme: str, access_key_id: str) -> Principal:
        """``base`` with auth_method and access_key_id set (cached: building a frozen Principal is slow)."""
        cache_key = (id(base), scheme, access_key_id)
        entry = self._derived.get(cache_key)
        if entry is not None and entry[0] is base:
            return entry[1]
        derived = dataclasses.replace(base, auth_method=scheme, access_key_id=access_key_id)
        if len(self._derived) >= _DERIVED_CACHE_SIZE:
            self._derived.clear()
        self._derived[cache_key] = (base, derived)
        return derived

    def _mismatch(self, signed: SignedRequest, facts: RequestFacts) -> errors.SignatureMismatch:
        # aliyun-python-sdk-core splits the Message on ':' and, when the part after it equals its own string
        # to sign, reports InvalidAccessKeySecret instead; an empty part would match its empty default, so
        # outside debug mode a placeholder keeps the Code the server sent.
        message = errors.SignatureMismatch.default_message  # "... server string to sign is:"
        if self._debug:
            # An RPC or ROA string to sign holds every query parameter: the passwords and MFA codes of
            # CreateLoginProfile, BindMFADevice… too. The message reaches the audit log, not only the caller.
            shown = redact(signed.string_to_sign, signed.security_token)
            for name, value in facts.param_pairs:
                if name in SECRET_PARAMETERS:
                    shown = redact(shown, value)
            message += shown
        else:
            message += _HIDDEN
        return errors.SignatureMismatch(message)

    def _root_used(self, signed: SignedRequest) -> None:
        if not self._allow_root:
            raise errors.RootAccessKeyRefused()
        log.warning(
            "root AccessKey %s authenticated a request (%s); use RAM users instead",
            signed.access_key_id,
            signed.scheme,
        )
