"""Starlette and FastAPI: ``app.add_middleware(RAMMiddleware, ram=ram)`` (or ``RAMMiddleware(app, ram=ram)``
around the app, or around an app mounted in another) plus one declaration per route.

Declare a route's action and resource in one of three ways (first match wins):

1. a :class:`~ram_middleware.routes.RouteTable` given to the middleware as ``rules=`` (apps you cannot edit);
2. ``@ram_route("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{instance_id}")`` on the endpoint, or
   ``@public`` for an open one (class-based endpoints may decorate the class or each ``get``/``post``);
3. FastAPI: a ``RequirePermission(action, resource)`` dependency, which also hands the endpoint the
   :class:`~ram_middleware.identity.Principal`.

How the middleware finds the declaration: it matches the request against the app's router itself (the
same ``Route.matches`` Starlette runs next, descending into ``Mount``s and ``Host``s) and reads the rule off
the matched endpoint. We chose this over checking lazily inside an endpoint wrapper because the decision then
happens before *any* application code — inner middleware, FastAPI dependency resolution, body parsing —
runs; routes without a declaration (including unknown paths) fall under the deny-by-default policy instead
of slipping through; and the decorator does not wrap the endpoint, so FastAPI's signature inspection and
Starlette's ``requires`` keep working. The price is a second router match per request; the rule found for
each route object is cached.

Slash redirects: when no route matches, a router with ``redirect_slashes`` (Starlette's and FastAPI's
default) answers 307 to the path with its trailing slash toggled if that path matches one of its routes
(``/notes/1/`` → ``/notes/1``, a mount's ``/api`` → ``/api/``). The middleware makes the same test, in the
router that takes the request (the app's, or a mounted one's), and answers such a request itself with that
same redirect, unchecked and unaudited, as a public route: the redirect carries no data, and the request
that follows it is checked as any other. It does not hand the request on: a layer between it and the router
(a middleware that strips trailing slashes, a ``Mount``'s own middleware) could route it to an endpoint
the middleware never checked. A path some route takes as sent (a catch-all, a ``Mount``) is never a
redirect case, a router subclass with routing of its own is not trusted to redirect, and the
``undeclared`` setting applies to every other unmatched path as before.

FastAPI 0.165 keeps an included router as one ``_IncludedRouter`` entry; the middleware asks it, as FastAPI
does when it handles the request, which route it selects, and reads the rule off that route's per-inclusion
context (prefixed path, and the router-level ``dependencies`` that may carry a ``RequirePermission``).
Older FastAPI versions copy included routes into the app's router, which needs nothing special.

Refused as a :class:`RouteConfigurationError` (500, the details in the server log only), never treated as
undeclared — ``undeclared="allow"``/``"authenticate"`` would open them:

* a route that matches but shows neither an endpoint nor routes to descend into (a route kind this module
  does not know, e.g. a future FastAPI wrapper). A ``Mount`` of an application that is not a router
  (``StaticFiles``, an app wrapped in middleware) is not such a route: the mounted app is one undeclared
  unit, to declare in a :class:`~ram_middleware.routes.RouteTable` or protect with its own middleware
  (which then reads only its own ``rules=``: the routes of the app it is mounted in do not route it);
* a route declaring two different rules (two ``RequirePermission`` dependencies, or one and ``@ram_route``
  or ``@public``): the authorizer checks one rule per request, and enforcing either alone would half-open
  the route. The same requirement written twice is one rule.

FastAPI converts typed path, query and form parameters after the check: a placeholder filled from one must be
sent as the endpoint will receive it (``/instances/1``, never ``01``), whether the rule is declared on the
route or in a route table, see :mod:`.fastapi_params`.

HEAD and OPTIONS: a Starlette route for GET also takes HEAD and runs the GET endpoint (an ``HTTPEndpoint``'s
``get`` when it has no ``head``), so the GET's rule decides it; FastAPI's routes take HEAD only when they
name it (405 otherwise, after the check). Starlette answers no OPTIONS by itself: an OPTIONS is checked
with the rule of the route it matches, like any request, and a route that does not take it answers 405.

CORS: add ``RAMMiddleware`` before ``CORSMiddleware`` (``add_middleware`` wraps, so the CORS layer ends up
outside: it answers browsers' preflights, which carry no credential, and adds its headers to the checked
requests and to their refusals). Its ``allow_headers`` must let the signature's headers through
(``Authorization`` and the ``x-acs-*`` ones, or ``["*"]``). Added the other way round, every preflight is
refused (401). The middleware lets no OPTIONS through on its own: declare a route ``@public`` for that.
"""

