"""RPC signature version 1.0 (HMAC-SHA1 over the sorted parameters) and the ROA ``acs AK:sig`` scheme.

Pure functions: :func:`parse_rpc` / :func:`parse_roa` turn :class:`RequestFacts` into a
:class:`SignedRequest` (the server's own string to sign) without touching a key; the string builders are
shared with :mod:`ram_middleware.client`.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import NoReturn
from urllib.parse import quote

from .. import errors
from ..facts import RequestFacts, TextMemo, decode_path
from .encoding import (
    ContentMD5Mismatch,
    MissingCredentialParameter,
    SignedRequest,
    b64_hmac_sha1,
    canonical_path,
    check_nonce,
    check_unrepeated,
    content_md5,
    encode_pairs,
    parse_http_date,
    parse_iso8601,
    pct,
    pct_canonical,
    prefixed_headers,
    require,
    single,
)

__all__ = [
    "RPC_MARKERS",
    "canonicalized_query",
    "canonicalized_resource",
    "check_content_md5",
    "parse_roa",
    "parse_roa_authorization",
    "parse_rpc",
    "roa_signature",
    "roa_string_to_sign",
    "rpc_signature",
    "rpc_string_to_sign",
]

SCHEME_RPC = "rpc-v1"
SCHEME_ROA = "roa"
SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"

# Parameters whose presence means "this request carries an RPC credential" (then it must verify).
RPC_MARKERS = ("Signature", "AccessKeyId", "SecurityToken", "BearerToken")

_by_name = itemgetter(0)

# --- RPC v1 ------------------------------------------------------------------------------------------------


def canonicalized_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Sorted (by name, byte-wise) ``pct(name)=pct(value)`` joined by ``&``; empty values give ``name=``."""
    return encode_pairs(sorted(pairs))


def rpc_string_to_sign(method: str, canonical_query: str, raw_path: str = "/") -> str:
    """``METHOD&%2F&pct(canonical)`` — the canonical query is percent-encoded a second time.

    The SDKs always call ``/`` (giving ``%2F``). Other paths are signed too, as ``pct(canonical_path)``, so a
    v1 signature also pins the route it was made for (an extension: the official scheme has no path).
    """
    path = "%2F" if raw_path == "/" else _signed_paths.read(raw_path)
    return f"{method}&{path}&{pct_canonical(canonical_query)}"


def _signed_path(raw_path: str) -> str:
    return pct(canonical_path(raw_path))


# Raw path -> its encoded form in the string to sign; an app has few paths.
_signed_paths: TextMemo[str] = TextMemo(_signed_path, max_length=512)


