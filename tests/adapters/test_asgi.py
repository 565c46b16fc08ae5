"""ASGI specifics: websockets, lifespan, body buffering and replay, Starlette/FastAPI route discovery."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.endpoints import HTTPEndpoint
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from ram_middleware.adapters.asgi import RAMMiddleware as PlainRAMMiddleware
from ram_middleware.adapters.starlette import (
    RAMMiddleware,
    RequirePermission,
    current_principal,
    public,
    ram_route,
)
from ram_middleware.client import RequestSigner
from ram_middleware.identity import Principal
from ram_middleware.routes import RouteRule, RouteTable

from . import apps
from .harness import Harness, client_class, websocket_denial_class
from .world import World

Message = MutableMapping[str, Any]


def _ws_headers(world: World, who: str, path: str = "/ws") -> dict[str, str]:
    signed = world.signer(who).sign("GET", f"http://testserver{path}", [], b"")
    return {name: value for name, value in signed.headers.items() if name != "host"}


# --- websockets ---------------------------------------------------------------------------------------------


def test_websocket_handshake_is_authenticated(asgi_harness: Harness) -> None:
    world = asgi_harness.world
    client = asgi_harness.client()
    with client.websocket_connect("/ws", headers=_ws_headers(world, "alice")) as ws:
        assert ws.receive_json()["principal"] == world.arn("alice")
    assert world.audit.events[-1].action == "ecs:DescribeInstances"


@pytest.mark.parametrize(
    ("who", "status", "code"), [(None, 401, "MissingAuthentication"), ("eve", 403, "NoPermission")]
)
def test_websocket_refused_with_the_error_response(
    asgi_harness: Harness, who: str | None, status: int, code: str
) -> None:
    # Starlette's TestClient offers the websocket.http.response extension: the handshake gets the real error.
    headers = _ws_headers(asgi_harness.world, who) if who else {}
    with (
        pytest.raises(websocket_denial_class()) as denied,
        asgi_harness.client().websocket_connect("/ws", headers=headers),
    ):
        pass  # pragma: no cover - the handshake never completes
    assert (denied.value.status_code, denied.value.json()["Code"]) == (status, code)
    assert asgi_harness.world.audit.events[-1].decision in ("ImplicitDeny", "Rejected")


def test_websocket_refused_with_policy_violation_without_the_extension(world: World) -> None:
    inner, app = _protected(world)
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws",
             "path": "/upload/rnd-bucket", "raw_path": b"/upload/rnd-bucket", "query_string": b"",
             "root_path": "", "headers": [], "client": ("203.0.113.7", 1), "subprotocols": []}  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "MissingAuthentication"}]
    assert inner.messages == []


def test_websocket_checks_can_be_switched_off(world: World) -> None:
    from .apps import STARLETTE_ROUTES

    app = Starlette(routes=STARLETTE_ROUTES)
    app.add_middleware(RAMMiddleware, ram=world.ram, websockets=False)
    with client_class()(app).websocket_connect("/ws") as ws:
        assert ws.receive_json()["principal"] is None
    assert world.audit.events == []


# --- lifespan -----------------------------------------------------------------------------------------------


def test_lifespan_passes_through(world: World) -> None:
    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        seen.append("startup")
        yield {"greeting": "hello"}
        seen.append("shutdown")

    @ram_route("ecs:DescribeInstances")
    async def greet(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting + " " + request.user.display_name)

    app = Starlette(routes=[Route("/greet", greet)], lifespan=lifespan)
    app.add_middleware(RAMMiddleware, ram=world.ram)
    with client_class()(app) as client:
        signed = world.signer("alice").sign("GET", "http://testserver/greet", [], b"")
        reply = client.get("/greet", headers={k: v for k, v in signed.headers.items() if k != "host"})
        assert reply.text == "hello alice"
    assert seen == ["startup", "shutdown"]


async def _lifespan(app: Any, sent: list[Message]) -> None:
    """Runs ``app``'s lifespan as a server does (startup, then shutdown), recording what it sent."""
    inbox: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)


def test_a_startup_failure_reaches_the_server_unchanged(world: World) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    app = RAMMiddleware(Starlette(lifespan=lifespan), ram=world.ram)
    sent: list[Message] = []
    with pytest.raises(RuntimeError, match="no database"):  # raised on, for the server to report
        asyncio.run(_lifespan(app, sent))
    (failed,) = [m for m in sent if m["type"] == "lifespan.startup.failed"]
    assert "no database" in failed["message"]


