"""Shared primitives of every signature scheme: RFC 3986 encoding, digests, timestamps, constant-time compare.

Both the verifier (:mod:`.authenticate`) and the client signer (:mod:`ram_middleware.client`) use these, so a
request is canonicalised by exactly one piece of code whichever side computes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from types import MappingProxyType
from typing import NamedTuple

from .. import errors
from ..facts import UNREMEMBERED_PARAMETERS, TextMemo, decode_path

__all__ = [
    "ContentMD5Mismatch",
    "MissingCredentialParameter",
    "SignedRequest",
    "b64_hmac_sha1",
    "canonical_path",
    "check_nonce",
    "check_unrepeated",
    "content_md5",
    "encode_pairs",
    "format_http_date",
    "format_iso8601",
    "hex_hmac_sha256",
    "hmac_sha256",
    "new_nonce",
    "parse_compact_time",
    "parse_http_date",
    "parse_iso8601",
    "pct",
    "pct_canonical",
    "prefixed_headers",
    "redact",
    "require",
    "same",
    "sha256_hex",
    "single",
]

MAX_NONCE_LENGTH = 128

# --- errors this layer adds (subclasses of the shared hierarchy) -------------------------------------------


class MissingCredentialParameter(errors.MissingParameter, errors.AuthenticationError):
    """A signature parameter or header is absent: Code ``MissingParameter``, HTTP 400."""

    def __init__(self, name: str) -> None:
        super().__init__(
            "", f'The input parameter "{name}" that is mandatory for processing this request is not supplied.'
        )


class ContentMD5Mismatch(errors.AuthenticationError):
    """Content-MD5 (part of the signed string in ROA and OSS) does not match the body received."""

    default_code = "ContentMD5NotMatched"
    default_message = "The Content-MD5 you specified does not match the request body."


# --- RFC 3986 ("POP") encoding ------------------------------------------------------------------------------

_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
_is_unreserved = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
_is_unreserved_path = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch
# Byte -> text tables for str.translate over the latin-1 view of the UTF-8 bytes: one C loop, no Python
# per-character work.
_PCT = {byte: (chr(byte) if byte in _UNRESERVED else f"%{byte:02X}") for byte in range(256)}
_PCT_PATH = {**_PCT, ord("/"): "/"}


def pct(text: str, *, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding of UTF-8 text: unreserved characters kept, upper-case hex, space -> %20."""
    if keep_slash:
        if _is_unreserved_path(text):
            return text
        table = _PCT_PATH
    else:
        if _is_unreserved(text):
            return text
        if _is_unreserved_path(text):  # a plain path encoded as one component (the v1 string to sign)
            return text.replace("/", "%2F")
        table = _PCT
    return text.encode("utf-8", "surrogatepass").decode("latin-1").translate(table)


# Names and values recur from request to request, so their encodings are remembered (one dict lookup
# each); a one-off value such as a nonce is encoded once and soon dropped (see TextMemo).
_pct_memo: TextMemo[str] = TextMemo(pct)


class PairMemo(dict[tuple[str, str], str]):
    """``memo[(name, value)]`` is ``pct(name)=pct(value)``, remembered like :class:`TextMemo` remembers a
    text: bounded, short values only, and never a pair of :data:`UNREMEMBERED_PARAMETERS` (a password
    must not stay in memory for later requests to find; a nonce or a signature never comes again)."""

    _SIZE = 1024
    _MAX_LENGTH = 64

    def __missing__(self, pair: tuple[str, str]) -> str:
        name, value = pair
        encoded = f"{_pct_memo.read(name)}={pct(value)}"
        if len(value) <= self._MAX_LENGTH and name not in UNREMEMBERED_PARAMETERS:
            if len(self) >= self._SIZE:
                self.clear()
            self[pair] = encoded
        return encoded


_pairs_memo = PairMemo()
_encode_pair = _pairs_memo.__getitem__