def rpc_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 keyed with ``secret + "&"``."""
    return b64_hmac_sha1(secret + "&", string_to_sign)


def parse_rpc(facts: RequestFacts) -> SignedRequest:
    """Parse an RPC v1 request (credentials in the query and/or a form body)."""
    if facts.body and not facts.is_form:
        # Only form parameters are signed; an opaque body would travel unauthenticated.
        raise errors.IncompleteSignature(
            "Signature version 1.0 covers only a form-encoded (application/x-www-form-urlencoded) body."
        )
    pairs = facts.param_pairs
    unique = len(facts.params) == len(pairs)
    if not unique and sum(1 for name, _ in pairs if name == "Signature") > 1:
        raise errors.IncompleteSignature('The parameter "Signature" appears more than once.')
    get = facts.params.get
    if get("SignatureType") or "BearerToken" in facts.params:
        # Before the Signature check: a bearer request (Tea) carries none, and is refused for what it is.
        raise errors.UnsupportedSignatureMethod("Bearer-token signatures are not supported.")
    signature = get("Signature") or _missing("Signature")
    access_key_id = get("AccessKeyId") or _missing("AccessKeyId")
    if (get("SignatureMethod") or _missing("SignatureMethod")) != SIGNATURE_METHOD:
        raise errors.UnsupportedSignatureMethod("Signature version 1.0 supports SignatureMethod HMAC-SHA1.")
    if (get("SignatureVersion") or _missing("SignatureVersion")) != SIGNATURE_VERSION:
        raise errors.UnsupportedSignatureVersion("Only SignatureVersion 1.0 is supported.")
    nonce = check_nonce(get("SignatureNonce") or _missing("SignatureNonce"))
    signed_at = parse_iso8601(get("Timestamp") or _missing("Timestamp"))
    if unique:
        # Nearly every request: ordering by name alone gives the same order as by (name, value), for less,
        # and the one Signature pair is taken out by a C-level search instead of a filtering loop.
        ordered = sorted(pairs, key=_by_name)
        ordered.remove(("Signature", signature))
    else:
        ordered = sorted([pair for pair in pairs if pair[0] != "Signature"])
    canonical = encode_pairs(ordered)
    string_to_sign = rpc_string_to_sign(facts.method, canonical, facts.path)
    parts = {"canonicalized_query_string": canonical, "string_to_sign": string_to_sign}
    # alibabacloud_credentials' RAM-role provider encodes spaces as "+" (quote_plus) where the SDKs write
    # %20, so a space reaches its string to sign as %2B instead of %2520. Unambiguous: a literal "+" is
    # %252B there and a literal "%20" is %252520.
    alternatives = (string_to_sign.replace("%2520", "%2B"),) if "%2520" in string_to_sign else ()
    # Positional: this runs once per request, and keyword construction of a NamedTuple costs more.
    return SignedRequest(
        SCHEME_RPC, access_key_id, signature, string_to_sign, rpc_signature, signed_at, nonce,
        get("SecurityToken") or None, alternatives, parts,
    )  # fmt: skip


def _missing(name: str) -> NoReturn:
    raise MissingCredentialParameter(name)


# --- ROA ---------------------------------------------------------------------------------------------------


def canonicalized_resource(
    path: str, pairs: Iterable[tuple[str, str]], *, empty_with_equals: bool = False
) -> str:
    """Decoded path, then ``?`` and every query parameter sorted, values not encoded.

    An empty value gives ``name`` (Tea SDKs) or, with ``empty_with_equals``, ``name=``
    (aliyun-python-sdk-core).
    """
    ordered = sorted(pairs, key=_by_name)
    if not ordered:
        return path
    empty = "=" if empty_with_equals else ""
    query = "&".join([f"{name}={value}" if value else f"{name}{empty}" for name, value in ordered])
    return f"{path}?{query}"


def _decodes_to_itself(path: str) -> bool:
    try:
        return decode_path(path) == path
    except errors.RAMError:
        return False


def _check_unambiguous(decoded_path: str, pairs: Iterable[tuple[str, str]]) -> None:
    """The ROA string joins the decoded path and parameters with ``?``, ``&`` and ``=`` unescaped, so one
    string stands for several requests (``?a=1&b=2`` and ``?a=1%26b%3D2``; ``/x?acl`` and ``/x%3Facl``):
    those characters are refused where they would be read as separators."""
    if "?" in decoded_path:
        raise errors.IncompleteSignature(
            "A ROA-signed path cannot hold '?' (%3F): the signature would not bind it."
        )
    for name, value in pairs:
        if "&" in name or "=" in name or "&" in value:
            raise errors.IncompleteSignature(
                "A ROA-signed query name cannot hold '&' or '=', nor a value '&': the signature would not "
                "bind where one parameter ends."
            )


def roa_string_to_sign(
    method: str, accept: str, md5: str, content_type: str, date: str, canonical_headers: str, resource: str
) -> str:
    """Method, Accept, Content-MD5, Content-Type and Date lines, then the x-acs-* headers and the resource."""
    return f"{method}\n{accept}\n{md5}\n{content_type}\n{date}\n{canonical_headers}{resource}"


def roa_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 keyed with the bare secret."""
    return b64_hmac_sha1(secret, string_to_sign)


def parse_roa_authorization(value: str) -> tuple[str, str]:
    """``acs <AccessKeyId>:<signature>`` -> (AccessKeyId, signature)."""
    _, _, credential = value.partition(" ")
    access_key_id, colon, signature = credential.strip().partition(":")
    if not colon or not access_key_id or not signature:
        raise errors.IncompleteSignature(
            'The Authorization header must read "acs <AccessKeyId>:<Signature>".'
        )
    return access_key_id, signature


