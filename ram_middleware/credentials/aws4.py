"""AWS Signature Version 4 (``AWS4-HMAC-SHA256``), as botocore/boto3 sign, for S3/STS-style clients.

``Authorization: AWS4-HMAC-SHA256 Credential=<AK>/<yyyymmdd>/<region>/<service>/aws4_request,
SignedHeaders=…, Signature=<hex>`` with ``X-Amz-Date``. The canonical request is the method, the canonical
URI, the query (names and values RFC 3986-encoded, sorted by encoded name then value), ``name:value`` per
signed header (values trimmed, inner runs of spaces made one), the
signed-header list and the payload hash; the key is the HMAC chain from ``"AWS4" + secret`` over the date,
region, service and ``aws4_request``. The AccessKeys are ours: an AWS client is configured with a RAM
user's AccessKeyId and secret (or an STS key, its SecurityToken in ``X-Amz-Security-Token``).

Decisions, chosen here:

* Canonical URI: as botocore and AWS compute it, from the path as received: an S3 path as it is, any other
  service's path percent-encoded once more (so ``%3A`` and ``:`` sign differently, and both verify). Percent
  encoding is one-to-one, so the signature still binds the path the app decodes. A non-S3 request whose
  path botocore would normalise before signing (``//``, ``.``, ``..`` segments) is refused: its signature
  would not bind the path the app routes.
* A signed header sent twice is refused: SigV4 would sign its values joined with ``,``, which also reads as
  one header holding a ``,`` (botocore never repeats one).
* Signed headers: ``host`` and ``x-amz-date`` always; ``content-type``, ``x-amz-content-sha256``,
  ``x-amz-security-token``, ``x-acs-action`` and ``x-acs-version`` whenever present (what the RPC resolver
  and the app read must be signed).
* Payload: ``X-Amz-Content-SHA256`` must be the body's SHA-256, or ``UNSIGNED-PAYLOAD`` (the body then
  travels unsigned, as with OSS: see :mod:`.coverage`); without the header the body's hash is signed.
  ``aws-chunked`` bodies (``STREAMING-…``) are refused: botocore 1.36+ sends them for S3 uploads over HTTPS
  unless the client is configured with ``request_checksum_calculation="when_required"``. A
  ``Content-MD5`` must be the body's MD5 (else ``ContentMD5NotMatched``), as for OSS.
* No nonce exists in SigV4: a request can be replayed within the skew window, as at AWS (and as with OSS
  and ROA), unless the authenticator's ``replay_signatures`` claims each signature once. Presigned URLs
  (``X-Amz-Signature`` in the query, or S3's Signature Version 2 form ``AWSAccessKeyId``/``Signature``/
  ``Expires``, botocore's default for S3) and Signature Version 2 headers are refused with a message
  naming them (:func:`.authenticate.detect_scheme`).
* Errors carry the fields of every other scheme in the XML shapes botocore parses (S3's ``<Error>``, the
  other services' ``<ErrorResponse>``; see :mod:`ram_middleware.authorizer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote

from .. import errors
from ..facts import RequestFacts
from .encoding import (
    SignedRequest,
    Signer,
    check_signed_set,
    check_unrepeated,
    one_header,
    parse_compact_time,
    pct,
    scoped_signer,
    scoped_signing_key,
    sha256_hex,
    single,
)
from .signature_v1 import check_content_md5

__all__ = ["ALGORITHM", "SCHEME", "canonical_query", "canonical_uri", "parse_aws4", "signer", "signing_key"]

SCHEME = "aws-v4"
ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ALWAYS_SIGNED = ("host", "x-amz-date")
SIGNED_WHEN_PRESENT = (
    "content-type",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-acs-action",
    "x-acs-version",
)
_FORMAT = (
    "The AWS4-HMAC-SHA256 Authorization header must hold Credential=<AccessKeyId>/<date>/<region>/<service>/"
    "aws4_request, SignedHeaders and Signature, once each."
)
_FIELDS = frozenset({"Credential", "SignedHeaders", "Signature"})


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The HMAC chain from ``"AWS4" + secret`` over date, region, service and ``aws4_request``."""
    return scoped_signing_key("AWS4" + secret, (date, region, service, TERMINATOR))


def signer(date: str, region: str, service: str) -> Signer:
    """``(secret, string_to_sign) -> hex signature`` for one credential scope."""
    return scoped_signer("AWS4", (date, region, service, TERMINATOR))


