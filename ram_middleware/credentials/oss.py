"""OSS signatures: V1 (``OSS AK:sig``, HMAC-SHA1), V4 (``OSS4-HMAC-SHA256``), V1 and V4 presigned URLs.

Path-style requests (``/bucket/key``), as oss2 sends them to an IP or localhost endpoint, and
virtual-hosted-style requests (``Host: <bucket>.<domain>``, path ``/key``), oss2's default for any host-name
endpoint, when ``<domain>`` is one of the configured OSS domains (``RamConfig.oss_domains``,
``RAM_OSS_DOMAINS``). In every style oss2 signs the resource ``/bucket/key`` (``/bucket/`` for a bucket
operation), so for a virtual-hosted request the bucket comes from the Host header: exactly one Host header
(else IncompleteSignature), port stripped, lower-cased, read as ``<label>.<domain>`` where ``<domain>`` is
configured and ``<label>`` is a valid bucket name (3-63 of ``[a-z0-9-]``, not starting or ending with
``-``). Any other Host (a configured domain itself, another domain, an IP, a label that is no bucket name)
leaves the request path-style, as without domains. CNAME-addressed requests (oss2
``Bucket(..., is_cname=True)``: ``http://<cname-host>/<key>``, signing ``/bucket/key`` all the same) verify
when the Host, read as above, is a key of the configured map from CNAME host to bucket
(``RamConfig.oss_cnames``, ``RAM_OSS_CNAMES="files.example.com=rnd-bucket,..."``): the resource is then
``/<bucket>/`` plus the path. A CNAME host wins over the virtual-host rule; it may not also be a configured
domain. Decisions, chosen here:

* The Host header is the client's to choose, but the bucket it names is part of the signed resource: a
  request re-sent with another bucket's Host no longer matches its signature. Host therefore needs no
  trusted-proxy rule; a proxy in front must pass it through unchanged. As at OSS, the signature does not
  bind the addressing style: the same request re-sent path-style (``/bucket/key``) still verifies, for the
  same bucket and key.
* A virtual-hosted path holds no bucket, so the authorizer fills a route's ``{bucket}`` from the Host
  (:func:`host_bucket`), for every scheme, and refuses a route that captures a different bucket from its
  path; an OSS-signed request whose Host names no bucket takes ``{bucket}`` only from the route, never
  from the (unsigned) query.
* No domains and no CNAMEs configured (the default) costs one check per request (:func:`host_bucket`
  returns None at once); only OSS signatures then read the Host.

V1 presigned URLs (oss2 ``Bucket.sign_url``: ``?OSSAccessKeyId=AK&Expires=<epoch>&Signature=<b64>``, plus
``security-token=`` for STS credentials) sign the V1 string with the ``Expires`` value on the Date line;
``security-token`` is a signed sub-resource. Expiry rules, chosen here:

* valid while ``now <= Expires``; after that the request is refused with ``InvalidTimeStamp.Expired``
  (HTTP 403, as OSS answers an expired URL). The ±max_skew window and the nonce guard of the header
  schemes do not apply: a presigned URL is meant to be replayed by whoever holds it until it expires.
* no upper bound on ``Expires`` (OSS does not cap V1 either): revoking or disabling the AccessKey, or the
  STS token's own expiry, ends a long-lived URL. ``Expires`` must be 1-11 ASCII digits (else
  ``InvalidTimeStamp.Format``), which keeps absurd values out without capping real ones.
* oss2 puts ``x-oss-date`` (when the caller passes it as a header) on the Date line instead of Expires;
  such URLs are refused, since Expires would then not be signed.

V1 signs the decoded key and the sub-resources joined unescaped, so ``/bkt/a%3Facl`` (key ``a?acl``) and
``/bkt/a?acl`` (GetObjectAcl of ``a``) share one string to sign, as do a sub-resource value holding
``&tagging`` and a separate ``tagging``. The reading with the ``?`` in the key or the ``&`` in the value
(followed by a sub-resource name) is refused (``IncompleteSignature``, header and presigned alike): an
ordinary request cannot be re-sent as it. The converse cannot be caught: a client that signs such a key or
value with V1 also signs the ordinary reading; V4 encodes both parts and has no such pairs.

V4 presigned URLs (oss2 ``ProviderAuthV4`` ``Bucket.sign_url``: ``?x-oss-signature-version=OSS4-HMAC-SHA256
&x-oss-credential=AK/<yyyymmdd>/<region>/<product>/aliyun_v4_request&x-oss-date=<yyyymmddTHHMMSSZ>
&x-oss-expires=<seconds>[&x-oss-additional-headers=…][&x-oss-security-token=…]&x-oss-signature=<hex>``)
sign the same canonical request as the header form, whose query is every parameter but ``x-oss-signature``
(so, unlike V1, no parameter can be added unsigned); the payload hash is ``UNSIGNED-PAYLOAD`` unless an
``x-oss-content-sha256`` header says otherwise. Expiry rules, chosen here:

* valid while ``now <= x-oss-date + x-oss-expires``, then ``InvalidTimeStamp.Expired`` (HTTP 403), as V1.
* ``x-oss-expires`` must be a whole number of seconds from 1 to 604800 (7 days, the OSS limit), else
  ``InvalidTimeStamp.Format`` (HTTP 400, the code V1 gives a malformed Expires).
* an ``x-oss-date`` more than max_skew ahead of the server's clock is refused with
  ``InvalidTimeStamp.Expired`` (HTTP 403, one answer for every presigned URL refused for its time):
  otherwise a key holder could sign a far-future date and stretch the 7-day limit at will. The
  credential scope date must be x-oss-date's date (else ``SignatureDoesNotMatch``, as the header form).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from .. import errors
from ..facts import RequestFacts
from .encoding import (
    SignedRequest,
    Signer,
    b64_hmac_sha1,
    check_unrepeated,
    parse_compact_time,
    parse_http_date,
    pct,
    prefixed_headers,
    require,
    scoped_signer,
    scoped_signing_key,
    sha256_hex,
    single,
)
from .signature_v1 import check_content_md5

__all__ = [
    "PRESIGN_MARKER",
    "SUBRESOURCES",
    "V4_PRESIGN_MARKERS",
    "host_bucket",
    "parse_oss_v1",
    "parse_oss_v1_query",
    "parse_oss_v4",
    "parse_oss_v4_query",
    "resource_path",
    "signed_resource_path",
    "v1_canonicalized_resource",
    "v1_signature",
    "v1_string_to_sign",
    "v4_canonical_headers",
    "v4_canonical_query",
    "v4_signer",
    "v4_signing_key",
    "validated_cnames",
    "validated_domains",
]

SCHEME_V1 = "oss-v1"
SCHEME_V4 = "oss-v4"
SCHEME_V1_QUERY = "oss-v1-query"
# The query parameter that makes a request a V1 presigned URL (then Expires and Signature are required).
PRESIGN_MARKER = "OSSAccessKeyId"
_EXPIRES = re.compile(r"[0-9]{1,11}").fullmatch
V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_TERMINATOR = "aliyun_v4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# wsgiref reports this Content-Type for a request that sent none, and oss2 sends none for a key whose type it
# cannot guess: with exactly this type, the string without it is tried too (the type changes nothing the
# check reads, and an OSS body is only as signed as its Content-MD5).
_WSGIREF_DEFAULT_TYPE = "text/plain"
V4_DEFAULT_SIGNED = ("content-type", "content-md5")
SCHEME_V4_QUERY = "oss-v4-query"
# Query parameters that make a request a V4 presigned URL (then every x-oss-* field below is required).
V4_PRESIGN_MARKERS = frozenset({"x-oss-signature-version", "x-oss-credential"})
V4_MAX_EXPIRES = 7 * 24 * 3600
_V4_EXPIRES = re.compile(r"[0-9]{1,6}").fullmatch
_V4_SIGNATURE = "x-oss-signature"

# The query parameters V1 signs (oss2 2.19 ``ProviderAuth._subresource_key_set``); all others are not signed.
# fmt: off
SUBRESOURCES = frozenset({
    "response-content-type", "response-content-language", "response-cache-control", "logging",
    "response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link", "delete",
    "website", "location", "objectInfo", "objectMeta", "response-expires",
    "response-content-disposition", "cors", "lifecycle", "restore", "qos", "referer", "stat",
    "bucketInfo", "append", "position", "security-token", "live", "comp", "status", "vod", "startTime",
    "endTime", "x-oss-process", "symlink", "callback", "callback-var", "tagging", "encryption",
    "versions", "versioning", "versionId", "policy", "requestPayment", "x-oss-traffic-limit", "qosInfo",
    "asyncFetch", "x-oss-request-payer", "sequential", "inventory", "inventoryId", "continuation-token",
    "worm", "wormId", "wormExtend", "replication", "replicationLocation", "replicationProgress",
    "transferAcceleration", "cname", "metaQuery", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id", "x-oss-ac-forward-allow", "resourceGroup", "style", "styleName",
    "x-oss-async-process", "regionList", "x-oss-write-get-object-response", "bucketArchiveDirectRead",
    "httpsConfig", "redundancyTransition", "x-oss-target-redundancy-type",
    "x-oss-redundancy-transition-taskid", "accessPoint", "accessPointPolicy", "publicAccessBlock",
    "x-oss-access-point-name", "requesterQosInfo", "qosRequester", "resourcePoolInfo", "resourcePool",
    "resourcePoolBuckets",
})
# fmt: on


def resource_path(decoded_path: str) -> str:
    """``/bucket/key`` as signed: ``/`` without a bucket, ``/bucket/`` for a bucket operation."""
    if decoded_path in ("", "/"):
        return "/"
    if decoded_path.count("/") == 1:  # "/bucket" -> "/bucket/"
        return decoded_path + "/"
    return decoded_path


_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]").fullmatch
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?").fullmatch
_NO_DOMAINS: frozenset[str] = frozenset()
_NO_CNAMES: Mapping[str, str] = MappingProxyType({})
_Hosts = tuple[frozenset[str], Mapping[str, str]]  # (domains, cnames), as signed_resource_path takes them


def _host_name(entry: object) -> str | None:
    """``entry`` stripped and lower-cased if it is a host name (no port, scheme, wildcard, IP address or
    empty label), else None."""
    host = str(entry).strip().lower()
    labels = host.split(".")
    # The last label all digits would be an IPv4 address (no top-level domain is numeric).
    if len(host) > 253 or not all(map(_LABEL, labels)) or labels[-1].isdigit():
        return None
    return host


def validated_domains(entries: Iterable[str]) -> tuple[str, ...]:
    """The OSS domains lower-cased, in order, without repeats; InvalidParameter("OssDomains") for an entry
    that is no host name (a port, scheme, wildcard, IP address or empty label)."""
    found: dict[str, None] = {}
    for entry in entries:
        domain = _host_name(entry)
        if domain is None:
            raise errors.InvalidParameter(
                "OssDomains",
                f"{entry!r} is not an OSS domain: give a host name such as oss.example.com "
                "(no scheme, port, wildcard or IP address).",
            )
        found[domain] = None
    return tuple(found)


def validated_cnames(entries: Mapping[str, str] | str, domains: Iterable[str] = ()) -> Mapping[str, str]:
    """The map from CNAME host to bucket, hosts lower-cased, read-only. ``entries``: a mapping, or the
    ``RAM_OSS_CNAMES`` text (``host=bucket`` pairs, comma-separated). InvalidParameter("OssCnames") for a
    host that is no host name (as for :func:`validated_domains`), is given twice or is one of ``domains``,
    for a bucket that is no bucket name, or for a text pair without ``=``."""
    if isinstance(entries, str):
        pairs = [piece.partition("=") for piece in entries.split(",") if piece.strip()]
        bad = next((host for host, equals, _ in pairs if not equals), None)
        if bad is not None:
            raise errors.InvalidParameter("OssCnames", f"{bad.strip()!r} is not a host=bucket pair.")
        items: Iterable[tuple[str, str]] = [(host, bucket) for host, _, bucket in pairs]
    elif isinstance(entries, Mapping):
        items = entries.items()
    else:  # e.g. a list from a Flask config file: say so rather than fail on .items()
        raise errors.InvalidParameter("OssCnames", "must map host to bucket, or be host=bucket text.")
    taken = {domain.lower() for domain in domains}
    found: dict[str, str] = {}
    for entry, name in items:
        host, bucket = _host_name(entry), str(name).strip()
        if host is None or host in taken or host in found:
            why = (
                "is no host name" if host is None else "is an OSS domain" if host in taken else "is repeated"
            )
            raise errors.InvalidParameter("OssCnames", f"CNAME {entry!r} {why}.")
        if _BUCKET_NAME(bucket) is None:
            raise errors.InvalidParameter("OssCnames", f"CNAME {entry!r}: {name!r} is not a bucket name.")
        found[host] = bucket
    return MappingProxyType(found)


def host_bucket(
    facts: RequestFacts, domains: frozenset[str] = _NO_DOMAINS, cnames: Mapping[str, str] = _NO_CNAMES
) -> str | None:
    """The bucket the Host names: the one ``cnames`` maps it to (CNAME style), or its first label when the
    Host is ``<bucket>.<domain>`` for one of ``domains`` (virtual-hosted style); None otherwise."""
    if not domains and not cnames:
        return None
    host = single(facts.header_values("host"), "Host")
    if host is None or not host.isascii():  # no Unicode case folding into an ASCII bucket name
        return None
    # An absolute name ("bkt.oss.example.com.") is the same host to DNS and to an app that strips the dot.
    name = host.partition(":")[0].lower().removesuffix(".")
    bucket = cnames.get(name)
    if bucket is None:
        label, _, domain = name.partition(".")
        bucket = label if domain in domains and _BUCKET_NAME(label) is not None else None
    return bucket


def signed_resource_path(
    facts: RequestFacts, domains: frozenset[str] = _NO_DOMAINS, cnames: Mapping[str, str] = _NO_CNAMES
) -> str:
    """The ``/bucket/key`` an OSS client signed: with the bucket from the Host (:func:`host_bucket`) when
    it names one, else from the path (:func:`resource_path`)."""
    bucket = host_bucket(facts, domains, cnames)
    if bucket is not None:
        return f"/{bucket}/{facts.decoded_path.removeprefix('/')}"
    return resource_path(facts.decoded_path)


def _name_or_pair(name: str, value: str) -> str:
    return f"{name}={value}" if value else name


def _check_signed_headers_unrepeated(facts: RequestFacts, additional: Iterable[str]) -> None:
    """No x-oss-*, Content-Type, Content-MD5 or additional header more than once (oss2 never repeats one)."""
    index = facts.header_map
    if len(index) == len(facts.headers):  # no header repeats: the common case, one comparison
        return
    wanted = {*V4_DEFAULT_SIGNED, *additional}
    check_unrepeated(index, [name for name in index if name.startswith("x-oss-") or name in wanted])


# --- V1 --------------------------------------------------------------------------------------------------


def v1_canonicalized_resource(resource: str, pairs: Iterable[tuple[str, str]]) -> str:
    """The resource plus ``?`` and the signed sub-resources sorted by name (values decoded)."""
    subresources = sorted((name, value) for name, value in pairs if name in SUBRESOURCES)
    if not subresources:
        return resource
    return resource + "?" + "&".join([_name_or_pair(name, value) for name, value in subresources])


def _starts_with_subresource(text: str) -> bool:
    return text.partition("&")[0].partition("=")[0] in SUBRESOURCES


def _check_v1_unambiguous(resource: str, pairs: Iterable[tuple[str, str]]) -> None:
    """IncompleteSignature for a request whose V1 canonicalized resource is also another request's: a ``?``
    in the decoded path, or an ``&`` in a signed sub-resource value, followed by a sub-resource name (key
    ``a?acl`` reads as key ``a`` with ``?acl``; ``response-content-type=x&tagging`` as two sub-resources).
    V1 joins these parts unescaped, so one signature serves both readings; refusing the one holding such
    text keeps an ordinary signed request (PutBucketAcl: ``/bkt/?acl``) from being re-sent as the other
    (PutObject of key ``?acl``)."""
    values = [value for name, value in pairs if name in SUBRESOURCES and "&" in value]
    if ("?" in resource and any(map(_starts_with_subresource, resource.split("?")[1:]))) or any(
        _starts_with_subresource(piece) for value in values for piece in value.split("&")[1:]
    ):
        raise errors.IncompleteSignature(
            "An OSS V1 signature does not tell this request from another one: a '?' in the object key or "
            "an '&' in a sub-resource value is followed by a sub-resource name. Sign it with "
            "OSS4-HMAC-SHA256 instead."
        )


def v1_string_to_sign(
    method: str, md5: str, content_type: str, date: str, oss_headers: str, resource: str
) -> str:
    """VERB, Content-MD5, Content-Type and Date lines, then the x-oss-* headers and the resource."""
    return f"{method}\n{md5}\n{content_type}\n{date}\n{oss_headers}{resource}"


def v1_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 keyed with the bare secret."""
    return b64_hmac_sha1(secret, string_to_sign)


