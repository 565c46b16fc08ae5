"""ACS3-HMAC-SHA256 (signature V3), the default of the current Tea/Darabonba SDKs.

The canonical headers come from the ``SignedHeaders`` list in the Authorization header (the Python SDK
signs every header it sets); a minimum set must be in it (Content-Type only when it types a body: not on a
request without one, nor when it is ``application/octet-stream``, what an untyped body means anyway), and
``x-acs-content-sha256`` must be the hash of the body actually received. A signed header sent more than
once is refused: the canonical form joins repeated values sorted with ``,``, so a signed ``1,2`` re-sent as
two headers would verify while the app read one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from .. import errors
from ..facts import RequestFacts, TextMemo
from .encoding import (
    SignedRequest,
    canonical_path,
    check_nonce,
    check_signed_set,
    check_unrepeated,
    encode_pairs,
    hex_hmac_sha256,
    one_header,
    parse_iso8601,
    sha256_hex,
    single,
)

__all__ = [
    "ALGORITHM",
    "authorization",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "parse_acs3",
    "parse_authorization",
    "signature",
    "string_to_sign",
]

SCHEME = "acs3"
ALGORITHM = "ACS3-HMAC-SHA256"
# Headers that must be signed whenever the request has them (the first four must always be there).
ALWAYS_SIGNED = ("host", "x-acs-date", "x-acs-content-sha256", "x-acs-signature-nonce")
SIGNED_WHEN_PRESENT = ("x-acs-security-token", "content-type", "x-acs-action", "x-acs-version")
_WHEN_PRESENT = frozenset(SIGNED_WHEN_PRESENT)
# The async Tea client (aiohttp) adds an unsigned "application/octet-stream" to every request without a body
# and to a "byte" body: without a body a Content-Type types nothing, and that one says what a body without
# a type is taken for anyway (an app parses neither as a form), so then it need not be signed.
_UNTYPED = "application/octet-stream"
_SIGNED_WHEN_PRESENT_UNTYPED = tuple(name for name in SIGNED_WHEN_PRESENT if name != "content-type")


def canonical_uri(raw_path: str) -> str:
    """The path as signed: see :func:`encoding.canonical_path`."""
    return canonical_path(raw_path)


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Parameters sorted by name (as the SDK sorts them), ``pct(name)=pct(value)`` joined by ``&``."""
    return encode_pairs(sorted(pairs))


def canonical_headers(names: Sequence[str], values: Sequence[Sequence[str]]) -> str:
    """``name:value\\n`` per signed header; repeated values trimmed, sorted and joined with ``,``."""
    return "".join(
        [
            f"{name}:{found[0].strip()}\n"
            if len(found) == 1
            else f"{name}:{','.join(sorted(v.strip() for v in found))}\n"
            for name, found in zip(names, values, strict=True)
        ]
    )


def canonical_request(
    method: str, uri: str, query: str, headers: str, signed_headers: str, payload_hash: str
) -> str:
    """The six-line canonical request (the headers block ends with its own newline)."""
    return f"{method}\n{uri}\n{query}\n{headers}\n{signed_headers}\n{payload_hash}"


def string_to_sign(canonical: str) -> str:
    """``ACS3-HMAC-SHA256\\n`` + hex SHA-256 of the canonical request."""
    return f"{ALGORITHM}\n{sha256_hex(canonical)}"


