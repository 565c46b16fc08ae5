"""Pure WSGI middleware: every request passes the authorizer before the wrapped app sees it.

Rules come from a :class:`~ram_middleware.routes.RouteTable` (or one catch-all :class:`Rule`), matched on
``PATH_INFO``. An allowed request reaches the app with ``environ["ram.principal"]`` (None on public routes)
and ``environ["ram.outcome"]``; a refused one gets the Alibaba-style JSON error (headers only for a
HEAD) and never reaches it.

The body is read only when verification needs it (see :func:`needs_body`), capped at ``max_body`` (413
beyond), and put back as a fresh ``wsgi.input`` with a matching ``CONTENT_LENGTH``, so the app reads the
exact bytes that were verified. A read the server fails is refused too: 408 when its socket timed out, else
400 ``IncompleteBody`` (chunked framing it cannot parse, a client gone mid-body, fewer bytes than
``CONTENT_LENGTH``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from ..authorizer import BodyTimeout, EntityTooLarge, ErrorResponse, IncompleteBody
from ..errors import RAMError
from ..facts import RequestFacts
from ..routes import RouteMatch, RouteTable, Rule
from .common import Runtime, body_is_signed, declared_length, max_body_from_env, runtime_from_env

__all__ = ["RAMWSGIMiddleware", "error_triple", "needs_body", "put_back", "read_body", "warn_if_proxy_fix"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

log = logging.getLogger(__name__)


def needs_body(environ: Mapping[str, Any]) -> bool:
    """Does verifying this request need its body? Only when there may be one and a scheme covers it."""
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    # A server that de-chunks a body may drop Transfer-Encoding and give no length: it then says the
    # stream ends by itself (input_terminated), and the body must be read rather than taken as empty.
    chunked = "HTTP_TRANSFER_ENCODING" in environ or bool(environ.get("wsgi.input_terminated"))
    if length or chunked:
        has_body = chunked or length != "0"
    else:  # HTTP/1.x: no body; HTTP/2 (a WSGI server may speak it) sends one without either header
        has_body = not str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")).upper().startswith("HTTP/1.")
    authorization, payload = environ.get("HTTP_AUTHORIZATION"), environ.get("HTTP_X_OSS_CONTENT_SHA256")
    amz = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    return has_body and body_is_signed(
        authorization=None if authorization is None else str(authorization),
        content_type=str(environ.get("CONTENT_TYPE", "")),
        content_md5="HTTP_CONTENT_MD5" in environ,
        oss_payload=None if payload is None else str(payload),
        query=str(environ.get("QUERY_STRING", "")),
        amz_payload=None if amz is None else str(amz),
    )


_proxy_fix_seen = False


def warn_if_proxy_fix(environ: Mapping[str, Any]) -> None:
    """Warn once per process when Werkzeug's ``ProxyFix`` rewrote ``REMOTE_ADDR`` and the scheme from
    ``X-Forwarded-*`` before the check: it trusts its configured number of hops without asking who sent
    them, so behind fewer proxies than that (or none) a client chooses its own ``acs:SourceIp`` and
    ``acs:SecureTransport``. ``RAM_TRUSTED_PROXIES`` reads those headers only from the proxies it names."""
    global _proxy_fix_seen
    if _proxy_fix_seen or "werkzeug.proxy_fix.orig" not in environ:
        return
    _proxy_fix_seen = True
    log.warning(
        "Werkzeug's ProxyFix rewrote the client address and scheme from X-Forwarded-* before the RAM check: "
        "acs:SourceIp and acs:SecureTransport are then whatever those headers say, from any peer. Remove "
        "ProxyFix and name your proxies in RAM_TRUSTED_PROXIES instead."
    )


def read_body(environ: Environ, max_body: int) -> bytes | None:
    """Read the body (at most ``max_body`` bytes) and re-inject it; None when it is too large.

    Raises :class:`BodyTimeout` when the server's read times out and :class:`IncompleteBody` when it fails
    otherwise (chunked framing it cannot parse, a client gone) or ends before ``CONTENT_LENGTH``: the
    caller refuses with that 4xx rather than let the server answer its own 500, or the check blame the
    signature for a body cut short.
    """
    declared = declared_length(str(environ.get("CONTENT_LENGTH") or "").strip())
    stream = environ["wsgi.input"]
    try:
        if declared is not None:
            if declared > max_body:
                return None
            body = stream.read(declared) if declared else b""
            while len(body) < declared:  # a stream may return less than asked before its end
                more = stream.read(declared - len(body))
                if not more:  # the end: the client closed its side before sending all it announced
                    raise IncompleteBody()
                body += more
        elif environ.get("wsgi.input_terminated"):
            body = stream.read(max_body + 1)
            if len(body) > max_body:
                return None
        else:
            body = b""  # no length and an unterminated stream: reading could block forever (PEP 3333)
    except TimeoutError:
        raise BodyTimeout() from None
    except OSError:  # e.g. Werkzeug's dev server on a bad chunk size, a connection reset mid-body
        raise IncompleteBody() from None
    put_back(environ, body)
    return bytes(body)


def put_back(environ: Environ, body: bytes) -> None:
    """Make ``body`` the request's input again (a fresh ``wsgi.input`` and a matching ``CONTENT_LENGTH``)."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def error_triple(error: ErrorResponse) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) for ``start_response``."""
    try:
        phrase = HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    headers = [*error.headers, ("content-length", str(len(error.body)))]
    return f"{error.status} {phrase}", headers, error.body


