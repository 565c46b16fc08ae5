"""How the middleware sees the control plane: which rule covers a request, and who the caller is.

* ``/healthz`` is public.
* ``/`` is covered by :class:`ControlPlaneRule` (``ram:<Action>``/``sts:AssumeRole`` on the entity's ARN),
  except calls that need no policy — GetCallerIdentity, and ChangePassword under the security preference —
  which the resolver leaves undeclared, so the control plane's authorizer only authenticates them. The
  resolver sees only the query string and headers (the body is not read yet); a call it cannot identify
  from those gets the rule, i.e. the stricter path.
* Anything else is undeclared too: authenticated callers get 404, others 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from .. import errors
from ..credentials.authenticate import Authenticator
from ..credentials.sts import StsTokens, principal_from_claims
from ..facts import RequestFacts, parse_pairs
from ..identity import Principal
from ..routes import PUBLIC, PathParams, RouteMatch
from ..store.cache import Directory
from .plane import APIS, ControlPlane, requested_names

__all__ = ["HEALTH_PATH", "ControlPlaneRule", "KeyOwner", "control_plane_resolver"]

HEALTH_PATH = "/healthz"
Identify = Callable[[RequestFacts], "Principal | None"]


class KeyOwner:
    """Who signed a request, looked up again from its (already verified) AccessKeyId.

    The rule runs after authentication inside the authorizer but is not handed the principal; calls that
    default ``UserName`` to the caller need it to name their resource. No signature is checked here and no
    nonce consumed: the authenticator has just done both for the same request.
    """

    def __init__(self, authenticator: Authenticator, directory: Directory, tokens: StsTokens) -> None:
        self._authenticator = authenticator
        self._directory = directory
        self._tokens = tokens

    def __call__(self, facts: RequestFacts) -> Principal | None:
        signed = self._authenticator.parse(facts)
        if signed is None:
            return None
        if signed.security_token:
            return principal_from_claims(self._tokens.verify(signed.access_key_id, signed.security_token))
        key = self._directory.signing_key(signed.access_key_id)
        return None if key is None else key.principal


class ControlPlaneRule:
    """The middleware rule for ``/``: the action and resource :meth:`ControlPlane.target` names."""

    public = False

    def __init__(self, plane: ControlPlane, identify: Identify) -> None:
        self._plane = plane
        self._identify = identify

    def __repr__(self) -> str:
        return "ControlPlaneRule()"

    def resolve(self, facts: RequestFacts, path_params: PathParams, account_id: str) -> tuple[str, str]:
        return self._plane.target(facts, account_id, lambda: self._identify(facts))


def _scope_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str | None]:
    wanted = {b"x-acs-action": "x-acs-action", b"x-acs-version": "x-acs-version"}
    found: dict[str, str | None] = {}
    for name, value in raw:
        key = wanted.get(name.lower())
        if key is not None and key not in found:
            found[key] = value.decode("latin-1")
    return found


def _first_values(query: bytes) -> Mapping[str, str]:
    values: dict[str, str] = {}
    for name, value in parse_pairs(query.decode("latin-1")):
        values.setdefault(name, value)
    return values


def needs_no_policy(scope: Mapping[str, Any]) -> bool:
    """True when the query/headers name a call that is only authenticated, never policy-checked."""
    try:
        params = _first_values(bytes(scope.get("query_string") or b""))
        version, action = requested_names(params, _scope_headers(scope.get("headers") or ()))
    except errors.RAMError:
        return False
    api = APIS.get(version)
    return api is not None and (action in api.permission_free or action in api.self_service)


def control_plane_resolver(rule: ControlPlaneRule) -> Callable[[MutableMapping[str, Any]], RouteMatch | None]:
    """The RAMMiddleware ``resolver`` for the control-plane app."""

    def resolve(scope: MutableMapping[str, Any]) -> RouteMatch | None:
        path = scope.get("path")
        if path == HEALTH_PATH:
            return PUBLIC, {}
        if path != "/" or needs_no_policy(scope):
            return None
        return rule, {}

    return resolve
