"""What every control-plane handler shares: the call, the back end, the action table entry, resources.

A handler is a plain function ``(backend, call) -> body`` (the body without RequestId). Each action also
names its resource function, used twice with the same inputs: by the middleware's rule to authorize the call
(``ram:<Action>`` on that resource) and by the control plane to check that what was authorized is exactly what
is about to run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..audit import AuditSink
from ..authorizer import DiagnosticCodec
from ..context import ContextBuilder
from ..credentials.sts import StsTokens
from ..facts import RequestFacts
from ..guard import Guard
from ..identity import Principal, ram_arn
from ..policy import Decision
from ..service import RamService
from ..service.rules import check_name
from ..store.cache import Directory
from .params import Params

__all__ = [
    "Action",
    "Backend",
    "Call",
    "CallerLookup",
    "Handler",
    "Issued",
    "ResourceFn",
    "account_wide",
    "caller_itself",
    "caller_user_name",
    "entity",
    "mfa_by_name",
    "mfa_by_serial",
    "policy_of_type",
    "user_or_caller",
]


@dataclass(frozen=True, slots=True)
class Backend:
    """The parts of the runtime the handlers use."""

    service: RamService
    directory: Directory
    tokens: StsTokens
    contexts: ContextBuilder
    guard: Guard  # the lock-out counters the console shares (ChangePassword's old password)
    diagnostics: DiagnosticCodec | None = None
    audit: AuditSink | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated call. ``decision`` is the middleware's decision for the call's own action (None
    for actions that need no permission)."""

    action: str
    params: Params
    principal: Principal
    request_id: str
    facts: RequestFacts
    decision: Decision | None = None

    @property
    def account_id(self) -> str:
        """Requests act in the account of the authenticated principal."""
        return self.principal.account_id


@dataclass(frozen=True, slots=True)
class Issued:
    """What a handler returns when its call handed a secret out (AssumeRole's credentials, a new AccessKey's
    secret, an MFA seed): the response body, and for the second audit event the line describing what was
    issued and the policy and statement that allowed it. ``reason`` and ``policy`` must name no secret;
    unrecorded (the sink flushed), the body is not sent."""

    body: Mapping[str, Any]
    reason: str
    policy: str | None = None
    statement: int | None = None


Handler = Callable[[Backend, Call], "Mapping[str, Any] | Issued"]
CallerLookup = Callable[[], "Principal | None"]
ResourceFn = Callable[[Params, str, CallerLookup], str]


@dataclass(frozen=True, slots=True)
class Action:
    """One API action: its handler and how to name the resource it is authorized on."""

    name: str
    handler: Handler
    resource: ResourceFn


def account_wide(params: Params, account_id: str, caller: CallerLookup) -> str:
    """Account-wide actions (List*, password policy, …) are authorized on ``*``."""
    return "*"


_KIND_PARAMS = {"user": "UserName", "group": "GroupName", "role": "RoleName", "policy": "PolicyName"}


def entity(kind: str) -> ResourceFn:
    """The ARN of the user, group, role or custom policy named by UserName/GroupName/RoleName/PolicyName.

    The name is checked against its rule first, so nothing odd ever lands in an ARN.
    """
    param = _KIND_PARAMS[kind]

    def resource(params: Params, account_id: str, caller: CallerLookup) -> str:
        name = check_name(param, params.required(param))
        if kind == "role":
            name = name.lower()  # Alibaba writes role ARNs in lower case (spec decision)
        return ram_arn(account_id, f"{kind}/{name}")

    return resource


def caller_user_name(caller: Principal | None) -> str | None:
    """The user name a call without ``UserName`` acts on: the caller's own (None for the root).

    An assumed-role session has no user of its own, so it must name one (``MissingParameter.UserName``).
    """
    if caller is None or caller.kind == "assumed-role":
        raise errors.MissingParameter("UserName", "UserName is mandatory when the caller is not a RAM user.")
    return caller.name if caller.kind == "user" else None


def caller_itself(params: Params, account_id: str, caller: CallerLookup) -> str:
    """The calling RAM user's own ARN (ChangePassword acts on the caller, whatever the parameters say).

    Refused before any policy is consulted: a role session, which has no password (400
    ``InvalidParameter.Caller``, rather than a MissingParameter.UserName for a parameter the action does not
    have), and the account root, which no policy decides and whose password is not a RAM user's (403)."""
    principal = caller()
    if principal is not None and principal.kind == "assumed-role":
        raise errors.InvalidParameter("Caller", "A role session has no password to change.")
    name = caller_user_name(principal)
    if name is None:
        raise errors.AuthorizationError(
            "ChangePassword changes a RAM user's own password; the account root may not call it.",
            detail={"reason": "root caller"},
        )
    return _user_arn(account_id, name)


def user_or_caller(params: Params, account_id: str, caller: CallerLookup) -> str:
    """The user named by UserName, else the caller itself (self-service AccessKey calls; a role session
    must name a user)."""
    if params.optional("UserName") is not None:
        return entity("user")(params, account_id, caller)
    return _user_arn(account_id, caller_user_name(caller()))


def _user_arn(account_id: str, name: str | None) -> str:
    return ram_arn(account_id, "root" if name is None else f"user/{name}")


def policy_of_type(params: Params, account_id: str, caller: CallerLookup) -> str:
    """A policy ARN; System policies live in the ``system`` namespace (spec: UNSURE, decision)."""
    name = params.required("PolicyName")
    check_name("PolicyName", name)
    owner = "system" if params.optional("PolicyType") == "System" else account_id
    return ram_arn(owner, f"policy/{name}")


_SERIAL = re.compile(r"acs:ram::[0-9]{1,32}:mfa/([A-Za-z0-9.-]{1,64})")


def mfa_by_name(params: Params, account_id: str, caller: CallerLookup) -> str:
    """CreateVirtualMFADevice: the ARN the new device will have (its SerialNumber)."""
    name = check_name("VirtualMFADeviceName", params.required("VirtualMFADeviceName"))
    return ram_arn(account_id, f"mfa/{name}")


def mfa_by_serial(params: Params, account_id: str, caller: CallerLookup) -> str:
    """The device named by SerialNumber — always taken to be in the caller's account, so a serial number
    of another account authorizes nothing there (and is then simply not found here)."""
    match = _SERIAL.fullmatch(params.required("SerialNumber"))
    if match is None:
        raise errors.InvalidParameter(
            "SerialNumber", "SerialNumber must look like acs:ram::<account>:mfa/<device name>."
        )
    return ram_arn(account_id, f"mfa/{match.group(1)}")