def parse_oss_v1(
    facts: RequestFacts,
    authorization: str,
    *,
    domains: frozenset[str] = _NO_DOMAINS,
    cnames: Mapping[str, str] = _NO_CNAMES,
) -> SignedRequest:
    """Parse ``Authorization: OSS <AccessKeyId>:<signature>`` (``domains``, ``cnames``:
    :func:`signed_resource_path`)."""
    _, _, credential = authorization.partition(" ")
    access_key_id, colon, provided = credential.strip().partition(":")
    if not colon or not access_key_id or not provided:
        raise errors.IncompleteSignature(
            'The Authorization header must read "OSS <AccessKeyId>:<Signature>".'
        )
    oss_date = single(facts.header_values("x-oss-date"), "x-oss-date")
    date = oss_date or require(single(facts.header_values("date"), "Date"), "Date")
    token = single(facts.header_values("x-oss-security-token"), "x-oss-security-token")
    hosts = (domains, cnames)
    return _v1_request(facts, hosts, SCHEME_V1, access_key_id, provided, date, parse_http_date(date), token)


def parse_oss_v1_query(
    facts: RequestFacts, *, domains: frozenset[str] = _NO_DOMAINS, cnames: Mapping[str, str] = _NO_CNAMES
) -> SignedRequest:
    """Parse a V1 presigned URL: ``?OSSAccessKeyId=…&Expires=<epoch>&Signature=…[&security-token=…]``."""
    access_key_id = require(_query_value(facts, PRESIGN_MARKER), PRESIGN_MARKER)
    provided = require(_query_value(facts, "Signature"), "Signature")
    expires = require(_query_value(facts, "Expires"), "Expires")
    if _EXPIRES(expires) is None:
        raise errors.BadTimestamp("Expires must be a POSIX time in seconds (1 to 11 digits).")
    if facts.header("x-oss-date") is not None:
        # oss2 would sign x-oss-date instead of Expires; accepting that would leave the expiry unsigned.
        raise errors.IncompleteSignature("A presigned URL must not carry an x-oss-date header.")
    token = _presigned_token(facts, "security-token")
    expires_at = float(expires)
    hosts = (domains, cnames)
    return _v1_request(
        facts, hosts, SCHEME_V1_QUERY, access_key_id, provided, expires, expires_at, token, expires_at
    )


