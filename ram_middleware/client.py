"""Sign outgoing requests the way the official SDKs do, for callers that use ``requests`` or ``httpx``.

``RamAuth`` is both a ``requests`` auth (``requests.get(url, auth=RamAuth(...))``) and an ``httpx`` auth
(``httpx.Client(auth=RamAuth(...))``). It signs with ACS3-HMAC-SHA256 (default) or RPC signature v1, with a
long-term AccessKey or STS credentials (AccessKeyId ``STS.…`` plus ``security_token``). Every attempt gets a
fresh nonce and timestamp, so retries never trip the server's replay guard. The canonical forms come from
:mod:`ram_middleware.credentials`, the same code the server verifies with.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import requests

from . import errors
from .credentials import acs3, signature_v1
from .credentials.encoding import format_iso8601, new_nonce, pct, sha256_hex
from .facts import parse_pairs

__all__ = ["RamAuth", "RequestSigner", "SignedParts"]

Scheme = Literal["acs3", "v1"]
_FORM_TYPE = "application/x-www-form-urlencoded"
# Parameters v1 signing adds; stale copies (a re-signed request) are dropped first.
_V1_PARAMS = frozenset(
    {
        "Signature",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
        "SecurityToken",
    }
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SignedParts:
    """What to send: the (possibly rewritten) URL and the headers to set on the request."""

    url: str
    headers: dict[str, str] = field(repr=False)


class RequestSigner:
    """Framework-free signer: ``sign(method, url, headers, body)`` -> :class:`SignedParts`."""

    def __init__(
        self,
        access_key_id: str,
        secret: str,
        *,
        security_token: str | None = None,
        scheme: Scheme = "acs3",
        clock: Callable[[], datetime] = _utc_now,
        nonce: Callable[[], str] = new_nonce,
    ) -> None:
        if scheme not in ("acs3", "v1"):
            raise errors.InvalidParameter("Scheme", 'scheme must be "acs3" or "v1".')
        self.access_key_id = access_key_id
        self._secret = secret
        self._token = security_token or None
        self.scheme: Scheme = scheme
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"RequestSigner(access_key_id={self.access_key_id!r}, scheme={self.scheme!r})"

    def sign(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> SignedParts:
        """Sign one request; ``headers`` are those already set (content-type and x-acs-* are signed too)."""
        method = method.upper()
        if self.scheme == "v1":
            return self._sign_v1(method, url, headers, body)
        return self._sign_acs3(method, url, headers, body)

    def _sign_v1(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> SignedParts:
        parts = urlsplit(url)
        query = [pair for pair in parse_pairs(parts.query) if pair[0] not in _V1_PARAMS]
        query += [
            ("AccessKeyId", self.access_key_id),
            ("SignatureMethod", signature_v1.SIGNATURE_METHOD),
            ("SignatureVersion", signature_v1.SIGNATURE_VERSION),
            ("SignatureNonce", self._nonce()),
            ("Timestamp", format_iso8601(self._clock())),
        ]
        if self._token:
            query.append(("SecurityToken", self._token))
        content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
        form = parse_pairs(body) if body and content_type.lower().startswith(_FORM_TYPE) else ()
        canonical = signature_v1.canonicalized_query([*query, *form])
        string_to_sign = signature_v1.rpc_string_to_sign(method, canonical, parts.path or "/")
        query.append(("Signature", signature_v1.rpc_signature(self._secret, string_to_sign)))
        encoded = "&".join(f"{pct(name)}={pct(value)}" for name, value in query)
        return SignedParts(urlunsplit(parts._replace(query=encoded)), {})

    def _sign_acs3(
        self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> SignedParts:
        parts = urlsplit(url)
        added = {
            "host": parts.netloc.rpartition("@")[2],
            "x-acs-date": format_iso8601(self._clock()),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": sha256_hex(body),
        }
        if self._token:
            added["x-acs-security-token"] = self._token
            added["x-acs-accesskey-id"] = self.access_key_id
        signed: dict[str, list[str]] = {}
        for name, value in headers:
            key = name.lower()
            if (key == "content-type" or key.startswith("x-acs-")) and key not in added:
                signed.setdefault(key, []).append(value)
        for key, value in added.items():
            signed[key] = [value]
        names = sorted(signed)
        signed_headers = ";".join(names)
        canonical = acs3.canonical_request(
            method,
            acs3.canonical_uri(parts.path),
            acs3.canonical_query(parse_pairs(parts.query)),
            acs3.canonical_headers(names, [signed[name] for name in names]),
            signed_headers,
            added["x-acs-content-sha256"],
        )
        sig = acs3.signature(self._secret, acs3.string_to_sign(canonical))
        added["authorization"] = acs3.authorization(self.access_key_id, signed_headers, sig)
        return SignedParts(url, added)


class RamAuth(requests.auth.AuthBase, httpx.Auth):
    """Alibaba Cloud request signing for ``requests`` and ``httpx`` (ACS3 by default, or ``scheme="v1"``)."""

    requires_request_body = True  # httpx: the body is hashed (ACS3) or its form fields signed (v1)

    def __init__(
        self,
        access_key_id: str,
        secret: str,
        *,
        security_token: str | None = None,
        scheme: Scheme = "acs3",
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.signer = RequestSigner(
            access_key_id, secret, security_token=security_token, scheme=scheme, clock=clock
        )

    def __repr__(self) -> str:
        return f"RamAuth({self.signer!r})"

    # requests
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = _requests_body(r)
        signed = self.signer.sign(r.method or "GET", r.url or "", r.headers.items(), body)
        r.url = signed.url
        r.headers.update(signed.headers)
        return r

    # httpx
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed = self.signer.sign(
            request.method, str(request.url), request.headers.multi_items(), request.content
        )
        request.url = httpx.URL(signed.url)
        request.headers.update(signed.headers)
        yield request


def _requests_body(r: requests.PreparedRequest) -> bytes:
    body = r.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        # Send exactly the bytes that were hashed (http.client would encode str as latin-1).
        encoded = body.encode("utf-8")
        r.body = encoded
        r.headers["Content-Length"] = str(len(encoded))
        return encoded
    raise errors.InvalidParameter("Body", "A streamed request body cannot be signed; pass bytes instead.")