class RAMWSGIMiddleware:
    """Protects a WSGI app; see the module docstring."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        ram: Runtime | None = None,
        rules: RouteTable | Rule | None = None,
        max_body: int | None = None,
    ) -> None:
        self.app = app
        runtime = ram if ram is not None else runtime_from_env()
        self.authorizer = runtime.authorizer
        self.max_body = max_body_from_env() if max_body is None else max_body
        self._table = rules if isinstance(rules, RouteTable) else None
        self._everywhere = rules if rules is not None and not isinstance(rules, RouteTable) else None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            rule, path_params = self.resolve(environ) or (None, {})
        except RAMError as exc:  # a path the table refuses to read (a 4xx, audited)
            error = self.authorizer.reject(RequestFacts.from_wsgi(environ), exc)
            return self._refuse(error, start_response, environ)
        if self.authorizer.skips(rule):
            environ["ram.principal"] = None
            return self.app(environ, start_response)
        body = b""
        if needs_body(environ):
            try:
                read = read_body(environ, self.max_body)
            except RAMError as exc:  # the server could not hand the body over (408/400, audited)
                return self._refuse(
                    self.authorizer.reject(RequestFacts.from_wsgi(environ), exc), start_response, environ
                )
            if read is None:
                error = self.authorizer.reject(RequestFacts.from_wsgi(environ), EntityTooLarge())
                return self._refuse(error, start_response, environ)
            body = read
        warn_if_proxy_fix(environ)
        outcome = self.authorizer.check(RequestFacts.from_wsgi(environ, body), rule, path_params)
        if outcome.error is not None:
            return self._refuse(outcome.error, start_response, environ)
        environ["ram.principal"] = outcome.principal
        environ["ram.outcome"] = outcome
        return self.app(environ, start_response)

    def resolve(self, environ: Mapping[str, Any]) -> RouteMatch | None:
        """The route table's match, else the catch-all rule; a
        :class:`~ram_middleware.errors.RAMError` refuses the request with its code."""
        if self._table is not None:
            path = str(environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8", "replace")
            found = self._table.match(str(environ.get("REQUEST_METHOD", "GET")), path)
            if found is not None:
                return found
        return (self._everywhere, {}) if self._everywhere is not None else None

    @staticmethod
    def _refuse(
        error: ErrorResponse, start_response: StartResponse, environ: Mapping[str, Any]
    ) -> Iterable[bytes]:
        status, headers, body = error_triple(error)
        start_response(status, headers)
        # A HEAD's answer has no body (its Content-Length is the GET's), as Werkzeug's responses do: waitress
        # sends what the app returns, and a kept-alive client would read it as the next response.
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
