"""The side-by-side benchmark's correctness: one shared workload, three engines, the same decisions.

The Company X expectations (bench/company_x_workload.json) are checked against ram-middleware's evaluator and
against the request path (RamService.simulate over a store provisioned from the organisation file); the
hand-written and the translated pycasbin and Cedar policies must decide every request the same way, and the
three engines must agree on synthetic accounts. A short ``compare.py --quick`` run ends with the RESULT line.
"""

from __future__ import annotations

import re
from collections import Counter

# bench/ is a folder of scripts (conftest.py puts it on sys.path). Checked alone, mypy cannot see these
# modules, hence the ignores; checked together with bench/ files (as the lead does) they are fully typed.
import compare  # type: ignore[import-not-found,unused-ignore]
import pytest
from peers.casbin_peer import CasbinEngine, local_time, policy_lines  # type: ignore[import-not-found,unused-ignore]
from peers.cedar_peer import CedarEngine, SlicedCedar, policy_text  # type: ignore[import-not-found,unused-ignore]
from peers.common import local_parts  # type: ignore[import-not-found,unused-ignore]
from workload import (  # type: ignore[import-not-found,unused-ignore]
    ACCOUNT,
    ORGANISATION,
    Account,
    Attachment,
    Case,
    company_x_account,
    ram_policy_sets,
    synthetic_account,
)

from ram_middleware.organisation import apply, load_organisation
from ram_middleware.service import RamService
from ram_middleware.store import open_store


def _effect(allowed: bool) -> str:
    return "Allow" if allowed else "Deny"


@pytest.fixture(scope="module")
def company() -> Account:
    return company_x_account()


def test_workload_covers_every_user_and_situation(company: Account) -> None:
    oss = [c for c in company.cases if c.user == "C" and c.action.startswith("oss:")]
    situations = {(c.action, c.source_ip, c.time) for c in oss}
    assert len(situations) == 2 * 2 * 3  # get/put x office/home x working hours/evening/saturday
    for user in company.members:
        actions = {c.action for c in company.cases if c.user == user}
        assert {"ecs:DescribeInstances", "ecs:StopInstance", "rds:DescribeDBInstances", "oss:GetObject",
                "oss:PutObject", "ram:CreateUser"} <= actions, user  # fmt: skip
    tally = Counter(c.expected for c in company.cases)
    assert tally["Allow"] >= 30 and tally["Deny"] >= 30
    assert len({c.label for c in company.cases}) == len(company.cases)


def test_expected_decisions_match_the_evaluator(company: Account) -> None:
    sets = ram_policy_sets(company)
    decided = {c.label: _effect(sets[c.user].decide(c.ram_request()).allowed) for c in company.cases}
    wrong = [c.label for c in company.cases if decided[c.label] != c.expected]
    assert wrong == []


def test_expected_decisions_match_the_request_path(company: Account) -> None:
    service = RamService(open_store("memory://"))
    account_id = service.create_account("company-x").account_id
    apply(service, account_id, load_organisation(ORGANISATION))
    wrong = []
    for case in company.cases:
        resource = case.resource.replace(ACCOUNT, account_id)
        decision = service.simulate(account_id, case.user, case.action, resource, case.ram_context())
        if _effect(decision.allowed) != case.expected:
            wrong.append(f"{case.label}: {decision.reason}")
    assert wrong == []


@pytest.mark.parametrize("source", ["hand-written", "translated"])
def test_peers_decide_company_x_as_expected(company: Account, source: str) -> None:
    if source == "hand-written":
        casbin, cedar = CasbinEngine.company_x(), CedarEngine.company_x(company)
    else:
        casbin, cedar = CasbinEngine.translated(company), CedarEngine.translated(company)
    for case in company.cases:
        allowed, errors = cedar.outcome(cedar.request(case))
        assert errors == [], case.label
        assert _effect(allowed) == case.expected, f"cedar {source}: {case.label}"
        by_casbin = casbin.decide(casbin.arguments(case))
        assert _effect(by_casbin) == case.expected, f"casbin {source}: {case.label}"


