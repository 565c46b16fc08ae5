"""The shared policy evaluation table (tests/vectors/policy-cases.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ram_middleware.policy import (
    AttachedPolicy,
    PolicyKind,
    PolicySet,
    decide,
    decide_with_session,
    make_request,
    parse_policy,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy-cases.json"
TABLE: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = TABLE["cases"]


def _attached(case: dict[str, Any]) -> list[AttachedPolicy]:
    result = []
    for i, item in enumerate(case["policies"]):
        to = item["attached_to"]
        kind: PolicyKind = "session" if to == "session" else "identity"
        policy = parse_policy(item["document"], kind=kind)
        result.append(AttachedPolicy(f"Case{case['id']}P{i}", "Custom", "v1", to, f"{to}-{i}", policy))
    return result


def _request(case: dict[str, Any]) -> Any:
    r = case["request"]
    return make_request(r["action"], r["resource"], r["context"])


def test_table_is_complete() -> None:
    assert len(CASES) == 34
    assert {c["expected"] for c in CASES} == {"Allow", "ExplicitDeny", "ImplicitDeny"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['id']}-{c['name'][:40]}" for c in CASES])
def test_case_via_decide(case: dict[str, Any]) -> None:
    decision = decide(_attached(case), _request(case))
    assert decision.effect == case["expected"], decision.reason
    assert decision.allowed == (case["expected"] == "Allow")


@pytest.mark.parametrize("case", CASES, ids=[str(c["id"]) for c in CASES])
def test_case_via_policy_sets(case: dict[str, Any]) -> None:
    policies = _attached(case)
    identity = PolicySet(p for p in policies if p.attached_to != "session")
    session_policies = [p for p in policies if p.attached_to == "session"]
    session = PolicySet(session_policies) if session_policies else None
    request = _request(case)
    first = decide_with_session(identity, session, request)
    again = decide_with_session(identity, session, request)  # the second call is served by the action memo
    assert first.effect == again.effect == case["expected"]


@pytest.mark.parametrize("case", CASES, ids=[str(c["id"]) for c in CASES])
def test_case_session_given_as_parameter(case: dict[str, Any]) -> None:
    policies = _attached(case)
    identity = [p for p in policies if p.attached_to != "session"]
    sessions = [p.policy for p in policies if p.attached_to == "session"]
    assert len(sessions) <= 1
    decision = decide(identity, _request(case), session_policy=sessions[0] if sessions else None)
    assert decision.effect == case["expected"]


def _case(case_id: int) -> dict[str, Any]:
    return next(c for c in CASES if c["id"] == case_id)


def test_deciding_statement_is_named() -> None:
    case = _case(4)
    decision = decide(_attached(case), _request(case))
    assert decision.policy is not None and decision.policy.name == "Case4P0"
    assert decision.statement_index == 1
    assert decision.reason == "Denied by statement 1 of custom policy Case4P0 (user user-0)"


def test_group_deny_is_attributed_to_the_group_policy() -> None:
    case = _case(5)
    decision = decide(_attached(case), _request(case))
    assert decision.policy is not None
    assert (decision.policy.attached_to, decision.policy.name) == ("group", "Case5P1")


def test_condition_failure_is_the_implicit_deny_reason() -> None:
    case = _case(12)
    decision = decide(_attached(case), _request(case))
    assert decision.effect == "ImplicitDeny"
    assert decision.statement_index == 0
    assert decision.reason == (
        "Statement 0 of custom policy Case12P0 (group group-0): IpAddress acs:SourceIp observed 198.51.100.9"
    )


def test_session_deny_is_attributed_to_the_session_policy() -> None:
    case = _case(32)
    decision = decide(_attached(case), _request(case))
    assert decision.policy is not None and decision.policy.attached_to == "session"
    assert decision.statement_index == 1
