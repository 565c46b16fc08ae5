"""The ASGI app ``ram serve`` runs: RAM and STS APIs on ``/``, ``/healthz``, behind our own middleware.

:func:`create_app` wraps :class:`ControlPlaneApp` in :class:`~ram_middleware.adapters.asgi.RAMMiddleware`
with an authorizer of its own that shares the runtime's authenticator, directory, context builder, audit
sink and diagnostics, but treats undeclared requests as "authenticate only" (see :mod:`.routing`): that is
how GetCallerIdentity reaches every authenticated caller while everything else is policy-checked.

A call's store work ends within :data:`CALL_BUDGET` of the request's arrival (before its decision), else
503 ``ServiceUnavailable.StoreBusy`` with nothing written: the official SDKs give up after 10 s and retry,
and a write must not land after the client has stopped waiting for it.

The APIs take signed requests only, never the console's session cookie: a browser sends that cookie on a
cross-site navigation (SameSite=Lax), and an RPC call by GET changes state, so a page elsewhere could
otherwise drive the APIs as whoever is signed in to the console.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from .. import errors
from ..adapters.asgi import RAMMiddleware
from ..authorizer import Authorizer, EntityTooLarge, Outcome, new_request_id
from ..config import Ram
from ..credentials.authenticate import Authenticator, detect_scheme
from ..credentials.encoding import SignedRequest
from ..facts import RequestFacts
from ..guard import Guard
from ..identity import Principal
from ..request_scope import api_call, request_scope
from ..routes import InvalidAction
from ..store import Store
from .base import Backend
from .plane import ControlPlane
from .responses import Response, error_response, success_response
from .routing import HEALTH_PATH, ControlPlaneRule, KeyOwner, control_plane_resolver

__all__ = ["CALL_BUDGET", "CONSOLE_PREFIX", "MAX_BODY", "ControlPlaneApp", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONSOLE_PREFIX = "/console"
MAX_BODY = 1024 * 1024  # RAM/STS parameters are small (a policy document is at most 6,144 characters)
CALL_BUDGET = 8.0
"""Seconds from a call's arrival by which its store work ends: below the official SDKs' 10 s read timeout."""
_RECEIVED = "ram.received"  # scope key: time.monotonic() when the request reached the control plane


_CALL_METHODS = ("GET", "POST")


class UnsupportedHTTPMethod(errors.RAMError):
    """A RAM or STS call sent with another method than GET or POST (405)."""

    default_code = "UnsupportedHTTPMethod"
    default_status = 405
    default_message = "RAM and STS calls are sent with GET or POST."


class _BodyTooLarge(Exception):
    pass


class ControlPlaneApp:
    """The inner app. It trusts only what the middleware put in the scope (``ram.outcome``); without it
    (the app mounted unprotected) every call fails closed with 503."""

    def __init__(
        self,
        plane: ControlPlane,
        *,
        on_shutdown: Callable[[], None] | None = None,
        probe: Callable[[], None] | None = None,
    ) -> None:
        self.plane = plane
        self._on_shutdown = on_shutdown
        self._probe = probe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send(send, await self._respond(scope, receive), head=scope.get("method") == "HEAD")

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        path = scope.get("path")
        outcome = scope.get("ram.outcome")
        request_id = outcome.request_id if isinstance(outcome, Outcome) else new_request_id()
        host_id = self.plane.host_id
        if path == HEALTH_PATH:
            return await self._health(request_id)
        if path != "/":
            return error_response(InvalidAction(), request_id, host_id=host_id)
        if not isinstance(outcome, Outcome) or outcome.principal is None or not outcome.allowed:
            unprotected = errors.ServiceUnavailable("The control plane is not behind its middleware.")
            return error_response(unprotected, request_id, host_id=host_id)
        authorized = (outcome.action, outcome.resource or "") if outcome.action else None
        refuse = functools.partial(
            self.plane.refuse_unread, RequestFacts.from_asgi(scope), outcome.principal, request_id, authorized
        )
        if scope.get("method") not in _CALL_METHODS:
            # RPC style: a call is a GET or a POST. A HEAD signed as such must not run CreateUser (nor a PUT).
            error = await anyio.to_thread.run_sync(refuse, UnsupportedHTTPMethod())  # a sink may write a file
            refused = error_response(error, request_id, host_id=host_id)
            if refused.status != 405:  # the sink failed: its 503 as it is
                return refused
            return Response(
                refused.status, (*refused.headers, ("allow", ", ".join(_CALL_METHODS))), refused.body
            )
        try:
            body = await _read_body(receive)
        except _BodyTooLarge:
            error = await anyio.to_thread.run_sync(refuse, EntityTooLarge())  # a sink may write to a file
            return error_response(error, request_id, host_id=host_id)
        facts = RequestFacts.from_asgi(scope, body)
        handle = functools.partial(
            self.plane.handle,
            facts,
            outcome.principal,
            request_id,
            authorized=authorized,
            decision=outcome.decision,
        )
        received = scope.get(_RECEIVED)
        deadline = (received if isinstance(received, float) else time.monotonic()) + CALL_BUDGET
        # Handlers touch the store and hash passwords: keep them off the event loop.
        return await anyio.to_thread.run_sync(_answer_by, deadline, handle)

    async def _health(self, request_id: str) -> Response:
        """200 "ok", or 503 while the store or guard does not answer: every call would be refused then, and a
        load balancer probing this takes the instance out until they are back."""
        if self._probe is not None:
            try:
                await anyio.to_thread.run_sync(self._probe)  # store and guard I/O: off the event loop
            except errors.ServiceUnavailable as exc:
                return error_response(exc, request_id, host_id=self.plane.host_id)
        return success_response("Health", {"Status": "ok"}, request_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._on_shutdown is not None:
                    self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def probe_backends(store: Store, guard: Guard) -> None:
    """Raise :class:`errors.ServiceUnavailable` unless the store and the guard each answer a read, within
    the bound of a request's store work. Its message names which, and nothing more: /healthz is public."""
    for part, read in (("store", store.change_counter), ("guard", lambda: guard.count("health"))):
        try:
            with request_scope():
                read()
        except errors.ServiceUnavailable as exc:  # how either says it cannot be reached
            raise errors.ServiceUnavailable(
                f"The {part} does not answer: this instance refuses every call until it does.",
                code=f"ServiceUnavailable.{part.capitalize()}",
            ) from exc


