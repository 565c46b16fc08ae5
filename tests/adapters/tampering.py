"""Catch what an official SDK sends to a live server, then send it again with one signed part changed.

:class:`Capture` (WSGI) and :class:`CaptureAsgi` wrap an app: disarmed they pass every request through;
armed they keep the request as the middleware would see it (:class:`RequestFacts`) and answer a canned
200 JSON body, so the SDK call returns and its one-time nonce stays unspent. :func:`tamperings` lists, for
each part the request's scheme signs (method, path, each signed query parameter, each signed header, the
body), the request with that part changed and the error Code the change must get; :func:`send` delivers a
request byte for byte (raw path and query, headers as captured) and returns the status and the Code read
from the JSON or the OSS XML error body.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from ram_middleware.credentials.authenticate import detect_scheme
from ram_middleware.credentials.oss import SUBRESOURCES
from ram_middleware.facts import RequestFacts, decode_component

__all__ = ["Capture", "CaptureAsgi", "send", "tamperings"]

MISMATCH = "SignatureDoesNotMatch"
_CANNED = json.dumps({"RequestId": "captured"}).encode()
_HEADERS = [("content-type", "application/json"), ("content-length", str(len(_CANNED)))]


class Capture:
    """A WSGI app wrapper that keeps the request instead of serving it while :attr:`armed`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.armed = False
        self.caught: RequestFacts | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self.armed:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.caught = RequestFacts.from_wsgi(environ, environ["wsgi.input"].read(length))
        start_response("200 OK", _HEADERS)
        return [_CANNED]

    def catch(self, call: Callable[[], object]) -> RequestFacts:
        """The request ``call`` (one SDK call) sends, kept unserved."""
        self.armed, self.caught = True, None
        try:
            call()
        finally:
            self.armed = False
        assert self.caught is not None, "the SDK sent nothing"
        return self.caught


Scope = MutableMapping[str, Any]


class CaptureAsgi(Capture):
    """:class:`Capture` for an ASGI app."""

    async def __call__(  # type: ignore[override]
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Scope]],
        send: Callable[[Scope], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or not self.armed:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.caught = RequestFacts.from_asgi(scope, b"".join(chunks))
        headers = [(name.encode(), value.encode()) for name, value in _HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _CANNED})


