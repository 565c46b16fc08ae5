"""The console in Flask apps: ``init_console(app)`` after ``RAM(app)``.

It registers the ``ram_console`` blueprint (pages under ``/console``, templates from this package through
Flask's own ``render_template``), keeps the :class:`Console` in ``app.extensions["ram_console"]`` (no app
is kept on any object), and adds an ``after_request`` hook that renews the session cookie once it is
``refresh_after`` old, so the idle timeout counts from the last request (kept out of shared caches:
:meth:`Console.renewal_headers`). Sensitive views take ``@require_mfa(max_age=300)``.

The pages are ``@public`` for the RAM extension's ``before_request`` hook: they check the session
themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from werkzeug.exceptions import RequestEntityTooLarge

from ..adapters.flask import RAM
from ..authorizer import ErrorResponse, Outcome
from ..config import Ram
from ..credentials.session import HOST_PREFIX
from ..facts import RequestFacts
from ..identity import Principal
from ..routes import public
from .core import Console
from .web import MAX_FORM_BYTES, TEMPLATE_NAMESPACE, ConsoleRequest, FormTooLarge, Reply, parse_form

__all__ = ["init_console", "require_mfa"]

_EXTENSION = "ram_console"
_P = ParamSpec("_P")
_R = TypeVar("_R")


def init_console(app: Flask, ram: Ram | None = None, **options: Any) -> Console:
    """Mount the console in ``app``; ``ram`` defaults to the runtime of the app's ``RAM`` extension.

    ``options`` go to :class:`Console` (``prefix``, ``secret_keys``, ``idle_timeout``, ``title``…).
    """
    console = Console(ram if ram is not None else RAM.runtime(app), **options)
    blueprint = Blueprint(
        _EXTENSION, __name__, template_folder="templates", url_prefix=console.settings.prefix
    )
    for name, path in console.pages():
        blueprint.add_url_rule(path, endpoint=name, view_func=_view(name), methods=["GET", "POST"])
    blueprint.add_url_rule("", endpoint="bare_prefix", view_func=_to_home, methods=["GET"])
    app.register_blueprint(blueprint)
    app.extensions[_EXTENSION] = console
    app.after_request(_renew_session)
    return console


def _console() -> Console:
    console: Console = current_app.extensions[_EXTENSION]
    return console


def _view(name: str) -> Callable[[], Response]:
    @public
    def page() -> Response:
        console = _console()
        facts = RequestFacts.from_wsgi(request.environ)
        try:
            form = parse_form(_body(), request.content_type or "")
        except FormTooLarge as exc:
            return _response(console.kit.message(ConsoleRequest(facts), exc.message, status=exc.status))
        return _response(console.handle(name, ConsoleRequest(facts, form)))

    page.__name__ = f"ram_console_{name}"
    return page


@public
def _to_home() -> Response:
    return _response(_console().to_home(ConsoleRequest(RequestFacts.from_wsgi(request.environ))))


def _body() -> bytes:
    length = request.content_length
    if length is not None and length > MAX_FORM_BYTES:
        raise FormTooLarge()
    previous = request.max_content_length
    request.max_content_length = MAX_FORM_BYTES
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise FormTooLarge() from None
    finally:
        request.max_content_length = previous


def _response(reply: Reply) -> Response:
    response: Response
    if reply.location is not None:
        response = redirect(reply.location, code=reply.status)  # type: ignore[assignment]
    else:
        body = render_template(TEMPLATE_NAMESPACE + (reply.template or "message.html"), **reply.context)
        response = make_response(body, reply.status)
    _add_headers(response, reply.headers)
    return response


def _add_headers(response: Response, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> None:
    for name, value in headers:
        if name.lower() == "set-cookie":
            response.headers.add(name, value)
        else:
            response.headers[name] = value


def error_response(error: ErrorResponse) -> Response:
    """A Flask response for an :class:`ErrorResponse` (redirect, HTML page or JSON error)."""
    response = current_app.response_class(error.body, status=error.status)
    _add_headers(response, error.headers)
    return response


def _renew_session(response: Response) -> Response:
    console = current_app.extensions.get(_EXTENSION)
    if not isinstance(console, Console):
        return response
    name = console.settings.session_cookie
    if name not in request.cookies and HOST_PREFIX + name not in request.cookies:
        return response
    facts = RequestFacts.from_wsgi(request.environ)
    set_cookies = response.headers.getlist("Set-Cookie")
    _add_headers(response, console.renewal_headers(facts, set_cookies, response.headers.get("Cache-Control")))
    return response


def require_mfa(max_age: float | None = None) -> Callable[[Callable[_P, _R]], Callable[_P, _R | Response]]:
    """View decorator: the caller must have proved MFA (within ``max_age`` seconds, when given).

    A browser session without it is sent to the step-up page and back; an API caller gets 403
    ``Forbidden.MFARequired``. The view's ``@require`` rule is kept on the wrapper.
    """

    def decorate(view: Callable[_P, _R]) -> Callable[_P, _R | Response]:
        @functools.wraps(view)
        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R | Response:
            principal = g.get("principal")
            found = principal if isinstance(principal, Principal) else None
            checked = g.get("_ram") or request.environ.get("ram.outcome")  # the RAM(app) or WSGI check
            outcome = checked if isinstance(checked, Outcome) else None
            facts = RequestFacts.from_wsgi(request.environ)
            refusal = _console().mfa_refusal(facts, found, max_age, outcome)
            if refusal is not None:
                return error_response(refusal)
            return view(*args, **kwargs)

        return guarded

    return decorate
