"""A minimal ASGI app that authenticates every request with the real Authenticator.

It answers ``{"RequestId", "Principal": arn, ...}`` (200) or the error body ``{"RequestId", "Code",
"Message"}`` with the error's status; OSS and AWS SigV4 requests get OSS/S3-style XML errors so oss2 and
botocore report the Code.
Test hooks: ``clock_offset`` shifts the server's clock, ``tamper`` flips a body byte before verification
(a body changed in transit), ``recorded`` keeps the last requests as received (for exact replays).
Successful responses carry the caller's ARN in ``x-ram-principal`` (also for OSS, whose bodies are data).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from ram_middleware import errors
from ram_middleware.credentials.authenticate import Authenticator, KeyResolver
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import Guard, MemoryGuard
from ram_middleware.identity import Principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SignatureApp:
    def __init__(
        self, resolver: KeyResolver, *, guard: Guard | None = None, replay_signatures: bool = False
    ) -> None:
        self.clock_offset = timedelta(0)
        self.tamper = False
        self.recorded: deque[RequestFacts] = deque(maxlen=16)
        self.authenticator = Authenticator(
            resolver,
            MemoryGuard() if guard is None else guard,
            clock=self._now,
            replay_signatures=replay_signatures,
        )

    def _now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        received = RequestFacts.from_asgi(scope, body)
        self.recorded.append(received)
        facts = _tampered(received) if self.tamper else received
        request_id = str(uuid.uuid4()).upper()
        # OSS header signatures and presigned URLs get OSS's XML errors (oss2 parses them), and so do
        # AWS SigV4 requests (botocore's S3 client reads the same <Error> document).
        is_oss = (facts.header("authorization") or "").startswith(("OSS", "AWS4-")) or (
            "OSSAccessKeyId=" in facts.query or "x-oss-credential=" in facts.query
        )
        try:
            principal = self.authenticator.authenticate(facts)
        except errors.RAMError as exc:
            if is_oss:
                await _respond(send, exc.status, _oss_error(exc, request_id), "application/xml", request_id)
            else:
                payload = json.dumps(exc.to_body(request_id)).encode()
                await _respond(send, exc.status, payload, "application/json", request_id)
            return
        arn = principal.arn if principal is not None else ""
        if is_oss:
            content = b"hello" if facts.method == "GET" else b""
            await _respond(send, 200, content, "application/octet-stream", request_id, arn)
            return
        payload = json.dumps(_success(principal, request_id)).encode()
        await _respond(send, 200, payload, "application/json", request_id, arn)


def _success(principal: Principal | None, request_id: str) -> dict[str, Any]:
    if principal is None:
        return {"RequestId": request_id, "Principal": None}
    return {
        "RequestId": request_id,
        "Principal": principal.arn,
        "AuthMethod": principal.auth_method,
        # Enough of GetCallerIdentity / GetUser for the product SDK models to parse.
        "Arn": principal.arn,
        "AccountId": principal.account_id,
        "UserId": principal.principal_id,
        "PrincipalId": principal.principal_id,
        "IdentityType": {"root": "Account", "user": "RAMUser", "assumed-role": "AssumedRoleUser"}[
            principal.kind
        ],
        "User": {"UserName": principal.name, "UserId": principal.principal_id},
    }


def _oss_error(exc: errors.RAMError, request_id: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n<Error>"
        f"<Code>{escape(exc.code)}</Code><Message>{escape(exc.message)}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>127.0.0.1</HostId></Error>"
    ).encode()


def _tampered(facts: RequestFacts) -> RequestFacts:
    if not facts.body:
        return facts
    body = facts.body[:-1] + bytes([facts.body[-1] ^ 0x01])
    return RequestFacts(facts.method, facts.path, facts.query, facts.headers, body, facts.peer, facts.scheme)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, request_id: str, principal: str = ""
) -> None:
    headers = [
        (b"x-ram-principal", principal.encode()),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-acs-request-id", request_id.encode()),
        (b"x-oss-request-id", request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
