"""The request path, framework-free: RequestFacts + route rule → Outcome (allow, or the error to send).

:meth:`Authorizer.check` runs the steps of DESIGN.md "The request path" in order — authenticate, resolve
the action and resource, build the condition context, decide with the principal's policies (the account
root is always allowed; an assumed role is intersected with its session policy), audit — and returns an
:class:`Outcome`. Adapters only translate facts in and the outcome out.

Errors the caller sees are Alibaba-style JSON (``RequestId``, ``HostId`` when configured, ``Code``,
``Message``; XML when the request says ``Format=XML``, OSS's ``<Error>`` (and ``x-oss-request-id``) for an
OSS-signed request, and in the shape botocore parses for an AWS SigV4 request) with an ``x-acs-request-id``
header:

* no credential on a protected route → 401 ``MissingAuthentication`` (with ``WWW-Authenticate``);
* a bad credential → the credential error's own Code/status (``SignatureDoesNotMatch`` …);
* a policy denial → 403 ``NoPermission`` with ``AccessDeniedDetail``; the explanation (policy, statement,
  failed condition) goes to the audit event and, encrypted, into ``EncodedDiagnosticMessage`` — never in
  clear to the caller;
* anything unexpected, an unreachable store, or an audit sink that fails → 503 ``ServiceUnavailable``:
  fail closed, and still audited where possible.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol
from xml.sax.saxutils import escape

from . import errors
from .audit import AuditDecision, AuditEvent, AuditSink, JsonLinesSink
from .context import ContextBuilder, format_time
from .credentials.authenticate import aws_service, oss_signed
from .credentials.coverage import host_covered, signed_view
from .crypto import SecretBox, generate_key
from .facts import RequestFacts, from_own_site
from .identity import Principal
from .policy.document import parse_policy
from .policy.evaluate import AttachedPolicy, Decision, PolicySet, decide_with_session
from .policy.request import context_value, make_request
from .request_scope import begin_request, end_request
from .routes import AuthenticateOnly, HostValue, PathParams, Rule, UnsignedValue

__all__ = [
    "Authenticating",
    "Authorizer",
    "BodyTimeout",
    "Claim",
    "DiagnosticCodec",
    "EntityTooLarge",
    "ErrorResponse",
    "IncompleteBody",
    "MissingAuthentication",
    "Outcome",
    "PolicySource",
    "RefusalRenderer",
    "Undeclared",
    "denial_detail",
    "new_request_id",
]

log = logging.getLogger(__name__)

Undeclared = Literal["deny", "allow", "authenticate"]
_NO_PARAMS: PathParams = {}
_ROOT_REASON = "The account root may perform any action"
_UNDECLARED_AUTHENTICATES = (
    "Route not declared; any authenticated caller may use it (undeclared='authenticate')"
)
_RULE_AUTHENTICATES = "The route's rule needs only authentication for this request"


class MissingAuthentication(errors.AuthenticationError):
    """A protected route was called without any credential."""

    default_code = "MissingAuthentication"
    default_status = 401
    default_message = "This operation requires a signed request (AccessKey signature or logon session)."


class EntityTooLarge(errors.RAMError):
    """The body is larger than the middleware will buffer to verify its signature."""

    default_code = "EntityTooLarge"
    default_status = 413
    default_message = "The request body is larger than the configured limit."


class BodyTimeout(errors.RAMError):
    """The client stopped sending a body the middleware was buffering to verify its signature."""

    default_code = "RequestTimeout"
    default_status = 408
    default_message = "The request body was not received within the configured time."


class IncompleteBody(errors.RAMError):
    """The server could not hand over the body the middleware was buffering (broken chunked framing, a
    client that left mid-body)."""

    default_code = "IncompleteBody"
    default_status = 400
    default_message = "The request body could not be read in full."


class Claim(Protocol):
    """The unverified credential a request presents (for auditing failed attempts)."""

    @property
    def scheme(self) -> str: ...

    @property
    def access_key_id(self) -> str: ...


class Authenticating(Protocol):
    """What the authorizer needs from :class:`~ram_middleware.credentials.authenticate.Authenticator`.

    It may also have ``host_bucket(facts) -> str | None``, the OSS bucket a request's Host names (see
    :meth:`Authenticator.host_bucket`); without it no Host names a bucket and ``{bucket}`` comes from the
    route alone.
    """

    def authenticate(self, facts: RequestFacts) -> Principal | None: ...

    def parse(self, facts: RequestFacts) -> Claim | None: ...


def _refuse_cross_site(facts: RequestFacts) -> None:
    """A console session calls a rule whose GET may change state (an RPC API) only from this site's own
    pages: the browser must say so (``Sec-Fetch-Site: same-origin``, or ``none`` for an address typed or
    bookmarked). A cross-site link, form or script, or a client that does not say, is refused (403) without
    ending the session: SameSite=Lax lets the cookie ride on another site's top-level GET navigation."""
    if not from_own_site(facts, unmarked=False):
        raise errors.CrossSiteRequest()


