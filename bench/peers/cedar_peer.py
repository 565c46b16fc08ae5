"""cedarpy as a RAM engine: Cedar policies with action groups, ``like``, ``ip()`` and context time keys.

Company X is the hand-written ``company_x.cedar``; synthetic accounts are translated one Cedar policy per RAM
statement (:func:`policy_text`). Both are parsed once into a ``cedarpy.PolicySet`` handle and the entities
(users with their groups as parents; the action catalogue with the RAM action patterns that match each action
as parents) into a ``cedarpy.Entities`` handle, so no decision re-parses either.

What the engine receives per decision (:meth:`CedarEngine.request`): principal ``User::"<user>"``, action
``Action::"<action>"``, resource ``Resource::"<ARN>"`` and the context ``{"arn": ARN, "acs:SourceIp": ip,
"acs:SecureTransport": bool, "mw:LocalTimeOfDay/<zone>": HHMM, "mw:LocalWeekday/<zone>": 1-7}`` for each zone
the policies name. Cedar has no time zones or weekdays, so the adapter computes the two local-time values
when it builds the request, outside the decision function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cedarpy
from workload import Account, Attachment, Case

from peers.common import local_parts, wildcard_matches

__all__ = ["COMPANY_X_POLICIES", "CedarEngine", "SlicedCedar", "entities", "policy_text"]

HERE = Path(__file__).resolve().parent
COMPANY_X_POLICIES = HERE / "company_x.cedar"
_ACTION_UID = re.compile(r'Action::"((?:[^"\\]|\\.)*)"')
_ZONE_KEY = re.compile(r'"mw:Local(?:TimeOfDay|Weekday)/([^"]+)"')
_NUMERIC = {
    "NumericGreaterThanEquals": ">=",
    "NumericGreaterThan": ">",
    "NumericLessThanEquals": "<=",
    "NumericLessThan": "<",
    "NumericEquals": "==",
}
CedarRequest = dict[str, Any]


class CedarEngine:
    """Parsed policy and entity handles, and the request adapter."""

    def __init__(self, text: str, account: Account) -> None:
        patterns = sorted({p for p in _ACTION_UID.findall(text) if "*" in p})
        self.policies = cedarpy.PolicySet.from_str(text)
        self.entities = cedarpy.Entities.from_json_str(json.dumps(entities(account, patterns)))
        self.zones = tuple(sorted(set(_ZONE_KEY.findall(text))))
        self.policy_count = len(self.policies)

    @classmethod
    def company_x(cls, account: Account) -> CedarEngine:
        """The hand-written Company X policies over ``account``'s users, groups and actions."""
        return cls(COMPANY_X_POLICIES.read_text(encoding="utf-8"), account)

    @classmethod
    def translated(cls, account: Account) -> CedarEngine:
        """An account's RAM documents translated to Cedar."""
        return cls(policy_text(account), account)

    def request(self, case: Case) -> CedarRequest:
        """What ``is_authorized`` receives for a request."""
        context: dict[str, Any] = {
            "arn": case.resource,
            "acs:SourceIp": case.source_ip,
            "acs:SecureTransport": case.secure_transport,
        }
        for zone in self.zones:
            time_of_day, weekday = local_parts(case.time, zone)
            context[f"mw:LocalTimeOfDay/{zone}"] = time_of_day
            context[f"mw:LocalWeekday/{zone}"] = weekday
        return {
            "principal": {"type": "User", "id": case.user},
            "action": {"type": "Action", "id": case.action},
            "resource": {"type": "Resource", "id": case.resource},
            "context": context,
        }

    def decide(self, request: CedarRequest) -> bool:
        """The engine's decision function: one ``is_authorized`` call."""
        return cedarpy.is_authorized(request, self.policies, self.entities).allowed

    def decide_batch(self, requests: list[CedarRequest]) -> list[bool]:
        """Many requests in one ``is_authorized_batch`` call."""
        return [r.allowed for r in cedarpy.is_authorized_batch(requests, self.policies, self.entities)]

    def outcome(self, request: CedarRequest) -> tuple[bool, list[str]]:
        """The decision and Cedar's evaluation errors (Cedar skips a policy that errors, hiding a slip)."""
        result = cedarpy.is_authorized(request, self.policies, self.entities)
        return result.allowed, list(result.diagnostics.errors)


