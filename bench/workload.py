"""The workloads every engine in ``bench/compare.py`` decides: Company X and synthetic accounts.

An :class:`Account` is engine-neutral data: policy documents as RAM JSON attached to users or groups, group
memberships, the action catalogue the application defines, and the requests (:class:`Case`). Company X comes
from ``examples/company_x/organisation.json`` and ``bench/company_x_workload.json`` (requests with their
expected effect, written from the story, not from any engine). Synthetic accounts follow
``bench/decisions.py`` (b): custom policies attached five per user, users in one or two groups that hold a
system policy; their resource patterns use ``*`` only, because Cedar's ``like`` has no ``?``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ram_middleware.policy import AttachedPolicy, PolicySet, Request, make_request, parse_policy
from ram_middleware.policy.system import SYSTEM_POLICIES

__all__ = [
    "ACCOUNT",
    "ORGANISATION",
    "WORKLOAD_FILE",
    "ZONE",
    "Account",
    "Attachment",
    "Case",
    "company_x_account",
    "company_x_cases",
    "ram_policy_sets",
    "synthetic_account",
]

ROOT = Path(__file__).resolve().parents[1]
ORGANISATION = ROOT / "examples" / "company_x" / "organisation.json"
WORKLOAD_FILE = Path(__file__).resolve().with_name("company_x_workload.json")
ACCOUNT = "1234567890123456"
ZONE = "Asia/Shanghai"
OFFICE = "203.0.113.0/24"
Effect = Literal["Allow", "Deny"]


@dataclass(frozen=True, slots=True)
class Case:
    """One request: who asks for what, from where and when; ``expected`` is None when no oracle exists."""

    label: str
    user: str
    action: str
    resource: str
    source_ip: str
    time: str  # acs:CurrentTime, ISO 8601 in UTC
    secure_transport: bool
    expected: Effect | None

    def ram_context(self) -> dict[str, object]:
        """The condition context the request path would build."""
        return {
            "acs:SourceIp": self.source_ip,
            "acs:CurrentTime": self.time,
            "acs:SecureTransport": self.secure_transport,
        }

    def ram_request(self) -> Request:
        """The request as ram-middleware's evaluator takes it."""
        return make_request(self.action, self.resource, self.ram_context())


@dataclass(frozen=True, slots=True)
class Attachment:
    """A RAM policy document attached to a user or a group."""

    target: Literal["user", "group"]
    target_name: str
    policy_name: str
    policy_type: Literal["System", "Custom"]
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Account:
    """Everything an engine needs to decide ``cases``."""

    attachments: tuple[Attachment, ...]
    members: Mapping[str, tuple[str, ...]]  # user -> groups; every user appears, possibly with ()
    actions: tuple[str, ...]  # the action catalogue (Cedar needs its action entities up front)
    cases: tuple[Case, ...]


def ram_policy_sets(account: Account) -> dict[str, PolicySet]:
    """One PolicySet per user: own attachments then each group's, as the store's snapshot composes them."""
    compiled: dict[tuple[str, str], AttachedPolicy] = {}

    def attached(a: Attachment) -> AttachedPolicy:
        key = (a.target + "/" + a.target_name, a.policy_type + "/" + a.policy_name)
        if key not in compiled:
            policy = parse_policy(dict(a.document))
            compiled[key] = AttachedPolicy(
                a.policy_name, a.policy_type, "v1", a.target, a.target_name, policy
            )
        return compiled[key]

    by_target: dict[tuple[str, str], list[Attachment]] = {}
    for a in account.attachments:
        by_target.setdefault((a.target, a.target_name), []).append(a)
    sets: dict[str, PolicySet] = {}
    for user, groups in account.members.items():
        own = by_target.get(("user", user), [])
        inherited = [a for g in groups for a in by_target.get(("group", g), [])]
        sets[user] = PolicySet(attached(a) for a in own + inherited)
    return sets


def _system(target: Literal["user", "group"], name: str, policy: str) -> Attachment:
    return Attachment(target, name, policy, "System", json.loads(SYSTEM_POLICIES[policy].document))


# --- Company X ----------------------------------------------------------------------------------------------