def _presigned_token(facts: RequestFacts, name: str) -> str | None:
    """A presigned URL's SecurityToken: the ``name`` parameter, else an x-oss-security-token header (both
    signed); IncompleteSignature when the two differ."""
    token = _query_value(facts, name)
    header_token = single(facts.header_values("x-oss-security-token"), "x-oss-security-token")
    if header_token is not None and token is not None and header_token != token:
        raise errors.IncompleteSignature(f"The {name} parameter and x-oss-security-token differ.")
    return token or header_token


def _query_value(facts: RequestFacts, name: str) -> str | None:
    """The only value of a query parameter; IncompleteSignature if it repeats (which one was signed?)."""
    values = [value for key, value in facts.query_pairs if key == name]
    if len(values) > 1:
        raise errors.IncompleteSignature(f'The parameter "{name}" appears more than once.')
    return values[0] if values else None


def _v1_request(
    facts: RequestFacts,
    hosts: _Hosts,
    scheme: str,
    access_key_id: str,
    provided: str,
    date_line: str,
    signed_at: float,
    security_token: str | None,
    expires_at: float | None = None,
) -> SignedRequest:
    """The V1 string to sign (header or presigned form: they differ only in the Date line)."""
    _check_signed_headers_unrepeated(facts, ())
    md5 = facts.header("content-md5") or ""
    check_content_md5(facts, md5)
    oss_headers = prefixed_headers(facts.headers, "x-oss-")
    path = signed_resource_path(facts, *hosts)
    _check_v1_unambiguous(path, facts.query_pairs)
    resource = v1_canonicalized_resource(path, facts.query_pairs)
    to_sign = v1_string_to_sign(facts.method, md5, facts.content_type, date_line, oss_headers, resource)
    alternatives: tuple[str, ...] = ()
    if facts.content_type == _WSGIREF_DEFAULT_TYPE:  # perhaps wsgiref's, for an upload that sent none
        alternatives = (v1_string_to_sign(facts.method, md5, "", date_line, oss_headers, resource),)
    return SignedRequest(
        scheme=scheme,
        access_key_id=access_key_id,
        signature=provided,
        string_to_sign=to_sign,
        signer=v1_signature,
        signed_at=signed_at,
        security_token=security_token,
        alternatives=alternatives,
        parts={
            "canonicalized_oss_headers": oss_headers,
            "canonicalized_resource": resource,
            "string_to_sign": to_sign,
        },
        expires_at=expires_at,
    )


