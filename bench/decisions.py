"""Benchmark: authorization decisions per second through the policy API.

Run from the repository root: ``python bench/decisions.py``. Prints
(a) the median µs per decision for a Company X mixed workload,
(b) the median µs per decision for accounts with 10 … 10,000 custom policies attached across users (the
    PolicySet lookup by user name is inside the timed loop), and
(c) for the record, one principal holding 10 … 10,000 statements, against a linear scan of every statement.
Medians are over batches: ``perf_counter_ns`` around each batch, divided by the batch size. The last line is
``RESULT decision_median_us=<a> growth_10_to_10000=<b at 10,000 / b at 10>``.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ram_middleware.policy import (
    AttachedPolicy,
    PolicySet,
    Request,
    make_request,
    parse_policy,
    system_policy,
)

ACCOUNT = "1234567890123456"
REGIONS = ["cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1"]
OFFICE = "203.0.113.0/24"
WORKLOAD = 1000  # requests per synthetic account, the same for every size so only the account grows


def timed_batches_us(
    call: Callable[[int], object], count: int, batch: int, batches: int, start: int = 0
) -> list[float]:
    """Per-call µs of each of ``batches`` batches of ``batch`` calls; ``call(i)`` runs item ``i``."""
    per_call: list[float] = []
    position = start
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(batches):
            indices = [(position + k) % count for k in range(batch)]
            position += batch
            started = time.perf_counter_ns()
            for i in indices:
                call(i)
            per_call.append((time.perf_counter_ns() - started) / batch / 1000)
    finally:
        if gc_was_enabled:
            gc.enable()
    return per_call


def timed_median_us(call: Callable[[int], object], count: int, batch: int, batches: int) -> float:
    """Median over ``batches`` of (time of ``batch`` calls / ``batch``)."""
    return statistics.median(timed_batches_us(call, count, batch, batches))


# --- (a) Company X --------------------------------------------------------------------------------------


def _system(name: str, to: Any, who: str) -> AttachedPolicy:
    return AttachedPolicy(name, "System", "v1", to, who, system_policy(name))


def company_x() -> dict[str, PolicySet]:
    """Policy sets of users A-E and ``app`` (DESIGN.md "Company X")."""
    office_hours = parse_policy(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "oss:*",
                    "Resource": "*",
                    "Condition": {
                        "IpAddress": {"acs:SourceIp": OFFICE},
                        "NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Asia/Shanghai": "0900"},
                        "NumericLessThan": {"mw:LocalTimeOfDay/Asia/Shanghai": "1800"},
                        "NumericLessThanEquals": {"mw:LocalWeekday/Asia/Shanghai": "5"},
                    },
                }
            ],
        }
    )
    groups = {
        "O&M": [
            _system("AliyunECSFullAccess", "group", "O&M"),
            _system("AliyunRDSFullAccess", "group", "O&M"),
        ],
        "R&D": [
            _system("AliyunECSReadOnlyAccess", "group", "R&D"),
            _system("AliyunRDSReadOnlyAccess", "group", "R&D"),
            AttachedPolicy("RnDOSSOfficeHours", "Custom", "v1", "group", "R&D", office_hours),
        ],
        "HR": [_system("AliyunRAMFullAccess", "group", "HR")],
    }
    members = {"A": ["HR"], "B": ["R&D"], "C": ["R&D"], "D": ["R&D", "O&M"], "E": ["O&M"]}
    sets = {user: PolicySet(p for g in of for p in groups[g]) for user, of in members.items()}
    sets["app"] = PolicySet([_system("AliyunOSSReadOnlyAccess", "user", "app")])
    return sets


def company_x_requests() -> list[tuple[str, Request]]:
    """A mixed day: ECS, RDS, OSS in/out of the office network and hours, RAM user administration."""
    instance = f"acs:ecs:cn-shanghai:{ACCOUNT}:instance/i-uf6abc"
    database = f"acs:rds:cn-shanghai:{ACCOUNT}:dbinstance/rm-uf6xyz"
    obj = f"acs:oss:cn-shanghai:{ACCOUNT}:rnd-bucket/designs/v2.pdf"
    new_user = f"acs:ram::{ACCOUNT}:user/F"
    office = "203.0.113.25"
    home = "198.51.100.7"
    tuesday_11 = "2024-06-04T03:00:00Z"  # 11:00 in Shanghai
    tuesday_20 = "2024-06-04T12:00:00Z"
    saturday_11 = "2024-06-08T03:00:00Z"

    def req(
        user: str, action: str, resource: str, ip: str = office, when: str = tuesday_11
    ) -> tuple[str, Request]:
        context = {"acs:SourceIp": ip, "acs:CurrentTime": when, "acs:SecureTransport": True}
        return user, make_request(action, resource, context)

    return [
        req("E", "ecs:StopInstance", instance),
        req("B", "ecs:DescribeInstances", instance),
        req("B", "ecs:StopInstance", instance),
        req("D", "ecs:StopInstance", instance),
        req("C", "rds:DescribeDBInstances", database),
        req("E", "rds:DescribeDBInstances", database),
        req("B", "oss:GetObject", obj),
        req("C", "oss:PutObject", obj),
        req("B", "oss:PutObject", obj, ip=home),
        req("D", "oss:PutObject", obj, when=tuesday_20),
        req("C", "oss:GetObject", obj, when=saturday_11),
        req("A", "ram:CreateUser", new_user),
        req("B", "ram:CreateUser", new_user),
        req("app", "oss:GetObject", obj, ip=home),
        req("app", "oss:PutObject", obj, ip=home),
        req("D", "ecs:DescribeInstances", instance, ip=home),
    ]


# --- (b) and (c): synthetic accounts ------------------------------------------------------------------

CATALOGUE: dict[str, tuple[list[str], Callable[[random.Random, str], str]]] = {
    "ecs": (
        [
            "DescribeInstances",
            "StartInstance",
            "StopInstance",
            "RebootInstance",
            "DeleteInstance",
            "CreateSnapshot",
            "DescribeDisks",
            "AttachDisk",
        ],
        lambda r, team: f"acs:ecs:{r.choice(REGIONS)}:{ACCOUNT}:instance/i-{team}-{r.randrange(100)}",
    ),
    "rds": (
        [
            "DescribeDBInstances",
            "CreateBackup",
            "ModifyDBInstanceSpec",
            "RestartDBInstance",
            "DescribeBackups",
        ],
        lambda r, team: f"acs:rds:{r.choice(REGIONS)}:{ACCOUNT}:dbinstance/rm-{team}-{r.randrange(20)}",
    ),
    "oss": (
        ["GetObject", "PutObject", "DeleteObject", "ListObjects", "GetBucketInfo", "GetObjectAcl"],
        lambda r, team: f"acs:oss:*:{ACCOUNT}:{team}-bucket-{r.randrange(10)}/data/{r.randrange(1000)}.csv",
    ),
    "vpc": (
        ["DescribeVpcs", "CreateVSwitch", "DeleteVSwitch", "DescribeVSwitches"],
        lambda r, team: f"acs:vpc:{r.choice(REGIONS)}:{ACCOUNT}:vswitch/vsw-{team}-{r.randrange(10)}",
    ),
    "slb": (
        ["DescribeLoadBalancers", "SetBackendServers", "CreateLoadBalancer"],
        lambda r, team: f"acs:slb:{r.choice(REGIONS)}:{ACCOUNT}:loadbalancer/lb-{team}-{r.randrange(5)}",
    ),
    "kms": (
        ["Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey"],
        lambda r, team: f"acs:kms:{r.choice(REGIONS)}:{ACCOUNT}:key/key-{team}-{r.randrange(5)}",
    ),
    "log": (
        ["GetLogs", "PostLogStoreLogs", "ListLogStores"],
        lambda r, team: f"acs:log:{r.choice(REGIONS)}:{ACCOUNT}:project/{team}/logstore/app-{r.randrange(5)}",
    ),
    "orders": (
        ["ListOrders", "GetOrder", "CreateOrder", "CancelOrder", "RefundOrder"],
        lambda r, team: f"acs:orders:*:{ACCOUNT}:shop/{team}/order/{r.randrange(10_000)}",
    ),
}
SERVICES = sorted(CATALOGUE)


def _resource_pattern(r: random.Random, service: str, team: str) -> str:
    concrete = CATALOGUE[service][1](r, team)
    shape = r.random()
    if shape < 0.5:  # the team's whole area: prefix + '*'
        return (
            concrete.rsplit("/", 1)[0] + "/*" if service in ("oss", "orders", "log") else concrete[:-1] + "*"
        )
    if shape < 0.8:
        return concrete
    return concrete.replace(f":{ACCOUNT}:", ":*:", 1).replace(team, f"{team[:-1]}?", 1)


def random_statement(r: random.Random, team: str) -> dict[str, Any]:
    service = r.choice(SERVICES)
    names = CATALOGUE[service][0]
    actions = [f"{service}:{n}" for n in r.sample(names, r.randint(1, 3))]
    if r.random() < 0.2:
        actions = [f"{service}:{r.choice(['Describe*', 'Get*', 'List*'])}"]
    statement: dict[str, Any] = {
        "Effect": "Deny" if r.random() < 0.1 else "Allow",
        "Action": actions,
        "Resource": [_resource_pattern(r, service, team) for _ in range(r.randint(1, 2))],
    }
    if r.random() < 0.2:
        statement["Condition"] = r.choice(
            [
                {"IpAddress": {"acs:SourceIp": [OFFICE, "10.0.0.0/8"]}},
                {"Bool": {"acs:SecureTransport": "true"}},
            ]
        )
    return statement


def random_request(r: random.Random, team: str) -> Request:
    service = r.choice(SERVICES)
    action = f"{service}:{r.choice(CATALOGUE[service][0])}"
    context = {
        "acs:SourceIp": r.choice(["203.0.113.9", "10.2.3.4", "198.51.100.7"]),
        "acs:CurrentTime": "2024-06-04T03:00:00Z",
        "acs:SecureTransport": r.random() < 0.9,
    }
    return make_request(action, CATALOGUE[service][1](r, team), context)


def synthetic_account(n_policies: int, seed: int) -> tuple[dict[str, PolicySet], list[tuple[str, Request]]]:
    """``n_policies`` custom policies over users (5 each, quota 10) who also sit in 1-2 of up to 50 groups.

    The workload is WORKLOAD requests spread over as many users as possible.
    """
    r = random.Random(seed)
    group_names = [f"group-{g}" for g in range(max(2, min(50, n_policies // 20)))]
    group_system = [
        "ReadOnlyAccess",
        "AliyunOSSReadOnlyAccess",
        "AliyunECSReadOnlyAccess",
        "AliyunRDSReadOnlyAccess",
        "AliyunSTSAssumeRoleAccess",
    ]
    groups = {g: [_system(r.choice(group_system), "group", g)] for g in group_names}
    n_users = max(1, n_policies // 5)
    sets: dict[str, PolicySet] = {}
    workload: list[tuple[str, Request]] = []
    for u in range(n_users):
        user, team = f"user-{u:05d}", f"team{u % 97:02d}x"
        own = [
            AttachedPolicy(
                f"Custom-{u}-{k}",
                "Custom",
                "v1",
                "user",
                user,
                parse_policy(
                    {"Version": "1", "Statement": [random_statement(r, team) for _ in range(r.randint(1, 3))]}
                ),
            )
            for k in range(min(5, n_policies - 5 * u) if u < n_users - 1 else n_policies - 5 * u)
        ]
        inherited = [p for g in r.sample(group_names, r.randint(1, 2)) for p in groups[g]]
        sets[user] = PolicySet(own + inherited)
        workload.extend((user, random_request(r, team)) for _ in range(-(-WORKLOAD // n_users)))
    r.shuffle(workload)
    return sets, workload[:WORKLOAD]


def single_principal(n_statements: int, seed: int) -> tuple[PolicySet, list[Request]]:
    """One principal whose policies hold ``n_statements`` statements in total (10 per policy)."""
    r = random.Random(seed)
    policies = []
    for k in range(0, n_statements, 10):
        statements = [
            random_statement(r, f"team{r.randrange(97):02d}x") for _ in range(min(10, n_statements - k))
        ]
        policies.append(
            AttachedPolicy(
                f"P{k}",
                "Custom",
                "v1",
                "user",
                "big",
                parse_policy({"Version": "1", "Statement": statements}),
            )
        )
    requests = [random_request(r, f"team{r.randrange(97):02d}x") for _ in range(500)]
    return PolicySet(policies), requests


def linear_scan(policies: Sequence[AttachedPolicy], request: Request) -> str:
    """Spec section 3 without an index, for comparison."""
    matched = [s.effect for p in policies for s in p.policy.statements if s.matches(request)]
    return "ExplicitDeny" if "Deny" in matched else "Allow" if "Allow" in matched else "ImplicitDeny"


def cold_median_us(sets: dict[str, PolicySet], workload: list[tuple[str, Request]]) -> float:
    """First decision per (fresh PolicySet, action): no memo yet, timed one call at a time."""
    fresh = {user: PolicySet(ps.policies) for user, ps in sets.items()}
    times = []
    for user, request in workload:
        started = time.perf_counter_ns()
        fresh[user].decide(request)
        times.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(times)


def bench_company_x() -> float:
    """(a): returns the median µs per decision (PolicySet lookup by user name + decide)."""
    sets = company_x()
    workload = company_x_requests()
    effects = [sets[user].decide(request).effect for user, request in workload]
    tally = {e: effects.count(e) for e in sorted(set(effects))}
    print(f"(a) Company X: {len(workload)} requests, effects {tally}")

    def decide_one(i: int) -> object:
        user, request = workload[i]
        return sets[user].decide(request)

    median = timed_median_us(decide_one, len(workload), batch=len(workload) * 10, batches=400)
    print(f"    median per decision (lookup + decide): {median:.2f} µs")
    raw = [(user, r.action, r.resource, dict(r.context)) for user, r in workload]

    def build_and_decide(i: int) -> object:
        user, action, resource, context = raw[i]
        return sets[user].decide(make_request(action, resource, context))

    with_build = timed_median_us(build_and_decide, len(raw), 160, 200)
    print(f"    including make_request:                {with_build:.2f} µs")
    return median


def _account_caller(
    accounts: dict[str, PolicySet], load: list[tuple[str, Request]]
) -> Callable[[int], object]:
    def decide_one(i: int) -> object:
        user, request = load[i]
        return accounts[user].decide(request)

    return decide_one


def bench_accounts() -> dict[int, float]:
    """(b): median µs per decision by number of custom policies in the account.

    The sizes are measured in interleaved rounds, so a slow spell on a shared machine hits all of them alike.
    """
    print("(b) accounts: custom policies attached across users (5 per user) + 1-2 groups each")
    sizes = (10, 100, 1_000, 10_000)
    built = {n: synthetic_account(n, seed=n) for n in sizes}
    colds = {n: cold_median_us(*built[n]) for n in sizes}
    samples: dict[int, list[float]] = {n: [] for n in sizes}
    rounds, per_round = 10, 30
    for r in range(rounds):
        for n in sizes:
            accounts, load = built[n]
            start = r * per_round * 300
            samples[n] += timed_batches_us(_account_caller(accounts, load), len(load), 300, per_round, start)
    scale = {n: statistics.median(samples[n]) for n in sizes}
    for n in sizes:
        accounts, load = built[n]
        allowed = sum(accounts[u].decide(q).allowed for u, q in load)
        print(
            f"    N={n:>6}: {len(accounts):>5} users, {len(load):>4} requests ({allowed} allowed): "
            f"{scale[n]:.2f} µs warm, {colds[n]:.2f} µs cold (first decision per PolicySet and action)"
        )
    return scale


def bench_single_principal() -> None:
    """(c): one principal holding N statements, indexed vs a linear scan."""
    print("(c) one principal with N statements: indexed PolicySet vs a linear scan of every statement")
    for n in (10, 100, 1_000, 10_000):
        big, requests = single_principal(n, seed=n + 1)
        for request in requests[:50]:  # the index must agree with the plain definition
            assert big.decide(request).effect == linear_scan(big.policies, request)

        def indexed_one(i: int, big: PolicySet = big, requests: list[Request] = requests) -> object:
            return big.decide(requests[i])

        def scan_one(i: int, big: PolicySet = big, requests: list[Request] = requests) -> object:
            return linear_scan(big.policies, requests[i])

        indexed = timed_median_us(indexed_one, len(requests), 250, 200)
        scan = timed_median_us(scan_one, len(requests), 10, 20 if n <= 1000 else 5)
        print(f"    N={n:>6}: indexed {indexed:8.2f} µs   linear scan {scan:10.2f} µs")


def main() -> None:
    began = time.perf_counter()
    print(f"Python {sys.version.split()[0]}; medians of per-call times over batches")
    company = bench_company_x()
    scale = bench_accounts()
    bench_single_principal()
    growth = scale[10_000] / scale[10]
    print(f"elapsed {time.perf_counter() - began:.1f} s")
    print(f"RESULT decision_median_us={company:.3f} growth_10_to_10000={growth:.3f}")


if __name__ == "__main__":
    main()