def signature(secret: str, to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 keyed with the bare secret."""
    return hex_hmac_sha256(secret, to_sign)


def authorization(access_key_id: str, signed_headers: str, sig: str) -> str:
    """The Authorization header value, spelled as the Python SDK writes it."""
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={sig}"


_AUTH_FIELDS = frozenset({"Credential", "SignedHeaders", "Signature"})
# The header exactly as the SDKs spell it: one regex match instead of the general field-by-field parse,
# which gives the same four strings for every text this matches (values are printable ASCII without space
# or comma; ASCII ranges keep the match fast).
_SDK_SPELLING = re.compile(
    r"(ACS3-HMAC-SHA256) Credential=([!-+\--~]+),SignedHeaders=([!-+\--~]+),Signature=([!-+\--~]+)"
).fullmatch


def parse_authorization(value: str) -> tuple[str, str, str, str]:
    """-> (algorithm, Credential, SignedHeaders, Signature); optional whitespace after commas is accepted.

    Exactly the three fields, each once: a WSGI server joins two ``Authorization`` headers with ``,``,
    and a parser that let a repeated field win would verify the second credential of a smuggled pair.
    """
    usual = _SDK_SPELLING(value)
    if usual is not None:
        algorithm, credential, signed, sig = usual.groups()
        return algorithm, credential, signed, sig
    return _parse_fields(value)


def _parse_fields(value: str) -> tuple[str, str, str, str]:
    """:func:`parse_authorization` for any spelling, field by field."""
    algorithm, _, rest = value.strip().partition(" ")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, equals, val = item.strip().partition("=")
        if not equals or key not in _AUTH_FIELDS or key in fields:
            raise errors.IncompleteSignature(
                "The ACS3 Authorization header must hold Credential, SignedHeaders and Signature, once each."
            )
        fields[key] = val.strip()
    credential = fields.get("Credential")
    signed = fields.get("SignedHeaders")
    sig = fields.get("Signature")
    if not credential or not signed or not sig:
        raise errors.IncompleteSignature(
            "The ACS3 Authorization header needs Credential, SignedHeaders and Signature."
        )
    return algorithm, credential, signed, sig


def _signed_list(signed_headers: str) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
    """SignedHeaders -> (its names, whether every ALWAYS_SIGNED header is among them, the
    SIGNED_WHEN_PRESENT headers that are not): what checking a request against it needs."""
    names = tuple(signed_headers.split(";"))
    signed = set(names)
    return names, signed.issuperset(ALWAYS_SIGNED), tuple(sorted(_WHEN_PRESENT - signed))


# Clients send the same SignedHeaders list request after request.
_signed_lists = TextMemo(_signed_list, max_length=512)


def _signed_values(
    index: Mapping[str, tuple[str, ...]], signed_headers: str, typed: bool = True
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The signed header names and each one's values. IncompleteSignature unless every signed header is in
    the request, and every ALWAYS_SIGNED header and every SIGNED_WHEN_PRESENT header the request has is
    signed (content-type only when ``typed``: it types a body)."""
    names, always_signed, unsigned_when_present = _signed_lists.read(signed_headers)
    values = [index.get(name, ()) for name in names]
    if not (always_signed and all(values) and not any(name in index for name in unsigned_when_present)):
        # Not the usual case: raises, unless the only unsigned one is a Content-Type that types no body.
        when_present = SIGNED_WHEN_PRESENT if typed else _SIGNED_WHEN_PRESENT_UNTYPED
        check_signed_set(index, names, ALWAYS_SIGNED, when_present)
    return names, values


def parse_acs3(facts: RequestFacts, header: str) -> SignedRequest:
    """Parse an ``Authorization: ACS3-HMAC-SHA256 …`` request."""
    algorithm, access_key_id, signed_headers, provided = parse_authorization(header)
    if algorithm != ALGORITHM:
        raise errors.UnsupportedSignatureMethod(f"Only {ALGORITHM} is supported among the V3 signatures.")
    index = facts.header_map
    typed = bool(facts.body) and index.get("content-type") != (_UNTYPED,)  # sent once, as exactly that
    names, values = _signed_values(index, signed_headers, typed)
    if len(index) != len(facts.headers):  # some header repeats (no SDK repeats one): is it a signed one?
        check_unrepeated(index, names)
    payload_hash = one_header(index, "x-acs-content-sha256")
    if payload_hash != sha256_hex(facts.body):
        raise errors.SignatureMismatch(
            "Specified signature is not matched with our calculation: "
            "x-acs-content-sha256 is not the SHA-256 of the request body."
        )
    signed_at = parse_iso8601(one_header(index, "x-acs-date"))
    nonce = check_nonce(one_header(index, "x-acs-signature-nonce"))
    token = single(index.get("x-acs-security-token", ()), "x-acs-security-token")
    canonical = canonical_request(
        facts.method,
        canonical_uri(facts.path),
        canonical_query(facts.query_pairs),
        canonical_headers(names, values),
        signed_headers,
        payload_hash,
    )
    to_sign = string_to_sign(canonical)
    parts = {"signed_headers": signed_headers, "canonical_request": canonical, "string_to_sign": to_sign}
    # Positional: this runs once per request, and keyword construction of a NamedTuple costs more.
    return SignedRequest(
        SCHEME, access_key_id, provided, to_sign, signature, signed_at, nonce, token, (), parts
    )  # fmt: skip