# No ``from __future__ import annotations`` here: older FastAPI (0.115 seen) cannot resolve a string
# annotation on a callable instance's ``__call__`` (RequirePermission's ``request``) and takes it for a
# required query parameter, answering 422.

import logging
import sys
from collections.abc import Iterable
from typing import Any

from starlette._utils import get_route_path  # Router.app's own reading of the path (root_path stripped)
from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Host, Match, Router

from .. import errors, forks
from ..identity import Principal
from ..routes import (
    PUBLIC,
    HostValue,
    RouteConfigurationError,
    RouteMatch,
    Rule,
    declared_rule,
    path_texts,
    public,
    route_rule,
    rule_from,
)
from . import asgi, fastapi_params
from .asgi import PrincipalUser, Receive, Scope, Send

__all__ = [
    "PUBLIC",
    "RAMMiddleware",
    "RamUser",
    "RequirePermission",
    "RouteConfigurationError",
    "current_principal",
    "match_route",
    "public",
    "ram_route",
]

ram_route = route_rule
"""``@ram_route(action, resource)``: declare an endpoint's RAM action and resource template."""

_log = logging.getLogger(__name__)

_NOT_ENFORCED = (
    "%r was not enforced by RAMMiddleware (path %r): install the middleware, and do not also declare the "
    "route in a route table or with @ram_route."
)


class RamUser(PrincipalUser, BaseUser):
    """``request.user`` for an authenticated caller: Starlette's ``BaseUser`` carrying the Principal."""

    def __repr__(self) -> str:
        return f"RamUser({self.principal.arn!r})"


class RequirePermission:
    """FastAPI dependency: declares the route's action/resource and returns the caller's Principal.

    ``principal: Principal = Depends(RequirePermission("oss:GetObject", "acs:oss:*:{account}:{bucket}/*"))``
    The middleware finds it on the route and decides before the endpoint runs; when called, the dependency
    only confirms that this rule was enforced (fail closed with 500 otherwise; the rule goes to the log,
    not to the caller).
    """

    def __init__(self, action: str | Rule, resource: str = "*") -> None:
        self.rule: Rule = rule_from(action, resource)

    def __repr__(self) -> str:
        return f"RequirePermission({self.rule!r})"

    async def __call__(self, request: HTTPConnection) -> Principal:
        # Equal, not identical: one requirement written twice on a route is one rule (see _route_rule).
        principal = (request.scope.get("state") or {}).get("principal")
        enforced = request.scope.get("ram.rule")
        if isinstance(enforced, fastapi_params.Held):  # this rule, holding its form fields
            enforced = enforced.rule
        if enforced != self.rule or not isinstance(principal, Principal):
            _log.error(_NOT_ENFORCED, self, request.url.path)
            raise HTTPException(500, "Permission check not enforced; see the server log.")
        return principal


def current_principal(request: HTTPConnection) -> Principal | None:
    """The caller's Principal (None on public routes); usable as a FastAPI dependency too."""
    state = request.scope.get("state") or {}
    principal = state.get("principal")
    return principal if isinstance(principal, Principal) else None


_CACHED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


_Found = tuple[Rule | None, tuple[Any, ...]]  # the rule, and the FastAPI fields that fill its resource


class _RuleCache(forks.LockOwner):
    """Rules found per route object and standard method (routes live as long as the app; rules are read
    once)."""

    def __init__(self) -> None:
        self._rules: dict[tuple[int, str], tuple[object, _Found]] = {}
        self._own_lock()

    def rule(self, route: object, method: str) -> _Found:
        if method not in _CACHED_METHODS:  # a client-chosen token: looked up, never kept
            return _route_rule(route, method)
        key = (id(route), method)
        found = self._rules.get(key)
        if found is not None and found[0] is route:
            return found[1]
        rule = _route_rule(route, method)
        with self._lock:
            self._rules[key] = (route, rule)
        return rule


