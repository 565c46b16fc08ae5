"""Authorization decisions over compiled policies (spec §3).

Explicit Deny beats Allow beats implicit deny; the order of policies and statements never changes the effect.
A :class:`PolicySet` is built once per principal (callers cache it) and indexes its statements by the
lower-cased service code of their actions, with one extra bucket for statements whose service part has
wildcards or that use NotAction; per action it then memoises which statements can match at all (long lists
of those are further grouped by the literal prefix of their resource patterns), so a decision only tests the
resources and conditions of statements that can match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal

from ram_middleware.policy.conditions import Condition
from ram_middleware.policy.document import TRUST_ACTIONS, CompiledPolicy, PrincipalSpec, Statement
from ram_middleware.policy.request import Request, make_request

__all__ = [
    "AttachedPolicy",
    "Decision",
    "Effect",
    "PolicySet",
    "Request",
    "decide",
    "decide_with_session",
    "evaluate_trust",
    "make_request",
]

Effect = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]
AttachedTo = Literal["user", "group", "role", "session"]

_MEMO_LIMIT = 2048  # distinct actions remembered per PolicySet; actions can come from callers, so bounded
_INDEX_FROM = 16  # candidate lists this long are also indexed by resource prefix
_MAX_SHOWN = 200


@dataclass(frozen=True, slots=True)
class AttachedPolicy:
    """A policy as it applies to a principal: which one, which version, attached where."""

    name: str
    policy_type: str  # "System" | "Custom" | "Session" | "Trust"
    version: str
    attached_to: AttachedTo
    attached_name: str
    policy: CompiledPolicy = field(repr=False)

    def describe(self) -> str:
        """``custom policy RnDOSSOfficeHours (group R&D)``."""
        where = f"{self.attached_to} {self.attached_name}" if self.attached_name else self.attached_to
        return f"{self.policy_type.lower()} policy {self.name} ({where})"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome and its explanation.

    ``policy``/``statement_index`` name the deciding statement; for an ImplicitDeny they name the first
    statement whose Action and Resource matched but whose Condition failed (None when none came that close).
    """

    effect: Effect
    policy: AttachedPolicy | None
    statement_index: int | None
    reason: str

    @property
    def allowed(self) -> bool:
        """True only for Allow."""
        return self.effect == "Allow"

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready form for audit logs."""
        p = self.policy
        return {
            "effect": self.effect,
            "policy_name": p.name if p else None,
            "policy_type": p.policy_type if p else None,
            "policy_version": p.version if p else None,
            "attached_to": p.attached_to if p else None,
            "attached_name": p.attached_name if p else None,
            "statement_index": self.statement_index,
            "reason": self.reason,
        }


def _shown(text: str) -> str:
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


class _Entry:
    """A statement as indexed by a PolicySet, with its precomputed outcome."""

    __slots__ = ("any_resource", "attached", "conditions", "deny", "hit", "statement")

    def __init__(self, attached: AttachedPolicy, statement: Statement) -> None:
        self.attached = attached
        self.statement = statement
        self.conditions: tuple[Condition, ...] = statement.conditions
        self.any_resource = statement.any_resource
        self.deny = statement.effect == "Deny"
        label = f"statement {statement.index} of {attached.describe()}"
        if self.deny:
            self.hit = Decision("ExplicitDeny", attached, statement.index, f"Denied by {label}")
        else:
            self.hit = Decision("Allow", attached, statement.index, f"Allowed by {label}")


class _ResourceIndex:
    """Long candidate lists grouped by the literal start of their resource patterns.

    A pattern can only match a resource that begins with its literal prefix, so a lookup tries each distinct
    prefix length once instead of testing every statement. Entries that cannot be narrowed this way
    (NotResource, ``*``, patterns that begin with a wildcard) are always tested.
    """

    __slots__ = ("_always", "_tables")

    def __init__(self, entries: Sequence[_Entry]) -> None:
        # slot 0 serves non-RAM resources (head lower-cased), slot 1 RAM resources (fully lower-cased)
        always: tuple[list[_Entry], list[_Entry]] = ([], [])
        tables: tuple[dict[str, list[_Entry]], dict[str, list[_Entry]]] = ({}, {})
        for entry in entries:
            statement = entry.statement
            for ram in (0, 1):
                prefixes = {p.prefix_ci if ram else p.prefix_cs for p in statement.resources}
                if entry.any_resource or statement.not_resource or "" in prefixes:
                    always[ram].append(entry)
                    continue
                for prefix in prefixes:
                    tables[ram].setdefault(prefix, []).append(entry)
        self._always = (tuple(always[0]), tuple(always[1]))
        self._tables = tuple(
            (sorted({len(prefix) for prefix in table}), {k: tuple(v) for k, v in table.items()})
            for table in tables
        )

    def select(self, resource: str, is_ram: bool) -> list[_Entry]:
        """The entries whose resource patterns could match ``resource`` (normalized form)."""
        lengths, table = self._tables[is_ram]
        found = list(self._always[is_ram])
        for length in lengths:
            if length > len(resource):
                break
            hit = table.get(resource[:length])
            if hit is not None:
                found.extend(hit)
        return found


_Group = tuple[_Entry, ...] | _ResourceIndex
_Candidates = tuple[_Group, _Group]  # (denies, allows)


def _group(entries: list[_Entry]) -> _Group:
    return _ResourceIndex(entries) if len(entries) >= _INDEX_FROM else tuple(entries)


def _narrow(group: _Group, resource: str, is_ram: bool) -> Sequence[_Entry]:
    return group.select(resource, is_ram) if isinstance(group, _ResourceIndex) else group


class PolicySet:
    """The identity policies of one principal (or one session policy), compiled into a decision index."""

    __slots__ = ("_by_service", "_memo", "_wild", "policies", "statement_count")

    def __init__(self, policies: Iterable[AttachedPolicy]) -> None:
        self.policies: tuple[AttachedPolicy, ...] = tuple(policies)
        by_service: dict[str, list[_Entry]] = {}
        wild: list[_Entry] = []
        count = 0
        for attached in self.policies:
            for statement in attached.policy.statements:
                count += 1
                entry = _Entry(attached, statement)
                services = {p.service for p in statement.actions}
                if statement.not_action or None in services:
                    wild.append(entry)
                    continue
                for service in services:
                    by_service.setdefault(str(service), []).append(entry)
        self.statement_count = count
        self._by_service = {service: tuple(entries) for service, entries in by_service.items()}
        self._wild = tuple(wild)
        self._memo: dict[str, _Candidates] = {}

    def _candidates(self, request: Request) -> _Candidates:
        action = request.action_key
        denies: list[_Entry] = []
        allows: list[_Entry] = []
        for entry in chain(self._by_service.get(request.service, ()), self._wild):
            if entry.statement.matches_action(action):
                (denies if entry.deny else allows).append(entry)
        found = (_group(denies), _group(allows))
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[action] = found
        return found

    def decide(self, request: Request) -> Decision:
        """Explicit Deny > Allow > implicit deny over every statement of the set."""
        found = self._memo.get(request.action_key)
        deny_group, allow_group = found if found is not None else self._candidates(request)
        resource, is_ram, context = request.resource_key, request.resource_is_ram, request.context
        for entry in _narrow(deny_group, resource, is_ram):
            if entry.any_resource or entry.statement.matches_resource(resource, is_ram):
                for condition in entry.conditions:
                    if not condition.holds(context):
                        break
                else:
                    return entry.hit
        near: tuple[_Entry, Condition] | None = None
        for entry in _narrow(allow_group, resource, is_ram):
            if entry.any_resource or entry.statement.matches_resource(resource, is_ram):
                for condition in entry.conditions:
                    if not condition.holds(context):
                        if near is None:
                            near = (entry, condition)
                        break
                else:
                    return entry.hit
        return _implicit_deny(request, near)


def _implicit_deny(request: Request, near: tuple[_Entry, Condition] | None) -> Decision:
    if near is None:
        return Decision(
            "ImplicitDeny",
            None,
            None,
            f"No statement allows {_shown(request.action)} on {_shown(request.resource)}",
        )
    entry, condition = near
    index = entry.statement.index
    reason = f"Statement {index} of {entry.attached.describe()}: {condition.explain(request.context)}"
    return Decision("ImplicitDeny", entry.attached, index, reason)


def decide_with_session(identity: PolicySet, session: PolicySet | None, request: Request) -> Decision:
    """Role session with a session policy (spec §3.4): both must allow; a Deny in either wins."""
    first = identity.decide(request)
    if first.effect == "ExplicitDeny" or session is None:
        return first
    second = session.decide(request)
    if second.effect == "ExplicitDeny":
        return second
    if not first.allowed:
        return first
    if not second.allowed:
        return Decision(
            "ImplicitDeny",
            second.policy,
            second.statement_index,
            f"The session policy does not allow it: {second.reason}",
        )
    return Decision(
        "Allow", first.policy, first.statement_index, f"{first.reason}; session policy: {second.reason}"
    )


def decide(
    policies: Iterable[AttachedPolicy], request: Request, *, session_policy: CompiledPolicy | None = None
) -> Decision:
    """One-off decision. Policies attached to ``session`` (and ``session_policy``) are session policies:
    each narrows on its own (an Allow needs every one of them), as a chain of sessions would."""
    identity: list[AttachedPolicy] = []
    session: list[AttachedPolicy] = []
    for attached in policies:
        (session if attached.attached_to == "session" else identity).append(attached)
    if session_policy is not None:
        session.append(AttachedPolicy("SessionPolicy", "Session", "", "session", "", session_policy))
    identity_set = PolicySet(identity)
    if not session:
        return identity_set.decide(request)
    decisions = [decide_with_session(identity_set, PolicySet([one]), request) for one in session]
    refused = [d for d in decisions if not d.allowed]
    explicit = [d for d in refused if d.effect == "ExplicitDeny"]
    return (explicit or refused or decisions)[0]


# --- trust policies -----------------------------------------------------------------------------------------


def _trusted_entry(
    principal: PrincipalSpec | None, callers: set[str], root: str, service: str | None
) -> str | None:
    """The principal entry that names the caller, as ``RAM <arn>`` / ``Service <name>``; None if none does."""
    if principal is None:
        return None
    for arn in principal.ram:
        if arn in callers or arn == root:
            return f"RAM {arn}"
    for arn in principal.federated:
        if arn in callers:
            return f"Federated {arn}"
    if service is not None and service in principal.service:
        return f"Service {service}"
    return None


def _covers_role(statement: Statement, request: Request, known: bool) -> bool:
    """Whether a trust statement's Resource/NotResource (if any) covers the role being assumed; when the
    role is not ``known``, fail closed: an Allow needs ``*``, a Deny always applies."""
    if known:
        return statement.matches_resource(request.resource_key, request.resource_is_ram)
    return statement.effect == "Deny" or statement.any_resource


def evaluate_trust(
    trust: CompiledPolicy,
    *,
    account_id: str,
    principal_arns: Sequence[str],
    service: str | None,
    context: Mapping[str, object],
    action: str = "sts:AssumeRole",
    role_arn: str | None = None,
    role_name: str = "",
) -> Decision:
    """Does the role's trust policy let this caller assume it?

    A RAM entry matches when it equals (case-insensitively) one of ``principal_arns`` or is the root of the
    caller's account ``account_id``; Service entries match ``service``; Federated entries match
    ``principal_arns``. Conditions (e.g. ``StringEquals sts:ExternalId``) are evaluated against ``context``.

    The resource of a trust policy is the role itself: a statement that carries ``Resource`` or
    ``NotResource`` (RAM's examples never do; the grammar allows it) applies only when that covers
    ``role_arn``, so ``"Resource": "acs:ram::…:role/other"`` or ``"NotResource": "*"`` grants nothing. Without
    ``role_arn`` such an Allow statement applies only with ``Resource: "*"``, and such a Deny always does.
    The decision's policy is ``TrustPolicy`` attached to the role ``role_name`` (for audit events).
    """
    attached = AttachedPolicy("TrustPolicy", "Trust", "", "role", role_name, trust)
    request = make_request(action, role_arn if role_arn is not None else "*", context)
    callers = {arn.lower() for arn in principal_arns}
    root = f"acs:ram::{account_id}:root".lower()
    wanted = request.action_key if request.action_key in TRUST_ACTIONS else None
    service_key = service.lower() if service else None
    allow: Decision | None = None
    near: Decision | None = None
    for statement in trust.statements:
        who = _trusted_entry(statement.principal, callers, root, service_key)
        if who is None or wanted is None or not statement.matches_action(wanted):
            continue
        if not _covers_role(statement, request, role_arn is not None):
            if statement.effect == "Allow" and near is None:
                reason = (
                    f"Statement {statement.index} of the trust policy: its Resource does not cover "
                    f"{_shown(request.resource)}"
                )
                near = Decision("ImplicitDeny", attached, statement.index, reason)
            continue
        failed = statement.failed_condition(request.context)
        label = f"statement {statement.index} of the trust policy ({who})"
        if failed is None and statement.effect == "Deny":
            return Decision("ExplicitDeny", attached, statement.index, f"Denied by {label}")
        if failed is None and allow is None:
            allow = Decision("Allow", attached, statement.index, f"Trusted by {label}")
        elif failed is not None and statement.effect == "Allow" and near is None:
            reason = f"Statement {statement.index} of the trust policy: {failed.explain(request.context)}"
            near = Decision("ImplicitDeny", attached, statement.index, reason)
    if allow is not None:
        return allow
    return near or Decision("ImplicitDeny", None, None, "The role's trust policy does not name the caller")
