"""Building signed RequestFacts in tests, from the shared canonicalisation code (the vectors pin it down)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from ram_middleware.client import RequestSigner
from ram_middleware.credentials import acs3, oss, signature_v1
from ram_middleware.credentials.encoding import (
    content_md5,
    format_http_date,
    format_iso8601,
    new_nonce,
    pct,
    prefixed_headers,
    sha256_hex,
)
from ram_middleware.facts import RequestFacts, parse_pairs

from .identities import AK, SECRET

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
HOST = "127.0.0.1:18765"


def facts_from(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> RequestFacts:
    parts = urlsplit(url)
    return RequestFacts(method, parts.path or "/", parts.query, tuple(headers), body, "127.0.0.1")


def signed(
    scheme: str = "acs3",
    *,
    access_key_id: str = AK,
    secret: str = SECRET,
    token: str | None = None,
    method: str = "POST",
    query: str = "Action=GetUser&Version=2015-05-01&UserName=alice",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    when: datetime = NOW,
    nonce: str | None = None,
) -> RequestFacts:
    """A request signed by the client signer (``scheme`` "acs3" or "v1")."""
    signer = RequestSigner(
        access_key_id,
        secret,
        security_token=token,
        scheme="v1" if scheme == "v1" else "acs3",
        clock=lambda: when,
        nonce=(lambda: nonce) if nonce else new_nonce,
    )
    base = [("host", HOST), ("accept", "application/json"), *headers]
    url = f"http://{HOST}/?{query}" if query else f"http://{HOST}/"
    result = signer.sign(method, url, base, body)
    merged = {name.lower(): value for name, value in base}
    merged.update(result.headers)
    return facts_from(method, result.url, merged.items(), body)


def acs3_facts(
    headers: dict[str, str],
    signed_names: Sequence[str],
    *,
    method: str = "POST",
    path: str = "/",
    query: str = "",
    body: bytes = b"",
    access_key_id: str = AK,
    secret: str = SECRET,
    payload_hash: str | None = None,
) -> RequestFacts:
    """An ACS3 request signing exactly ``signed_names`` (in that order) out of ``headers``."""
    payload = payload_hash if payload_hash is not None else sha256_hex(body)
    names = list(signed_names)
    canonical = acs3.canonical_request(
        method,
        acs3.canonical_uri(path),
        acs3.canonical_query(parse_pairs(query)),
        acs3.canonical_headers(names, [(headers[name],) for name in names]),
        ";".join(names),
        payload,
    )
    sig = acs3.signature(secret, acs3.string_to_sign(canonical))
    all_headers = {**headers, "authorization": acs3.authorization(access_key_id, ";".join(names), sig)}
    return RequestFacts(method, path, query, tuple(all_headers.items()), body, "127.0.0.1")


def acs3_headers(when: datetime = NOW, body: bytes = b"", **extra: str) -> dict[str, str]:
    return {
        "host": HOST,
        "x-acs-action": "GetUser",
        "x-acs-version": "2015-05-01",
        "x-acs-date": format_iso8601(when),
        "x-acs-signature-nonce": new_nonce(),
        "x-acs-content-sha256": sha256_hex(body),
        **{name.replace("_", "-"): value for name, value in extra.items()},
    }


def roa_facts(
    *,
    method: str = "GET",
    path: str = "/clusters/c1/nodes",
    query: str = "pageSize=10",
    body: bytes = b"",
    extra: dict[str, str] | None = None,
    access_key_id: str = AK,
    secret: str = SECRET,
    when: datetime = NOW,
    empty_with_equals: bool = False,
    md5: str | None = None,
    sign_encoded_path: bool = False,
) -> RequestFacts:
    """A ROA request (``acs AK:sig``), signed like aliyun-python-sdk-core (or Tea, for empty values)."""
    headers = {
        "host": HOST,
        "accept": "application/json",
        "date": format_http_date(when),
        "x-acs-signature-method": "HMAC-SHA1",
        "x-acs-signature-version": "1.0",
        "x-acs-version": "2015-12-15",
        **(extra or {}),
    }
    if body:
        headers["content-type"] = "application/json"
        headers["content-md5"] = md5 if md5 is not None else content_md5(body)
    resource = signature_v1.canonicalized_resource(
        path, parse_pairs(query), empty_with_equals=empty_with_equals
    )
    to_sign = signature_v1.roa_string_to_sign(
        method,
        headers["accept"],
        headers.get("content-md5", ""),
        headers.get("content-type", ""),
        headers["date"],
        prefixed_headers(headers.items(), "x-acs-"),
        resource,
    )
    headers["authorization"] = f"acs {access_key_id}:{signature_v1.roa_signature(secret, to_sign)}"
    return RequestFacts(method, pct(path, keep_slash=True), query, tuple(headers.items()), body, "127.0.0.1")


def oss_v4_facts(
    *,
    method: str = "GET",
    path: str = "/examplebucket/a.txt",
    query: str = "",
    body: bytes = b"",
    payload: str = oss.UNSIGNED_PAYLOAD,
    when: datetime = NOW,
    scope_date: str | None = None,
    access_key_id: str = AK,
    secret: str = SECRET,
) -> RequestFacts:
    """An OSS V4 request signed as oss2 AuthV4 does."""
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    date = scope_date or stamp[:8]
    headers = {"host": HOST, "x-oss-date": stamp, "x-oss-content-sha256": payload}
    canonical = "\n".join(
        (
            method,
            pct(oss.resource_path(path), keep_slash=True),
            oss.v4_canonical_query(parse_pairs(query)),
            oss.v4_canonical_headers(headers.items(), ()),
            "",
            payload,
        )
    )
    scope = f"{date}/cn-hangzhou/oss/aliyun_v4_request"
    to_sign = f"OSS4-HMAC-SHA256\n{stamp}\n{scope}\n{sha256_hex(canonical)}"
    sig = oss.v4_signer(date, "cn-hangzhou", "oss")(secret, to_sign)
    headers["authorization"] = f"OSS4-HMAC-SHA256 Credential={access_key_id}/{scope}, Signature={sig}"
    return RequestFacts(method, pct(path, keep_slash=True), query, tuple(headers.items()), body, "127.0.0.1")