def _route_rule(route: object, method: str) -> _Found:
    endpoint = getattr(route, "endpoint", None)
    declared = declared_rule(endpoint, method) if endpoint is not None else None
    rules = [declared] if declared is not None else []
    dependant = getattr(route, "dependant", None)  # FastAPI's APIRoute (or its per-inclusion context)
    if dependant is not None:
        _dependency_rules(dependant, rules)
    if len(rules) > 1:
        raise RouteConfigurationError(
            f"{_describe(route)} declares {len(rules)} different RAM rules ({', '.join(map(repr, rules))}); "
            "the middleware enforces one per route: keep one RequirePermission, @ram_route or @public."
        )
    if not rules:
        return None, ()
    if dependant is None:
        return rules[0], ()
    return fastapi_params.hold(rules[0], fastapi_params.template_fields(rules[0], dependant))


def _dependency_rules(dependant: Any, found: list[Rule]) -> None:
    """Adds to ``found`` every RequirePermission rule in the dependency tree not already in it."""
    for dependency in getattr(dependant, "dependencies", ()):
        call = getattr(dependency, "call", None)
        if isinstance(call, RequirePermission) and call.rule not in found:
            found.append(call.rule)
        _dependency_rules(dependency, found)


def _describe(route: object) -> str:
    methods = ",".join(sorted(getattr(route, "methods", None) or ()))
    return " ".join(filter(None, ("route", methods, getattr(route, "path", None) or type(route).__name__)))


_Matched = tuple[object, dict[str, str]]
_NONE: frozenset[str] = frozenset()
_REDIRECT_KEY = (
    "ram.slash_redirect"  # the scope key carrying a slash redirect from the resolver to the answer
)


class _SlashRedirect:
    """No route matches, and the router answers with its slash redirect to ``location`` (see the module
    docstring)."""

    __slots__ = ("location",)

    def __init__(self, location: str) -> None:
        self.location = location


def match_route(scope: Scope, app: object = None) -> _Matched | None:
    """The route the app's router will pick for ``scope`` and its path parameters (as text). The route is a
    Starlette/FastAPI route, or for a route of an included FastAPI router its per-inclusion context (which
    has ``endpoint``, ``path`` and ``dependant`` as a route does).

    The router is the one found below ``app`` (the ASGI app the request goes to next), else
    ``scope["app"]``'s: a middleware wrapping the app from outside runs before Starlette sets
    ``scope["app"]``, and one mounted inside another app finds the outer app there."""
    router, holder = _below(app)
    matched = _match_below(router, _as_routed(holder, scope))
    return None if matched is not None and isinstance(matched[0], _SlashRedirect) else matched


def _match_below(router: object, scope: Scope) -> _Matched | None:
    """:func:`match_route` with the router below the app already found (None: none was), or
    :class:`_SlashRedirect` when no route matches but a router will answer with its slash redirect."""
    routes = getattr(router, "routes", None) if router is not None else None
    if routes is None:
        router = getattr(scope.get("app"), "router", None)
        routes = getattr(router, "routes", None)
    if routes is None:
        return None
    included = getattr(sys.modules.get("fastapi.routing"), "_IncludedRouter", None)  # no import: optional
    return _walk(routes, scope, included, router=router)


_MAX_WRAPPERS = 64  # middleware layers followed down to the router; a cycle must not hang the request


def _below(app: object) -> tuple[object | None, object | None]:
    """The first router (an object with a list of ``routes``) reached from ``app`` through middleware (each
    holds the next app as ``.app``; Starlette's own stack ends at its router), and the Starlette/FastAPI app
    that holds it (None: a bare router)."""
    for _ in range(_MAX_WRAPPERS):
        if app is None:
            break
        router = getattr(app, "router", app)  # a Starlette/FastAPI app routes through its router
        if isinstance(getattr(router, "routes", None), list):
            return router, (None if router is app else app)
        app = getattr(app, "app", None)
    return None, None


def _in_stack_of(app: object, layer: object) -> bool:
    """Whether ``layer`` is one of ``app``'s own middleware (Starlette's stack, from its top, reaches it)."""
    current = getattr(app, "middleware_stack", None)
    for _ in range(_MAX_WRAPPERS):
        if current is None:
            return False
        if current is layer:
            return True
        current = getattr(current, "app", None)
    return False


def _as_routed(holder: object | None, scope: Scope) -> Scope:
    """``scope`` as the app holding the router routes it: ``FastAPI(root_path=…)`` sets ``scope["root_path"]``
    when it is called, below a middleware that wraps it, and its routes match the path without it."""
    root = getattr(holder, "root_path", None) if holder is not None else None
    if root and isinstance(root, str) and scope.get("root_path") != root:
        return {**scope, "root_path": root}
    return scope