def send(endpoint: str, facts: RequestFacts) -> tuple[int, str | None]:
    """Send ``facts`` to ``host:port`` as they are; (status, the error Code or None)."""
    host, port = endpoint.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        target = facts.path + (f"?{facts.query}" if facts.query else "")
        connection.putrequest(facts.method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in facts.headers:
            if name.lower() != "content-length":
                connection.putheader(name, value)
        connection.putheader("content-length", str(len(facts.body)))
        connection.endheaders(facts.body)
        response = connection.getresponse()
        status, data = response.status, response.read()
    finally:
        connection.close()
    if data.startswith(b"{"):
        return status, json.loads(data).get("Code")
    found = re.search(rb"<Code>([^<]*)</Code>", data)
    return status, found.group(1).decode() if found else None


def _later(fmt: str) -> Callable[[str], str]:
    return lambda value: (datetime.strptime(value, fmt) + timedelta(seconds=1)).strftime(fmt)


def _http_date_later(value: str) -> str:
    return format_datetime(parsedate_to_datetime(value) + timedelta(seconds=1), usegmt=True)


def _appended(value: str) -> str:
    return value + "X"


Change = tuple[Callable[[str], str], str]  # new value from the old one, the Code expected
_CHANGED = (_appended, MISMATCH)
_TOKEN = (_appended, "InvalidSecurityToken.Malformed")
# Values the scheme reads itself: changed to another well-formed value, each with the Code it gets.
_RPC_PARAMETERS: dict[str, Change] = {
    "AccessKeyId": (_appended, "InvalidAccessKeyId.NotFound"),
    "SignatureMethod": (lambda _: "HMAC-SHA256", "InvalidSignatureMethod"),
    "SignatureVersion": (lambda _: "2.0", "InvalidSignatureVersion"),
    "SignatureType": (lambda _: "BEARERTOKEN", "InvalidSignatureMethod"),
    "Timestamp": (_later("%Y-%m-%dT%H:%M:%SZ"), MISMATCH),
    "SecurityToken": _TOKEN,
}
_HEADERS_READ: dict[str, Change] = {
    "x-acs-date": (_later("%Y-%m-%dT%H:%M:%SZ"), MISMATCH),
    "x-oss-date": (_later("%Y%m%dT%H%M%SZ"), MISMATCH),
    "date": (_http_date_later, MISMATCH),
    "x-acs-signature-method": (lambda _: "HMAC-SHA256", "InvalidSignatureMethod"),
    "x-acs-signature-version": (lambda _: "2.0", "InvalidSignatureVersion"),
    "content-md5": (lambda _: "1B2M2Y8AsgTpgAmY7PhCfg==", "ContentMD5NotMatched"),  # MD5 of nothing
    "x-acs-security-token": _TOKEN,
    "x-oss-security-token": _TOKEN,
}


def _signed_headers(facts: RequestFacts, scheme: str) -> list[str]:
    """The header names the scheme's string to sign holds (the Authorization header aside)."""
    authorization = facts.header("authorization") or ""
    if scheme == "acs3":
        return authorization.partition("SignedHeaders=")[2].partition(",")[0].split(";")
    prefix, fixed = {
        "roa": ("x-acs-", {"accept", "content-md5", "date"}),
        "oss-v1": ("x-oss-", {"content-md5", "date"}),
        "oss-v4": ("x-oss-", {"content-md5"}),
    }.get(scheme, ("", set()))
    if not prefix:  # RPC v1 signs no header
        return []
    typed = {"content-type"} if facts.body else set()  # a bodiless request's Content-Type may go unsigned
    return [name for name in facts.header_map if name.startswith(prefix) or name in fixed | typed]


def _body_signed(facts: RequestFacts, scheme: str) -> bool:
    """RPC v1 (form) and ACS3 sign the body; ROA and OSS only through a Content-MD5."""
    return scheme in ("rpc-v1", "acs3") or facts.header("content-md5") is not None


def tamperings(facts: RequestFacts) -> Iterator[tuple[str, RequestFacts, str]]:
    """(what changed, the changed request, the Code it must get) for each part ``facts``' scheme signs."""
    scheme = detect_scheme(facts) or ""
    other = "GET" if facts.method != "GET" else "POST"
    yield "method", dataclasses.replace(facts, method=other), MISMATCH
    # Another path the apps route (and protect): RPC at "/" -> a note; a note or an object -> another one.
    path = "/notes/x" if facts.path == "/" else facts.path + "x"
    yield "path", dataclasses.replace(facts, path=path), MISMATCH
    pieces = [piece for piece in facts.query.split("&") if piece]
    token_in_query = any(piece.startswith("SecurityToken=") for piece in pieces)
    for index, piece in enumerate(pieces):
        raw_name, _, raw_value = piece.partition("=")
        name = decode_component(raw_name)
        if name == "Signature" or (scheme == "oss-v1" and name not in SUBRESOURCES):
            continue  # OSS V1 signs only its sub-resources
        change, code = _RPC_PARAMETERS.get(name, _CHANGED) if scheme == "rpc-v1" else _CHANGED
        if name == "AccessKeyId" and token_in_query:
            code = "InvalidSecurityToken.MismatchWithAccessKey"  # the token names the AccessKeyId
        changed = [*pieces]
        changed[index] = f"{raw_name}={quote(change(decode_component(raw_value)), safe='~')}"
        yield f"query {name}", dataclasses.replace(facts, query="&".join(changed)), code
    for name in _signed_headers(facts, scheme):
        change, code = _HEADERS_READ.get(name, _CHANGED)
        headers = tuple(
            (key, change(value) if key.lower() == name else value) for key, value in facts.headers
        )
        yield f"header {name}", dataclasses.replace(facts, headers=headers), code
    if facts.body and _body_signed(facts, scheme):
        body = facts.body[:-1] + bytes([facts.body[-1] ^ 1])
        code = "ContentMD5NotMatched" if scheme not in ("rpc-v1", "acs3") else MISMATCH
        yield "body", dataclasses.replace(facts, body=body), code