def _answer_by(deadline: float, handle: Callable[[], Response]) -> Response:
    with api_call(deadline):
        return handle()


class _Received:
    """Notes when a request reached the control plane, before the middleware decides it: the call's budget
    counts from there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_RECEIVED] = time.monotonic()
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > MAX_BODY:
            raise _BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: Response, *, head: bool) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    # A HEAD's answer has no body (its Content-Length is the GET's), as the middleware's refusals: not every
    # server drops one, and a client that reads none would take it for the next response.
    await send({"type": "http.response.body", "body": b"" if head else response.body})


@dataclass(frozen=True, slots=True)
class _Guarded:
    """The middleware's view of the runtime: our authorizer, the runtime's blocking hint, and its flush (the
    middleware writes the pending audit events with it when the lifespan ends: uvicorn, stopped by SIGTERM,
    then dies of the signal without running the exit handlers)."""

    authorizer: Authorizer
    blocking: bool
    flush: Callable[[], None]


def create_app(runtime: Ram, *, close_on_shutdown: bool = False, console: bool = True) -> ASGIApp:
    """The protected control-plane ASGI app over an assembled runtime (:func:`ram_middleware.config.build`).

    With ``close_on_shutdown`` the runtime is closed when the server's lifespan ends. With ``console``
    (the default) the console logon pages are served under ``/console`` beside the APIs.
    """
    plane_app = _control_plane(runtime, close_on_shutdown)
    return _WithConsole(plane_app, _console_app(runtime)) if console else plane_app


def _console_app(runtime: Ram) -> ASGIApp:
    """A Starlette app holding only the console pages (they check the browser session themselves)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from ..adapters.starlette import RAMMiddleware as StarletteRAMMiddleware
    from ..console.starlette import mount_console

    app = Starlette(middleware=[Middleware(StarletteRAMMiddleware, ram=runtime)])
    mount_console(app, runtime, prefix=CONSOLE_PREFIX, title="ram-middleware console")
    return app


class _WithConsole:
    """Sends ``/console…`` requests to the console and everything else (lifespan too) to the APIs."""

    def __init__(self, plane: ASGIApp, console: ASGIApp) -> None:
        self.plane = plane
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")):
            await self.console(scope, receive, send)
        else:
            await self.plane(scope, receive, send)


class _SignedOnly:
    """The runtime's authenticator for signed requests; a request with no signature (a console session
    cookie, say) carries no credential here."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    def authenticate(self, facts: RequestFacts) -> Principal | None:
        return None if detect_scheme(facts) is None else self._authenticator.authenticate(facts)

    def parse(self, facts: RequestFacts) -> SignedRequest | None:
        return self._authenticator.parse(facts)


def _control_plane(runtime: Ram, close_on_shutdown: bool) -> ASGIApp:
    base = runtime.authorizer
    backend = Backend(
        runtime.service, runtime.directory, runtime.tokens, base.contexts, runtime.guard, base.diagnostics,
        base.audit,
    )  # fmt: skip
    plane = ControlPlane(backend, host_id=runtime.config.host_id)
    authorizer = Authorizer(
        _SignedOnly(runtime.authenticator),
        runtime.service.self_service,  # what `ram simulate` decides with too
        contexts=base.contexts,
        audit=base.audit,
        undeclared="authenticate",
        diagnostics=base.diagnostics,
        host_id=runtime.config.host_id,
    )
    rule = ControlPlaneRule(plane, KeyOwner(runtime.authenticator, runtime.directory, runtime.tokens))
    inner = ControlPlaneApp(
        plane,
        on_shutdown=runtime.close if close_on_shutdown else None,
        probe=functools.partial(probe_backends, runtime.store, runtime.guard),
    )
    return _Received(
        RAMMiddleware(
            inner,
            ram=_Guarded(authorizer, runtime.blocking, runtime.flush),
            resolver=control_plane_resolver(rule),
            max_body=MAX_BODY,
        )
    )