def encode_pairs(ordered: Sequence[tuple[str, str]]) -> str:
    """``pct(name)=pct(value)`` joined by ``&`` for already ordered pairs (empty value -> ``name=``).
    Passwords, MFA codes, signatures and nonces (:data:`UNREMEMBERED_PARAMETERS`) are encoded afresh and
    never remembered."""
    # A request's pairs recur (Action, Version, AccessKeyId, a Timestamp within its second): one C-level
    # loop of dict lookups, the encoding done only for a pair not seen before.
    return "&".join(map(_encode_pair, ordered))


def canonical_path(raw_path: str) -> str:
    """Each ``/``-separated segment of a raw path decoded and re-encoded with ``pct``; ``/`` when empty.

    An encoded ``%2F`` therefore stays distinct from ``/``, and ``%7E`` / ``~`` spell the same path.
    """
    if not raw_path or raw_path == "/":
        return "/"
    if "%" not in raw_path:
        return pct(raw_path, keep_slash=True)
    return "/".join([pct(decode_path(segment)) for segment in raw_path.split("/")])


def pct_canonical(canonical: str) -> str:
    """``pct`` of a string that is already RFC 3986 encoded plus ``=`` and ``&`` (the RPC v1 second pass)."""
    return canonical.replace("%", "%25").replace("=", "%3D").replace("&", "%26")


# --- digests ------------------------------------------------------------------------------------------------


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# HMAC (RFC 2104) over hashlib with the keyed inner and outer states computed once per key and copied per
# message: OpenSSL 3's one-shot HMAC looks the algorithm up and sets the key up on every call, which costs
# more than hashing a string to sign. The states are as sensitive as the key itself; like the directory's
# cached secrets they live in this process only, and at most _KEYED_SIZE keys are remembered.
_BLOCK_SIZE = 64  # SHA-1 and SHA-256 alike
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))
_KEYED_SIZE = 1024
_Hash = Callable[[bytes], "hashlib._Hash"]
_keyed: dict[tuple[str, str], tuple[hashlib._Hash, hashlib._Hash]] = {}


def _hmac_str_key(algorithm: str, key: str, message: str) -> bytes:
    """HMAC-``algorithm`` (``sha1`` or ``sha256``) of ``message`` under the text ``key``, both UTF-8."""
    states = _keyed.get((algorithm, key))
    if states is None:
        states = _key_states(algorithm, key.encode("utf-8", "surrogatepass"))
        if len(_keyed) >= _KEYED_SIZE:
            _keyed.clear()
        _keyed[(algorithm, key)] = states
    inner = states[0].copy()
    inner.update(message.encode("utf-8", "surrogatepass"))
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()


