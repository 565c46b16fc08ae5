"""pycasbin as a RAM engine: an RBAC model with regexMatch, ipMatch and a local-time function.

Model: ``casbin_model.conf``. Company X is the hand-written ``company_x.csv``; synthetic accounts are
translated statement by statement (:func:`policy_lines`). What the engine receives per decision:
``enforce(user, resource ARN, action, source IP, "true"|"false" (acs:SecureTransport), acs:CurrentTime)``;
local time of day and weekday are computed inside the decision by the custom ``localTime`` function.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import casbin  # type: ignore[import-untyped]
from casbin.persist.adapters.string_adapter import StringAdapter  # type: ignore[import-untyped]
from workload import Account, Attachment, Case

from peers.common import local_parts, wildcard_regex

__all__ = ["COMPANY_X_POLICY", "MODEL", "CasbinEngine", "local_time", "policy_lines"]

HERE = Path(__file__).resolve().parent
MODEL = HERE / "casbin_model.conf"
COMPANY_X_POLICY = HERE / "company_x.csv"

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_NUMERIC = {
    "NumericGreaterThanEquals": ">=",
    "NumericGreaterThan": ">",
    "NumericLessThanEquals": "<=",
    "NumericLessThan": "<",
    "NumericEquals": "==",
}
_Test = tuple[int, Callable[[int, int], bool], int]  # (0 = time of day | 1 = weekday, compare, bound)


@lru_cache(maxsize=1024)
def _parse_when(when: str) -> tuple[str, tuple[_Test, ...]]:
    zone, *clauses = when.split(";")
    tests: list[_Test] = []
    for clause in clauses:
        part = 0 if clause.startswith("tod") else 1
        rest = clause[3:] if part == 0 else clause[2:]
        op = rest[:2] if rest[:2] in _COMPARE else rest[:1]
        tests.append((part, _COMPARE[op], int(rest[len(op) :])))
    return zone, tuple(tests)


def local_time(instant: str, when: str) -> bool:
    """The custom matcher function ``localTime(r.time, p.when)``."""
    zone, tests = _parse_when(when)
    parts = local_parts(instant, zone)
    return all(compare(parts[part], bound) for part, compare, bound in tests)


class CasbinEngine:
    """A warm ``casbin.Enforcer`` and the request adapter."""

    def __init__(self, policy_text: str) -> None:
        self.enforcer = casbin.Enforcer(str(MODEL), StringAdapter(policy_text))
        self.enforcer.add_function("localTime", local_time)

    @classmethod
    def company_x(cls) -> CasbinEngine:
        """The hand-written Company X policy file."""
        return cls(COMPANY_X_POLICY.read_text(encoding="utf-8"))

    @classmethod
    def translated(cls, account: Account) -> CasbinEngine:
        """An account's RAM documents translated to policy lines, users in groups as ``g`` lines."""
        return cls("\n".join(policy_lines(account)))

    @staticmethod
    def arguments(case: Case) -> tuple[str, ...]:
        """What ``enforce`` receives for a request."""
        tls = "true" if case.secure_transport else "false"
        return (case.user, case.resource, case.action, case.source_ip, tls, case.time)

    def decide(self, arguments: tuple[str, ...]) -> bool:
        """The engine's decision function."""
        return bool(self.enforcer.enforce(*arguments))


# --- translation of RAM documents -------------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _alternatives(patterns: Iterable[str]) -> str:
    bodies = [wildcard_regex(p)[1:-1] for p in patterns]
    return f"^{bodies[0]}$" if len(bodies) == 1 else "^(?:" + "|".join(bodies) + ")$"


def _conditions(condition: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], str, str]:
    """(CIDRs or ["*"], tls, when) for the condition shapes the workloads use."""
    cidrs, tls, zone, clauses = ["*"], "*", "", []
    for op, keys in condition.items():
        for key, value in keys.items():
            values = _strings(value)
            if op == "IpAddress" and key.lower() == "acs:sourceip":
                cidrs = values
            elif op == "Bool" and key.lower() == "acs:securetransport" and len(values) == 1:
                tls = values[0].lower()
            elif op in _NUMERIC and key.startswith("mw:Local") and len(values) == 1:
                kind, zone = key[3:].split("/", 1)
                part = "tod" if kind == "LocalTimeOfDay" else "wd"
                clauses.append(f"{part}{_NUMERIC[op]}{int(values[0])}")
            else:
                raise ValueError(f"the casbin translation does not cover {op} {key}")
    return cidrs, tls, ";".join([zone, *clauses]) if clauses else "*"


def _statement_lines(attachment: Attachment, statement: Mapping[str, Any]) -> list[str]:
    if "NotAction" in statement or "NotResource" in statement:
        raise ValueError("the casbin translation does not cover NotAction/NotResource")
    sub = f"group:{attachment.target_name}" if attachment.target == "group" else attachment.target_name
    resources = _strings(statement["Resource"])
    obj = "*" if "*" in resources else _alternatives(resources)
    act = "(?i)" + _alternatives(_strings(statement["Action"]))
    cidrs, tls, when = _conditions(statement.get("Condition", {}))
    eft = statement["Effect"].lower()
    return [f"p, {sub}, {obj}, {act}, {cidr}, {tls}, {when}, {eft}" for cidr in cidrs]


def policy_lines(account: Account) -> list[str]:
    """Casbin policy lines for every statement of every attachment, then the ``g`` lines."""
    lines: list[str] = []
    for attachment in account.attachments:
        for statement in _strings_or_dicts(attachment.document["Statement"]):
            lines += _statement_lines(attachment, statement)
    lines += [f"g, {user}, group:{group}" for user, groups in account.members.items() for group in groups]
    return lines


def _strings_or_dicts(value: Any) -> list[Mapping[str, Any]]:
    return [value] if isinstance(value, Mapping) else list(value)