def _no_host_bucket(facts: RequestFacts) -> str | None:
    return None


def _host_values_unsigned(path_params: PathParams) -> PathParams:
    """``path_params`` with each value a route read from the Host made an :class:`UnsignedValue`, for a
    signature that leaves the Host open (a template naming one then refuses the request)."""
    if not any(type(value) is HostValue for value in path_params.values()):
        return path_params
    return {name: UnsignedValue(v) if type(v) is HostValue else v for name, v in path_params.items()}


class PolicySource(Protocol):
    """The compiled identity policies of a principal (the store's cached Directory)."""

    def policy_set(self, principal: Principal) -> PolicySet: ...


class RefusalRenderer(Protocol):
    """Renders a refusal differently for some callers (the console: browsers get redirects / HTML).

    Returns None to keep the default Alibaba-style JSON/XML error.
    """

    def __call__(
        self, facts: RequestFacts, error: errors.RAMError, request_id: str
    ) -> ErrorResponse | None: ...


class _RequestIds:
    """Alibaba-style request ids (upper-case, UUID-shaped): a random per-process prefix and a counter.

    Unique rather than unpredictable (they are not secrets), and ~10x cheaper than ``uuid4`` per request.
    A forked worker draws a new prefix, so workers of one server never share ids.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        head = uuid.uuid4().hex.upper()
        self._prefix = f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-"
        self._counter = itertools.count(int(head[20:], 16))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012X}"


new_request_id: Callable[[], str] = _RequestIds()
"""A new request id (``7B1B3A44-8F43-4C2E-9C7A-2B0C3C5E0A11`` shape)."""


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A complete HTTP error response; adapters send it as is."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    code: str


class Outcome(NamedTuple):
    """The result of :meth:`Authorizer.check`: allowed when ``error`` is None (one per request, hence a
    NamedTuple: cheaper to build than a frozen dataclass)."""

    request_id: str
    principal: Principal | None = None
    action: str | None = None
    resource: str | None = None
    decision: Decision | None = None
    error: ErrorResponse | None = None

    @property
    def allowed(self) -> bool:
        return self.error is None


class DiagnosticCodec:
    """Seals the explanation of a denial into ``EncodedDiagnosticMessage`` (AES-GCM via :class:`SecretBox`).

    The plaintext has the shape of RAM's ``DecodeDiagnosticMessage`` response, so the control plane's
    handler only has to call :meth:`decode`.
    """

    _CONTEXT = "ram:diagnostic:v1"

    def __init__(self, box: SecretBox | None = None) -> None:
        # Without a configured box the messages decode only within this process's lifetime.
        self._box = box if box is not None else SecretBox([generate_key()])

    def encode(self, diagnostic: Mapping[str, Any]) -> str:
        return self._box.encrypt(json.dumps(diagnostic, separators=(",", ":")), context=self._CONTEXT)

    def decode(self, message: str) -> dict[str, Any]:
        """The diagnostic sealed in ``message``; ``InvalidParameter.EncodedDiagnosticMessage`` if not."""
        try:
            data = json.loads(self._box.decrypt(message, context=self._CONTEXT))
        except (errors.RAMError, ValueError, IndexError) as exc:
            raise errors.InvalidParameter(
                "EncodedDiagnosticMessage", "The diagnostic message is malformed or was not issued here."
            ) from exc
        if not isinstance(data, dict):
            raise errors.InvalidParameter("EncodedDiagnosticMessage", "The diagnostic message is malformed.")
        return data


class _Trace:
    """What is known so far about a request, for the audit event when a later step fails."""

    __slots__ = ("action", "principal", "resource")

    def __init__(self) -> None:
        self.principal: Principal | None = None
        self.action: str | None = None
        self.resource: str | None = None


class Authorizer:
    """Decides requests and audits every decision. Thread-safe; call :meth:`check` off the event loop.

    ``undeclared`` says what happens to a request no rule covers: ``deny`` (403, the default), ``allow``
    (passed through unchecked) or ``authenticate`` (any valid credential, no policy check).
    """

    def __init__(
        self,
        authenticator: Authenticating,
        policies: PolicySource,
        *,
        contexts: ContextBuilder | None = None,
        audit: AuditSink | None = None,
        undeclared: Undeclared = "deny",
        diagnostics: DiagnosticCodec | None = None,
        host_id: str | None = None,
        request_ids: Callable[[], str] = new_request_id,
        refusals: RefusalRenderer | None = None,
    ) -> None:
        if undeclared not in ("deny", "allow", "authenticate"):
            raise errors.InvalidParameter(
                "Undeclared", "undeclared must be 'deny', 'allow' or 'authenticate'."
            )
        self._authenticator = authenticator
        # Optional, so an authenticator written before OSS Host addressing keeps working (names no bucket).
        self._host_bucket: Callable[[RequestFacts], str | None] = getattr(
            authenticator, "host_bucket", _no_host_bucket
        )
        self._policies = policies
        self.contexts = contexts if contexts is not None else ContextBuilder()
        self.audit = audit if audit is not None else JsonLinesSink(sys.stderr)
        self.undeclared: Undeclared = undeclared
        self.diagnostics = diagnostics if diagnostics is not None else DiagnosticCodec()
        self._host_id = host_id
        self._request_ids = request_ids
        # Public so the console can install its browser renderer on an already built runtime.
        self.refusals = refusals

    def skips(self, rule: Rule | None) -> bool:
        """True when the request needs no check at all (public route, or undeclared with ``allow``)."""
        return rule.public if rule is not None else self.undeclared == "allow"

    def check(self, facts: RequestFacts, rule: Rule | None, path_params: PathParams | None = None) -> Outcome:
        """Authenticate, authorize and audit one request."""
        if self.skips(rule):
            return Outcome(self._request_ids())
        request_id = self._request_ids()
        now = self.contexts.now()
        trace = _Trace()
        scope = begin_request()  # one deadline for every store wait of this decision: cold reads don't add up
        try:
            outcome, event = self._decide(facts, rule, path_params or _NO_PARAMS, request_id, now, trace)
        except errors.RAMError as exc:
            outcome, event = self._failure(facts, exc, request_id, now, trace)
        except Exception:
            log.error("request %s failed closed", request_id, exc_info=True)
            outcome, event = self._failure(facts, errors.ServiceUnavailable(), request_id, now, trace)
        finally:
            end_request(scope)
        return self._emit(facts, outcome, event)

    def reject(
        self, facts: RequestFacts, error: errors.RAMError, *, principal: Principal | None = None,
        after: Outcome | None = None,
    ) -> ErrorResponse:  # fmt: skip
        """Refuse a request, audited: before :meth:`check` could run (e.g. :class:`EntityTooLarge`), or after
        it, for ``principal`` (the event names them, e.g. a console session without the MFA a view needs).
        ``after``: the request's allowed :meth:`check`, whose request id the refusal and its event keep (the
        caller's RequestId finds both events) and whose action and resource the event names."""
        now, trace = self.contexts.now(), _Trace()
        request_id = after.request_id if after is not None else self._request_ids()
        trace.principal = principal
        if after is not None:
            trace.action, trace.resource = after.action, after.resource
        outcome, event = self._failure(facts, error, request_id, now, trace)
        refused = self._emit(facts, outcome, event).error
        return refused if refused is not None else self._render(facts, error, request_id)

    # --- the steps --------------------------------------------------------------------------------------

    def _decide(
        self, facts: RequestFacts, rule: Rule | None, path_params: PathParams, request_id: str,
        now: datetime, trace: _Trace,
    ) -> tuple[Outcome, AuditEvent]:  # fmt: skip
        principal = self._authenticator.authenticate(facts)
        if principal is None:
            raise MissingAuthentication()
        trace.principal = principal
        if rule is None:
            return self._undeclared(facts, principal, request_id, now)
        if principal.auth_method == "session" and getattr(rule, "get_changes_state", False):
            _refuse_cross_site(facts)
        path_params = self._with_bucket(facts, principal, path_params)
        if path_params and not host_covered(principal.auth_method):
            path_params = _host_values_unsigned(path_params)
        # The rule reads only what the signature covers (credentials.coverage): a replayed request's
        # unsigned parts must not choose what it is authorized for.
        signed = signed_view(facts, principal.auth_method)
        target = rule.resolve(signed, path_params, principal.account_id)
        if target is None:
            return self._authenticated_only(facts, principal, request_id, now, _RULE_AUTHENTICATES)
        if isinstance(target, AuthenticateOnly):  # named for the audit log, decided by the credential alone
            return self._authenticated_only(
                facts, principal, request_id, now, _RULE_AUTHENTICATES, target.action, target.resource
            )
        action, resource = target
        trace.action, trace.resource = action, resource
        context = self.contexts.build(facts, principal, now)
        decision, by_session = self._evaluate(principal, action, resource, context)
        allowed = decision.effect == "Allow"
        policy = decision.policy
        # Built positionally (the field order of AuditEvent): this runs once per request.
        event = AuditEvent(
            format_time(now, milliseconds=True), request_id, decision.effect, 200 if allowed else 403,
            facts.method, facts.path, str(context["acs:SourceIp"]), principal.arn, principal.principal_type,
            principal.auth_method, principal.access_key_id, action, resource,
            None if allowed else errors.AuthorizationError.default_code,
            None if policy is None else _describe(policy), decision.statement_index, decision.reason,
        )  # fmt: skip
        outcome = Outcome(request_id, principal, action, resource, decision)
        if allowed:
            return outcome, event
        detail = self._denial_detail(principal, action, resource, decision, context, by_session)
        error: errors.RAMError = errors.AuthorizationError(detail=detail)
        if self._mfa_would_allow(principal, action, resource, context):
            error = errors.MFARequired(detail=detail)
            event = event._replace(code=error.code)
        return outcome._replace(error=self._render(facts, error, request_id)), event

    def _with_bucket(self, facts: RequestFacts, principal: Principal, path_params: PathParams) -> PathParams:
        """``{bucket}`` for OSS addressing by Host (``oss_domains``/``oss_cnames``), whatever the scheme.

        When the Host names a bucket, that bucket fills ``{bucket}`` (a query ``bucket`` cannot replace it),
        and a route that captures another bucket from its path is refused: the app and the check must not
        read two different buckets. Under a signature that does not cover the Host (ROA, RPC v1) such a
        bucket is an :class:`~ram_middleware.routes.UnsignedValue`: a template naming ``{bucket}`` refuses
        the request. An OSS-signed request whose Host names none takes ``{bucket}`` only from the route,
        never from the query or form, which OSS leaves unsigned.
        """
        host = self._host_bucket(facts)
        captured = path_params.get("bucket")
        if host is not None:
            if captured is not None and captured != host:
                raise errors.InvalidParameter(
                    "bucket", "The request path and the Host name different buckets."
                )
            if captured == host:
                return path_params
            return {
                **path_params,
                "bucket": host if host_covered(principal.auth_method) else UnsignedValue(host),
            }
        if captured is None and principal.auth_method.startswith("oss-"):
            return {**path_params, "bucket": ""}  # empty: MissingParameter.bucket, no query fallback
        return path_params

    def _evaluate(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, object]
    ) -> tuple[Decision, bool]:
        """The decision, and whether a session policy (not the identity policies) refused it."""
        if principal.kind == "root":
            return Decision("Allow", None, None, _ROOT_REASON), False
        request = make_request(action, resource, context)
        identity = self._policies.policy_set(principal)
        if not principal.session_policy:
            return identity.decide(request), False
        decision = decide_with_session(identity, _session_set(principal.session_policy), request)
        if decision.allowed:
            return decision, False
        # Only on a denial: was it the session's doing? (Its own Deny, or an identity Allow it cut off.)
        in_session = decision.policy is not None and decision.policy.attached_to == "session"
        return decision, in_session or identity.decide(request).allowed

    def _mfa_would_allow(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, object]
    ) -> bool:
        """Whether a denial is only for want of MFA: a session without it that MFA would let through, or a
        console session whose MFA proof is too old for the policy (a step-up renews it)."""
        if principal.mfa_present is None:  # an AccessKey call: no MFA to add
            return False
        with_mfa = {**context, "acs:MFAPresent": "true"}
        if principal.auth_method == "session":  # only a console session proves MFA again (so has an age)
            with_mfa["acs:MFAAge"] = "0"
        elif principal.mfa_present:  # an STS session that already has MFA: nothing more to give
            return False
        return self._evaluate(principal, action, resource, with_mfa)[0].allowed

    def _undeclared(
        self, facts: RequestFacts, principal: Principal, request_id: str, now: datetime
    ) -> tuple[Outcome, AuditEvent]:
        if self.undeclared == "authenticate":
            return self._authenticated_only(facts, principal, request_id, now, _UNDECLARED_AUTHENTICATES)
        error = errors.AuthorizationError(detail={})
        reason = "Route not declared; undeclared routes are denied"
        event = self._event(
            facts, request_id, now, principal, "ImplicitDeny", 403, code=error.code, reason=reason
        )
        return Outcome(request_id, principal, error=self._render(facts, error, request_id)), event

    def _authenticated_only(
        self, facts: RequestFacts, principal: Principal, request_id: str, now: datetime, reason: str,
        action: str | None = None, resource: str | None = None,
    ) -> tuple[Outcome, AuditEvent]:  # fmt: skip
        """Allowed on the credential alone: an Outcome without action or resource (none was evaluated);
        the audit event names the ``action`` and ``resource`` a rule gave (:class:`AuthenticateOnly`)."""
        event = self._event(
            facts, request_id, now, principal, "Allow", 200, action=action, resource=resource, reason=reason
        )
        return Outcome(request_id, principal), event

    def _failure(
        self, facts: RequestFacts, error: errors.RAMError, request_id: str, now: datetime, trace: _Trace
    ) -> tuple[Outcome, AuditEvent]:
        event = self._event(
            facts, request_id, now, trace.principal, "Rejected", error.status,
            action=trace.action, resource=trace.resource, code=error.code, reason=error.message,
        )  # fmt: skip
        if trace.principal is None and isinstance(error, errors.AuthenticationError):
            event = self._with_claim(event, facts)
        rendered = self._render(facts, error, request_id)
        return Outcome(request_id, trace.principal, trace.action, trace.resource, None, rendered), event

    def _with_claim(self, event: AuditEvent, facts: RequestFacts) -> AuditEvent:
        """Name the AccessKeyId and scheme a failed credential claimed (unverified, so flagged as such)."""
        try:
            claim = self._authenticator.parse(facts)
        except errors.RAMError:
            return event
        if claim is None:
            return event
        return event._replace(access_key_id=claim.access_key_id, auth_method=f"{claim.scheme} (unverified)")

    def _emit(self, facts: RequestFacts, outcome: Outcome, event: AuditEvent) -> Outcome:
        try:
            self.audit.emit(event)
        except Exception:
            # An allowed request that cannot be recorded is not allowed.
            log.error("audit sink failed for request %s; denying", outcome.request_id, exc_info=True)
            if outcome.allowed:
                error = errors.ServiceUnavailable()
                return outcome._replace(error=self._render(facts, error, outcome.request_id))
        return outcome

    # --- audit and responses ----------------------------------------------------------------------------

    def _event(
        self, facts: RequestFacts, request_id: str, now: datetime, principal: Principal | None,
        decision: AuditDecision, status: int, source_ip: str | None = None, **fields: Any,
    ) -> AuditEvent:  # fmt: skip
        return AuditEvent(
            time=format_time(now, milliseconds=True),
            request_id=request_id,
            decision=decision,
            status=status,
            method=facts.method,
            path=facts.path,
            source_ip=source_ip if source_ip is not None else self.contexts.source_ip(facts),
            principal_arn=principal.arn if principal else None,
            principal_type=principal.principal_type if principal else None,
            auth_method=principal.auth_method if principal else "none",
            access_key_id=principal.access_key_id if principal else None,
            **fields,
        )

    def _denial_detail(
        self, principal: Principal, action: str, resource: str, decision: Decision,
        context: Mapping[str, object], by_session: bool,
    ) -> dict[str, Any]:  # fmt: skip
        # UNSURE in the spec: what Alibaba reports for a session-policy denial; we say "SessionPolicy".
        policy_type = "SessionPolicy" if by_session else "AccountLevelIdentityBasedPolicy"
        return denial_detail(self.diagnostics, principal, action, resource, decision, context, policy_type)

    def _render(self, facts: RequestFacts, error: errors.RAMError, request_id: str) -> ErrorResponse:
        if self.refusals is not None:
            custom = self.refusals(facts, error, request_id)
            if custom is not None:
                return custom
        body: dict[str, Any] = {"RequestId": request_id}
        if self._host_id:
            body["HostId"] = self._host_id
        body.update(Code=error.code, Message=error.message)
        # MFARequired is an authentication error, yet a policy decision refused it as much as NoPermission.
        detail = errors.access_denied_detail(error)
        if detail is not None:
            body["AccessDeniedDetail"] = detail
        headers = [("x-acs-request-id", request_id)]
        if error.status == 401:
            headers.append(("www-authenticate", "ACS3-HMAC-SHA256"))
        service = aws_service(facts)
        if service is not None:  # botocore reads the Code only from its services' XML error shapes
            payload = _aws_error_document(body, service)
            headers.append(("content-type", "application/xml"))
        elif oss_signed(facts):  # oss2 reads the Code only from OSS's XML, the id only from x-oss-request-id
            payload = _xml_document(body)
            headers += [("content-type", "application/xml"), ("x-oss-request-id", request_id)]
        elif _wants_xml(facts):
            payload = _xml_document(body)
            headers.append(("content-type", "text/xml;charset=utf-8"))
        else:
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            headers.append(("content-type", "application/json;charset=utf-8"))
        return ErrorResponse(error.status, tuple(headers), payload, error.code)