COMPANY_X_ACTIONS = (
    "ecs:DescribeInstances",
    "ecs:StartInstance",
    "ecs:StopInstance",
    "ecs:DeleteInstance",
    "ecs:ListTagResources",
    "rds:DescribeDBInstances",
    "rds:CreateDBInstance",
    "rds:DeleteDBInstance",
    "oss:GetObject",
    "oss:PutObject",
    "oss:ListObjects",
    "oss:DeleteObject",
    "ram:CreateUser",
    "ram:DeleteUser",
    "ram:ListUsers",
    "ram:GetUser",
)


def company_x_cases(path: Path = WORKLOAD_FILE) -> tuple[Case, ...]:
    """The shared Company X requests with their expected effect."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        Case(
            row["label"],
            row["user"],
            row["action"],
            row["resource"],
            row["source_ip"],
            row["time"],
            bool(row["secure_transport"]),
            row["expected"],
        )
        for row in data["requests"]
    )


def _named_policies(
    entry: Mapping[str, Any],
    target: Literal["user", "group"],
    name: str,
    custom: Mapping[str, Mapping[str, Any]],
) -> Iterable[Attachment]:
    """The attachments an organisation-file user or group entry lists under ``Policies``."""
    for ref in entry.get("Policies", []):
        policy, kind = ref["PolicyName"], ref["PolicyType"]
        if kind == "System":
            yield _system(target, name, policy)
        else:
            yield Attachment(target, name, policy, "Custom", custom[policy])


def company_x_account(organisation: Path = ORGANISATION) -> Account:
    """Company X as the organisation file defines it, with the shared requests."""
    org = json.loads(organisation.read_text(encoding="utf-8"))
    custom = {p["PolicyName"]: p["PolicyDocument"] for p in org["Policies"]}
    attachments = [a for g in org["Groups"] for a in _named_policies(g, "group", g["GroupName"], custom)]
    attachments += [a for u in org["Users"] for a in _named_policies(u, "user", u["UserName"], custom)]
    members = {u["UserName"]: tuple(u.get("Groups", [])) for u in org["Users"]}
    return Account(tuple(attachments), members, COMPANY_X_ACTIONS, company_x_cases())


# --- synthetic accounts (bench/decisions.py (b), without ``?`` patterns) -----------------------------------

REGIONS = ("cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1")
Maker = Callable[[random.Random, str], str]
CATALOGUE: dict[str, tuple[tuple[str, ...], Maker]] = {
    "ecs": (
        ("DescribeInstances", "StartInstance", "StopInstance", "RebootInstance", "DeleteInstance",
         "CreateSnapshot", "DescribeDisks", "AttachDisk"),
        lambda r, team: f"acs:ecs:{r.choice(REGIONS)}:{ACCOUNT}:instance/i-{team}-{r.randrange(100)}",
    ),
    "rds": (
        ("DescribeDBInstances", "CreateBackup", "ModifyDBInstanceSpec", "RestartDBInstance",
         "DescribeBackups"),
        lambda r, team: f"acs:rds:{r.choice(REGIONS)}:{ACCOUNT}:dbinstance/rm-{team}-{r.randrange(20)}",
    ),
    "oss": (
        ("GetObject", "PutObject", "DeleteObject", "ListObjects", "GetBucketInfo", "GetObjectAcl"),
        lambda r, team: f"acs:oss:*:{ACCOUNT}:{team}-bucket-{r.randrange(10)}/data/{r.randrange(1000)}.csv",
    ),
    "vpc": (
        ("DescribeVpcs", "CreateVSwitch", "DeleteVSwitch", "DescribeVSwitches"),
        lambda r, team: f"acs:vpc:{r.choice(REGIONS)}:{ACCOUNT}:vswitch/vsw-{team}-{r.randrange(10)}",
    ),
    "kms": (
        ("Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey"),
        lambda r, team: f"acs:kms:{r.choice(REGIONS)}:{ACCOUNT}:key/key-{team}-{r.randrange(5)}",
    ),
    "orders": (
        ("ListOrders", "GetOrder", "CreateOrder", "CancelOrder", "RefundOrder"),
        lambda r, team: f"acs:orders:*:{ACCOUNT}:shop/{team}/order/{r.randrange(10_000)}",
    ),
}  # fmt: skip
SERVICES = tuple(sorted(CATALOGUE))
GROUP_SYSTEM_POLICIES = (
    "ReadOnlyAccess",
    "AliyunOSSReadOnlyAccess",
    "AliyunECSReadOnlyAccess",
    "AliyunRDSReadOnlyAccess",
    "AliyunSTSAssumeRoleAccess",
)
# (source ip, acs:CurrentTime): office/VPN/home addresses; Tuesday 11:00, Tuesday 20:00, Saturday 11:00 local
ORIGINS = ("203.0.113.9", "10.2.3.4", "198.51.100.7")
TIMES = ("2024-06-04T03:00:00Z", "2024-06-04T12:00:00Z", "2024-06-08T03:00:00Z")
WORKING_HOURS: dict[str, Any] = {
    "IpAddress": {"acs:SourceIp": [OFFICE]},
    "NumericGreaterThanEquals": {f"mw:LocalTimeOfDay/{ZONE}": "0900"},
    "NumericLessThan": {f"mw:LocalTimeOfDay/{ZONE}": "1800"},
    "NumericLessThanEquals": {f"mw:LocalWeekday/{ZONE}": "5"},
}
CONDITIONS: tuple[dict[str, Any], ...] = (
    {"IpAddress": {"acs:SourceIp": [OFFICE, "10.0.0.0/8"]}},
    {"Bool": {"acs:SecureTransport": "true"}},
    WORKING_HOURS,
)
SYNTHETIC_REQUESTS = 1000


def _resource_pattern(r: random.Random, service: str, team: str) -> str:
    concrete = CATALOGUE[service][1](r, team)
    shape = r.random()
    if shape < 0.5:  # the team's whole area
        if service in ("oss", "orders"):
            return concrete.rsplit("/", 1)[0] + "/*"
        return concrete[:-1] + "*"
    if shape < 0.8:
        return concrete
    return concrete.replace(f":{ACCOUNT}:", ":*:", 1)


def _statement(r: random.Random, team: str) -> dict[str, Any]:
    service = r.choice(SERVICES)
    actions = [f"{service}:{n}" for n in r.sample(CATALOGUE[service][0], r.randint(1, 3))]
    if r.random() < 0.2:
        actions = [f"{service}:{r.choice(['Describe*', 'Get*', 'List*'])}"]
    statement: dict[str, Any] = {
        "Effect": "Deny" if r.random() < 0.1 else "Allow",
        "Action": actions,
        "Resource": [_resource_pattern(r, service, team) for _ in range(r.randint(1, 2))],
    }
    if r.random() < 0.25:
        statement["Condition"] = r.choice(CONDITIONS)
    return statement


def _request(r: random.Random, user: str, team: str, index: int) -> Case:
    service = r.choice(SERVICES)
    action = f"{service}:{r.choice(CATALOGUE[service][0])}"
    resource = CATALOGUE[service][1](r, team)
    return Case(f"{user}#{index}", user, action, resource, r.choice(ORIGINS), r.choice(TIMES),
                r.random() < 0.9, None)  # fmt: skip


def synthetic_account(n_policies: int, seed: int) -> Account:
    """``n_policies`` custom policies over users (5 each), users in 1-2 of up to 50 groups; 1,000 requests."""
    r = random.Random(seed)
    groups = [f"group-{g}" for g in range(max(2, min(50, n_policies // 20)))]
    attachments = [_system("group", g, r.choice(GROUP_SYSTEM_POLICIES)) for g in groups]
    n_users = max(1, n_policies // 5)
    members: dict[str, tuple[str, ...]] = {}
    cases: list[Case] = []
    per_user = -(-SYNTHETIC_REQUESTS // n_users)
    for u in range(n_users):
        user, team = f"user-{u:05d}", f"team{u % 97:02d}x"
        own = 5 if u < n_users - 1 else n_policies - 5 * u
        for k in range(own):
            document = {"Version": "1", "Statement": [_statement(r, team) for _ in range(r.randint(1, 3))]}
            attachments.append(Attachment("user", user, f"Custom-{u}-{k}", "Custom", document))
        members[user] = tuple(r.sample(groups, r.randint(1, 2)))
        cases.extend(_request(r, user, team, i) for i in range(per_user))
    r.shuffle(cases)
    actions = tuple(f"{s}:{n}" for s in SERVICES for n in CATALOGUE[s][0])
    return Account(tuple(attachments), members, actions, tuple(cases[:SYNTHETIC_REQUESTS]))