class SlicedCedar:
    """Cedar used as ram-middleware uses its PolicySets: one policy-set handle per user, holding only the
    policies attached to the user and the user's groups; entities and requests as :class:`CedarEngine`."""

    def __init__(self, account: Account) -> None:
        self.shared = CedarEngine.translated(account)
        by_target: dict[tuple[str, str], list[str]] = {}
        for a in account.attachments:
            by_target.setdefault((a.target, a.target_name), []).extend(
                _statement_policy(a, s) for s in _statements(a.document)
            )
        self.by_user: dict[str, cedarpy.PolicySet] = {}
        for user, groups in account.members.items():
            mine = by_target.get(("user", user), [])
            mine += [p for g in groups for p in by_target.get(("group", g), [])]
            self.by_user[user] = cedarpy.PolicySet.from_str("\n".join(mine))

    def decide(self, request: CedarRequest) -> bool:
        """Pick the user's handle, then one ``is_authorized`` call."""
        policies = self.by_user[request["principal"]["id"]]
        return cedarpy.is_authorized(request, policies, self.shared.entities).allowed


def _uid(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}


def entities(account: Account, action_patterns: Sequence[str]) -> list[dict[str, Any]]:
    """Users (parents: their groups), groups, action patterns, and catalogue actions in their patterns."""
    groups = {a.target_name for a in account.attachments if a.target == "group"}
    groups.update(g for joined in account.members.values() for g in joined)
    found: list[dict[str, Any]] = [
        {"uid": _uid("User", user), "attrs": {}, "parents": [_uid("Group", g) for g in joined]}
        for user, joined in account.members.items()
    ]
    found += [{"uid": _uid("Group", g), "attrs": {}, "parents": []} for g in sorted(groups)]
    found += [{"uid": _uid("Action", p), "attrs": {}, "parents": []} for p in action_patterns]
    for action in account.actions:
        parents = [_uid("Action", p) for p in action_patterns if p != action and wildcard_matches(p, action)]
        found.append({"uid": _uid("Action", action), "attrs": {}, "parents": parents})
    return found


# --- translation of RAM documents -------------------------------------------------------------------------


def _literal(text: str) -> str:
    if "?" in text:
        raise ValueError(f"Cedar's like has no single-character wildcard: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _scope(attachment: Attachment, actions: list[str]) -> str:
    if attachment.target == "group":
        principal = f"principal in Group::{_literal(attachment.target_name)}"
    else:
        principal = f"principal == User::{_literal(attachment.target_name)}"
    if "*" in actions:
        action = "action"
    elif len(actions) == 1:
        action = f"action in Action::{_literal(actions[0])}"
    else:
        action = "action in [" + ", ".join(f"Action::{_literal(a)}" for a in actions) + "]"
    return f"{principal}, {action}, resource"


def _condition_clauses(condition: Mapping[str, Mapping[str, Any]]) -> list[str]:
    clauses: list[str] = []
    for op, keys in condition.items():
        for key, value in keys.items():
            values = _strings(value)
            attribute = f"context[{_literal(key)}]"
            if op == "IpAddress" and key.lower() == "acs:sourceip":
                tests = [f"ip({attribute}).isInRange(ip({_literal(v)}))" for v in values]
            elif op == "Bool" and key.lower() == "acs:securetransport":
                tests = [f"{attribute} == {v.lower()}" for v in values]
            elif op in _NUMERIC and key.startswith("mw:Local"):
                tests = [f"{attribute} {_NUMERIC[op]} {int(v)}" for v in values]
            else:
                raise ValueError(f"the Cedar translation does not cover {op} {key}")
            clauses.append(" || ".join(tests))
    return clauses


def _statement_policy(attachment: Attachment, statement: Mapping[str, Any]) -> str:
    if "NotAction" in statement or "NotResource" in statement:
        raise ValueError("the Cedar translation does not cover NotAction/NotResource")
    effect = "permit" if statement["Effect"] == "Allow" else "forbid"
    resources = _strings(statement["Resource"])
    clauses = [] if "*" in resources else [" || ".join(f"context.arn like {_literal(r)}" for r in resources)]
    clauses += _condition_clauses(statement.get("Condition", {}))
    when = "".join(f" when {{ {c} }}" for c in clauses)
    return f"{effect} ({_scope(attachment, _strings(statement['Action']))}){when};"


def _statements(document: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    found = document["Statement"]
    return [found] if isinstance(found, Mapping) else found


def policy_text(account: Account) -> str:
    """One Cedar policy per statement of every attachment."""
    return "\n".join(_statement_policy(a, s) for a in account.attachments for s in _statements(a.document))
