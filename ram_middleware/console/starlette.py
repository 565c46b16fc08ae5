"""The console in Starlette and FastAPI apps.

One call does everything::

    app = Starlette(routes=[...], middleware=[Middleware(RAMMiddleware, ram=ram)])
    console = mount_console(app, ram)            # pages under /console, session refresh, app.state

or piece by piece: ``app.router.routes.append(console_routes(console))`` (a :class:`Mount`) and
``Middleware(ConsoleMiddleware, console=console)`` (rolling refresh of the session cookie, so the idle
timeout counts from the last request). Sensitive endpoints take ``@require_mfa(max_age=300)``.

Console pages are ``@public`` for :class:`~ram_middleware.adapters.starlette.RAMMiddleware`: they check the
session themselves. Forms are parsed here (url-encoded only; python-multipart is not needed) and every page
runs in a worker thread, since logon hashes passwords and reads the store. Templates render through
Starlette's :class:`Jinja2Templates`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, Protocol, TypeVar, cast, overload

import anyio
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates

from .. import errors
from ..adapters.asgi import ASGIApp, Message, Receive, Scope, Send
from ..adapters.starlette import current_principal
from ..authorizer import ErrorResponse, Outcome
from ..config import Ram
from ..facts import RequestFacts
from ..routes import public
from .browser import mfa_fresh
from .core import Console
from .web import (
    MAX_FORM_BYTES,
    TEMPLATE_DIR,
    TEMPLATE_NAMESPACE,
    ConsoleRequest,
    FormTooLarge,
    Reply,
    parse_form,
)

__all__ = ["ConsoleMiddleware", "console_routes", "mount_console", "require_mfa"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_REQUEST_PARAMETER = "_ram_mfa_request"  # the name FastAPI hands require_mfa's wrapper the request under
_METHODS = ["GET", "HEAD", "POST"]
_ROOT_KEY = "ram.console.root"


def console_routes(console: Console | Ram, **options: Any) -> Mount:
    """The console's pages as a :class:`Mount` at its prefix (a runtime gets a new :class:`Console`)."""
    try:
        import jinja2  # noqa: F401  (Starlette's templates assert on it; name the extra that brings it)
    except ModuleNotFoundError as exc:
        raise errors.missing_extra(exc, "The console's pages", "console") from None
    found = console if isinstance(console, Console) else Console(console, **options)
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
    routes = [
        Route(path, _endpoint(found, templates, name), methods=_METHODS, name=name)
        for name, path in found.pages()
    ]
    return Mount(found.settings.prefix, routes=routes, name="ram_console")


def mount_console(app: Any, ram: Console | Ram, **options: Any) -> Console:
    """Add the console to a Starlette/FastAPI ``app`` (before it starts): pages, session refresh, state."""
    console = ram if isinstance(ram, Console) else Console(ram, **options)
    app.router.routes.append(console_routes(console))
    app.router.routes.append(Route(console.settings.prefix, _to_home(console), methods=["GET"]))
    app.state.ram_console = console
    app.add_middleware(ConsoleMiddleware, console=console)
    return console


def _endpoint(
    console: Console, templates: Jinja2Templates, name: str
) -> Callable[[Request], Awaitable[Response]]:
    @public
    async def page(request: Request) -> Response:
        facts = _page_facts(console, request.scope)
        try:
            # The console's routes are public (nobody is signed in yet), so the middleware's body_timeout
            # never applies: a form that trickles in must not hold the request open for ever either.
            with anyio.fail_after(FORM_SECONDS):
                body = await _body(request)
            form = parse_form(body, request.headers.get("content-type", ""))
        except FormTooLarge as exc:
            reply = console.kit.message(ConsoleRequest(facts), exc.message, status=exc.status)
            return _response(request, templates, reply)
        except TimeoutError:
            reply = console.kit.message(ConsoleRequest(facts), _FORM_LATE, status=408)
            return _response(request, templates, reply)
        reply = await run_in_threadpool(console.handle, name, ConsoleRequest(facts, form))
        return _response(request, templates, reply)

    page.__name__ = f"ram_console_{name}"
    return page


