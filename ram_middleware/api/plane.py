"""The control plane, framework-free: one entry point for the RAM and STS APIs on ``/``.

The API is chosen by ``Version`` (query/form, RPC v1) or ``x-acs-version`` (ACS3), the action by ``Action``
or ``x-acs-action``; when a parameter and its header are both present they must agree, so the action that
is authorized is always the action that runs.

:meth:`ControlPlane.target` names what a request must be authorized for (``ram:CreateUser`` on
``acs:ram::<account>:user/<name>``); the middleware's rule calls it before the decision, and
:meth:`ControlPlane.handle` calls it again after, refusing to run anything whose authorization does not
match exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .. import errors
from ..audit import AuditDecision, AuditEvent, flush_sink
from ..context import format_time
from ..facts import RequestFacts
from ..identity import Principal
from ..policy import Decision
from ..routes import AuthenticateOnly, InvalidAction, InvalidVersion
from . import ram, sts
from .base import Action, Backend, Call, CallerLookup, Issued
from .params import Params
from .responses import Response, error_response, success_response, wants_xml

__all__ = ["APIS", "Api", "ControlPlane", "Target", "requested_names"]

log = logging.getLogger(__name__)

Target = tuple[str, str]
"""(action, resource) a call is authorized for, e.g. ("ram:GetUser", "acs:ram::1…:user/alice")."""


@dataclass(frozen=True, slots=True)
class Api:
    """One versioned API served on ``/``."""

    service: str
    version: str
    actions: Mapping[str, Action]
    permission_free: frozenset[str] = frozenset()


APIS: Final[Mapping[str, Api]] = {
    ram.VERSION: Api("ram", ram.VERSION, ram.ACTIONS),
    "2015-04-01": Api(
        "sts", "2015-04-01", {a.name: a for a in sts.ACTIONS}, permission_free=sts.PERMISSION_FREE
    ),
}


def _param_or_header(params: Mapping[str, str], headers: Mapping[str, str | None], name: str) -> str | None:
    from_param = params.get(name) or None
    from_header = headers.get(f"x-acs-{name.lower()}") or None
    if from_param and from_header and from_param != from_header:
        # Two different values would let one be authorized and the other run.
        raise errors.InvalidParameter(
            name, f"The {name} parameter and the x-acs-{name.lower()} header disagree."
        )
    return from_param or from_header


def requested_names(params: Mapping[str, str], headers: Mapping[str, str | None]) -> tuple[str, str]:
    """(Version, Action) of a request; MissingParameter when either is absent."""
    version = _param_or_header(params, headers, "Version")
    action = _param_or_header(params, headers, "Action")
    for name, value in (("Version", version), ("Action", action)):
        if not value:
            raise errors.MissingParameter(
                name,
                f"The input parameter {name} that is mandatory for processing this request is not supplied.",
            )
    return str(version), str(action)


def _headers(facts: RequestFacts) -> dict[str, str | None]:
    return {"x-acs-version": facts.header("x-acs-version"), "x-acs-action": facts.header("x-acs-action")}


def resolve_action(facts: RequestFacts) -> tuple[Api, Action]:
    """The API and action a request names; 400 for an unknown Version, 404 for an unknown Action."""
    version, name = requested_names(facts.params, _headers(facts))
    api = APIS.get(version)
    if api is None:
        raise InvalidVersion()
    action = api.actions.get(name)
    if action is None:
        raise InvalidAction()
    return api, action


class ControlPlane:
    """Dispatches authenticated, authorized calls to the RAM and STS handlers and renders the answers."""

    def __init__(self, backend: Backend, *, host_id: str | None = None) -> None:
        self.backend = backend
        self.host_id = host_id

    def target(self, facts: RequestFacts, account_id: str, caller: CallerLookup) -> Target | AuthenticateOnly:
        """What this request must be authorized for; for a call no policy decides (GetCallerIdentity), its
        name for the audit event (:class:`AuthenticateOnly`). Errors for a malformed request are 4xx."""
        api, action = resolve_action(facts)
        name = f"{api.service}:{action.name}"
        resource = action.resource(Params(facts.params), account_id, caller)
        if action.name in api.permission_free:
            return AuthenticateOnly(name, resource)
        return name, resource

    def handle(
        self,
        facts: RequestFacts,
        principal: Principal,
        request_id: str,
        *,
        authorized: Target | None,
        decision: Decision | None = None,
    ) -> Response:
        """Run one call. ``authorized`` is what the middleware allowed (None: authenticated only)."""
        xml = _safe_wants_xml(facts)
        try:
            api, action = resolve_action(facts)
            call = Call(action.name, Params(facts.params), principal, request_id, facts, decision)
            expected = (
                f"{api.service}:{action.name}",
                action.resource(call.params, call.account_id, lambda: call.principal),
            )
            self._check_authorized(api, call, expected, authorized)
        except errors.RAMError as exc:  # a refusal here was audited where it was decided
            return error_response(exc, request_id, xml=xml, host_id=self.host_id)
        except Exception:  # e.g. the sink failed to record a refusal: run nothing (closed)
            log.error("control-plane request %s failed closed", request_id, exc_info=True)
            return error_response(errors.ServiceUnavailable(), request_id, xml=xml, host_id=self.host_id)
        try:
            body = action.handler(self.backend, call)
            if isinstance(body, Issued):  # what was issued, to whom, why; unrecorded, it is not handed out
                self._audit(
                    call, expected, "Allow", 200, body.reason, policy=body.policy, statement=body.statement
                )
                # A write-behind sink only queued it: write it now, or a disk found full later would have
                # let the credentials out unrecorded.
                flush_sink(self.backend.audit)
                body = body.body
            return success_response(action.name, body, request_id, xml=xml)
        except errors.RAMError as exc:
            failure = exc
        except Exception:
            log.error("control-plane request %s failed", request_id, exc_info=True)
            failure = errors.ServiceUnavailable()
        try:
            self._audit_failure(call, expected, failure)
        except Exception:  # the sink failed: the caller still gets an answer in the API's shape
            log.error("audit sink failed for request %s", request_id, exc_info=True)
            failure = errors.ServiceUnavailable()
        return error_response(failure, request_id, xml=xml, host_id=self.host_id)

    def refuse_unread(
        self, facts: RequestFacts, principal: Principal, request_id: str, authorized: Target | None,
        error: errors.RAMError,
    ) -> errors.RAMError:  # fmt: skip
        """Audit a call refused before it was read (a body over the control plane's limit), after the
        middleware had audited it as allowed: a second event under the same request id, as for a handler's
        refusal. Returns the error to answer (``ServiceUnavailable`` when the sink cannot record it)."""
        call = Call("", Params({}), principal, request_id, facts)
        try:
            self._audit_failure(call, authorized, error)
        except Exception:
            log.error("audit sink failed for request %s", request_id, exc_info=True)
            return errors.ServiceUnavailable()
        return error

    def _check_authorized(self, api: Api, call: Call, expected: Target, authorized: Target | None) -> None:
        if authorized == expected:
            return
        if authorized is None and call.action in api.permission_free:
            return
        refusal = f"The authorization ({authorized!r}) does not cover this call"
        log.warning(
            "request %s: authorized %r but asked for %r; refused", call.request_id, authorized, expected
        )
        error = errors.AuthorizationError(detail={"reason": refusal})
        self._audit(call, expected, "ImplicitDeny", 403, refusal, error.code)
        raise error

    def _audit_failure(self, call: Call, target: Target | None, error: errors.RAMError) -> None:
        """A call that failed in its handler, after the middleware had audited it as allowed: a second
        event under the same request id records what the caller got. A refusal decided there (AssumeRole's
        trust policy, the caller's own decision) is a denial; any other error is ``Rejected``."""
        decision: AuditDecision = "Rejected"
        reason = error.message
        if isinstance(error, errors.AuthorizationError):
            explicit = error.detail.get("effect") == "ExplicitDeny"
            decision = "ExplicitDeny" if explicit else "ImplicitDeny"
            reason = str(error.detail.get("reason") or reason)
        self._audit(call, target, decision, error.status, reason, error.code)

    def _audit(
        self, call: Call, target: Target | None, decision: AuditDecision, status: int, reason: str,
        code: str | None = None, *, policy: str | None = None, statement: int | None = None,
    ) -> None:  # fmt: skip
        """Decisions taken here rather than in the middleware are audited too, in the same sink."""
        sink = self.backend.audit
        if sink is None:
            return
        principal = call.principal
        sink.emit(
            AuditEvent(
                time=format_time(self.backend.contexts.now(), milliseconds=True),
                request_id=call.request_id,
                decision=decision,
                status=status,
                method=call.facts.method,
                path=call.facts.path,
                source_ip=self.backend.contexts.source_ip(call.facts),
                principal_arn=principal.arn,
                principal_type=principal.principal_type,
                auth_method=principal.auth_method,
                access_key_id=principal.access_key_id,
                action=None if target is None else target[0],
                resource=None if target is None else target[1],
                code=code,
                policy=policy,
                statement=statement,
                reason=reason,
            )
        )


def _safe_wants_xml(facts: RequestFacts) -> bool:
    try:
        return wants_xml(facts.params)
    except errors.RAMError:
        return False