def test_an_app_without_lifespan_support_gets_its_lifespan_answered(world: World) -> None:
    # As Django's ASGI handler: it raises on the lifespan scope. Servers then carry on without a lifespan,
    # and the runtime's pending writes would have no moment to happen (see test_shutdown for uvicorn).
    async def http_only(scope: Message, receive: Any, send: Any) -> None:
        raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")

    app = PlainRAMMiddleware(http_only, ram=world.ram, rules=RouteRule(public=True))
    sent: list[Message] = []
    asyncio.run(_lifespan(app, sent))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# --- raw ASGI: buffering and replay -------------------------------------------------------------------------


class Recorder:
    """An inner ASGI app that reads the whole body, then waits for the disconnect, and records it all."""

    def __init__(self) -> None:
        self.receive: Any = None
        self.messages: list[Message] = []
        self.scope: MutableMapping[str, Any] = {}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.scope, self.receive = scope, receive
        if scope["type"] == "lifespan":
            return
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
        if self.messages[-1]["type"] == "http.request":
            self.messages.append(await receive())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _scope(
    world: World, method: str, path: str, body: bytes, signer: RequestSigner | None, ctype: str
) -> dict[str, Any]:
    headers = [("content-type", ctype), ("content-length", str(len(body)))]
    url = f"http://testserver{path}"
    if signer is not None:
        signed = signer.sign(method, url, headers, body)
        url = signed.url
        headers += list(signed.headers.items())
    target = url.removeprefix("http://testserver")
    raw_path, _, query = target.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers], "client": ("203.0.113.7", 1),
        "server": ("testserver", 80),
    }  # fmt: skip


async def _drive(
    app: Any, scope: dict[str, Any], chunks: list[bytes]
) -> tuple[Any, list[Message], list[Message]]:
    inbox: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    inbox.append({"type": "http.disconnect"})
    pulled: list[Message] = []
    sent: list[Message] = []

    async def receive() -> Message:
        message = inbox.pop(0)
        pulled.append(message)
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return receive, pulled, sent


def _http2(scope: dict[str, Any]) -> dict[str, Any]:
    """The same request over HTTP/2, where a body needs neither content-length nor chunking."""
    headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
    return {**scope, "http_version": "2", "headers": headers}


def test_an_http2_form_body_without_content_length_is_read_and_verified(world: World) -> None:
    form = "application/x-www-form-urlencoded"
    inner, app = _protected(world)
    body = b"Acl=private"
    signed = _http2(_scope(world, "POST", "/upload/rnd-bucket", body, world.signer("bob", "v1"), form))
    _, _, sent = asyncio.run(_drive(app, signed, [body]))
    assert sent[0]["status"] == 204 and inner.messages[0]["body"] == body  # replayed to the app
    # Signed without the form, then sent with one: the form parameters must not reach the app unsigned.
    inner, app = _protected(world)
    unsigned = _http2(_scope(world, "POST", "/upload/rnd-bucket", b"", world.signer("bob", "v1"), form))
    _, _, sent = asyncio.run(_drive(app, unsigned, [body]))
    assert sent[0]["status"] == 400 and inner.messages == []
    assert world.audit.events[-1].code == "SignatureDoesNotMatch"


def _titled(scope: dict[str, Any]) -> dict[str, Any]:
    """The same request from a server that keeps the header names' case, as ASGI allows
    (``Content-Type``)."""
    return {**scope, "headers": [(name.title(), value) for name, value in scope["headers"]]}


def test_header_names_in_any_case_are_read_as_their_lowercase_names(world: World) -> None:
    form = "application/x-www-form-urlencoded"
    body = b"Acl=private"
    inner, app = _protected(world)
    signed = _titled(_scope(world, "POST", "/upload/rnd-bucket", body, world.signer("bob", "v1"), form))
    _, _, sent = asyncio.run(_drive(app, signed, [body]))
    assert sent[0]["status"] == 204 and inner.messages[0]["body"] == body  # read, verified, replayed
    # Signed without the form, then sent with one: the form parameters must not reach the app unsigned.
    inner, app = _protected(world)
    unsigned = _scope(world, "POST", "/upload/rnd-bucket", b"", world.signer("bob", "v1"), form)
    unsigned["headers"] = [
        (n, str(len(body)).encode() if n == b"content-length" else v) for n, v in unsigned["headers"]
    ]
    _, _, sent = asyncio.run(_drive(app, _titled(unsigned), [body]))
    assert sent[0]["status"] == 400 and inner.messages == []
    assert world.audit.events[-1].code == "SignatureDoesNotMatch"
    # A declared length over the cap is refused before a byte is read, and the connection closed.
    _, app = _protected(world, max_body=4)
    large = _titled(_scope(world, "POST", "/upload/rnd-bucket", b"abcdef", world.signer("bob"), "text/plain"))
    _, pulled, sent = asyncio.run(_drive(app, large, [b"abcdef"]))
    assert (sent[0]["status"], pulled) == (413, []) and (b"connection", b"close") in sent[0]["headers"]


