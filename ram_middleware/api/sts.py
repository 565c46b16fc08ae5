"""STS API 2015-04-01: AssumeRole and GetCallerIdentity.

AssumeRole is authorized by the middleware as ``sts:AssumeRole`` on the role ARN (its decision is passed to
:func:`~ram_middleware.credentials.sts.assume_role`, which also checks the role's trust policy); the role may
live in another account of the same store, whose trust policy then decides. GetCallerIdentity needs no
permission: any authenticated caller may ask who it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors
from ..authorizer import denial_detail
from ..credentials.sts import assume_role, caller_identity, parse_role_arn, role_not_found
from ..identity import ram_arn
from ..policy import Decision
from .base import Action, Backend, Call, CallerLookup, Issued, account_wide
from .params import Params

__all__ = ["ACTIONS", "PERMISSION_FREE", "role_arn"]

PERMISSION_FREE = frozenset({"GetCallerIdentity"})
"""STS actions any authenticated caller may call (no policy is consulted)."""


def _parse_role_arn(params: Params) -> tuple[str, str]:
    return parse_role_arn(params.required("RoleArn"))


def role_arn(params: Params, account_id: str, caller: CallerLookup) -> str:
    """The resource of AssumeRole: the role ARN in its canonical (lower-case name) form."""
    owner, name = _parse_role_arn(params)
    return ram_arn(owner, f"role/{name.lower()}")


def assume_role_handler(b: Backend, c: Call) -> Issued:
    owner, name = _parse_role_arn(c.params)
    try:
        role = b.service.get_role(owner, name)
    except errors.EntityNotExist:
        raise role_not_found(owner, name) from None
    decision = c.decision
    if decision is None:  # the middleware did not decide sts:AssumeRole: never issue credentials then
        raise errors.AuthorizationError(detail={"reason": "sts:AssumeRole was not authorized"})
    context = b.contexts.build(c.facts, c.principal)
    try:
        result = assume_role(c.principal, decision, role, c.params.raw(), b.tokens, context=context)
    except errors.AuthorizationError as exc:
        _explain_trust_refusal(b, c, exc, role.arn, role.account_id, context)
        raise
    body = result.to_api()
    trusted = result.trusted_by
    policy = None if trusted is None or trusted.policy is None else trusted.policy.describe()
    return Issued(body, issued_session(body), policy, None if trusted is None else trusted.statement_index)


# UNSURE in the spec: the PolicyType Alibaba reports when a role's trust policy refuses; we say this.
TRUST_POLICY_TYPE = "AssumeRolePolicy"


def _explain_trust_refusal(
    b: Backend, c: Call, refusal: errors.AuthorizationError, role_arn: str, role_account: str,
    context: Mapping[str, object],
) -> None:  # fmt: skip
    """Give a trust policy's refusal the ``AccessDeniedDetail`` of any RAM denial. Its diagnostic names the
    trust policy's statement and reason only when the role is in the caller's account: the caller's
    administrator decodes it, and another account's trust policy is not theirs to read."""
    verdict = refusal.detail.get("trust")
    if b.diagnostics is None or not isinstance(verdict, Decision):
        return
    refusal.detail.update(
        denial_detail(
            b.diagnostics, c.principal, "sts:AssumeRole", role_arn, verdict, context, TRUST_POLICY_TYPE,
            explained=role_account == c.account_id,
        )
    )  # fmt: skip


def issued_session(body: Mapping[str, Any]) -> str:
    """The audit line of an AssumeRole that succeeded: the session (its ARN names the RoleSessionName), its
    temporary AccessKeyId and expiry — never its secret or SecurityToken. The event also names the trust
    policy's statement that trusted the caller (its policy and statement fields)."""
    credentials = body["Credentials"]
    return (
        f"Issued {body['AssumedRoleUser']['Arn']} with AccessKeyId {credentials['AccessKeyId']}, "
        f"expiring {credentials['Expiration']}"
    )


def get_caller_identity(b: Backend, c: Call) -> Mapping[str, Any]:
    return caller_identity(c.principal)


ACTIONS: tuple[Action, ...] = (
    Action("AssumeRole", assume_role_handler, role_arn),
    Action("GetCallerIdentity", get_caller_identity, account_wide),
)