def _walk(
    routes: Iterable[BaseRoute],
    scope: Scope,
    included: type[Any] | None,
    hosted: frozenset[str] = _NONE,
    router: object = None,
) -> _Matched | None:
    """The route Starlette picks among ``routes``; ``hosted``: the path parameters so far read from the
    Host by a ``Host`` route above them; ``router``: the router holding ``routes``, whose slash redirect
    answers when none matches."""
    partial: tuple[object, Scope] | None = None
    for route in routes:
        match, child, selected = _select(route, scope, included)
        if match is Match.FULL:
            return _settle(selected, child, scope, included, hosted)
        if match is Match.PARTIAL and partial is None:
            partial = (selected, child)  # a method mismatch: Starlette answers 405 from this route
    if partial is not None:
        return _settle(*partial, scope, included, hosted)
    location = _redirect(router, scope)
    return (_SlashRedirect(location), {}) if location is not None else None


def _redirect(router: object, scope: Scope) -> str | None:
    """Where ``router``, none of whose routes matched, redirects the request (None: it does not), by
    Router.app's own test (the path with its trailing slash toggled matches a route, even by path alone)
    and to its own URL. Only for Starlette's Router and FastAPI's APIRouter running their own routing; a
    subclass that replaces it may answer otherwise, so its path stays undeclared."""
    if scope.get("type") != "http" or not isinstance(router, Router) or not router.redirect_slashes:
        return None
    api_router = getattr(sys.modules.get("fastapi.routing"), "APIRouter", None)  # no import: optional
    if type(router).app not in (Router.app, getattr(api_router, "app", None)):
        return None
    route_path = get_route_path(scope)
    if route_path == "/":
        return None
    path = scope["path"]
    toggled = {**scope, "path": path.rstrip("/") if route_path.endswith("/") else path + "/"}
    if "fastapi" in scope:  # FastAPI's matching keeps bookkeeping there (see _select)
        toggled["fastapi"] = dict(scope["fastapi"])
    if any(route.matches(toggled)[0] is not Match.NONE for route in router.routes):
        return str(URL(scope=toggled))
    return None


def _select(route: BaseRoute, scope: Scope, included: type[Any] | None) -> tuple[Match, Scope, object]:
    """``route.matches``, except that an included FastAPI router is asked which of its routes it selects."""
    if included is None or not isinstance(route, included):
        match, child = route.matches(scope)
        return match, child, route
    # FastAPI's matching keeps bookkeeping in scope["fastapi"]: give it a copy, not the request's scope.
    scope = {**scope, "fastapi": dict(scope.get("fastapi") or {})}
    selected: Any = route
    while isinstance(selected, included):  # nested include_router: FastAPI's _handle_selected recurses so
        match, child, selected, context = selected._match(scope)
        if match is Match.NONE:
            return match, child, None
    # An APIRoute's per-inclusion context holds its prefixed path and merged dependencies; other kinds of
    # route come back already rebuilt with the prefix (context.starlette_route).
    if context is not None and context.starlette_route is None:
        selected = context
    return match, child, selected


def _settle(
    route: object, child: Scope, scope: Scope, included: type[Any] | None, hosted: frozenset[str]
) -> _Matched | None:
    # A value read from the Host binds a resource only under a signature of the Host (HostValue); one a
    # route below takes from the path again is the path's.
    if isinstance(route, Host):
        hosted = hosted.union(route.param_convertors)
    elif hosted:
        hosted = hosted.difference(getattr(route, "param_convertors", None) or ())
    if getattr(route, "endpoint", None) is not None:
        params = path_texts(child.get("path_params"))
        for name in hosted.intersection(params) if hosted else ():
            if type(params[name]) is str:  # an OpaqueValue stays one
                params[name] = HostValue(params[name])
        return route, params
    inner = getattr(route, "routes", None)  # Mount and Host hold their own routes
    if inner is not None:
        return _walk(inner, {**scope, **child}, included, hosted, _inner_router(route))
    raise RouteConfigurationError(
        f"A {type(route).__name__} route matches {scope.get('path')!r} but shows no endpoint "
        "to read a RAM rule from; declare its paths in a RouteTable (rules=) or protect it separately."
    )