def _key_states(algorithm: str, key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    new: _Hash = hashlib.sha1 if algorithm == "sha1" else hashlib.sha256
    if len(key) > _BLOCK_SIZE:
        key = new(key).digest()
    key = key.ljust(_BLOCK_SIZE, b"\0")
    return new(key.translate(_IPAD)), new(key.translate(_OPAD))


def b64_hmac_sha1(key: str, message: str) -> str:
    """Base64 HMAC-SHA1 (RPC v1, ROA, OSS V1)."""
    return binascii.b2a_base64(_hmac_str_key("sha1", key, message), newline=False).decode("ascii")


def hmac_sha256(key: bytes, message: str) -> bytes:
    """Raw HMAC-SHA256 (key derivation chains)."""
    return hmac.digest(key, _bytes(message), "sha256")


def scoped_signing_key(seed: str, scope: Iterable[str]) -> bytes:
    """The V4 key derivation (OSS V4, AWS SigV4): HMAC-SHA256 keyed with ``seed``, then each scope part."""
    key = _bytes(seed)
    for part in scope:
        key = hmac_sha256(key, part)
    return key


def scoped_signer(seed_prefix: str, scope: tuple[str, ...]) -> Signer:
    """``(secret, string_to_sign) -> hex HMAC-SHA256`` keyed by :func:`scoped_signing_key` of
    ``seed_prefix + secret`` over ``scope`` (OSS V4, AWS SigV4)."""

    def sign(secret: str, string_to_sign: str) -> str:
        return hex_hmac_sha256(scoped_signing_key(seed_prefix + secret, scope), string_to_sign)

    return sign


def hex_hmac_sha256(key: str | bytes, message: str) -> str:
    """Lower-case hex HMAC-SHA256 (ACS3, OSS V4)."""
    if isinstance(key, str):
        return _hmac_str_key("sha256", key, message).hex()
    return hmac.digest(key, _bytes(message), "sha256").hex()


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sha256_hex(data: bytes | str) -> str:
    """Lower-case hex SHA-256."""
    if not data:  # most signed requests have no body
        return _EMPTY_SHA256
    return hashlib.sha256(data if isinstance(data, bytes) else _bytes(data)).hexdigest()


def content_md5(body: bytes) -> str:
    """Base64 MD5 of ``body`` as the Content-MD5 header carries it."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def same(provided: str, expected: str) -> bool:
    """Constant-time equality of two signatures (any text, never raises)."""
    if provided.isascii() and expected.isascii():  # compare_digest takes ASCII text as is
        return hmac.compare_digest(provided, expected)
    return hmac.compare_digest(_bytes(provided), _bytes(expected))


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (raw, encoded once and twice) replaced, for debug messages."""
    if not secret:
        return text
    for form in (pct_canonical(pct(secret)), pct(secret), secret):
        text = text.replace(form, "<redacted>")
    return text


# --- time ---------------------------------------------------------------------------------------------------

# ASCII digits only: ``\d`` and int() also take full-width or Arabic-Indic ones, which no SDK writes.
_ISO8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z", re.ASCII).fullmatch
_COMPACT = re.compile(r"\d{8}T\d{6}Z", re.ASCII).fullmatch


def _bad_time() -> errors.BadTimestamp:
    return errors.BadTimestamp()


def parse_iso8601(text: str) -> float:
    """``YYYY-MM-DDThh:mm:ss[.ffffff]Z`` (UTC) -> POSIX seconds; else :class:`errors.BadTimestamp`."""
    return _iso_seconds.read(text)


def _iso_to_seconds(text: str) -> float:
    if _ISO8601(text) is None:
        raise _bad_time()
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise _bad_time() from None


# Requests signed in the same second carry the same text: remember the last few hundred readings.
_iso_seconds: TextMemo[float] = TextMemo(_iso_to_seconds, size=256)


def parse_compact_time(text: str) -> float:
    """``YYYYMMDDThhmmssZ`` (OSS V4 / AWS) -> POSIX seconds; else :class:`errors.BadTimestamp`."""
    if _COMPACT(text) is None:
        raise _bad_time()
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise _bad_time() from None


def parse_http_date(text: str) -> float:
    """An RFC 1123 date (``Tue, 02 Jan 2024 03:04:05 GMT``) -> POSIX seconds; else BadTimestamp."""
    if not text.isascii():  # the email parser reads its numbers with int(), which takes any script's digits
        raise _bad_time()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise _bad_time() from None
    if parsed.tzinfo is None:  # "-0000" means UTC with unknown local offset (RFC 5322)
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.timestamp()
    except (ValueError, OverflowError):
        raise _bad_time() from None


def format_iso8601(when: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` in UTC, as the SDKs send Timestamp / x-acs-date."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_http_date(when: datetime) -> str:
    """RFC 1123 GMT date (locale-independent)."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def new_nonce() -> str:
    """A fresh 32-hex-digit signature nonce."""
    return uuid.uuid4().hex


# --- what every scheme's parser hands to the authenticator --------------------------------------------


Signer = Callable[[str, str], str]


class SignedRequest(NamedTuple):
    """A parsed, not yet verified, signed request (immutable).

    ``string_to_sign`` is the server's own computation from the request (no secret needed); ``signer`` maps
    ``(secret, string_to_sign)`` to the expected signature. ``alternatives`` are further strings to sign a
    known SDK variant may have used (tried in turn). ``parts`` holds the intermediate strings (canonical
    query / request / headers / resource) under the names the test vectors use. ``signed_at`` is POSIX
    seconds. ``expires_at`` (POSIX seconds) marks a presigned URL: valid until then, with no skew window and
    no nonce (replayable by design); None for every header or RPC scheme. The repr leaves out the strings
    and the token (they may contain the SecurityToken).
    """

    scheme: str
    access_key_id: str
    signature: str
    string_to_sign: str
    signer: Signer
    signed_at: float
    nonce: str | None = None
    security_token: str | None = None
    alternatives: tuple[str, ...] = ()
    parts: Mapping[str, str] = MappingProxyType({})
    expires_at: float | None = None

    def __repr__(self) -> str:
        fields = f"scheme={self.scheme!r}, access_key_id={self.access_key_id!r}, nonce={self.nonce!r}"
        return f"SignedRequest({fields})"

    def matches(self, secret: str) -> bool:
        """Whether the provided signature is the one ``secret`` gives (constant-time per candidate)."""
        if same(self.signature, self.signer(secret, self.string_to_sign)):
            return True
        return any(same(self.signature, self.signer(secret, alt)) for alt in self.alternatives)


def require(value: str | None, name: str) -> str:
    """``value`` or :class:`MissingCredentialParameter` naming ``name`` when it is None or empty."""
    if not value:
        raise MissingCredentialParameter(name)
    return value


def check_nonce(nonce: str) -> str:
    """Bound the nonce length so a key holder cannot fill the replay guard with huge keys."""
    if len(nonce) > MAX_NONCE_LENGTH:
        raise errors.IncompleteSignature(f"The signature nonce is longer than {MAX_NONCE_LENGTH} characters.")
    return nonce


def check_signed_set(
    index: Mapping[str, tuple[str, ...]],
    names: Sequence[str],
    always: Iterable[str],
    when_present: Iterable[str],
) -> None:
    """IncompleteSignature for the first problem: a signed header missing from the request, an ``always``
    header not signed, or a ``when_present`` header the request has but did not sign."""
    signed = set(names)
    for name in names:
        if not index.get(name):
            raise errors.IncompleteSignature(f'The signed header "{name[:64]}" is not in the request.')
    for name in always:
        if name not in signed:
            raise errors.IncompleteSignature(f'The header "{name}" must be signed (SignedHeaders).')
    for name in when_present:
        if name in index and name not in signed:
            raise errors.IncompleteSignature(f'The header "{name}" must be signed (SignedHeaders).')


def one_header(index: Mapping[str, tuple[str, ...]], name: str) -> str:
    """The single value of a header that must be signed (so present); IncompleteSignature if repeated."""
    found = index[name]
    if len(found) != 1:
        raise errors.IncompleteSignature(f'The header "{name}" appears more than once.')
    return found[0]


def single(values: Iterable[str], name: str) -> str | None:
    """The only value of a header that must not repeat; None when absent; IncompleteSignature if repeated."""
    found = tuple(values)
    if not found:
        return None
    if len(found) > 1:
        raise errors.IncompleteSignature(f'The header "{name}" appears more than once.')
    return found[0]


def check_unrepeated(index: Mapping[str, tuple[str, ...]], names: Iterable[str]) -> None:
    """IncompleteSignature for the first of ``names`` (lower-case) sent more than once: the string to sign
    joins repeated values with ``,``, so a signed ``1,2`` re-sent as ``1`` and ``2`` would verify while an
    app reading the header's first value saw ``1``."""
    for name in names:
        if len(index.get(name, ())) > 1:
            raise errors.IncompleteSignature(f'The signed header "{name[:64]}" appears more than once.')


def prefixed_headers(headers: Iterable[tuple[str, str]], prefix: str) -> str:
    """``name:value\\n`` for every header whose lower-cased name starts with ``prefix``, sorted by name.

    Repeated headers are joined with ``,`` in the order received (ROA ``x-acs-*``, OSS V1 ``x-oss-*``).
    """
    found: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key.startswith(prefix):
            found[key] = f"{found[key]},{value.strip()}" if key in found else value.strip()
    return "".join(f"{key}:{found[key]}\n" for key in sorted(found))
