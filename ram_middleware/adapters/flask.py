"""Flask extension: ``RAM(app)`` or ``ram = RAM(); ram.init_app(app)``, then one decorator per view.

Follows Flask's extension rules (STYLE.md §10): per-app wiring in :meth:`RAM.init_app`, no app kept on the
extension (one instance can serve several apps), state in ``app.extensions["ram"]``, ``RAM_…`` config keys
defaulted with ``setdefault`` (from the ``RAM_*`` environment variables, else :class:`RamConfig`'s
defaults) and read once at setup, a ``before_request`` hook that decides before the view runs, and request
data on ``g``: ``g.principal`` (None on public views; typed: :func:`current_principal`) and ``g._ram``
(the :class:`Outcome`).

Rules: ``@ram.route_rule(action, resource)`` / ``@require(action, resource)`` / ``@public`` on the view
function (or on a ``MethodView`` class or its ``get``/``post``…), or a ``RouteTable`` passed as ``rules=``
for views you cannot edit (it wins). Endpoints named in ``RAM_PUBLIC_ENDPOINTS`` (e.g. ``["static"]``)
are public. A URL Werkzeug answers with its own redirect (``/notes`` for the rule ``/notes/``, a
``redirect_to`` rule) is let through unchecked and unaudited, as a public view: Flask answers it before any
view runs, and the request that follows it is checked as any other (a route table entry for the URL still
wins). HEAD runs the GET view (a ``MethodView``'s ``get`` when it has no ``head``), whose rule decides it.
An OPTIONS Flask answers itself (``provide_automatic_options``: an ``Allow`` header, no view runs) is let
through unchecked and unaudited, on any route: that answer is how CORS preflights, which carry no
credential, get answered (flask-cors adds its headers after it). A view taking OPTIONS itself is checked
with its rule; ``PROVIDE_AUTOMATIC_OPTIONS = False`` makes every OPTIONS a request like any other.

Config keys: ``RAM_STORE_URL``, ``RAM_GUARD_URL``, ``RAM_MASTER_KEY``, ``RAM_TOKEN_KEYS``,
``RAM_TRUSTED_PROXIES``, ``RAM_OSS_DOMAINS``, ``RAM_OSS_CNAMES`` (a dict of host -> bucket, or the
``host=bucket,…`` text), ``RAM_FORWARDED_HEADER``, ``RAM_MAX_SKEW``, ``RAM_ALLOW_ROOT_KEYS``,
``RAM_REPLAY_SIGNATURES``, ``RAM_UNDECLARED``, ``RAM_AUDIT``, ``RAM_AUDIT_FLUSH_INTERVAL``, ``RAM_HOST_ID``,
``RAM_LIMITS`` (a :class:`~ram_middleware.service.Limits`, a dict of quota -> number, or the
``name=value,…`` text), ``RAM_MFA_ISSUER``, ``RAM_PRODUCTION``, ``RAM_MAX_BODY``, ``RAM_PUBLIC_ENDPOINTS``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect

from .. import errors
from ..authorizer import EntityTooLarge, ErrorResponse
from ..config import Ram, RamConfig, build, parse_flag
from ..credentials.oss import validated_cnames
from ..facts import RequestFacts
from ..identity import Principal
from ..routes import (
    PUBLIC,
    HostValue,
    RouteMatch,
    RouteTable,
    Rule,
    declared_rule,
    path_texts,
    public,
    route_rule,
)
from ..service.limits import limits_from
from .common import max_body_from_env
from .wsgi import needs_body, put_back, read_body, warn_if_proxy_fix

__all__ = ["RAM", "current_principal", "public", "require"]

_log = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])

require = route_rule
"""``@require(action, resource)``: declare a view's RAM action and resource template."""

_CONFIG_KEYS = {
    "RAM_STORE_URL": "store_url",
    "RAM_GUARD_URL": "guard_url",
    "RAM_MASTER_KEY": "master_keys",
    "RAM_TOKEN_KEYS": "token_keys",
    "RAM_TRUSTED_PROXIES": "trusted_proxies",
    "RAM_OSS_DOMAINS": "oss_domains",
    "RAM_OSS_CNAMES": "oss_cnames",
    "RAM_FORWARDED_HEADER": "forwarded_header",
    "RAM_MAX_SKEW": "max_skew",
    "RAM_ALLOW_ROOT_KEYS": "allow_root_keys",
    "RAM_REPLAY_SIGNATURES": "replay_signatures",
    "RAM_UNDECLARED": "undeclared",
    "RAM_AUDIT": "audit",
    "RAM_AUDIT_FLUSH_INTERVAL": "audit_flush_interval",
    "RAM_HOST_ID": "host_id",
    "RAM_LIMITS": "limits",
    "RAM_MFA_ISSUER": "mfa_issuer",
    "RAM_PRODUCTION": "production",
}
_LISTS = frozenset({"master_keys", "token_keys", "trusted_proxies", "oss_domains"})
# Config files and os.environ.get() give these as text, and "false" as text is truthy.
_NUMBERS = frozenset({"max_skew", "audit_flush_interval"})
_FLAGS = frozenset({"allow_root_keys", "replay_signatures", "production"})