def _to_home(console: Console) -> Callable[[Request], Awaitable[Response]]:
    @public
    async def bare_prefix(request: Request) -> Response:
        reply = console.to_home(ConsoleRequest(_page_facts(console, request.scope)))
        return RedirectResponse(reply.location or "/", status_code=reply.status)

    return bare_prefix


def _page_facts(console: Console, scope: Scope) -> RequestFacts:
    """Facts of a request to a console page. The pages' :class:`Mount` has added the console's prefix to
    the scope's ``root_path``; the facts name the mount point of the app the console belongs to."""
    root = str(scope.get("root_path", ""))
    prefix = console.settings.prefix
    return RequestFacts.from_asgi(
        {**scope, "root_path": root[: -len(prefix)] if root.endswith(prefix) else root}
    )


FORM_SECONDS = 30.0
"""How long a console form (at most MAX_FORM_BYTES) may take to arrive, all of it."""
_FORM_LATE = "The form took too long to arrive. Please try again."


async def _body(request: Request) -> bytes:
    """The request body, refusing more than :data:`MAX_FORM_BYTES` without reading it all."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _response(request: Request, templates: Jinja2Templates, reply: Reply) -> Response:
    response: Response
    if reply.location is not None:
        response = RedirectResponse(reply.location, status_code=reply.status)
    else:
        template = TEMPLATE_NAMESPACE + (reply.template or "message.html")
        response = templates.TemplateResponse(request, template, reply.context, status_code=reply.status)
    _add_headers(response, reply.headers)
    return response


def _add_headers(response: Response, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> None:
    for name, value in headers:
        if name.lower() == "set-cookie":
            response.headers.append(name, value)
        else:
            response.headers[name] = value


def error_response(error: ErrorResponse) -> Response:
    """A Starlette response for an :class:`ErrorResponse` (redirect, HTML page or JSON error)."""
    response = Response(error.body, status_code=error.status)
    _add_headers(response, error.headers)
    return response


class ConsoleMiddleware:
    """Renews the session cookie on responses once it is ``refresh_after`` old (the idle timeout counts
    from the last request; kept out of shared caches: :meth:`Console.renewal_headers`), and makes the
    console findable by ``require_mfa`` (``scope["ram.console"]``, with the app's mount point in
    ``scope["ram.console.root"]``: a :class:`Mount` inside the app adds its own path to ``root_path`` by
    the time an endpoint runs)."""

    def __init__(self, app: ASGIApp, *, console: Console) -> None:
        self.app = app
        self.console = console
        # A cheap filter before any work: either spelling of the name (plain or __Host-) contains this.
        self._cookie = console.settings.session_cookie.encode("latin-1") + b"="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["ram.console"] = self.console
        scope[_ROOT_KEY] = scope.get("root_path", "")
        if not any(name == b"cookie" and self._cookie in value for name, value in scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        facts = RequestFacts.from_asgi(scope)

        async def send_renewing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                renewal = self.console.renewal_headers
                added = await run_in_threadpool(
                    renewal, facts, headers.getlist("set-cookie"), headers.get("cache-control")
                )
                for name, value in added:
                    if name == "set-cookie":
                        headers.append(name, value)
                    else:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_renewing)


class MfaGuard(Protocol):
    """What :func:`require_mfa` returns: a decorator that keeps the endpoint's parameters (for type checkers
    and for FastAPI) and makes it a coroutine function answering the endpoint's result or the refusal."""

    @overload
    def __call__(  # type: ignore[overload-overlap]  # an awaitable result is awaited, not returned
        self, endpoint: Callable[_P, Awaitable[_R]], /
    ) -> Callable[_P, Coroutine[Any, Any, _R | Response]]: ...

    @overload
    def __call__(self, endpoint: Callable[_P, _R], /) -> Callable[_P, Coroutine[Any, Any, _R | Response]]: ...


