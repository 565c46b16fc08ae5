"""Starlette and FastAPI: ``app.add_middleware(RAMMiddleware, ram=ram)`` plus one declaration per route.

Declare a route's action and resource in one of three ways (first match wins):

1. a :class:`~ram_middleware.routes.RouteTable` given to the middleware as ``rules=`` (apps you cannot edit);
2. ``@ram_route("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{instance_id}")`` on the endpoint, or
   ``@public`` for an open one (class-based endpoints may decorate the class or each ``get``/``post``);
3. FastAPI: a ``RequirePermission(action, resource)`` dependency, which also hands the endpoint the
   :class:`~ram_middleware.identity.Principal`.

How the middleware finds the declaration: it matches the request against the app's router itself (the
same ``Route.matches`` Starlette runs next, descending into ``Mount``s) and reads the rule off the matched
endpoint. We chose this over checking lazily inside an endpoint wrapper because the decision then happens
before *any* application code — inner middleware, FastAPI dependency resolution, body parsing — runs;
routes without a declaration (including unknown paths) fall under the deny-by-default policy instead of
slipping through; and the decorator does not wrap the endpoint, so FastAPI's signature inspection and
Starlette's ``requires`` keep working. The price is a second router match per request; the rule found for
each route object is cached.

Middleware order: add ``RAMMiddleware`` before ``CORSMiddleware`` (``add_middleware`` wraps, so the CORS
layer ends up outside and answers credential-less preflight requests itself).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match

from ..identity import Principal
from ..routes import PUBLIC, RouteMatch, RouteRule, Rule, declared_rule, public, route_rule
from . import asgi
from .asgi import PrincipalUser, Scope

__all__ = [
    "PUBLIC",
    "RAMMiddleware",
    "RamUser",
    "RequirePermission",
    "current_principal",
    "match_route",
    "public",
    "ram_route",
]

ram_route = route_rule
"""``@ram_route(action, resource)``: declare an endpoint's RAM action and resource template."""

_NOT_ENFORCED = (
    "RequirePermission({!r}) was not enforced by RAMMiddleware: install the middleware, and do not also "
    "declare the route in a route table or with @ram_route."
)


class RamUser(PrincipalUser, BaseUser):
    """``request.user`` for an authenticated caller: Starlette's ``BaseUser`` carrying the Principal."""

    def __repr__(self) -> str:
        return f"RamUser({self.principal.arn!r})"


class RequirePermission:
    """FastAPI dependency: declares the route's action/resource and returns the caller's Principal.

    ``principal: Principal = Depends(RequirePermission("oss:GetObject", "acs:oss:*:{account}:{bucket}/*"))``
    The middleware finds it on the route and decides before the endpoint runs; when called, the dependency
    only confirms that this very rule was enforced (fail closed with 500 otherwise).
    """

    def __init__(self, action: str | Rule, resource: str = "*") -> None:
        self.rule: Rule = action if not isinstance(action, str) else RouteRule(action, resource)

    def __repr__(self) -> str:
        return f"RequirePermission({self.rule!r})"

    async def __call__(self, request: HTTPConnection) -> Principal:
        if request.scope.get("ram.rule") is not self.rule:
            raise HTTPException(500, _NOT_ENFORCED.format(self.rule))
        principal = request.scope["state"].get("principal")
        if not isinstance(principal, Principal):
            raise HTTPException(500, _NOT_ENFORCED.format(self.rule))
        return principal


def current_principal(request: HTTPConnection) -> Principal | None:
    """The caller's Principal (None on public routes); usable as a FastAPI dependency too."""
    state = request.scope.get("state") or {}
    principal = state.get("principal")
    return principal if isinstance(principal, Principal) else None


_CACHED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class _RuleCache:
    """Rules found per route object and standard method (routes live as long as the app; rules are read
    once)."""

    def __init__(self) -> None:
        self._rules: dict[tuple[int, str], tuple[BaseRoute, Rule | None]] = {}
        self._lock = threading.Lock()

    def rule(self, route: BaseRoute, method: str) -> Rule | None:
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


def _route_rule(route: BaseRoute, method: str) -> Rule | None:
    endpoint = getattr(route, "endpoint", None)
    rule = declared_rule(endpoint, method) if endpoint is not None else None
    if rule is not None:
        return rule
    dependant = getattr(route, "dependant", None)  # FastAPI's APIRoute
    return _dependency_rule(dependant) if dependant is not None else None


def _dependency_rule(dependant: Any) -> Rule | None:
    for dependency in getattr(dependant, "dependencies", ()):
        call = getattr(dependency, "call", None)
        if isinstance(call, RequirePermission):
            return call.rule
        found = _dependency_rule(dependency)
        if found is not None:
            return found
    return None


def match_route(scope: Scope) -> tuple[BaseRoute, dict[str, str]] | None:
    """The route the app's router will pick for ``scope`` and its path parameters (as text)."""
    router = getattr(scope.get("app"), "router", None)
    routes = getattr(router, "routes", None)
    if routes is None:
        return None
    return _walk(routes, scope)


def _walk(routes: Iterable[BaseRoute], scope: Scope) -> tuple[BaseRoute, dict[str, str]] | None:
    partial: tuple[BaseRoute, dict[str, str]] | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        params = {name: str(value) for name, value in child.get("path_params", {}).items()}
        if match is Match.FULL:
            inner = getattr(route, "routes", None)  # Mount and Host hold their own routes
            if inner is not None and getattr(route, "endpoint", None) is None:
                return _walk(inner, {**scope, **child})
            return route, params
        if partial is None:
            partial = (route, params)  # a method mismatch: Starlette answers 405 from this route
    return partial


class RAMMiddleware(asgi.RAMMiddleware):
    """:class:`ram_middleware.adapters.asgi.RAMMiddleware` that also reads rules declared on the routes
    of the Starlette/FastAPI app it wraps, and puts Starlette's own ``BaseUser``/``AuthCredentials`` in
    the scope so ``request.user`` and ``@requires`` work as usual."""

    user_class = RamUser
    anonymous_class = UnauthenticatedUser
    credentials_class = AuthCredentials

    def __init__(self, app: asgi.ASGIApp, /, **options: Any) -> None:
        self._cache = _RuleCache()
        options.setdefault("resolver", self.router_rule)
        super().__init__(app, **options)

    def router_rule(self, scope: Scope) -> RouteMatch | None:
        """The rule declared on the route the app's router matches (decorator or dependency)."""
        matched = match_route(scope)
        if matched is None:
            return None
        route, params = matched
        rule = self._cache.rule(route, str(scope.get("method", "GET")))
        return (rule, params) if rule is not None else None
