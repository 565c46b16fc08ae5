"""Pure ASGI middleware: every HTTP request (and websocket handshake) passes the authorizer first.

Shape after starlette's ``AuthenticationMiddleware`` (STYLE.md §9): a plain class, ``lifespan`` and other
scope types pass straight through (but the lifespan's end first writes the runtime's pending audit events
and last-used dates, and the middleware answers the lifespan itself for an app that does not), a refusal
is answered once (an Alibaba-style JSON error for HTTP, and for a websocket handshake too where the server
offers the ``websocket.http.response`` extension, else a ``websocket.close`` with code 1008, which servers
answer with a bare 403), and results travel downstream in the scope:

* ``scope["user"]`` — an authenticated user object (``is_authenticated``, ``display_name``, ``identity``,
  ``principal``) and ``scope["auth"]`` — credentials whose ``scopes`` are ``["authenticated", <action>]``,
  so Starlette's ``requires("authenticated")`` works;
* ``scope["state"]["principal"]`` (``request.state.principal``) and ``scope["state"]["ram_request_id"]``.

The body is read only when verification needs it — a protected route, a body (a non-zero content-length,
chunking, or HTTP/2 and 3, which need neither header), and a credential that covers it
(:func:`~ram_middleware.adapters.common.body_is_signed`: a form body, a ``Content-MD5``, ACS3, OSS V4 with a
signed payload, or an RPC v1 marker or any escape in the query — a v1 request with any other body is
refused, as v1 cannot cover it). It is capped (``max_body``, 413 beyond), each part must arrive within
``body_timeout`` seconds of the last (408 ``RequestTimeout`` otherwise: servers such as uvicorn set no
limit of their own, and a client must not hold a request open forever by sending its body slowly), and it
is replayed to the app unchanged through a wrapped ``receive`` that then forwards ``http.disconnect``.
Public routes, bodiless requests and bodies no credential covers (OSS V1 uploads, a junk ``Authorization``)
are never buffered: they stream to the app, or are refused without waiting for them. A refusal that leaves
a body unread, whole or in part, closes the connection: the server would otherwise go on reading it at the
client's pace.

The decision may touch the store and the replay guard, so it runs in a worker thread unless the runtime
says every backend it uses is in-process (``offload=None``: ask ``ram.blocking``). The hop goes through the
running asyncio loop's default executor, carrying the request's context variables (anyio's thread hop under
any other event loop); it costs ~150 µs on a 2-vCPU VM, more than the whole in-memory decision.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..authorizer import BodyTimeout, EntityTooLarge, ErrorResponse, IncompleteBody, Outcome, new_request_id
from ..errors import RAMError, ServiceUnavailable
from ..facts import RequestFacts
from ..identity import Principal
from ..request_scope import request_scope
from ..routes import RouteMatch, RouteTable, Rule
from .common import (
    DEFAULT_BODY_TIMEOUT,
    Runtime,
    body_is_signed,
    declared_length,
    max_body_from_env,
    runtime_from_env,
)

__all__ = [
    "ASGIApp",
    "AnonymousUser",
    "PrincipalUser",
    "RAMMiddleware",
    "RamCredentials",
    "RuleResolver",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RuleResolver = Callable[[Scope], "RouteMatch | None"]

log = logging.getLogger(__name__)

_HTTP_1 = ("1.0", "1.1")
# The headers that say whether an HTTP/1.x request has a body. Header names are compared lowercased: ASGI
# asks servers for lowercase names but lets them keep the client's case.
_FRAMING = (b"content-length", b"transfer-encoding")
_FRAMING_LENGTHS = frozenset(map(len, _FRAMING))
_POLICY_VIOLATION = 1008
_INTERNAL_ERROR = 1011


class PrincipalUser:
    """``scope["user"]`` for an authenticated caller (duck-compatible with Starlette's ``BaseUser``)."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def __repr__(self) -> str:
        return f"PrincipalUser({self.principal.arn!r})"

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.name

    @property
    def identity(self) -> str:
        return self.principal.arn


class AnonymousUser:
    """``scope["user"]`` on public routes when no other middleware set one."""

    principal = None
    is_authenticated = False
    display_name = ""
    identity = ""


class RamCredentials:
    """``scope["auth"]``: the scopes Starlette's ``requires`` checks."""

    def __init__(self, scopes: list[str] | None = None) -> None:
        self.scopes = scopes or []


class RAMMiddleware:
    """Protects an ASGI app. ``rules`` is a :class:`RouteTable` or one :class:`Rule` for every path
    (e.g. an :class:`~ram_middleware.routes.RpcApi`); requests no rule covers follow the authorizer's
    ``undeclared`` setting (deny by default)."""

    user_class: Callable[[Principal], object] = PrincipalUser
    anonymous_class: Callable[[], object] = AnonymousUser
    credentials_class: Callable[[list[str]], object] = RamCredentials

    def __init__(
        self,
        app: ASGIApp,
        *,
        ram: Runtime | None = None,
        rules: RouteTable | Rule | None = None,
        resolver: RuleResolver | None = None,
        websockets: bool = True,
        max_body: int | None = None,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        offload: bool | None = None,
    ) -> None:
        if max_body is not None and max_body < 0:
            raise ValueError("max_body must be >= 0")
        if body_timeout is not None and not 0 < body_timeout < float("inf"):
            raise ValueError("body_timeout must be a positive number of seconds, or None")
        self.app = app
        self._unconfigured: str | None = None
        try:
            self.max_body = max_body_from_env() if max_body is None else max_body
            runtime = ram if ram is not None else runtime_from_env()
        except Exception as exc:
            # ``add_middleware`` builds this at the app's first scope, the lifespan's: raised, uvicorn would
            # take it for an app without a lifespan, start anyway and answer every request 500.
            self._unconfigured = f"ram-middleware cannot start: {exc}"
            return
        self._runtime = runtime
        self.authorizer = runtime.authorizer
        self.offload = runtime.blocking if offload is None else offload
        self.websockets = websockets
        self.body_timeout = body_timeout
        self._table = rules if isinstance(rules, RouteTable) else None
        self._everywhere = rules if rules is not None and not isinstance(rules, RouteTable) else None
        self._resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._unconfigured is not None:
            await _refuse_unconfigured(self._unconfigured, scope, receive, send)
            return
        kind = scope["type"]
        if kind != "http" and not (kind == "websocket" and self.websockets):
            if kind == "lifespan":
                _warn_if_server_rewrites_peer(receive)
                await self._lifespan(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        try:
            rule, path_params = self.resolve(scope) or (None, {})
        except RAMError as exc:  # a path the app's router cannot read either (a 4xx, audited)
            error = self.authorizer.reject(RequestFacts.from_asgi(scope), exc)
            await self._refuse(scope, send, error, close=_announces_body(scope))
            return
        if self.authorizer.skips(rule):
            self._mark_anonymous(scope)
            await self._unchecked(scope, receive, send)
            return
        body = b""
        unread = kind == "http"  # a body is left to the server unless read here
        if unread and _needs_body(scope):
            read = await self._read_body(scope, receive, send)
            if read is None:
                return
            body, receive = read
            unread = False
        facts = RequestFacts.from_asgi(scope, body)
        if self.offload:
            outcome = await self._check(facts, rule, path_params)
        else:  # inline: spare the extra coroutine
            outcome = self.authorizer.check(facts, rule, path_params)
        if outcome.error is not None:
            await self._refuse(scope, send, outcome.error, close=unread and _announces_body(scope))
            return
        self._mark(scope, outcome)
        scope["ram.rule"] = rule
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's lifespan, writing what is pending at shutdown. An app that does not speak the protocol
        (it ends, raising or not, without reading or sending a message, as Django's ASGI handler does) leaves
        the server to carry on without one, and the pending writes with no moment to happen: the lifespan
        is then answered here. An app that took part and then raised has failed: that goes on up."""
        spoke = False
        flushing = self._flushing_at_shutdown(send)

        async def reading() -> Message:
            nonlocal spoke
            spoke = True
            return await receive()

        async def sending(message: Message) -> None:
            nonlocal spoke
            spoke = True
            await flushing(message)

        try:
            await self.app(scope, reading, sending)
        except Exception as exc:
            if spoke:
                raise
            log.info(
                "the app does not support the ASGI lifespan (%s): RAMMiddleware answers it",
                type(exc).__name__,
            )
        if spoke:
            return
        while True:  # startup and shutdown, the ASGI lifespan's only messages
            message = await receive()
            if message["type"] == "lifespan.startup":
                await flushing({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await flushing({"type": "lifespan.shutdown.complete"})
                return

    def _flushing_at_shutdown(self, send: Send) -> Send:
        """``send`` for the lifespan: before the app reports its shutdown done, the runtime's pending audit
        events and last-used dates are written. uvicorn, after a graceful shutdown on SIGTERM, raises the
        signal again, so the process dies without ``atexit``: this is the last moment to write them."""
        flush = getattr(self._runtime, "flush", None)
        if not callable(flush):
            return send

        async def sending(message: Message) -> None:
            if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                try:
                    await _in_thread(flush)  # a store write may wait on the database: off the loop
                except Exception:
                    log.error("pending audit events or last-used dates unwritten at shutdown", exc_info=True)
            await send(message)

        return sending

    def resolve(self, scope: Scope) -> RouteMatch | None:
        """The rule for this request: the route table, then the resolver, then the catch-all rule. A
        :class:`~ram_middleware.errors.RAMError` from a resolver refuses the request with its code."""
        if self._table is not None:
            found = self._table.match(scope.get("method", "GET"), self._table_path(scope))
            if found is not None:
                return self._from_table(scope, found)
        if self._resolver is not None:
            found = self._resolver(scope)
            if found is not None:
                return found
        return (self._everywhere, {}) if self._everywhere is not None else None

    def _table_path(self, scope: Scope) -> str:
        """The path the route table matches: the one the app's router matches."""
        return _route_path(scope)

    def _from_table(self, scope: Scope, found: RouteMatch) -> RouteMatch:
        """The route table's match for this request (a framework's adapter may hold it to its endpoint)."""
        return found

    async def _check(self, facts: RequestFacts, rule: Rule | None, path_params: dict[str, str]) -> Outcome:
        """The decision on a worker thread, with the caller's context variables (as anyio does). The
        request's store deadline starts now: time queued for a busy thread pool counts towards it."""
        with request_scope():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not asyncio (trio under anyio): anyio's own thread hop
                from anyio import to_thread  # imported here: a bare ASGI app may not have anyio

                return await to_thread.run_sync(self.authorizer.check, facts, rule, path_params)
            # The loop's executor directly: anyio's hop adds its own task and limiter bookkeeping (~40 µs
            # measured) to the ~150 µs every thread hop already costs.
            call = contextvars.copy_context().run
            return await loop.run_in_executor(None, call, self.authorizer.check, facts, rule, path_params)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> tuple[bytes, Receive] | None:
        """The whole body and a ``receive`` that replays it; None when already answered (413/disconnect)."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await self._too_large(scope, send)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await self._next_part(receive)
            except TimeoutError:
                error = self.authorizer.reject(RequestFacts.from_asgi(scope), BodyTimeout())
                await self._refuse(scope, send, error, close=True)
                return None
            if message["type"] == "http.disconnect":
                # The client left: nobody to answer, but the attempt is audited, as under WSGI (whose
                # server reports it as a failed read).
                self.authorizer.reject(RequestFacts.from_asgi(scope), IncompleteBody())
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(scope, send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        return body, _replay(body, receive)

    async def _next_part(self, receive: Receive) -> Message:
        """The next body message, or TimeoutError after ``body_timeout`` seconds of silence."""
        if self.body_timeout is None:
            return await receive()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio under anyio)
            from anyio import fail_after

            with fail_after(self.body_timeout):
                return await receive()
        async with asyncio.timeout(self.body_timeout):
            return await receive()

    async def _too_large(self, scope: Scope, send: Send) -> None:
        error = self.authorizer.reject(RequestFacts.from_asgi(scope), EntityTooLarge())
        await self._refuse(scope, send, error, close=True)

    async def _refuse(self, scope: Scope, send: Send, error: ErrorResponse, *, close: bool = False) -> None:
        """Answer ``error``; ``close``: a body was left unread (whole or in part), so the connection is closed
        after the answer (uvicorn would otherwise read it at the client's pace, without a limit)."""
        prefix = "http."
        if scope["type"] == "websocket":
            if "websocket.http.response" not in scope.get("extensions", {}):
                # Closing before accepting makes the server answer the handshake with a bare 403.
                await send({"type": "websocket.close", "code": _POLICY_VIOLATION, "reason": error.code[:120]})
                return
            prefix = "websocket.http."  # the server lets the handshake get the error itself (401, 400…)
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in error.headers]
        headers.append((b"content-length", str(len(error.body)).encode("ascii")))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": prefix + "response.start", "status": error.status, "headers": headers})
        # A HEAD's answer has no body (its Content-Length is the GET's), as Starlette's responses do: not
        # every server drops one, and a client that reads none would take it for the next response.
        body = b"" if scope.get("method") == "HEAD" else error.body
        await send({"type": prefix + "response.body", "body": body})

    async def _unchecked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand on a request no rule checks (a public route, or undeclared ones under ``allow``)."""
        await self.app(scope, receive, send)

    def _mark(self, scope: Scope, outcome: Outcome) -> None:
        principal = outcome.principal
        if principal is None:
            self._mark_anonymous(scope)
        else:
            scope["user"] = self.user_class(principal)
            scopes = ["authenticated", outcome.action] if outcome.action else ["authenticated"]
            scope["auth"] = self.credentials_class(scopes)
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["ram_request_id"] = outcome.request_id
        scope["ram.outcome"] = outcome

    def _mark_anonymous(self, scope: Scope) -> None:
        # Another auth middleware may sit outside us; never overwrite what it found.
        if "user" not in scope:
            scope["user"] = self.anonymous_class()
            scope["auth"] = self.credentials_class([])
        scope.setdefault("state", {}).setdefault("principal", None)


async def _refuse_unconfigured(reason: str, scope: Scope, receive: Receive, send: Send) -> None:
    """A middleware whose settings failed: the lifespan's start fails with ``reason`` (uvicorn then exits),
    a request gets 503 ``ServiceUnavailable`` (``reason`` is the server log's, not the caller's) and a
    websocket handshake is closed with 1011."""
    kind = scope["type"]
    if kind == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.failed", "message": reason})
        else:
            await send({"type": "lifespan.shutdown.complete"})
        return
    log.error("%s; the request was refused", reason)  # no lifespan (the server runs none) said it
    if kind == "websocket":
        await send({"type": "websocket.close", "code": _INTERNAL_ERROR})
    elif kind == "http":
        request_id = new_request_id()
        error = ServiceUnavailable()
        body = json.dumps({"RequestId": request_id, "Code": error.code, "Message": error.message}).encode()
        headers = [
            (b"content-type", b"application/json;charset=utf-8"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"x-acs-request-id", request_id.encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


def _warn_if_server_rewrites_peer(receive: Receive) -> None:
    """Warn at start-up when uvicorn rewrites ``scope["client"]`` and ``scheme`` from ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` (its default, ``--proxy-headers``): it does so before the middleware sees the
    request, so the peers it trusts (127.0.0.1 by default: any local process) choose their own
    ``acs:SourceIp`` and ``acs:SecureTransport``. uvicorn's lifespan ``receive`` is a method of the object
    holding its config; other servers' are not, and say nothing."""
    config = getattr(getattr(receive, "__self__", None), "config", None)
    if getattr(config, "proxy_headers", False) is True:
        log.warning(
            "uvicorn rewrites the client address and scheme from X-Forwarded-For/X-Forwarded-Proto sent by "
            "%s (--proxy-headers, its default), before RAMMiddleware sees them: those peers choose their own "
            "acs:SourceIp and acs:SecureTransport. Run uvicorn with --no-proxy-headers and name your "
            "proxies in RAM_TRUSTED_PROXIES.",
            getattr(config, "forwarded_allow_ips", "its --forwarded-allow-ips"),
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then defers to the server (``http.disconnect``)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _in_thread(call: Callable[[], object]) -> None:
    """Run ``call`` on a worker thread: the loop's executor under asyncio, anyio's hop otherwise."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio under anyio)
        from anyio import to_thread

        await to_thread.run_sync(call)
        return
    await loop.run_in_executor(None, call)


def _needs_body(scope: Scope) -> bool:
    """Does verifying this request need its body? Only when there may be one and a scheme covers it."""
    headers = scope.get("headers", ())
    if scope.get("http_version", "1.1") in _HTTP_1:
        # Most requests are bodiless HTTP/1.x ones: a length test per header settles them, where the full
        # scan below lowers and compares every name.
        for name, _ in headers:
            if len(name) in _FRAMING_LENGTHS and name.lower() in _FRAMING:
                break
        else:
            return False
    framed = False  # a content-length or transfer-encoding header says whether there is a body
    has_body = False
    authorization = oss_payload = amz_payload = None
    content_type: bytes | None = None
    content_md5 = False
    for name, value in headers:
        name = name.lower()  # ASGI lets a server keep the names' case
        if name == b"content-length":
            framed = True
            has_body = has_body or value.strip() not in (b"", b"0")
        elif name == b"transfer-encoding":
            framed = has_body = True
        elif name == b"content-type" and content_type is None:  # the first, as RequestFacts and Starlette
            content_type = value
        elif name == b"authorization":
            authorization = value
        elif name == b"content-md5":
            content_md5 = True
        elif name == b"x-oss-content-sha256":
            oss_payload = value
        elif name == b"x-amz-content-sha256":
            amz_payload = value
    if not framed:
        # HTTP/1.x: no body. HTTP/2 and 3 send one without either header; left unread, its form
        # parameters would reach the app unsigned.
        has_body = scope.get("http_version", "1.1") not in _HTTP_1
    return has_body and body_is_signed(
        authorization=None if authorization is None else authorization.decode("latin-1"),
        content_type=(content_type or b"").decode("latin-1"),
        content_md5=content_md5,
        oss_payload=None if oss_payload is None else oss_payload.decode("latin-1"),
        query=scope.get("query_string", b"").decode("latin-1"),
        amz_payload=None if amz_payload is None else amz_payload.decode("latin-1"),
    )


def _announces_body(scope: Scope) -> bool:
    """Whether the request's headers announce a body (a non-zero content-length, or chunking)."""
    for name, value in scope.get("headers", ()):
        name = name.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            return declared_length(value.decode("latin-1").strip())
    return None


def _route_path(scope: Scope) -> str:
    """The path the app's router matches: ``root_path`` stripped only at a ``/`` boundary, as Starlette
    does (under root ``/user``, ``/users/5`` keeps its whole path)."""
    path = str(scope.get("path", "/"))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        path = path[len(root) :] or "/"
    return path
