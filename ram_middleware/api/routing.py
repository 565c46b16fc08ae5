"""How the middleware sees the control plane: which rule covers a request, and who the caller is.

* ``/healthz`` is public.
* ``/`` is covered by :class:`ControlPlaneRule` (``ram:<Action>``/``sts:AssumeRole`` on the entity's ARN),
  except GetCallerIdentity, which needs no policy: the rule answers :class:`AuthenticateOnly` for it, so
  the authorizer only authenticates it (its audit event still names ``sts:GetCallerIdentity``).
  (ChangePassword is decided like the rest; :mod:`..service.self_service` adds what the security
  preference grants.) The rule reads the signed request (query, headers, and an RPC v1 form body), so
  these calls work wherever v1 puts the parameters.
* Anything else is undeclared too: authenticated callers get 404, others 401.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from ..credentials.authenticate import Authenticator
from ..credentials.sts import StsTokens, principal_from_claims
from ..facts import RequestFacts
from ..identity import Principal
from ..routes import PUBLIC, AuthenticateOnly, PathParams, RouteMatch
from ..store.cache import Directory
from .plane import ControlPlane

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

    def resolve(
        self, facts: RequestFacts, path_params: PathParams, account_id: str
    ) -> tuple[str, str] | AuthenticateOnly:
        return self._plane.target(facts, account_id, lambda: self._identify(facts))


def control_plane_resolver(rule: ControlPlaneRule) -> Callable[[MutableMapping[str, Any]], RouteMatch | None]:
    """The RAMMiddleware ``resolver`` for the control-plane app."""

    def resolve(scope: MutableMapping[str, Any]) -> RouteMatch | None:
        path = scope.get("path")
        if path == HEALTH_PATH:
            return PUBLIC, {}
        return (rule, {}) if path == "/" else None

    return resolve