def require_mfa(max_age: float | None = None, *, console: Console | None = None) -> MfaGuard:
    """Endpoint decorator: the caller must have proved MFA (within ``max_age`` seconds, when given).

    A browser session without it is sent to the step-up page and back; an API caller gets 403
    ``Forbidden.MFARequired``. Apply it above ``@ram_route`` (the route's rule is kept on the wrapper). It
    goes on a Starlette endpoint, an ``HTTPEndpoint``'s ``get``/``post``/…, or a FastAPI endpoint whatever
    its parameters (FastAPI hands the wrapper the request under a name of its own), sync or async.
    """

    def decorate(endpoint: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
        if isinstance(endpoint, type) or not callable(endpoint):
            raise TypeError(
                "require_mfa goes on an endpoint function or an HTTPEndpoint's get/post/… method, "
                f"got {endpoint!r}."
            )
        is_async = is_async_callable(endpoint)

        @functools.wraps(endpoint)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            request = kwargs.pop(_REQUEST_PARAMETER, None) or _request_among(args, kwargs)
            found = console or _console_of(request)
            principal = current_principal(request)
            if not mfa_fresh(principal, max_age, found.kit.now()):
                facts = RequestFacts.from_asgi(_app_scope(request.scope))
                checked = request.scope.get("ram.outcome")
                outcome = checked if isinstance(checked, Outcome) else None
                refusal = await run_in_threadpool(found.mfa_refusal, facts, principal, max_age, outcome)
                if refusal is not None:
                    return error_response(refusal)
            if is_async:
                return await endpoint(*args, **kwargs)
            return await run_in_threadpool(endpoint, *args, **kwargs)

        signature = _asking_for_the_request(endpoint)
        if signature is not None:
            guarded.__signature__ = signature  # type: ignore[attr-defined]  # read by FastAPI
        return guarded

    return cast(MfaGuard, decorate)


def _asking_for_the_request(endpoint: Callable[..., Any]) -> inspect.Signature | None:
    """The endpoint's signature with a keyword-only ``Request`` parameter added, so that FastAPI, which
    passes an endpoint only what it names, gives the guard the request; None when it names one already
    (FastAPI fills one such parameter only) or has no signature to read."""
    try:
        signature = inspect.signature(endpoint)
    except (TypeError, ValueError):
        return None
    try:  # the annotations as FastAPI reads them: evaluated in the endpoint's module
        evaluated = inspect.signature(endpoint, eval_str=True).parameters.values()
    except Exception:  # a name the module does not define: FastAPI cannot read it either
        evaluated = signature.parameters.values()
    if any(isinstance(p.annotation, type) and issubclass(p.annotation, HTTPConnection) for p in evaluated):
        return None
    parameters = list(signature.parameters.values())
    position = len(parameters)
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
        position -= 1  # **kwargs stays last
    added = inspect.Parameter(_REQUEST_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
    return signature.replace(parameters=[*parameters[:position], added, *parameters[position:]])


def _request_among(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    """The request among an endpoint's arguments: Starlette passes it alone, an ``HTTPEndpoint`` after
    ``self``."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, Request):
            return value
    raise TypeError("require_mfa found no Request among the endpoint's arguments.")


def _app_scope(scope: Scope) -> Scope:
    """``scope`` with the ``root_path`` the app itself was called with, when :class:`ConsoleMiddleware`
    noted it (else the endpoint's own, right unless the endpoint sits in a :class:`Mount` of the app)."""
    return {**scope, "root_path": scope[_ROOT_KEY]} if _ROOT_KEY in scope else scope


def _console_of(request: Request) -> Console:
    found = request.scope.get("ram.console") or getattr(request.app.state, "ram_console", None)
    if not isinstance(found, Console):
        raise RuntimeError("require_mfa needs the console: use mount_console(app, ram) or pass console=")
    return found