# --- helpers ------------------------------------------------------------------------------------------------


def denial_detail(
    diagnostics: DiagnosticCodec, principal: Principal, action: str, resource: str, decision: Decision,
    context: Mapping[str, object], policy_type: str, *, explained: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """A policy denial's detail: the ``AccessDeniedDetail`` fields (:data:`errors.ACCESS_DENIED_FIELDS`),
    whose ``EncodedDiagnosticMessage`` seals what ``DecodeDiagnosticMessage`` returns. ``explained``: the
    diagnostic also names the deciding policy and the reason; False when that policy belongs to another
    account than the principal's, whose administrator decodes it."""
    owner, kind, display = principal.account_id, principal.principal_type, _display_name(principal)
    diagnostic = {
        "AuthAction": action,
        "AuthResource": resource,
        "AuthPrincipal": {
            "AuthPrincipalType": kind,
            "AuthPrincipalOwnerId": owner,
            "AuthPrincipalDisplayName": display,
        },
        "AuthConditions": _auth_conditions(context),
        "ExplicitDeny": decision.effect == "ExplicitDeny",
        "NoPermissionPolicyType": policy_type,
        "MatchedPolicies": _matched_policies(decision) if explained else [],
    }
    if explained:
        diagnostic["Reason"] = decision.reason
    return {
        "PolicyType": policy_type,
        "AuthPrincipalOwnerId": owner,
        "AuthPrincipalType": kind,
        "AuthPrincipalDisplayName": display,
        "NoPermissionType": decision.effect,
        "AuthAction": action,
        "EncodedDiagnosticMessage": diagnostics.encode(diagnostic),
    }


@lru_cache(maxsize=1024)
def _session_set(document: str) -> PolicySet:
    # Session policies were validated when the token was issued; the token's MAC vouches for the text.
    compiled = parse_policy(document, kind="session", stored=True)
    return PolicySet([AttachedPolicy("SessionPolicy", "Session", "", "session", "", compiled)])


_DESCRIBED_SIZE = 4096
_described: dict[int, tuple[AttachedPolicy, str]] = {}


def _describe(policy: AttachedPolicy) -> str:
    """``policy.describe()``, remembered per policy object (policy sets are cached, so they recur)."""
    found = _described.get(id(policy))
    if found is not None and found[0] is policy:
        return found[1]
    text = policy.describe()
    if len(_described) >= _DESCRIBED_SIZE:
        _described.clear()
    _described[id(policy)] = (policy, text)  # holding the policy keeps its id from being reused
    return text


def _auth_conditions(context: Mapping[str, object]) -> list[dict[str, Any]]:
    """The context as the diagnostic lists it: each key with its values as the policy compared them (a
    multi-valued key's every value, ``true``/``false`` for a bool); an absent (None) key is left out."""
    conditions = []
    for key, value in context.items():
        text = context_value(value)
        if text is not None:
            values = [text] if isinstance(text, str) else list(text)
            conditions.append({"ConditionKey": key, "ConditionValues": values})
    return conditions


def _display_name(principal: Principal) -> str:
    if principal.kind == "assumed-role":
        return f"{principal.name}:{principal.session_name or ''}"
    return principal.principal_id


def _matched_policies(decision: Decision) -> list[dict[str, str]]:
    policy = decision.policy
    if policy is None:
        return []
    effect = "Deny" if decision.effect == "ExplicitDeny" else "Allow"
    return [
        {"PolicyType": policy.policy_type, "PolicyIdentifier": policy.name, "PolicyVersion": policy.version,
         "Effect": effect, "AttachedEntityType": policy.attached_to, "AttachedScope": policy.attached_name}
    ]  # fmt: skip


def _wants_xml(facts: RequestFacts) -> bool:
    try:
        return facts.params.get("Format", "").upper() == "XML"
    except errors.RAMError:
        return False


def _aws_error_document(body: Mapping[str, Any], service: str) -> bytes:
    """S3's ``<Error>`` document, or the ``<ErrorResponse><Error>…</Error><RequestId/>`` of AWS's other XML
    protocols (STS and the like), with the same fields as the JSON error."""
    if service == "s3":
        return _xml_document(body)
    error = {key: value for key, value in body.items() if key != "RequestId"}
    inner = _xml_element("Error", error) + _xml_element("RequestId", body["RequestId"])
    return f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse>{inner}</ErrorResponse>'.encode()


def _xml_document(body: Mapping[str, Any]) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>' + _xml_element("Error", body)).encode("utf-8")


def _xml_element(name: str, value: object) -> str:
    if isinstance(value, Mapping):
        inner = "".join(_xml_element(str(key), item) for key, item in value.items())
    else:
        inner = escape(str(value))
    return f"<{name}>{inner}</{name}>"