@dataclass(frozen=True, slots=True)
class _AppState:
    """What one app needs at request time (kept in ``app.extensions["ram"]``)."""

    extension: RAM
    ram: Ram
    table: RouteTable | None
    everywhere: Rule | None
    public_endpoints: frozenset[str]
    max_body: int

    def resolve(self) -> RouteMatch | None:
        # As matched: a url_value_preprocessor may since have popped a value from request.view_args, and a
        # template would then fill that name from the query.
        path_params = g.get("_ram_path_params")
        if path_params is None:
            path_params = path_texts(request.view_args)
        path_params = _mark_host_values(path_params, request.url_rule)
        if self.table is not None:
            found = self.table.match(request.method, request.path)
            if found is not None:
                return found
        endpoint = request.endpoint
        if endpoint is not None and endpoint in self.public_endpoints:
            return PUBLIC, {}
        if request.method == "OPTIONS" and getattr(request.url_rule, "provide_automatic_options", False):
            return PUBLIC, {}  # Flask answers it running no view (CORS preflights carry no credential)
        view = current_app.view_functions.get(endpoint) if endpoint is not None else None
        rule = _view_rule(view, request.method) if view is not None else None
        if rule is not None:
            return rule, path_params
        if isinstance(request.routing_exception, RequestRedirect):
            return PUBLIC, {}  # Werkzeug's own redirect, which Flask answers before any view runs
        if isinstance(request.routing_exception, MethodNotAllowed):
            found = _rule_of_another_method(request.routing_exception, self.public_endpoints)
            if found is not None:
                return found
        return (self.everywhere, path_params) if self.everywhere is not None else None


class RAM:
    """The Flask extension. ``ram=`` supplies a runtime built elsewhere (shared by every app it serves);
    otherwise each app gets one built from its ``RAM_…`` config."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        ram: Ram | None = None,
        rules: RouteTable | Rule | None = None,
    ) -> None:
        self._ram = ram
        self._rules = rules
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Wire the extension into ``app``."""
        defaults = RamConfig.from_env()
        for key, name in _CONFIG_KEYS.items():
            value = getattr(defaults, name)
            app.config.setdefault(key, list(value) if name in _LISTS else value)
        app.config.setdefault("RAM_MAX_BODY", max_body_from_env())
        app.config.setdefault("RAM_PUBLIC_ENDPOINTS", [])
        if "ram" in app.extensions:
            # A second before_request hook would check every request twice (and refuse its nonce).
            raise RuntimeError("RAM is already initialised on this app")
        ram = self._ram if self._ram is not None else build(_config_from(app.config))
        rules = self._rules
        app.extensions["ram"] = _AppState(
            extension=self,
            ram=ram,
            table=rules if isinstance(rules, RouteTable) else None,
            everywhere=rules if rules is not None and not isinstance(rules, RouteTable) else None,
            public_endpoints=frozenset(_as_list(app.config["RAM_PUBLIC_ENDPOINTS"])),
            max_body=int(app.config["RAM_MAX_BODY"]),
        )
        # First of all url_value_preprocessors (the app's own run before any blueprint's).
        app.url_value_preprocessors[None].insert(0, _keep_path_params)
        app.before_request(_before_request)

    @staticmethod
    def route_rule(action: str | Rule, resource: str = "*") -> Callable[[_F], _F]:
        """Decorator: the view's RAM action and resource template (same as :func:`require`)."""
        return route_rule(action, resource)

    @staticmethod
    def public(view: _F) -> _F:
        """Decorator: anybody may call this view."""
        return public(view)

    @staticmethod
    def runtime(app: Flask | None = None) -> Ram:
        """The runtime serving ``app`` (default: the current app), e.g. for ``ram.runtime().service``."""
        state: _AppState = (app or current_app).extensions["ram"]
        return state.ram


def current_principal() -> Principal | None:
    """The caller's Principal: ``g.principal`` for type checkers (None on public views)."""
    principal = g.get("principal")
    return principal if isinstance(principal, Principal) else None


