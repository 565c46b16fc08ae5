"""The policy simulator uses exactly what the request path would use."""

from __future__ import annotations

import json
from dataclasses import replace

from ram_middleware import errors
from ram_middleware.credentials.sts import StsTokens, assume_role
from ram_middleware.identity import Principal, Role
from ram_middleware.service import RamService

from ..store.backends import expect_code

RND_OSS = json.dumps(
    {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*",
      "Resource": ["acs:oss:*:*:rnd-bucket", "acs:oss:*:*:rnd-bucket/*"],
      "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}]}
)  # fmt: skip
DENY_DELETE = json.dumps(
    {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "oss:DeleteObject", "Resource": "*"}]}
)


def test_user_group_and_conditions(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "dave")
    svc.create_group(acct, "rnd")
    svc.add_user_to_group(acct, "rnd", "dave")
    svc.create_policy(acct, "RnDOSS", RND_OSS)
    svc.attach_policy_to_group(acct, "Custom", "RnDOSS", "rnd")
    inside = svc.simulate(
        acct, "dave", "oss:GetObject", "acs:oss:*:*:rnd-bucket/a", {"acs:SourceIp": "10.1.2.3"}
    )
    assert inside.allowed and inside.policy is not None and inside.policy.attached_name == "rnd"
    outside = svc.simulate(
        acct, "dave", "oss:GetObject", "acs:oss:*:*:rnd-bucket/a", {"acs:SourceIp": "8.8.8.8"}
    )
    assert outside.effect == "ImplicitDeny" and "8.8.8.8" in outside.reason
    svc.create_policy(acct, "NoDelete", DENY_DELETE)
    svc.attach_policy_to_user(acct, "Custom", "NoDelete", "dave")
    denied = svc.simulate(
        acct, "dave", "oss:DeleteObject", "acs:oss:*:*:rnd-bucket/a", {"acs:SourceIp": "10.1.2.3"}
    )
    assert denied.effect == "ExplicitDeny"


def test_assumed_role_session_policy_narrows(svc: RamService, acct: str) -> None:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{acct}:root"]},
    }
    trust = json.dumps({"Version": "1", "Statement": [statement]})
    role = svc.create_role(acct, "Ops", trust)
    svc.attach_policy_to_role(acct, "System", "AliyunOSSFullAccess", "Ops")
    svc.create_user(acct, "x")
    base = svc.directory.principal_for_user(acct, "x")
    session_policy = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"}]}
    )
    session = replace(
        base, kind="assumed-role", name="Ops", principal_id=f"{role.role_id}:s1", groups=(),
        arn=f"acs:ram::{acct}:assumed-role/Ops/s1", session_name="s1", session_policy=session_policy,
        extra={"role_id": role.role_id},
    )  # fmt: skip
    assert svc.simulate(acct, session, "oss:GetObject", "acs:oss:*:*:b/k").allowed
    assert not svc.simulate(acct, session, "oss:PutObject", "acs:oss:*:*:b/k").allowed
    assert svc.simulate(
        acct, replace(session, session_policy=None), "oss:PutObject", "acs:oss:*:*:b/k"
    ).allowed


def test_root_unknown_users_and_foreign_principals(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "x")
    root_key = svc.create_access_key(acct, None)
    found = svc.directory.signing_key(root_key.key.access_key_id)
    assert found is not None
    assert svc.simulate(acct, found.principal, "ram:DeleteUser", "*").allowed
    assert not svc.simulate(acct, "x", "ram:DeleteUser", "*").allowed
    with expect_code("EntityNotExist.User"):
        svc.simulate(acct, "nobody", "oss:GetObject", "*")
    other = svc.create_account().account_id
    with expect_code("InvalidParameter.Principal"):
        svc.simulate(other, found.principal, "oss:GetObject", "*")


def _trusting(*principals: str) -> str:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": list(principals)}}
    return json.dumps({"Version": "1", "Statement": [statement]})


def _assume_role_issues(svc: RamService, acct: str, caller: Principal, role: Role) -> bool:
    """Whether AssumeRole itself issues credentials, given the caller's own decision as the API gives it."""
    own = svc.simulate(acct, caller, "sts:AssumeRole", role.arn, trust=False)
    params = {"RoleArn": role.arn, "RoleSessionName": "s1"}
    try:
        assume_role(caller, own, role, params, StsTokens(["k" * 32]))
    except errors.AuthorizationError:
        return False
    return True


def test_assume_role_is_decided_with_the_role_trust_policy(svc: RamService, acct: str) -> None:
    for user in ("trusted", "outsider", "stranger"):
        svc.create_user(acct, user)
    for user in ("trusted", "outsider"):
        svc.attach_policy_to_user(acct, "System", "AliyunSTSAssumeRoleAccess", user)
    role = svc.create_role(
        acct, "Shared", _trusting(f"acs:ram::{acct}:user/trusted", f"acs:ram::{acct}:user/stranger")
    )
    other = svc.create_account().account_id
    foreign = svc.create_role(other, "Partner", _trusting(f"acs:ram::{acct}:root"))
    root_key = svc.create_access_key(acct, None)
    found = svc.directory.signing_key(root_key.key.access_key_id)
    assert found is not None
    allowed = "Allowed by statement 0 of system policy AliyunSTSAssumeRoleAccess"
    cases = {
        ("trusted", role.arn): ("Allow", allowed),
        ("outsider", role.arn): ("ImplicitDeny", "The role's trust policy does not name the caller"),
        ("stranger", role.arn): ("ImplicitDeny", "No statement allows sts:AssumeRole"),
        # Another account's role that trusts this account's root.
        ("trusted", foreign.arn): ("Allow", allowed),
    }
    for (user, arn), (effect, reason) in cases.items():
        decision = svc.simulate(acct, user, "sts:AssumeRole", arn)
        assert decision.effect == effect and decision.reason.startswith(reason), (user, arn, decision)
        caller = svc.directory.principal_for_user(acct, user)
        target = role if arn == role.arn else foreign
        assert decision.allowed == _assume_role_issues(svc, acct, caller, target), (user, arn)
    outsider = svc.simulate(acct, "outsider", "sts:AssumeRole", role.arn)
    assert outsider.policy is None and outsider.effect == "ImplicitDeny"
    assert svc.simulate(acct, "outsider", "sts:AssumeRole", role.arn, trust=False).allowed
    trust = svc.simulate_trust(acct, "trusted", "sts:AssumeRole", role.arn)
    assert trust is not None and trust.allowed and trust.policy is not None
    named = (trust.policy.name, trust.policy.attached_name, trust.statement_index)
    assert named == ("TrustPolicy", "Shared", 0)
    # The root may do anything but assume a role, as AssumeRole refuses it.
    root = svc.simulate(acct, found.principal, "sts:AssumeRole", role.arn)
    assert root.effect == "ImplicitDeny" and "root" in root.reason
    # Only sts:AssumeRole on one role asks a trust policy; a role that is not there is said to be missing.
    assert svc.simulate_trust(acct, "outsider", "sts:AssumeRole", "acs:ram::*:role/*") is None
    assert svc.simulate_trust(acct, "outsider", "ram:GetRole", role.arn) is None
    with expect_code("EntityNotExist.Role"):
        svc.simulate(acct, "trusted", "sts:AssumeRole", f"acs:ram::{acct}:role/nosuchrole")
