"""The policy simulator uses exactly what the request path would use."""

from __future__ import annotations

import json
from dataclasses import replace

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