# --- V4 --------------------------------------------------------------------------------------------------


def v4_canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Every parameter, ``pct(name)[=pct(value)]`` sorted by encoded name; an empty value gives the name."""
    encoded = sorted([(pct(name), pct(value)) for name, value in pairs])
    return "&".join([_name_or_pair(name, value) for name, value in encoded])


def v4_canonical_headers(headers: Iterable[tuple[str, str]], additional: Iterable[str]) -> str:
    """x-oss-*, content-type, content-md5 and the additional headers: ``name:value\\n``, sorted."""
    wanted = set(additional)
    found: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key.startswith("x-oss-") or key in V4_DEFAULT_SIGNED or key in wanted:
            found[key] = f"{found[key]},{value.strip()}" if key in found else value.strip()
    return "".join(f"{key}:{found[key]}\n" for key in sorted(found))


def v4_signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    """HMAC chain over date, region, product and ``aliyun_v4_request`` from ``"aliyun_v4" + secret``."""
    return scoped_signing_key("aliyun_v4" + secret, (date, region, product, V4_TERMINATOR))


def v4_signer(date: str, region: str, product: str) -> Signer:
    """``(secret, string_to_sign) -> hex signature`` for one credential scope."""
    return scoped_signer("aliyun_v4", (date, region, product, V4_TERMINATOR))


def _v4_fields(authorization: str) -> dict[str, str]:
    _, _, rest = authorization.strip().partition(" ")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, equals, value = item.strip().partition("=")
        if equals:
            fields[key] = value.strip()
    return fields


def _v4_scope(credential: str, message: str) -> list[str]:
    """``[AccessKeyId, date, region, product, "aliyun_v4_request"]``; IncompleteSignature(message) else."""
    parts = credential.rsplit("/", 4)
    if len(parts) != 5 or not all(parts) or parts[4] != V4_TERMINATOR:
        raise errors.IncompleteSignature(message)
    return parts


_V4_HEADER_FORMAT = (
    "The OSS4-HMAC-SHA256 Authorization header needs "
    "Credential=<AccessKeyId>/<date>/<region>/<product>/aliyun_v4_request and Signature."
)


def parse_oss_v4(
    facts: RequestFacts,
    authorization: str,
    *,
    domains: frozenset[str] = _NO_DOMAINS,
    cnames: Mapping[str, str] = _NO_CNAMES,
) -> SignedRequest:
    """Parse ``Authorization: OSS4-HMAC-SHA256 Credential=AK/date/region/oss/aliyun_v4_request, …``."""
    fields = _v4_fields(authorization)
    if not fields.get("Signature"):
        raise errors.IncompleteSignature(_V4_HEADER_FORMAT)
    scope = _v4_scope(fields.get("Credential", ""), _V4_HEADER_FORMAT)
    oss_date = require(single(facts.header_values("x-oss-date"), "x-oss-date"), "x-oss-date")
    token = single(facts.header_values("x-oss-security-token"), "x-oss-security-token")
    additional = fields.get("AdditionalHeaders", "")
    hosts = (domains, cnames)
    return _v4_request(
        facts, hosts, SCHEME_V4, scope, oss_date, fields["Signature"], additional, facts.query_pairs, token
    )


def parse_oss_v4_query(
    facts: RequestFacts, *, domains: frozenset[str] = _NO_DOMAINS, cnames: Mapping[str, str] = _NO_CNAMES
) -> SignedRequest:
    """Parse a V4 presigned URL: ``?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=…
    &x-oss-date=…&x-oss-expires=…[&x-oss-additional-headers=…][&x-oss-security-token=…]&x-oss-signature=…``."""
    version = require(_query_value(facts, "x-oss-signature-version"), "x-oss-signature-version")
    if version != V4_ALGORITHM:
        raise errors.UnsupportedSignatureMethod(
            f"Presigned URLs support x-oss-signature-version {V4_ALGORITHM} (or V1's OSSAccessKeyId)."
        )
    scope = _v4_scope(
        require(_query_value(facts, "x-oss-credential"), "x-oss-credential"),
        "x-oss-credential must read <AccessKeyId>/<date>/<region>/<product>/aliyun_v4_request.",
    )
    oss_date = require(_query_value(facts, "x-oss-date"), "x-oss-date")
    expires = require(_query_value(facts, "x-oss-expires"), "x-oss-expires")
    if _V4_EXPIRES(expires) is None or not 1 <= int(expires) <= V4_MAX_EXPIRES:
        raise errors.BadTimestamp(
            f"x-oss-expires must be a whole number of seconds from 1 to {V4_MAX_EXPIRES} (7 days)."
        )
    provided = require(_query_value(facts, _V4_SIGNATURE), _V4_SIGNATURE)
    additional = _query_value(facts, "x-oss-additional-headers") or ""
    token = _presigned_token(facts, "x-oss-security-token")
    signed_pairs = [(name, value) for name, value in facts.query_pairs if name != _V4_SIGNATURE]
    return _v4_request(
        facts,
        (domains, cnames),
        SCHEME_V4_QUERY,
        scope,
        oss_date,
        provided,
        additional,
        signed_pairs,
        token,
        int(expires),
    )


def _v4_request(
    facts: RequestFacts,
    hosts: _Hosts,
    scheme: str,
    scope_parts: list[str],
    oss_date: str,
    provided: str,
    additional_headers: str,
    signed_pairs: Iterable[tuple[str, str]],
    security_token: str | None,
    expires_in: int | None = None,
) -> SignedRequest:
    """The V4 string to sign (header or presigned form: they differ in where the fields come from and in
    the query signed); ``expires_in`` seconds after x-oss-date marks a presigned URL."""
    access_key_id, date, region, product, _ = scope_parts
    signed_at = parse_compact_time(oss_date)
    if oss_date[:8] != date:
        raise errors.SignatureMismatch(
            "Specified signature is not matched with our calculation: "
            "the credential scope date is not the date of x-oss-date."
        )
    check_content_md5(facts, facts.header("content-md5") or "")
    payload = single(facts.header_values("x-oss-content-sha256"), "x-oss-content-sha256") or UNSIGNED_PAYLOAD
    if payload != UNSIGNED_PAYLOAD and payload != sha256_hex(facts.body):
        raise errors.SignatureMismatch(
            "Specified signature is not matched with our calculation: "
            "x-oss-content-sha256 is not the SHA-256 of the request body."
        )
    additional = sorted(name.lower() for name in additional_headers.split(";") if name)
    _check_signed_headers_unrepeated(facts, additional)
    head = (
        facts.method,
        pct(signed_resource_path(facts, *hosts), keep_slash=True),
        v4_canonical_query(signed_pairs),
    )
    tail = (";".join(additional), payload)
    canonical = "\n".join((*head, v4_canonical_headers(facts.headers, additional), *tail))
    scope = f"{date}/{region}/{product}/{V4_TERMINATOR}"
    to_sign = f"{V4_ALGORITHM}\n{oss_date}\n{scope}\n{sha256_hex(canonical)}"
    alternatives: tuple[str, ...] = ()
    if facts.content_type == _WSGIREF_DEFAULT_TYPE and "content-type" not in additional:  # as in V1
        without = [(name, value) for name, value in facts.headers if name.lower() != "content-type"]
        other = "\n".join((*head, v4_canonical_headers(without, additional), *tail))
        alternatives = (f"{V4_ALGORITHM}\n{oss_date}\n{scope}\n{sha256_hex(other)}",)
    return SignedRequest(
        scheme=scheme,
        access_key_id=access_key_id,
        signature=provided,
        string_to_sign=to_sign,
        signer=v4_signer(date, region, product),
        signed_at=signed_at,
        security_token=security_token,
        alternatives=alternatives,
        parts={"canonical_request": canonical, "scope": scope, "string_to_sign": to_sign},
        expires_at=None if expires_in is None else signed_at + expires_in,
    )
