"""The Company X table (DESIGN.md): each user's decisions, with the statement that decided them.

The organisation is provisioned from ``examples/company_x/organisation.json`` through RamService into a
real SQLite store, and every decision goes through ``RamService.simulate`` (the request path's snapshot).
R&D's OSS access is limited to the company network 203.0.113.0/24 during working hours 09:00-18:00,
Monday-Friday, Asia/Shanghai.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ram_middleware.organisation import apply, load_organisation
from ram_middleware.service import RamService
from ram_middleware.store import open_store

ROOT = Path(__file__).resolve().parent.parent
ORG = ROOT / "examples" / "company_x" / "organisation.json"

OFFICE_IP, HOME_IP = "203.0.113.25", "198.51.100.7"
# Tuesday 2024-06-04: 10:00 and 20:00 in Shanghai (UTC+8).
WORK_TIME, EVENING = "2024-06-04T02:00:00Z", "2024-06-04T12:00:00Z"
SATURDAY_WORK_TIME = "2024-06-08T02:00:00Z"

RNDOSS = ("RnDOSSOfficeNetworkWorkingHours", 0)
ECS_FULL, ECS_RO = ("AliyunECSFullAccess", 0), ("AliyunECSReadOnlyAccess", 0)
RDS_FULL, RDS_RO = ("AliyunRDSFullAccess", 0), ("AliyunRDSReadOnlyAccess", 0)
RAM_FULL, OSS_RO = ("AliyunRAMFullAccess", 0), ("AliyunOSSReadOnlyAccess", 0)


def ecs(action: str) -> tuple[str, str]:
    return f"ecs:{action}", "acs:ecs:cn-hangzhou:{account}:instance/i-001"


def rds(action: str) -> tuple[str, str]:
    return f"rds:{action}", "acs:rds:cn-hangzhou:{account}:dbinstance/rm-001"


def oss(action: str) -> tuple[str, str]:
    return f"oss:{action}", "acs:oss:*:{account}:rnd-bucket/report.txt"


CREATE_USER = ("ram:CreateUser", "acs:ram::{account}:user/newcomer")

# (user, (action, resource), source ip, time) -> (effect, (policy, statement) or None)
Row = tuple[str, tuple[str, str], str, str, str, tuple[str, int] | None]
ROWS: list[Row] = []


def _rows_for(user: str, expected: dict[str, tuple[str, tuple[str, int] | None]]) -> None:
    cases = {
        "ecs-describe": (ecs("DescribeInstances"), OFFICE_IP, WORK_TIME),
        "ecs-stop": (ecs("StopInstance"), OFFICE_IP, WORK_TIME),
        "rds-describe": (rds("DescribeDBInstances"), OFFICE_IP, WORK_TIME),
        "oss-get-office-work": (oss("GetObject"), OFFICE_IP, WORK_TIME),
        "oss-put-office-work": (oss("PutObject"), OFFICE_IP, WORK_TIME),
        "oss-get-home-work": (oss("GetObject"), HOME_IP, WORK_TIME),
        "oss-put-home-work": (oss("PutObject"), HOME_IP, WORK_TIME),
        "oss-get-office-evening": (oss("GetObject"), OFFICE_IP, EVENING),
        "oss-put-office-saturday": (oss("PutObject"), OFFICE_IP, SATURDAY_WORK_TIME),
        "ram-create-user": (CREATE_USER, OFFICE_IP, WORK_TIME),
    }
    assert set(expected) == set(cases), f"{user}: table incomplete"
    for key, (request, ip, when) in cases.items():
        effect, decider = expected[key]
        ROWS.append((user, request, ip, when, effect, decider))


DENY: tuple[str, None] = ("ImplicitDeny", None)
# An implicit deny names the statement that matched action and resource but failed a condition.
NEAR_MISS = ("ImplicitDeny", RNDOSS)
RND_OSS_ONLY_IN_OFFICE_HOURS = {
    "oss-get-office-work": ("Allow", RNDOSS),
    "oss-put-office-work": ("Allow", RNDOSS),
    "oss-get-home-work": NEAR_MISS,
    "oss-put-home-work": NEAR_MISS,
    "oss-get-office-evening": NEAR_MISS,
    "oss-put-office-saturday": NEAR_MISS,
}
NO_OSS: dict[str, tuple[str, tuple[str, int] | None]] = dict.fromkeys(RND_OSS_ONLY_IN_OFFICE_HOURS, DENY)

# A: HR, administers RAM users; nothing else.
_rows_for(
    "A",
    {
        "ecs-describe": DENY,
        "ecs-stop": DENY,
        "rds-describe": DENY,
        **NO_OSS,
        "ram-create-user": ("Allow", RAM_FULL),
    },
)
# B and C: R&D, read ECS/RDS, OSS only from the office in working hours.
for _user in ("B", "C"):
    _rows_for(
        _user,
        {
            "ecs-describe": ("Allow", ECS_RO),
            "ecs-stop": DENY,
            "rds-describe": ("Allow", RDS_RO),
            **RND_OSS_ONLY_IN_OFFICE_HOURS,
            "ram-create-user": DENY,
        },
    )
# D: in R&D and O&M — both groups' permissions (two statements allow a describe; either may decide).
_rows_for(
    "D",
    {
        "ecs-describe": ("Allow", None),
        "ecs-stop": ("Allow", ECS_FULL),
        "rds-describe": ("Allow", None),
        **RND_OSS_ONLY_IN_OFFICE_HOURS,
        "ram-create-user": DENY,
    },
)
# E: O&M, full ECS and RDS.
_rows_for(
    "E",
    {
        "ecs-describe": ("Allow", ECS_FULL),
        "ecs-stop": ("Allow", ECS_FULL),
        "rds-describe": ("Allow", RDS_FULL),
        **NO_OSS,
        "ram-create-user": DENY,
    },
)
# app: read-only ECS and OSS through its own policies, from anywhere at any time.
_rows_for(
    "app",
    {
        "ecs-describe": ("Allow", ECS_RO),
        "ecs-stop": DENY,
        "rds-describe": DENY,
        "oss-get-office-work": ("Allow", OSS_RO),
        "oss-put-office-work": DENY,
        "oss-get-home-work": ("Allow", OSS_RO),
        "oss-put-home-work": DENY,
        "oss-get-office-evening": ("Allow", OSS_RO),
        "oss-put-office-saturday": DENY,
        "ram-create-user": DENY,
    },
)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[RamService, str]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('companyx') / 'ram.db'}")
    service = RamService(store)
    account = service.create_account("company-x")
    result = apply(service, account.account_id, load_organisation(ORG))
    assert "create user D" in result.applied
    return service, account.account_id


@pytest.mark.parametrize(
    ("user", "request_", "ip", "when", "effect", "decider"),
    ROWS,
    ids=[f"{r[0]}-{r[1][0]}-{r[2]}-{r[3]}" for r in ROWS],
)
def test_company_x_table(
    company: tuple[RamService, str],
    user: str,
    request_: tuple[str, str],
    ip: str,
    when: str,
    effect: str,
    decider: tuple[str, int] | None,
) -> None:
    service, account_id = company
    action, resource = request_
    context: dict[str, Any] = {"acs:SourceIp": ip, "acs:CurrentTime": when, "acs:SecureTransport": "true"}
    decision = service.simulate(account_id, user, action, resource.format(account=account_id), context)
    assert decision.effect == effect, decision.reason
    if decider is not None:
        assert decision.policy is not None
        assert (decision.policy.name, decision.statement_index) == decider
    elif effect == "ImplicitDeny":
        assert decision.policy is None


def test_rnd_denial_names_the_failed_condition(company: tuple[RamService, str]) -> None:
    service, account_id = company
    context = {"acs:SourceIp": HOME_IP, "acs:CurrentTime": WORK_TIME}
    action, resource = oss("GetObject")
    decision = service.simulate(account_id, "B", action, resource.format(account=account_id), context)
    assert decision.effect == "ImplicitDeny"
    assert "RnDOSSOfficeNetworkWorkingHours" in decision.reason
    assert HOME_IP in decision.reason


def test_transfer_and_leaver_change_decisions_at_once(tmp_path: Path) -> None:
    service = RamService(open_store(f"sqlite:///{tmp_path / 'ram.db'}"))
    account_id = service.create_account().account_id
    apply(service, account_id, load_organisation(ORG))
    action, resource = (s.format(account=account_id) for s in ecs("StopInstance"))
    stop = (action, resource)
    assert service.simulate(account_id, "B", *stop).effect == "ImplicitDeny"
    # B transfers from R&D to O&M.
    service.remove_user_from_group(account_id, "RnD", "B")
    service.add_user_to_group(account_id, "OandM", "B")
    assert service.simulate(account_id, "B", *stop).effect == "Allow"
    # E leaves the company.
    service.delete_user(account_id, "E", force=True)
    with pytest.raises(Exception) as info:
        service.simulate(account_id, "E", *stop)
    assert getattr(info.value, "code", "") == "EntityNotExist.User"


def test_second_apply_changes_nothing(company: tuple[RamService, str]) -> None:
    from ram_middleware.organisation import plan

    service, account_id = company
    assert [c.description for c in plan(service, account_id, load_organisation(ORG))] == []