def test_root_path_is_stripped_only_at_a_segment_boundary(world: World) -> None:
    table = RouteTable([("GET", "/users/{uid}", RouteRule(public=True))])
    for root, path, status in (
        ("/user", "/users/5", 204),
        ("/api", "/api/users/5", 204),
        ("/user", "/user/5", 401),
    ):
        inner = Recorder()
        app = PlainRAMMiddleware(inner, ram=world.ram, rules=table)
        scope = {**_scope(world, "GET", path, b"", None, "text/plain"), "root_path": root}
        _, _, sent = asyncio.run(_drive(app, scope, [b""]))
        assert sent[0]["status"] == status, (root, path)


def test_a_path_ending_in_a_newline_never_reaches_an_endpoint_under_another_rule(world: World) -> None:
    # Starlette's router ("$" in its route regexes) sends /admin%0A to the /admin endpoint: decided by the
    # table's next rule, the public catch-all, anybody reached the protected endpoint.
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.url.path!r} {dict(request.path_params)}")

    table = RouteTable(
        [
            ("GET", "/admin", RouteRule("app:Administer", "*")),
            ("GET", "/items/{n:int}", RouteRule("app:GetItem", "acs:app:*:{account}:item/{n}")),
            ("GET", "/{page}", RouteRule(public=True)),
        ]
    )
    inner = Starlette(routes=[Route("/admin", page), Route("/items/{n:int}", page), Route("/{page}", page)])
    client = client_class()(PlainRAMMiddleware(inner, ram=world.ram, rules=table))
    assert client.get("/about").status_code == 200
    assert client.get("/about%0A").status_code == 200  # the catch-all's own page, as Starlette routes it
    for path in ("/admin%0A", "/items/7%0A"):
        reply = client.get(path)
        assert (reply.status_code, reply.json()["Code"]) == (400, "InvalidParameter.Path"), reply.text
    assert client.get("/admin").status_code == 401