@pytest.mark.parametrize(("n_policies", "requests"), [(10, 1000), (100, 1000), (1000, 60)])
def test_engines_agree_on_synthetic_accounts(n_policies: int, requests: int) -> None:
    account = synthetic_account(n_policies, seed=n_policies)
    sets = ram_policy_sets(account)
    casbin, cedar = CasbinEngine.translated(account), CedarEngine.translated(account)
    sliced = SlicedCedar(account)
    decided = []
    for case in account.cases[:requests]:
        ours = sets[case.user].decide(case.ram_request()).allowed
        request = cedar.request(case)
        allowed, errors = cedar.outcome(request)
        assert errors == [], case.label
        peers = (casbin.decide(casbin.arguments(case)), allowed, sliced.decide(request))
        assert peers == (ours, ours, ours), case
        decided.append(ours)
    assert 0 < sum(decided) < len(decided)  # both effects occur, so agreement is not vacuous


def test_synthetic_accounts_have_the_requested_size() -> None:
    account = synthetic_account(1000, seed=1)
    custom = [a for a in account.attachments if a.policy_type == "Custom"]
    assert len(custom) == 1000 and len(account.cases) == 1000
    assert len(account.members) == 200
    assert any("Condition" in s for a in custom for s in a.document["Statement"])
    assert any(s["Effect"] == "Deny" for a in custom for s in a.document["Statement"])


def test_disagreements_are_reported() -> None:
    case = Case("x/flipped", "x", "ecs:StopInstance", "acs:ecs:cn-hangzhou:1:instance/i-1", "10.0.0.1",
                "2024-06-04T02:00:00Z", True, "Allow")  # fmt: skip
    ours = compare.Runner("ours", lambda _: True, [None])
    peer = compare.Runner("peer", lambda _: False, [None])
    for runner in (ours, peer):
        compare.measure([runner], budget_s=0.001, max_reps=2)
    lines = compare.disagreements([case], [ours, peer])
    assert len(lines) == 1 and "x/flipped" in lines[0] and "peer=Deny" in lines[0]
    assert compare.disagreements([case], [ours]) == []


def test_local_time_in_shanghai() -> None:
    assert local_parts("2024-06-03T01:30:00Z", "Asia/Shanghai") == (930, 1)  # Monday 09:30
    assert local_parts("2024-06-07T16:30:00Z", "Asia/Shanghai") == (30, 6)  # already Saturday
    hours = "Asia/Shanghai;tod>=900;tod<1800;wd<=5"
    assert local_time("2024-06-04T01:00:00Z", hours)
    assert not local_time("2024-06-04T10:00:00Z", hours)
    assert not local_time("2024-06-08T02:00:00Z", hours)


def _account(statement: dict[str, object]) -> Account:
    document = {"Version": "1", "Statement": [statement]}
    return Account((Attachment("user", "u", "P", "Custom", document),), {"u": ()}, ("ecs:StopInstance",), ())


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotAction": "ecs:*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "ecs:*",
            "Resource": "*",
            "Condition": {"StringEquals": {"acs:UserAgent": "x"}},
        },
    ],
)
def test_translations_refuse_what_they_do_not_cover(statement: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        policy_lines(_account(statement))
    with pytest.raises(ValueError):
        policy_text(_account(statement))


def test_cedar_refuses_single_character_wildcards() -> None:
    with pytest.raises(ValueError, match="single-character"):
        policy_text(_account({"Effect": "Allow", "Action": "ecs:*", "Resource": "acs:ecs:*:*:instance/i-?"}))


def test_quick_run_prints_the_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert compare.main(["--quick"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"RESULT casbin_ratio=\d+\.\d{3} cedar_ratio=\d+\.\d{3} agree=true", lines[-1])
    text = "\n".join(lines)
    for row in ("PolicySet.decide", "Enforcer.enforce", "is_authorized(", "is_authorized_batch", "growth"):
        assert row in text
    assert "DISAGREE" not in text
