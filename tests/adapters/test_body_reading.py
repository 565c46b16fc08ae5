"""When the adapters buffer a body before the app sees it, and how long they wait for it.

A body is read only when the request's credential covers it; otherwise it streams to the app (an OSS upload)
or the request is refused without waiting for it (a credential no scheme reads). A body that is read must
keep arriving: a client that stops sending gets 408 instead of holding the request open for ever.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

import oss2  # type: ignore[import-untyped]
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ram_middleware.adapters.asgi import RAMMiddleware as PlainRAMMiddleware
from ram_middleware.adapters.common import body_is_signed
from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.adapters.wsgi import needs_body
from ram_middleware.routes import RouteRule, RouteTable
from tests.live_server import serve_asgi, stalling_receive

from .world import World, make_world

FORM = "application/x-www-form-urlencoded"
ACS3 = "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=00"
OSS4 = "OSS4-HMAC-SHA256 Credential=AK/20301001/cn-hangzhou/oss/aliyun_v4_request,Signature=00"


@pytest.mark.parametrize(
    ("authorization", "content_type", "md5", "payload", "query", "read"),
    [
        (ACS3, "application/json", False, None, "", True),  # x-acs-content-sha256 is checked
        ("OSS AK:sig", "application/octet-stream", False, None, "", False),  # OSS V1 signs no body
        ("OSS AK:sig", "application/octet-stream", True, None, "", True),  # ... unless Content-MD5
        (OSS4, "application/octet-stream", False, "UNSIGNED-PAYLOAD", "", False),
        (OSS4, "application/octet-stream", False, "ab" * 32, "", True),  # a signed payload
        ("acs AK:sig", "application/json", False, None, "", False),  # ROA without Content-MD5
        ("acs AK:sig", "application/json", True, None, "", True),
        ("junk", "application/json", False, None, "", False),  # refused without waiting for it
        (None, FORM, False, None, "", True),  # RPC v1 may sign every parameter in the form
        ("junk", FORM, False, None, "", True),
        (None, "application/json", False, None, "SignatureVersion=1.0&Action=X", True),  # to refuse it
        (None, "application/json", False, None, "Signatur%65Version=1.0", True),  # names are decoded
        (None, "application/json", False, None, "a=1", False),  # no credential covers it
    ],
)
def test_a_body_is_buffered_only_when_a_credential_covers_it(
    world: World,
    authorization: str | None,
    content_type: str,
    md5: bool,
    payload: str | None,
    query: str,
    read: bool,
) -> None:
    assert body_is_signed(
        authorization=authorization, content_type=content_type, content_md5=md5, oss_payload=payload,
        query=query,
    ) is read  # fmt: skip
    environ = {"CONTENT_LENGTH": "10", "CONTENT_TYPE": content_type, "QUERY_STRING": query}
    headers = [(b"content-length", b"10"), (b"content-type", content_type.encode())]
    for name, value in (("authorization", authorization), ("content-md5", "x" if md5 else None)):
        if value is not None:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
            headers.append((name.encode(), value.encode()))
    if payload is not None:
        environ["HTTP_X_OSS_CONTENT_SHA256"] = payload
        headers.append((b"x-oss-content-sha256", payload.encode()))
    assert needs_body(environ) is read  # WSGI and ASGI decide alike
    scope = {"type": "http", "http_version": "1.1", "headers": headers, "query_string": query.encode()}
    assert asyncio.run(_pulled(world, scope)) is read
    # A second Content-Type changes nothing: the first is the one the check and Starlette read.
    other = FORM if content_type != FORM else "text/plain"
    scope["headers"] = [*headers, (b"content-type", other.encode())]
    assert asyncio.run(_pulled(world, scope)) is read


# --- a body that stops arriving ----------------------------------------------------------------------------


_TABLE = RouteTable(
    [("POST", "/upload/{bucket}", RouteRule("oss:PutObject", "acs:oss:*:{account}:{bucket}/*"))]
)


async def _pulled(world: World, scope: dict[str, Any]) -> bool:
    """Whether the ASGI middleware asked for the body of ``scope`` (whose body never finishes)."""
    pulled: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not pulled:
            pulled.append({"type": "http.request", "body": b"a", "more_body": True})
            return pulled[0]
        await asyncio.Event().wait()  # the client stops sending
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    middleware = PlainRAMMiddleware(app, ram=world.ram, rules=_TABLE, body_timeout=0.05)
    full = {"asgi": {"version": "3.0"}, "method": "POST", "scheme": "http", "path": "/upload/b",
            "raw_path": b"/upload/b", "root_path": "", "client": ("203.0.113.7", 1), **scope}  # fmt: skip
    await asyncio.wait_for(middleware(full, receive, send), 5)
    return bool(pulled)


def test_a_body_that_stops_arriving_gets_408_and_is_audited(world: World) -> None:
    signed = world.signer("bob").sign(
        "POST", "http://testserver/upload/rnd-bucket", [("content-type", "text/plain")], b"abcdef"
    )
    headers = [(k.lower().encode(), v.encode()) for k, v in signed.headers.items()]
    headers.append((b"content-length", b"6"))
    sent: list[MutableMapping[str, Any]] = []
    inner_called: list[bool] = []
    receive = stalling_receive(b"abc")  # half the body, then silence

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        inner_called.append(True)

    app = PlainRAMMiddleware(inner, ram=world.ram, rules=_TABLE, body_timeout=0.1)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/upload/rnd-bucket", "raw_path": b"/upload/rnd-bucket",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("203.0.113.7", 1)}  # fmt: skip
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    assert time.monotonic() - started < 2 and inner_called == []
    assert sent[0]["status"] == 408 and b'"Code":"RequestTimeout"' in sent[1]["body"]
    event = world.audit.events[-1]
    assert (event.decision, event.status, event.code) == ("Rejected", 408, "RequestTimeout")


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan")])
def test_body_timeout_must_be_a_positive_number_of_seconds(world: World, value: float) -> None:
    with pytest.raises(ValueError, match="body_timeout"):
        PlainRAMMiddleware(lambda *a: None, ram=world.ram, body_timeout=value)  # type: ignore[arg-type,return-value]


# --- under uvicorn -----------------------------------------------------------------------------------------


@ram_route("oss:PutObject", "acs:oss:*:{account}:{bucket}/{key}")
async def _put(request: Request) -> PlainTextResponse:
    size = 0
    async for chunk in request.stream():  # streamed: the middleware held none of it
        size += len(chunk)
    return PlainTextResponse(str(size), headers={"ETag": '"0"'})


@pytest.fixture(scope="module")
def uploads() -> Iterator[tuple[str, World, oss2.credentials.StaticCredentialsProvider]]:
    world = make_world(clock=lambda: datetime.now(UTC))
    service = world.ram.service
    service.create_user(world.account_id, "uploader")
    service.attach_policy_to_user(world.account_id, "System", "AliyunOSSFullAccess", "uploader")
    created = service.create_access_key(world.account_id, "uploader")
    provider = oss2.credentials.StaticCredentialsProvider(created.key.access_key_id, created.secret)
    app = Starlette(routes=[Route("/{bucket}/{key:path}", _put, methods=["PUT"])])
    app.add_middleware(RAMMiddleware, ram=world.ram, max_body=1024, body_timeout=0.3)
    with serve_asgi(app) as address:
        yield address, world, provider


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_an_oss_upload_larger_than_max_body_streams_to_the_app(
    uploads: tuple[str, World, Any], version: str
) -> None:
    # oss2 signs no payload (V1: no Content-MD5; V4: UNSIGNED-PAYLOAD): buffering it would only cap uploads.
    address, _, provider = uploads
    auth = oss2.ProviderAuthV4(provider) if version == "v4" else oss2.ProviderAuth(provider)
    bucket = oss2.Bucket(auth, f"http://{address}", "rnd-bucket", region="cn-hangzhou")
    reply = bucket.put_object("big.bin", b"z" * 100_000)
    assert reply.status == 200 and reply.resp.read() == b"100000"


def test_a_slow_signed_body_is_answered_408_under_uvicorn(uploads: tuple[str, World, Any]) -> None:
    address, world, _ = uploads
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            b"PUT /rnd-bucket/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            + f"Authorization: {ACS3}\r\n\r\n".encode()
            + b"a"  # one byte of the promised thousand, then silence
        )
        started = time.monotonic()
        head = conn.recv(4096)
    assert head.startswith(b"HTTP/1.1 408 ") and time.monotonic() - started < 3
    assert world.audit.events[-1].code == "RequestTimeout"


def test_a_credential_no_scheme_reads_is_refused_without_waiting_for_its_body(
    uploads: tuple[str, World, Any],
) -> None:
    address, _, _ = uploads
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            b"PUT /rnd-bucket/a HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n"
            b"Authorization: junk\r\n\r\na"
        )
        head = conn.recv(4096)
    assert head.split(b"\r\n", 1)[0] in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 401 Unauthorized")