def canonical_uri(raw_path: str, service: str) -> str:
    """S3: the path as received; any other service: the path as received, percent-encoded once more."""
    path = raw_path or "/"
    if service == "s3":
        return path
    if _without_dot_segments(path) != path:
        raise errors.IncompleteSignature(
            "The request path has empty, '.' or '..' segments, which an AWS4 signature does not cover."
        )
    return pct(path, keep_slash=True)


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """``pct(name)=pct(value)`` sorted by the encoded name, then the encoded value, joined by ``&``."""
    encoded = sorted((pct(name), pct(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def parse_aws4(facts: RequestFacts, authorization: str) -> SignedRequest:
    """Parse an ``Authorization: AWS4-HMAC-SHA256 …`` request."""
    fields = _fields(authorization)
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or not all(scope) or scope[4] != TERMINATOR:
        raise errors.IncompleteSignature(_FORMAT)
    access_key_id, date, region, service, _ = scope
    index = facts.header_map
    names = fields["SignedHeaders"].split(";")
    _check_signed(index, names)
    check_unrepeated(index, names)
    amz_date = one_header(index, "x-amz-date")
    signed_at = parse_compact_time(amz_date)
    if amz_date[:8] != date:
        raise errors.SignatureMismatch(
            "Specified signature is not matched with our calculation: "
            "the credential scope date is not the date of X-Amz-Date."
        )
    payload = _payload_hash(facts, single(index.get("x-amz-content-sha256", ()), "X-Amz-Content-SHA256"))
    # botocore signs a Content-MD5 the caller passes: with UNSIGNED-PAYLOAD it is all that binds the body.
    check_content_md5(facts, facts.header("content-md5") or "")
    headers = "".join(f"{name}:{','.join(' '.join(v.split()) for v in index[name])}\n" for name in names)
    rest = (canonical_query(facts.query_pairs), headers, fields["SignedHeaders"], payload)
    canonical = "\n".join((facts.method, canonical_uri(facts.path, service), *rest))
    credential_scope = f"{date}/{region}/{service}/{TERMINATOR}"
    to_sign = _string_to_sign(amz_date, credential_scope, canonical)
    alternatives: tuple[str, ...] = ()
    # A server that passes no raw URI (wsgiref) leaves a path rebuilt from the decoded one; botocore's own
    # encoding of it (S3 keys: all but "/" and "~") is tried too. Both decode to the path the app reads.
    rebuilt = quote(facts.decoded_path, safe="/~")
    if rebuilt != facts.path and (service == "s3" or _without_dot_segments(rebuilt) == rebuilt):
        other = "\n".join((facts.method, canonical_uri(rebuilt, service), *rest))
        alternatives = (_string_to_sign(amz_date, credential_scope, other),)
    token = single(index.get("x-amz-security-token", ()), "X-Amz-Security-Token")
    parts = {"canonical_request": canonical, "scope": credential_scope, "string_to_sign": to_sign}
    return SignedRequest(
        SCHEME, access_key_id, fields["Signature"], to_sign, signer(date, region, service), signed_at,
        None, token, alternatives, parts,
    )  # fmt: skip


def _string_to_sign(amz_date: str, credential_scope: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{credential_scope}\n{sha256_hex(canonical)}"


def _fields(authorization: str) -> dict[str, str]:
    """Credential, SignedHeaders and Signature, each exactly once (two joined headers must not parse)."""
    _, _, rest = authorization.strip().partition(" ")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, equals, value = item.strip().partition("=")
        if not equals or key not in _FIELDS or key in fields or not value.strip():
            raise errors.IncompleteSignature(_FORMAT)
        fields[key] = value.strip()
    if len(fields) != len(_FIELDS):
        raise errors.IncompleteSignature(_FORMAT)
    return fields


def _check_signed(index: Mapping[str, tuple[str, ...]], names: list[str]) -> None:
    if names != sorted(set(names)) or any(name != name.lower() for name in names):
        raise errors.IncompleteSignature(
            "SignedHeaders must list lower-case header names, sorted, once each."
        )
    check_signed_set(index, names, ALWAYS_SIGNED, SIGNED_WHEN_PRESENT)


def _payload_hash(facts: RequestFacts, declared: str | None) -> str:
    if declared is None:
        return sha256_hex(facts.body)
    if declared == UNSIGNED_PAYLOAD:
        return declared
    if declared.startswith("STREAMING-"):
        raise errors.IncompleteSignature(
            "aws-chunked uploads (X-Amz-Content-SHA256: STREAMING-…) are not supported: configure the client "
            'with request_checksum_calculation="when_required" (botocore Config), or sign the body\'s '
            "SHA-256 or UNSIGNED-PAYLOAD."
        )
    if declared != sha256_hex(facts.body):
        raise errors.SignatureMismatch(
            "Specified signature is not matched with our calculation: "
            "X-Amz-Content-SHA256 is not the SHA-256 of the request body."
        )
    return declared


def _without_dot_segments(path: str) -> str:
    """botocore's ``remove_dot_segments``: empty and ``.`` segments dropped, ``..`` pops one."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and kept else ""
    return first + "/".join(kept) + last