def test_unusual_methods_are_not_remembered(world: World) -> None:
    @ram_route("ecs:DescribeInstances")
    async def listing(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/list", listing)])
    app = RAMMiddleware(inner, ram=world.ram)
    for method in ["GET", *(f"X{n}" for n in range(50))]:
        scope = {**_scope(world, method, "/list", b"", None, "text/plain"), "app": inner}
        _, _, sent = asyncio.run(_drive(app, scope, [b""]))
        assert sent[0]["status"] == 401  # decided as the route's (a 405 for those methods comes later)
    assert len(app._cache._rules) == 1  # GET's; a client cannot grow the cache with made-up methods


def _protected(world: World, **options: Any) -> tuple[Recorder, PlainRAMMiddleware]:
    inner = Recorder()
    table = RouteTable(
        [
            ("POST", "/upload/{bucket}", RouteRule("oss:PutObject", "acs:oss:*:{account}:{bucket}/*")),
            ("POST", "/open", RouteRule(public=True)),
        ]
    )
    return inner, PlainRAMMiddleware(inner, ram=world.ram, rules=table, **options)


def test_chunked_body_is_replayed_then_disconnect_forwarded(world: World) -> None:
    inner, app = _protected(world)
    body = b"part one|part two|part three"
    scope = _scope(world, "POST", "/upload/rnd-bucket", body, world.signer("bob"), "application/octet-stream")
    receive, pulled, sent = asyncio.run(_drive(app, scope, [body[:8], body[8:17], body[17:]]))
    assert sent[0]["status"] == 204, sent
    assert inner.receive is not receive  # wrapped
    assert inner.messages[0] == {"type": "http.request", "body": body, "more_body": False}
    assert inner.messages[1] == {"type": "http.disconnect"}  # forwarded from the server
    assert len(pulled) == 4
    assert inner.scope["state"]["principal"].arn == world.arn("bob")


def test_public_route_body_is_not_buffered(world: World) -> None:
    inner, app = _protected(world)
    scope = _scope(world, "POST", "/open", b"abc", None, "application/x-www-form-urlencoded")
    receive, _, _ = asyncio.run(_drive(app, scope, [b"a", b"bc"]))
    assert inner.receive is receive  # the server's own receive, untouched
    assert [m.get("body") for m in inner.messages[:2]] == [b"a", b"bc"]


def test_body_no_signature_covers_is_not_buffered(world: World) -> None:
    _, app = _protected(world)
    scope = _scope(world, "POST", "/upload/rnd-bucket", b'{"a": 1}', None, "application/json")
    _, pulled, sent = asyncio.run(_drive(app, scope, [b'{"a"', b": 1}"]))
    assert sent[0]["status"] == 401 and pulled == []  # refused without reading a byte


def test_an_rpc_v1_request_with_a_body_it_does_not_sign_is_refused(world: World) -> None:
    # RPC v1 signs the query and a form body only; a JSON body would reach the app unauthenticated.
    inner, app = _protected(world)
    signer = world.signer("bob", "v1")
    scope = _scope(world, "POST", "/upload/rnd-bucket", b'{"a": 1}', signer, "application/json")
    _, _, sent = asyncio.run(_drive(app, scope, [b'{"a"', b": 1}"]))
    assert sent[0]["status"] == 400 and inner.messages == []
    assert world.audit.events[-1].code == "IncompleteSignature"


def test_disconnect_while_reading_the_body_ends_quietly(world: World) -> None:
    inner, app = _protected(world)
    scope = _scope(world, "POST", "/upload/rnd-bucket", b"abcdef", world.signer("bob"), "text/plain")

    async def run() -> list[Message]:
        sent: list[Message] = []
        inbox: list[Message] = [
            {"type": "http.request", "body": b"abc", "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> Message:
            return inbox.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    assert asyncio.run(run()) == []
    assert inner.messages == []
    event = world.audit.events[-1]  # audited as the WSGI adapter audits a client gone mid-body
    assert (event.decision, event.code, event.status) == ("Rejected", "IncompleteBody", 400)


def test_declared_length_over_the_cap_is_refused_before_reading(world: World) -> None:
    inner, app = _protected(world, max_body=4)
    scope = _scope(world, "POST", "/upload/rnd-bucket", b"abcdef", world.signer("bob"), "text/plain")
    _, pulled, sent = asyncio.run(_drive(app, scope, [b"abcdef"]))
    assert inner.messages == []
    assert sent[0]["status"] == 413 and pulled == []
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"application/json")


def test_a_refused_head_is_answered_without_a_body(world: World) -> None:
    # Servers differ in dropping a HEAD answer's body (uvicorn does); a client reads none, so one sent would
    # be taken for the next response on the connection. Starlette's own responses send none either.
    _, app = _protected(world)
    answers = {}
    for method in ("POST", "HEAD"):
        scope = _scope(world, method, "/upload/rnd-bucket", b"", None, "text/plain")
        _, _, sent = asyncio.run(_drive(app, scope, [b""]))
        answers[method] = (sent[0]["status"], dict(sent[0]["headers"])[b"content-length"], sent[1]["body"])
    assert answers["POST"][0] == 401 and len(answers["POST"][2]) == int(answers["POST"][1])
    assert answers["HEAD"] == (401, answers["POST"][1], b"")  # the error's length, no bytes


_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="unset")


def test_offloaded_check_runs_off_the_loop_with_the_callers_context(world: World) -> None:
    # A context hook or a store that reads a ContextVar (a tenant, a trace id) must see the request's.
    inner, app = _protected(world, offload=True)
    real = app.authorizer
    seen: list[tuple[int, str]] = []

    class Watching:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def check(self, *args: Any) -> Any:
            seen.append((threading.get_ident(), _CALLER.get()))
            return real.check(*args)

    app.authorizer = Watching()  # type: ignore[assignment]
    scope = _scope(world, "POST", "/upload/rnd-bucket", b"x", world.signer("bob"), "text/plain")

    async def run() -> tuple[int, list[Message]]:
        _CALLER.set("request-42")
        _, _, sent = await _drive(app, scope, [b"x"])
        return threading.get_ident(), sent

    loop_thread, sent = asyncio.run(run())
    assert sent[0]["status"] == 204
    assert [value for _, value in seen] == ["request-42"]
    assert seen[0][0] != loop_thread
    assert inner.scope["state"]["principal"].arn == world.arn("bob")


# --- Starlette / FastAPI route discovery --------------------------------------------------------------------


def _get(app: Any, world: World, path: str, who: str = "alice", method: str = "GET") -> Any:
    signed = world.signer(who).sign(method, f"http://testserver{path}", [], b"")
    headers = {k: v for k, v in signed.headers.items() if k != "host"}
    return client_class()(app).request(method, path, headers=headers)


_PAGE = "https://console.example.com"
_PREFLIGHT = {
    "Origin": _PAGE,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization,x-acs-date,x-acs-signature-nonce,x-acs-content-sha256",
}


@pytest.mark.parametrize("build", [apps.starlette_app, apps.fastapi_app])
def test_cors_added_after_the_middleware_answers_preflights_and_requests_stay_checked(
    world: World, build: Any
) -> None:
    # add_middleware wraps: CORSMiddleware added after RAMMiddleware is outside it, and answers a browser's
    # preflight (which carries no credential) before the request reaches the check.
    app = build(world.ram)
    app.add_middleware(CORSMiddleware, allow_origins=[_PAGE], allow_methods=["*"], allow_headers=["*"])
    client = client_class()(app)
    events = len(world.audit.events)
    preflight = client.options("/instances/i-1", headers=_PREFLIGHT)
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == _PAGE
    assert len(world.audit.events) == events  # answered outside: not a decision
    # The request itself is checked, and the page can read a refusal (the CORS headers are on it).
    refused = client.get("/instances/i-1", headers={"Origin": _PAGE})
    assert (refused.status_code, refused.json()["Code"]) == (401, "MissingAuthentication")
    assert refused.headers["access-control-allow-origin"] == _PAGE
    signed = world.signer("bob").sign("GET", "http://testserver/instances/i-1", [], b"")
    headers = {**{k: v for k, v in signed.headers.items() if k != "host"}, "Origin": _PAGE}
    allowed = client.get("/instances/i-1", headers=headers)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == _PAGE
    assert client.options("/instances/i-1", headers={"Origin": _PAGE}).status_code == 401  # no preflight


def test_cors_added_before_the_middleware_cannot_answer_preflights(world: World) -> None:
    # Added first, CORSMiddleware sits inside RAMMiddleware: the credential-less preflight is refused.
    app = Starlette(routes=apps.STARLETTE_ROUTES)
    app.add_middleware(CORSMiddleware, allow_origins=[_PAGE], allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    preflight = client_class()(app).options("/instances/i-1", headers=_PREFLIGHT)
    assert preflight.status_code == 401 and "access-control-allow-origin" not in preflight.headers


def test_rules_inside_mounts_and_class_endpoints(world: World) -> None:
    class Instance(HTTPEndpoint):
        @ram_route("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{iid}")
        async def get(self, request: Request) -> JSONResponse:
            return JSONResponse({"who": request.user.identity, "iid": request.path_params["iid"]})

        @ram_route("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{iid}")
        async def delete(self, request: Request) -> JSONResponse:
            return JSONResponse({"deleted": request.path_params["iid"]})

    app = Starlette(routes=[Mount("/api/v1", routes=[Route("/instances/{iid}", Instance)])])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    reply = _get(app, world, "/api/v1/instances/i-3", who="bob")
    assert reply.json() == {"who": world.arn("bob"), "iid": "i-3"}
    assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-3"
    assert _get(app, world, "/api/v1/instances/i-3", who="bob", method="DELETE").status_code == 403
    assert _get(app, world, "/api/v1/instances/i-3", who="alice", method="DELETE").status_code == 200
    # HEAD runs get() (the class has no head()), so get()'s rule decides it, as for a function route.
    assert _get(app, world, "/api/v1/instances/i-3", who="bob", method="HEAD").status_code == 200
    assert world.audit.events[-1].action == "ecs:DescribeInstance"


def test_rules_are_found_when_the_middleware_wraps_the_app_from_outside(world: World) -> None:
    # ``RAMMiddleware(app)`` (no add_middleware) runs before Starlette sets scope["app"]; mounted inside
    # another app, scope["app"] is the outer one. Either way the routes it protects are the wrapped app's.
    @ram_route("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{iid}")
    async def delete(request: Request) -> PlainTextResponse:
        return PlainTextResponse("deleted " + request.path_params["iid"])

    @public
    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("up")

    def wrapped() -> RAMMiddleware:
        inner = Starlette(
            routes=[Route("/instances/{iid}", delete, methods=["DELETE"]), Route("/up", health)]
        )
        return RAMMiddleware(inner, ram=world.ram)

    outer = Starlette(routes=[Mount("/ecs", app=wrapped())])
    for app, prefix in ((wrapped(), ""), (outer, "/ecs")):
        assert client_class()(app).get(prefix + "/up").text == "up"
        path = prefix + "/instances/i-3"
        assert _get(app, world, path, who="alice", method="DELETE").text == "deleted i-3"
        assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-3"
        assert _get(app, world, path, who="bob", method="DELETE").status_code == 403
        assert world.audit.events[-1].action == "ecs:DeleteInstance"


def test_route_table_overrides_the_decorator(world: World) -> None:
    @ram_route("ecs:DescribeInstances")
    async def listing(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/list", listing)])
    table = RouteTable([("GET", "/list", RouteRule("ecs:DeleteInstance", "*"))])
    app.add_middleware(RAMMiddleware, ram=world.ram, rules=table)
    assert _get(app, world, "/list", who="bob").status_code == 403
    assert world.audit.events[-1].action == "ecs:DeleteInstance"


def test_public_route_user_is_starlettes_unauthenticated_user(world: World) -> None:
    @public
    async def home(request: Request) -> JSONResponse:
        return JSONResponse({"auth": request.user.is_authenticated, "principal": current_principal(request)})

    app = Starlette(routes=[Route("/", home)])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    assert client_class()(app).get("/").json() == {"auth": False, "principal": None}


def test_require_permission_fails_closed_without_the_middleware(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()

    @app.get("/x/{name}")
    async def x(who: Principal = Depends(RequirePermission("ecs:DescribeInstances"))) -> str:  # noqa: B008
        return who.arn  # pragma: no cover - never reached

    reply = client_class()(app).get("/x/a%1b%5B2J%1b%5BH")  # a terminal escape: clear the screen
    assert reply.status_code == 500
    assert "not enforced" in reply.json()["detail"]
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "ram_middleware.adapters.starlette"]
    assert "not enforced" in logged and "\x1b" not in logged  # the path is written escaped


def test_method_mismatch_still_decides_before_starlette_answers_405(world: World) -> None:
    @ram_route("ecs:DescribeInstances")
    async def only_get(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/only-get", only_get, methods=["GET"])])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    assert _get(app, world, "/only-get", method="POST").status_code == 405
    assert _get(app, world, "/only-get", who="eve", method="POST").status_code == 403


class _ListConvertor(Convertor[list[str]]):
    """Starlette's documented custom convertor shape: ``a,b`` -> ``["a", "b"]``."""

    regex = "[^/]+"

    def convert(self, value: str) -> list[str]:
        return value.split(",")

    def to_string(self, value: list[str]) -> str:
        return ",".join(value)


def test_a_convertor_value_that_is_not_text_or_a_number_fails_closed(world: World) -> None:
    register_url_convertor("ramtestlist", _ListConvertor())

    @ram_route("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{ids}")
    async def delete(request: Request) -> JSONResponse:
        return JSONResponse({"deleted": request.path_params["ids"]})

    app = Starlette(routes=[Route("/instances/{ids:ramtestlist}", delete, methods=["DELETE"])])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    url = "http://testserver/instances/i-protected"
    signed = world.signer("alice").sign("DELETE", url, [], b"")
    headers = {k: v for k, v in signed.headers.items() if k != "host"}
    reply = client_class()(app).delete("/instances/i-protected", headers=headers)
    # Checked as "['i-protected']" it passed alice's Deny on instance/i-protected.
    assert (reply.status_code, reply.json()["Code"]) == (503, "ServiceUnavailable")


def test_a_path_starlettes_int_convertor_cannot_read_is_a_400_not_a_500(world: World) -> None:
    @public
    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @ram_route("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{n}")
    async def instance(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/items/{n:int}", item), Route("/instances/{n:int}", instance)])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    client = client_class()(app, raise_server_exceptions=False)
    assert client.get("/items/5").status_code == 200
    digits = "9" * 5000  # more than int() converts: Starlette's convertor raises ValueError
    for path in (f"/items/{digits}", f"/instances/{digits}"):
        reply = client.get(path)
        assert (reply.status_code, reply.json()["Code"]) == (400, "InvalidParameter.Path")
    event = world.audit.events[-1]
    assert (event.decision, event.code) == ("Rejected", "InvalidParameter.Path")