def _keep_path_params(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g._ram_path_params = path_texts(values)


# A variable in a Werkzeug rule: <name> or <converter(arguments):name>.
_RULE_VARIABLE = re.compile(r"<(?:[A-Za-z_][A-Za-z0-9_]*(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")


def _rule_of_another_method(refused: MethodNotAllowed, public_endpoints: frozenset[str]) -> RouteMatch | None:
    """For a path whose views take other methods (Werkzeug's 405, answered before any view runs): the rule
    of its view for GET, else for the first method it takes (public when its endpoint is in
    ``public_endpoints``), as Starlette decides such a request by the route whose path matches. Only a
    caller that may use the path then learns which methods it takes (the 405); others get the 401/403 they
    would get there with an allowed method."""
    methods = sorted(refused.valid_methods or ())
    if not methods:
        return None
    method = "GET" if "GET" in methods else methods[0]
    try:
        url_rule, view_args = current_app.url_map.bind_to_environ(request.environ).match(
            method=method, return_rule=True
        )
    except HTTPException:
        return None
    if url_rule.endpoint in public_endpoints:
        return PUBLIC, {}
    view = current_app.view_functions.get(url_rule.endpoint)
    rule = _view_rule(view, method) if view is not None else None
    if rule is None:
        return None
    return rule, _mark_host_values(path_texts(view_args), url_rule)


def _mark_host_values(path_params: dict[str, str], rule: Any) -> dict[str, str]:
    """``path_params`` with the values the matched ``rule`` read from the Host (its ``host`` under
    ``host_matching``, its ``subdomain``) as :class:`HostValue`: they bind a resource only under a
    signature that covers the Host."""
    where = f"{rule.host or ''}{rule.subdomain or ''}" if rule is not None else ""
    if "<" not in where:
        return path_params
    names = set(_RULE_VARIABLE.findall(where))
    return {
        name: HostValue(value) if name in names and type(value) is str else value
        for name, value in path_params.items()
    }


def _before_request() -> Response | None:
    state: _AppState = current_app.extensions["ram"]
    authorizer = state.ram.authorizer
    g.principal = None
    g.pop("_ram", None)  # requests in one app context (a test's app_context()) share g
    try:
        rule, path_params = state.resolve() or (None, {})
    except errors.RAMError as exc:  # a path the route table refuses to read (a 4xx, audited)
        return _response(authorizer.reject(RequestFacts.from_wsgi(request.environ), exc))
    if authorizer.skips(rule):
        return None
    body = b""
    if needs_body(request.environ):
        try:
            read = _read_body(state.max_body)
        except errors.RAMError as exc:  # the server could not hand the body over (408/400, audited)
            return _response(authorizer.reject(RequestFacts.from_wsgi(request.environ), exc))
        if read is None:
            return _response(authorizer.reject(RequestFacts.from_wsgi(request.environ), EntityTooLarge()))
        body = read
    warn_if_proxy_fix(request.environ)
    outcome = authorizer.check(RequestFacts.from_wsgi(request.environ, body), rule, path_params)
    g._ram = outcome
    if outcome.error is not None:
        return _response(outcome.error)
    g.principal = outcome.principal
    return None


def _read_body(limit: int) -> bytes | None:
    """The body, put back as the request's input so the view (``get_data``, ``form``, ``stream``) reads the
    same bytes; None when over ``limit``. Read as the WSGI middleware reads it: Werkzeug's own reading would
    cut a chunked body at the limit without saying so, and turn a short one into an HTML 400."""
    if "stream" in request.__dict__:
        # An earlier before_request hook already opened Werkzeug's stream (a request logger's get_data()):
        # the raw input may be spent, and reading it again would wait for bytes that never come. What it
        # cached is the body; a stream it consumed without caching leaves b"", which fails verification.
        body = request.get_data(cache=True)
        if not body and "form" in request.__dict__:
            _warn_body_spent()
        if len(body) > limit:
            return None
        put_back(request.environ, body)
    else:
        read = read_body(request.environ, limit)
        if read is None:
            return None
        body = read
    request.__dict__.pop("stream", None)  # a stream Werkzeug opened on the old input (cached_property)
    return body


_warned_body_spent = False


def _warn_body_spent() -> None:
    """Say once why signed form bodies fail: the caller sees only SignatureDoesNotMatch (fail closed)."""
    global _warned_body_spent
    if not _warned_body_spent:
        _warned_body_spent = True
        _log.warning(
            "an earlier before_request hook parsed request.form, which spends the raw body a signature "
            "covers; signed form requests will fail verification: call RAM(app) before that extension"
        )


def _response(error: ErrorResponse) -> Response:
    return current_app.response_class(error.body, status=error.status, headers=list(error.headers))


def _view_rule(view: Callable[..., Any], method: str) -> Rule | None:
    view_class = getattr(view, "view_class", None)  # MethodView / View.as_view()
    if view_class is not None:
        found = declared_rule(view_class, method)
        if found is not None:
            return found
    return declared_rule(view, method)


def _config_from(config: dict[str, Any]) -> RamConfig:
    values: dict[str, object] = {}
    for key, name in _CONFIG_KEYS.items():
        value = config.get(key)
        if name in _LISTS:
            value = tuple(_as_list(value))
        elif name in _NUMBERS and isinstance(value, str):
            value = _seconds(key, value)
        elif name in _FLAGS and isinstance(value, str):
            value = parse_flag(key, value)
        elif name == "oss_cnames":
            value = validated_cnames(value or {})
        elif name == "limits":
            value = limits_from(value, key)
        values[name] = value
    return RamConfig(**values)  # type: ignore[arg-type]


def _seconds(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise errors.InvalidParameter(key, f"{key} must be a number of seconds.") from None


def _as_list(value: object) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, str):
        return [piece.strip() for piece in value.split(",") if piece.strip()]
    if isinstance(value, Iterable):
        return [str(piece) for piece in value]
    raise TypeError("RAM_* list settings take a comma-separated string or a list of strings")