def check_content_md5(facts: RequestFacts, md5: str) -> None:
    """A Content-MD5 header that is present must be the MD5 of the body received."""
    if md5 and md5 != content_md5(facts.body):
        raise ContentMD5Mismatch()


# Besides Date (read once) and the x-acs-* headers, the headers the ROA string to sign holds.
_ROA_SIGNED = frozenset({"accept", "content-md5", "content-type"})


def _check_signed_headers_unrepeated(facts: RequestFacts) -> None:
    """No x-acs-*, Accept, Content-MD5 or Content-Type header more than once (no SDK repeats one): x-acs-*
    values are signed joined with ``,``, and of the others only the first is signed."""
    index = facts.header_map
    if len(index) == len(facts.headers):  # no header repeats: the common case, one comparison
        return
    check_unrepeated(index, [name for name in index if name.startswith("x-acs-") or name in _ROA_SIGNED])


def parse_roa(facts: RequestFacts, authorization: str) -> SignedRequest:
    """Parse a ROA request: ``Authorization: acs AK:sig``, ``Date`` and the ``x-acs-*`` headers."""
    access_key_id, signature = parse_roa_authorization(authorization)
    _check_signed_headers_unrepeated(facts)
    method = single(facts.header_values("x-acs-signature-method"), "x-acs-signature-method")
    if method is not None and method != SIGNATURE_METHOD:
        raise errors.UnsupportedSignatureMethod("ROA signatures support x-acs-signature-method HMAC-SHA1.")
    version = single(facts.header_values("x-acs-signature-version"), "x-acs-signature-version")
    if version is not None and version != SIGNATURE_VERSION:
        raise errors.UnsupportedSignatureVersion("Only x-acs-signature-version 1.0 is supported.")
    date = require(single(facts.header_values("date"), "Date"), "Date")
    signed_at = parse_http_date(date)
    nonce = single(facts.header_values("x-acs-signature-nonce"), "x-acs-signature-nonce")
    md5 = facts.header("content-md5") or ""
    check_content_md5(facts, md5)
    headers = prefixed_headers(facts.headers, "x-acs-")
    lines = (facts.method, facts.header("accept") or "", md5, facts.content_type, date, headers)
    pairs = facts.query_pairs
    _check_unambiguous(facts.decoded_path, pairs)
    # aliyun-python-sdk-core signs the decoded path and "name=" for an empty value; Tea signs the path as it
    # sends it (already encoded) and "name". The first variant is the spec's; the others are tried after it.
    # Tea's encoding (every segment quoted, "~" kept) is tried too: a server that passes no raw URI (wsgiref)
    # leaves only a path rebuilt from the decoded one, which keeps "+", "*", "@"… as they are. The decoded
    # path counts only when decoding it again changes nothing: else "/a%252D" (the app reads "a%2D") would
    # verify with the signature of "/a%2D" (the app reads "a-").
    decoded = facts.decoded_path
    paths = [decoded] if _decodes_to_itself(decoded) else []
    if facts.path not in paths:
        paths.append(facts.path)
    quoted = quote(decoded, safe="/~")
    if quoted not in paths:
        paths.append(quoted)
    empties = (False, True) if any(not value for _, value in pairs) else (False,)
    resources = [canonicalized_resource(p, pairs, empty_with_equals=e) for p in paths for e in empties]
    string_to_sign, *alternatives = [roa_string_to_sign(*lines, resource) for resource in resources]
    if facts.content_type and not facts.body:
        # Without a body a Content-Type types nothing, and the async Tea client (aiohttp) adds one it did not
        # sign to every bodiless request: the strings without it are tried too.
        bare = (*lines[:3], "", *lines[4:])
        alternatives += [roa_string_to_sign(*bare, resource) for resource in resources]
    return SignedRequest(
        scheme=SCHEME_ROA,
        access_key_id=access_key_id,
        signature=signature,
        string_to_sign=string_to_sign,
        signer=roa_signature,
        signed_at=signed_at,
        nonce=check_nonce(nonce) if nonce else None,
        security_token=single(facts.header_values("x-acs-security-token"), "x-acs-security-token"),
        alternatives=tuple(alternatives),
        parts={
            "canonicalized_headers": headers,
            "canonicalized_resource": resources[0],
            "string_to_sign": string_to_sign,
        },
    )