def _inner_router(route: object) -> object:
    """The router a ``Mount`` or ``Host`` hands requests to (a mounted app's own), which decides its slash
    redirects. A Mount keeps the app below its middleware as ``_base_app``: the one holding its routes."""
    app = getattr(route, "_base_app", None) or getattr(route, "app", None)
    return getattr(app, "router", app)


class RAMMiddleware(asgi.RAMMiddleware):
    """:class:`ram_middleware.adapters.asgi.RAMMiddleware` that also reads rules declared on the routes
    of the Starlette/FastAPI app it wraps, and puts Starlette's own ``BaseUser``/``AuthCredentials`` in
    the scope so ``request.user`` and ``@requires`` work as usual."""

    user_class = RamUser
    anonymous_class = UnauthenticatedUser
    credentials_class = AuthCredentials

    def __init__(self, app: asgi.ASGIApp, /, **options: Any) -> None:
        self._cache = _RuleCache()
        self._router: object | None = None  # found below self.app on first use
        self._holder: object | None = None  # the app holding that router, if any
        options.setdefault("resolver", self.router_rule)
        super().__init__(app, **options)

    def router_rule(self, scope: Scope) -> RouteMatch | None:
        """The rule declared on the route the app's router matches (decorator or dependency)."""
        matched = self._route(scope)
        if matched is None:
            return None
        if isinstance(matched[0], _SlashRedirect):
            scope[_REDIRECT_KEY] = matched[0].location  # answered by _unchecked, not handed on
            return PUBLIC, {}
        route, params = matched
        rule, fields = self._cache.rule(route, str(scope.get("method", "GET")))
        if rule is None:
            return None
        if fields:  # FastAPI converts these before the endpoint sees them: it must see what was checked
            return (fastapi_params.misread(fields, params, scope) or rule), params
        return rule, params

    def _table_path(self, scope: Scope) -> str:
        """The path as the app's router matches it: wrapped from outside, this middleware runs before a
        ``FastAPI(root_path=…)`` sets ``root_path``, which its router then strips (see :func:`_as_routed`)."""
        if self._router is None:
            self._router, self._holder = _below(self.app)
        return asgi._route_path(_as_routed(self._holder, scope))

    def _from_table(self, scope: Scope, found: RouteMatch) -> RouteMatch:
        """A table's rule, held as a route's is to the values FastAPI's endpoint reads for its placeholders:
        an app declared in a table is one whose code cannot be edited to match the table's types."""
        rule, params = found
        if not fastapi_params.names(rule):
            return found
        try:
            matched = self._route(scope)
        except RouteConfigurationError:  # a route kind only the table can declare: it has no FastAPI fields
            return found
        dependant = getattr(matched[0], "dependant", None) if matched is not None else None
        if dependant is None:
            return found
        rule, fields = fastapi_params.hold(rule, fastapi_params.template_fields(rule, dependant))
        return ((fastapi_params.misread(fields, params, scope) or rule), params) if fields else (rule, params)

    def _route(self, scope: Scope) -> _Matched | None:
        """The route the app's router takes ``scope`` to and its path parameters, or a slash redirect."""
        router = self._router
        if router is None or not isinstance(getattr(router, "routes", None), list):
            # The layers below this middleware are built once: walking them on every request cost more than
            # the route match itself. Its routes are read afresh each time (routes added later count).
            router, holder = _below(self.app)
            self._router, self._holder = router, holder
            if router is None and not _in_stack_of(scope.get("app"), self):
                # No router below us, and scope["app"] is an app we are mounted in (StaticFiles protected
                # by its own middleware): its routes match the path below the mount, not our app's.
                return None
        try:
            matched = _match_below(router, _as_routed(self._holder, scope))
        except ValueError:
            # A convertor that cannot read its part of the path: Starlette's int convertor raises on more
            # than 4,300 digits, and the router would answer 500 right after us. A bad path is a 400.
            raise errors.InvalidParameter("Path", "A path parameter is not valid for its route.") from None
        return matched

    async def _unchecked(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = scope.pop(_REDIRECT_KEY, None)
        if location is None:
            await super()._unchecked(scope, receive, send)
            return
        # The router's own answer, given here: handed on, the request could meet a layer that routes it
        # elsewhere (see the module docstring).
        await RedirectResponse(url=location)(scope, receive, send)
