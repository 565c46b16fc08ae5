"""PolicySet decisions: precedence, index buckets, explanations, session intersection, Company X."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from ram_middleware.policy import (
    AttachedPolicy,
    Decision,
    PolicySet,
    decide,
    decide_with_session,
    make_request,
    parse_policy,
    system_policy,
)


def custom(name: str, *statements: dict[str, Any], to: Any = "user", who: str = "alice") -> AttachedPolicy:
    document = {"Version": "1", "Statement": list(statements)}
    return AttachedPolicy(name, "Custom", "v2", to, who, parse_policy(document))


def sysp(name: str, to: Any = "group", who: str = "") -> AttachedPolicy:
    return AttachedPolicy(name, "System", "v1", to, who, system_policy(name))


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def test_to_dict_for_audit() -> None:
    policies = PolicySet([custom("Ops", allow("ecs:*"), deny("ecs:Delete*"), to="group", who="O&M")])
    denied = policies.decide(make_request("ecs:DeleteInstance", "acs:ecs:r:1:instance/i-1"))
    assert denied.to_dict() == {
        "effect": "ExplicitDeny",
        "policy_name": "Ops",
        "policy_type": "Custom",
        "policy_version": "v2",
        "attached_to": "group",
        "attached_name": "O&M",
        "statement_index": 1,
        "reason": "Denied by statement 1 of custom policy Ops (group O&M)",
    }
    assert not denied.allowed
    nothing = policies.decide(make_request("oss:GetObject", "acs:oss:r:1:b/k"))
    assert nothing.to_dict()["policy_name"] is None and nothing.statement_index is None
    assert nothing.reason == "No statement allows oss:GetObject on acs:oss:r:1:b/k"


def test_wildcard_service_and_notaction_statements_are_found() -> None:
    policies = PolicySet(
        [
            custom("A", allow(["e?s:Stop*", "oss:GetObject"])),
            custom("B", allow("*:Describe*")),
            custom("C", {"Effect": "Allow", "NotAction": ["ram:*", "oss:*"], "Resource": "acs:vpc:*:*:*"}),
            custom("D", deny("*", "acs:ecs:*:*:instance/protected")),
        ]
    )

    def effect(action: str, resource: str = "acs:ecs:r:1:instance/i-1") -> str:
        return policies.decide(make_request(action, resource)).effect

    assert effect("ecs:StopInstance") == "Allow"
    assert effect("ecs:StopInstance", "acs:ecs:r:1:instance/protected") == "ExplicitDeny"
    assert effect("rds:DescribeDBInstances") == "Allow"
    assert effect("oss:GetObject") == "Allow"
    assert effect("oss:PutObject") == "ImplicitDeny"
    assert effect("vpc:CreateVpc", "acs:vpc:r:1:vpc/v-1") == "Allow"
    assert effect("ram:CreateUser", "acs:vpc:r:1:vpc/v-1") == "ImplicitDeny"
    assert effect("no-colon-action") == "ImplicitDeny"
    assert policies.statement_count == 4 and len(policies.policies) == 4


def test_near_miss_comes_from_allow_statements_only() -> None:
    policies = PolicySet(
        [
            custom("MFA", deny("*", Condition={"Bool": {"acs:MFAPresent": "false"}})),
            custom("Net", allow("oss:*", Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),
        ]
    )
    decision = policies.decide(
        make_request("oss:GetObject", "acs:oss:r:1:b/k", {"acs:SourceIp": "192.0.2.1"})
    )
    assert decision.effect == "ImplicitDeny"
    assert decision.policy is not None and decision.policy.name == "Net"
    assert decision.reason.endswith("IpAddress acs:SourceIp observed 192.0.2.1")


def test_reason_never_carries_raw_control_characters() -> None:
    decision = PolicySet([]).decide(make_request("a:b\nforged", "acs:x:y:z:\r\nw"))
    assert "\n" not in decision.reason and "\r" not in decision.reason


def test_action_memo_is_bounded() -> None:
    policies = PolicySet([custom("All", allow("svc:*"))])
    for i in range(5000):
        assert policies.decide(make_request(f"svc:Action{i}", "*")).allowed
    assert (
        len(policies._memo) <= 2048
    )  # callers choose actions (RPC Action), so the memo may not grow unbounded


def test_session_deny_applies_even_when_identity_denies_implicitly() -> None:
    identity = PolicySet([custom("Role", allow("oss:GetObject"), to="role", who="reader")])
    session = PolicySet([custom("S", deny("ecs:*"), to="session", who="")])
    decision = decide_with_session(identity, session, make_request("ecs:StopInstance", "*"))
    assert decision.effect == "ExplicitDeny" and decision.policy is not None
    assert decision.policy.attached_to == "session"
    assert decide_with_session(identity, None, make_request("oss:GetObject", "*")).allowed


def test_session_intersection_reasons() -> None:
    identity = PolicySet([custom("Role", allow("oss:*"), to="role", who="reader")])
    session = PolicySet(
        [
            AttachedPolicy(
                "SessionPolicy",
                "Session",
                "",
                "session",
                "",
                parse_policy({"Version": "1", "Statement": [allow("oss:Get*")]}, kind="session"),
            )
        ]
    )
    allowed = decide_with_session(identity, session, make_request("oss:GetObject", "*"))
    assert allowed.allowed and allowed.policy is not None and allowed.policy.name == "Role"
    assert "session policy" in allowed.reason
    narrowed = decide_with_session(identity, session, make_request("oss:PutObject", "*"))
    assert narrowed.effect == "ImplicitDeny"
    assert narrowed.reason.startswith("The session policy does not allow it")


def test_decide_accepts_a_compiled_session_policy() -> None:
    session = parse_policy({"Version": "1", "Statement": [allow("ecs:Describe*")]}, kind="session")
    role = [sysp("AdministratorAccess", to="role", who="admin")]
    assert decide(role, make_request("ecs:DescribeInstances", "*"), session_policy=session).allowed
    assert (
        decide(role, make_request("ecs:StopInstance", "*"), session_policy=session).effect == "ImplicitDeny"
    )


def test_several_session_policies_each_narrow() -> None:
    # Pooled into one set they were OR-ed: a session-attached "Allow *" undid session_policy's narrowing.
    role = [
        sysp("AdministratorAccess", to="role", who="admin"),
        custom("Wide", allow("*"), to="session", who=""),
    ]
    session = parse_policy({"Version": "1", "Statement": [allow("oss:*")]}, kind="session")
    assert decide(role, make_request("oss:GetObject", "*"), session_policy=session).allowed
    narrowed = decide(role, make_request("ram:CreateUser", "*"), session_policy=session)
    assert narrowed.effect == "ImplicitDeny"
    denying = [*role, custom("No", deny("oss:Delete*"), to="session", who="")]
    assert (
        decide(denying, make_request("oss:DeleteObject", "*"), session_policy=session).effect
        == "ExplicitDeny"
    )


def test_ram_resources_match_case_insensitively_in_policies() -> None:
    policies = PolicySet([custom("HR", allow("ram:*", "acs:ram::1:user/Intern-*"))])
    assert policies.decide(make_request("ram:DeleteUser", "acs:ram::1:user/intern-bob")).allowed
    assert not policies.decide(make_request("ram:DeleteUser", "acs:ram::1:user/boss")).allowed


# --- Company X ---------------------------------------------------------------------------------------

OFFICE_HOURS = {
    "IpAddress": {"acs:SourceIp": "203.0.113.0/24"},
    "NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Asia/Shanghai": "0900"},
    "NumericLessThan": {"mw:LocalTimeOfDay/Asia/Shanghai": "1800"},
    "NumericLessThanEquals": {"mw:LocalWeekday/Asia/Shanghai": "5"},
}


def company_x() -> dict[str, PolicySet]:
    rnd_oss = custom("RnDOSSOfficeHours", allow("oss:*", Condition=OFFICE_HOURS), to="group", who="R&D")
    groups = {
        "O&M": [sysp("AliyunECSFullAccess", who="O&M"), sysp("AliyunRDSFullAccess", who="O&M")],
        "R&D": [
            sysp("AliyunECSReadOnlyAccess", who="R&D"),
            sysp("AliyunRDSReadOnlyAccess", who="R&D"),
            rnd_oss,
        ],
        "HR": [sysp("AliyunRAMFullAccess", who="HR")],
    }
    members = {"A": ["HR"], "B": ["R&D"], "C": ["O&M"], "D": ["R&D", "O&M"], "app": []}
    sets = {user: PolicySet(p for g in member_of for p in groups[g]) for user, member_of in members.items()}
    sets["app"] = PolicySet([sysp("AliyunOSSReadOnlyAccess", to="user", who="app")])
    return sets


def _decide(sets: dict[str, PolicySet], user: str, action: str, resource: str, **context: Any) -> Decision:
    ctx = {"acs:SourceIp": "203.0.113.9", "acs:CurrentTime": "2024-06-04T03:00:00Z", **context}  # Tue 11:00
    return sets[user].decide(make_request(action, resource, ctx))


def test_company_x() -> None:
    sets = company_x()
    instance = "acs:ecs:cn-shanghai:1234567890123456:instance/i-1"
    obj = "acs:oss:cn-shanghai:1234567890123456:rnd-bucket/report.pdf"
    assert _decide(sets, "C", "ecs:StopInstance", instance).allowed
    assert not _decide(sets, "B", "ecs:StopInstance", instance).allowed
    assert _decide(sets, "B", "ecs:DescribeInstances", instance).allowed
    assert _decide(sets, "D", "ecs:StopInstance", instance).allowed  # via O&M
    assert _decide(sets, "D", "oss:PutObject", obj).allowed  # via R&D
    assert not _decide(sets, "C", "oss:PutObject", obj).allowed
    assert not _decide(sets, "B", "oss:PutObject", obj, **{"acs:SourceIp": "198.51.100.7"}).allowed
    late = _decide(sets, "B", "oss:GetObject", obj, **{"acs:CurrentTime": "2024-06-04T11:00:00Z"})  # 19:00
    assert late.effect == "ImplicitDeny" and "mw:LocalTimeOfDay/Asia/Shanghai observed 1900" in late.reason
    assert not _decide(sets, "B", "oss:GetObject", obj, **{"acs:CurrentTime": "2024-06-08T03:00:00Z"}).allowed
    assert _decide(sets, "A", "ram:CreateUser", "acs:ram::1234567890123456:user/F").allowed
    assert not _decide(sets, "B", "ram:CreateUser", "acs:ram::1234567890123456:user/F").allowed
    assert _decide(sets, "app", "oss:GetObject", obj, **{"acs:SourceIp": "198.51.100.7"}).allowed
    assert not _decide(sets, "app", "oss:PutObject", obj).allowed
    hit = _decide(sets, "D", "rds:DescribeDBInstances", "acs:rds:cn-shanghai:1:dbinstance/rm-1")
    assert hit.allowed and hit.policy is not None and hit.policy.attached_name in {"R&D", "O&M"}


def test_long_candidate_lists_are_narrowed_by_resource_prefix() -> None:
    files = [allow("oss:GetObject", f"acs:oss:cn-hangzhou:1:bucket/file-{i}") for i in range(30)]
    secrets = [deny("oss:*", f"acs:oss:*:*:bucket/secret-{i}*") for i in range(20)]
    users = [allow("ram:GetUser", f"acs:ram::1:user/Name{i}") for i in range(20)]
    policies = PolicySet(
        [
            custom("Files", *files),
            custom("Secrets", *secrets),
            custom("Users", *users),
            custom("Public", allow("oss:GetObject", "*public")),
            custom("Guard", {"Effect": "Deny", "Action": "oss:GetObject", "NotResource": "acs:oss:*:*:*"}),
        ]
    )

    def decision(action: str, resource: str) -> Decision:
        return policies.decide(make_request(action, resource))

    exact = decision("oss:GetObject", "acs:oss:cn-hangzhou:1:bucket/file-7")
    assert exact.allowed and exact.statement_index == 7
    assert not decision("oss:GetObject", "acs:oss:cn-hangzhou:1:bucket/file-70").allowed
    assert decision("oss:GetObject", "acs:oss:cn-hangzhou:1:bucket/file-1").statement_index == 1
    assert decision("oss:GetObject", "acs:oss:cn-hangzhou:1:bucket/secret-3/x").effect == "ExplicitDeny"
    assert decision("oss:GetObject", "acs:oss:cn-hangzhou:1:bucket/secret-30").effect == "ExplicitDeny"
    assert decision(
        "oss:GetObject", "acs:oss:cn-hangzhou:1:bucket/a/public"
    ).allowed  # '*public' is always tested
    assert decision("oss:GetObject", "acs:ecs:cn-hangzhou:1:public").effect == "ExplicitDeny"  # NotResource
    assert decision("ram:GetUser", "ACS:RAM::1:USER/name12").allowed  # RAM: whole ARN case-insensitive
    assert not decision("ram:GetUser", "acs:ram::1:user/name20").allowed


def test_long_request_values_are_not_kept_after_the_decision() -> None:
    """A resource (path parameters) and condition values come from the client; a long one must not stay in
    a decision cache, or requests with distinct 64 KiB URLs would pin hundreds of MB in every worker."""
    policies = PolicySet(
        [
            custom(
                "Orders",
                allow(
                    "orders:*",
                    "acs:orders:*:*:order/*",
                    Condition={
                        "NumericLessThanIfExists": {"orders:Limit": "100"},
                        "NotIpAddressIfExists": {"orders:Peer": "10.0.0.0/8"},
                        "DateLessThanIfExists": {"orders:Until": "2030-01-01T00:00:00Z"},
                    },
                ),
            )
        ]
    )
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(200):
            value = f"{i:08d}" + "7" * 65_536
            request = make_request(
                "orders:GetOrder",
                f"acs:orders:cn-hangzhou:1:order/{value}",
                {"orders:Limit": value, "orders:Peer": value, "orders:Until": value},
            )
            assert not policies.decide(request).allowed
        del request, value
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 2_000_000, f"{kept:,} bytes kept after 200 decisions"
