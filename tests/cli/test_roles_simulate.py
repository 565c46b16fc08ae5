"""``ram roles``, ``ram assume-role`` and ``ram simulate`` on the local store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ram_middleware.organisation import apply, load_organisation

from .conftest import (
    ASSUME_ROLE_CASES,
    ORG_FILE,
    Ram,
    assume_role_cases,
    simulate_args,
    write_allow,
    write_json,
)

OFFICE, HOME = "203.0.113.25", "198.51.100.7"
TUESDAY_10_SHANGHAI, TUESDAY_20_SHANGHAI = "2024-06-04T10:00:00+08:00", "2024-06-04T20:00:00+08:00"


def test_roles_lifecycle(ram: Ram, tmp_path: Path) -> None:
    created = ram.json(
        "roles", "create", "EcsOperator", "--description", "operators", "--max-session-duration", "7200"
    )
    role = created["Role"]
    assert role["Arn"] == f"acs:ram::{ram.account_id}:role/ecsoperator"
    trust = json.loads(role["AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Principal"] == {"RAM": [f"acs:ram::{ram.account_id}:root"]}
    ram.fails(
        "roles", "create", "Bad", "--max-session-duration", "60", code="InvalidParameter.MaxSessionDuration"
    )
    custom = write_json(
        tmp_path / "trust.json",
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": ["batch.internal.example"]},
                }
            ],
        },
    )
    ram.ok("roles", "update", "EcsOperator", "--trust", custom, "--description", "batch jobs")
    shown = ram.ok("roles", "show", "EcsOperator").stdout
    assert "batch.internal.example" in shown and "Description: batch jobs" in shown
    not_trust = write_json(
        tmp_path / "nt.json",
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]},
    )
    ram.fails("roles", "update", "EcsOperator", "--trust", not_trust, code="MalformedPolicyDocument")
    ram.ok("policies", "attach", "AliyunECSFullAccess", "--role", "EcsOperator")
    ram.fails("roles", "delete", "EcsOperator", code="DeleteConflict.Role.Policy")
    ram.ok("roles", "delete", "EcsOperator", "--force")
    assert ram.json("roles", "list") == {"Roles": []}


def test_assume_role_as_a_user_with_a_session_policy(ram: Ram, tmp_path: Path) -> None:
    ram.ok("users", "create", "contractor")
    user_arn = f"acs:ram::{ram.account_id}:user/contractor"
    ram.ok("roles", "create", "OSSReader", "--trusted", user_arn)
    ram.ok("policies", "attach", "AliyunOSSReadOnlyAccess", "--role", "OSSReader")
    ram.fails("assume-role", "OSSReader", "--session-name", "c1", code="MissingParameter.AsUser")
    # Trusted, but the user's own policies do not allow sts:AssumeRole yet.
    ram.fails(
        "assume-role", "OSSReader", "--session-name", "c1", "--as-user", "contractor", code="NoPermission"
    )
    ram.ok("policies", "attach", "AliyunSTSAssumeRoleAccess", "--user", "contractor")
    session = write_allow(tmp_path / "session.json", "oss:GetObject", "acs:oss:*:*:reports/*")
    answer = ram.json(
        "assume-role",
        "OSSReader",
        "--session-name",
        "c1",
        "--as-user",
        "contractor",
        "--duration",
        "900",
        "--policy",
        session,
    )
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("STS.") and credentials["SecurityToken"]
    assert answer["AssumedRoleUser"]["Arn"] == f"acs:ram::{ram.account_id}:assumed-role/OSSReader/c1"
    exports = ram.ok(
        "assume-role", "OSSReader", "--session-name", "c2", "--as-user", "contractor", "--env"
    ).stdout
    assert exports.count("export ALIBABA_CLOUD_") == 3
    ram.fails(
        "assume-role",
        "OSSReader",
        "--session-name",
        "x",
        "--as-user",
        "contractor",
        code="InvalidParameter.RoleSessionName",
    )
    ram.fails(
        "assume-role",
        "OSSReader",
        "--session-name",
        "c3",
        "--as-user",
        "contractor",
        "--duration",
        "99999",
        code="InvalidParameter.DurationSeconds",
    )
    ram.fails(
        "assume-role",
        "NoSuchRole",
        "--session-name",
        "c4",
        "--as-user",
        "contractor",
        code="EntityNotExist.Role",
    )


def _company(ram: Ram) -> None:
    apply(ram.service, ram.account_id, load_organisation(ORG_FILE))


def test_simulate_prints_the_deciding_statement(ram: Ram) -> None:
    _company(ram)
    resource = "acs:oss:*:${AccountId}:rnd-bucket/report.txt"
    office = ram.ok(
        *simulate_args("B", "oss:GetObject", resource, ip=OFFICE, when=TUESDAY_10_SHANGHAI)
    ).stdout
    assert office.startswith("Decision:  Allow\n")
    assert "Deciding statement: #0 of Custom policy RnDOSSOfficeNetworkWorkingHours v1 (group RnD)" in office
    assert '"203.0.113.0/24"' in office
    home = ram.json(*simulate_args("B", "oss:GetObject", resource, ip=HOME, when=TUESDAY_10_SHANGHAI))
    assert home["Effect"] == "ImplicitDeny" and HOME in home["Reason"]
    assert home["Policy"]["PolicyName"] == "RnDOSSOfficeNetworkWorkingHours"
    assert home["Statement"]["Condition"]["IpAddress"] == {"acs:SourceIp": ["203.0.113.0/24"]}
    assert home["Request"]["Resource"] == f"acs:oss:*:{ram.account_id}:rnd-bucket/report.txt"
    evening = ram.json(*simulate_args("B", "oss:PutObject", resource, ip=OFFICE, when=TUESDAY_20_SHANGHAI))
    assert evening["Effect"] == "ImplicitDeny" and "LocalTimeOfDay" in evening["Reason"]
    stop = ram.json(*simulate_args("E", "ecs:StopInstance", "acs:ecs:cn-hangzhou:${AccountId}:instance/i-1"))
    assert stop["Effect"] == "Allow" and stop["Policy"]["PolicyName"] == "AliyunECSFullAccess"
    assert stop["Policy"]["AttachedTo"] == "group OandM"
    nothing = ram.json(*simulate_args("A", "ecs:StopInstance", "*"))
    assert nothing == {**nothing, "Effect": "ImplicitDeny", "Policy": None, "Statement": None}
    ram.fails(*simulate_args("nobody", "ecs:StopInstance", "*"), code="EntityNotExist.User")
    ram.fails(*simulate_args("B", "oss:GetObject", "*", ip="nope"), code="InvalidParameter.SourceIp")
    assert ram("simulate", "--action", "a:b", "--resource", "*").exit_code == 2


def test_simulate_a_role_session_narrowed_by_a_session_policy(ram: Ram, tmp_path: Path) -> None:
    _company(ram)
    report = "acs:oss:*:${AccountId}:rnd-bucket/report.txt"
    other = "acs:oss:*:${AccountId}:finance/salaries.csv"
    role_only = ram.json("simulate", "--role", "OSSReader", "--action", "oss:GetObject", "--resource", other)
    assert role_only["Effect"] == "Allow" and role_only["Policy"]["PolicyName"] == "AliyunOSSReadOnlyAccess"
    session = write_allow(tmp_path / "s.json", "oss:GetObject", "acs:oss:*:*:rnd-bucket/*")
    narrowed = ram.json(
        "simulate",
        "--role",
        "OSSReader",
        "--session-policy",
        session,
        "--action",
        "oss:GetObject",
        "--resource",
        other,
    )
    assert narrowed["Effect"] == "ImplicitDeny"
    kept = ram.json(
        "simulate",
        "--role",
        "OSSReader",
        "--session-policy",
        session,
        "--action",
        "oss:GetObject",
        "--resource",
        report,
    )
    assert kept["Effect"] == "Allow"
    assert (
        ram(
            "simulate", "--user", "B", "--session-policy", session, "--action", "a:b", "--resource", "*"
        ).exit_code
        == 2
    )


def test_simulate_decides_change_password_as_the_control_plane_does(ram: Ram, tmp_path: Path) -> None:
    """The security preference's AllowUserToChangePassword lets a user with no policy change its own
    password through the API; the simulator must say so, name the grant, and follow the preference."""
    ram.ok("users", "create", "alice")
    own = f"acs:ram::{ram.account_id}:user/alice"
    allowed = ram.json(*simulate_args("alice", "ram:ChangePassword", own))
    assert allowed["Effect"] == "Allow"
    assert allowed["Policy"]["PolicyName"] == "AllowUserToChangePassword"
    assert allowed["Policy"]["AttachedTo"] == "user alice"
    assert allowed["Statement"] == {"Effect": "Allow", "Action": "ram:ChangePassword", "Resource": own}
    # Only its own password, only that action.
    other = f"acs:ram::{ram.account_id}:user/bob"
    assert ram.json(*simulate_args("alice", "ram:ChangePassword", other))["Effect"] == "ImplicitDeny"
    assert ram.json(*simulate_args("alice", "ram:GetUser", own))["Effect"] == "ImplicitDeny"
    # An explicit Deny wins, as on the control plane.
    deny = write_json(
        tmp_path / "deny.json",
        {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "ram:ChangePassword", "Resource": "*"}]},
    )
    ram.ok("policies", "create", "NoPasswordChange", "--document", deny)
    ram.ok("policies", "attach", "NoPasswordChange", "--user", "alice", "--type", "Custom")
    assert ram.json(*simulate_args("alice", "ram:ChangePassword", own))["Effect"] == "ExplicitDeny"
    ram.ok("policies", "detach", "NoPasswordChange", "--user", "alice", "--type", "Custom")
    # With the preference off the grant is gone.
    ram.service.update_security_preference(
        ram.account_id, lambda p: dataclasses.replace(p, allow_user_to_change_password=False)
    )
    assert ram.json(*simulate_args("alice", "ram:ChangePassword", own))["Effect"] == "ImplicitDeny"


def test_simulate_assume_role_asks_the_role_trust_policy(ram: Ram, tmp_path: Path) -> None:
    role = assume_role_cases(ram, ram.account_id, tmp_path)
    # Allowed by their own policy, but the trust policy does not name them: refused, and it says why.
    outsider = ram.json(*simulate_args("outsider", "sts:AssumeRole", role))
    assert outsider["Effect"] == "ImplicitDeny"
    assert outsider["Reason"] == "The role's trust policy does not name the caller"
    # The trust policy decided, so its own decision is the one shown at the top.
    decided = {k: outsider[k] for k in ("Effect", "Reason", "Policy", "StatementIndex", "Statement")}
    assert outsider["TrustPolicy"] == decided
    text = ram.ok(*simulate_args("outsider", "sts:AssumeRole", role)).stdout
    assert text == "Decision:  ImplicitDeny\nReason:    The role's trust policy does not name the caller\n"
    # Trusted and allowed: Allow, the caller's statement deciding and the trusting statement named too.
    trusted = ram.json(*simulate_args("trusted", "sts:AssumeRole", role))
    assert trusted["Effect"] == "Allow" and trusted["Policy"]["PolicyName"] == "AliyunSTSAssumeRoleAccess"
    assert "Trusted by statement 0 of the trust policy" in trusted["Reason"]
    assert trusted["TrustPolicy"]["Effect"] == "Allow" and trusted["TrustPolicy"]["StatementIndex"] == 0
    assert trusted["TrustPolicy"]["Policy"] == {
        "PolicyName": "TrustPolicy", "PolicyType": "Trust", "Version": "", "AttachedTo": "role Shared"
    }  # fmt: skip
    text = ram.ok(*simulate_args("trusted", "sts:AssumeRole", role)).stdout
    assert text.startswith(
        "Decision:  Allow\nDeciding statement: #0 of System policy AliyunSTSAssumeRoleAccess"
    )
    assert "Trust policy: Allow\nDeciding statement: #0 of Trust policy TrustPolicy (role Shared)\n" in text
    # A trust statement whose condition fails is the nearest statement; the ExternalId satisfies it.
    partner = ram.json(*simulate_args("partner", "sts:AssumeRole", role))
    assert partner["Effect"] == "ImplicitDeny" and partner["StatementIndex"] == 1
    assert partner["Policy"]["PolicyType"] == "Trust" and "sts:ExternalId" in partner["Reason"]
    assert partner["Statement"]["Condition"] == {"StringEquals": {"sts:ExternalId": "x-123"}}
    text = ram.ok(*simulate_args("partner", "sts:AssumeRole", role)).stdout
    assert "Nearest statement (a condition failed): #1 of Trust policy TrustPolicy (role Shared)" in text
    with_id = [*simulate_args("partner", "sts:AssumeRole", role), "--context", "sts:ExternalId=x-123"]
    assert ram.json(*with_id)["Effect"] == "Allow"
    # Trusted, but refused by its own policies: that refusal decides; the trust policy's Allow is shown.
    stranger = ram.json(*simulate_args("stranger", "sts:AssumeRole", role))
    assert stranger["Effect"] == "ImplicitDeny" and stranger["Policy"] is None
    assert stranger["TrustPolicy"]["Effect"] == "Allow"
    # A role that is not there is reported as a missing user is; a wildcard names no role to ask.
    missing = f"acs:ram::{ram.account_id}:role/nosuchrole"
    ram.fails(*simulate_args("trusted", "sts:AssumeRole", missing), code="EntityNotExist.Role")
    wildcard = ram.json(*simulate_args("outsider", "sts:AssumeRole", "acs:ram::*:role/*"))
    assert wildcard["Effect"] == "Allow" and "TrustPolicy" not in wildcard


def test_simulate_agrees_with_assume_role(ram: Ram, tmp_path: Path) -> None:
    """For each caller, ``ram simulate`` allows sts:AssumeRole exactly when AssumeRole issues credentials."""
    role = assume_role_cases(ram, ram.account_id, tmp_path)
    for user, external_id in ASSUME_ROLE_CASES:
        args = simulate_args(user, "sts:AssumeRole", role)
        assumed = ["assume-role", "Shared", "--session-name", "s1", "--as-user", user]
        if external_id is not None:
            args += ["--context", f"sts:ExternalId={external_id}"]
            assumed += ["--external-id", external_id]
        simulated = ram.json(*args)["Effect"]
        result = ram(*assumed)
        assert (simulated == "Allow") == (result.exit_code == 0), (user, external_id, result.output)
        if result.exit_code != 0:
            assert "Error: NoPermission: " in result.stderr, result.stderr


def test_simulate_at_a_time_before_the_year_1000_reads_date_conditions(ram: Ram, tmp_path: Path) -> None:
    # acs:CurrentTime is written with a four-digit year, so Date conditions can read it in any year.
    statement = {
        "Effect": "Allow",
        "Action": "oss:GetObject",
        "Resource": "*",
        "Condition": {"DateLessThan": {"acs:CurrentTime": "1000-01-01T00:00:00Z"}},
    }
    document = write_json(tmp_path / "old.json", {"Version": "1", "Statement": [statement]})
    ram.ok("policies", "create", "BeforeTheYear1000", "--document", document)
    ram.ok("users", "create", "B")
    ram.ok("policies", "attach", "BeforeTheYear1000", "--type", "Custom", "--user", "B")
    for when in ("0999-06-01T08:00:00+08:00", "0001-01-01T00:00:00Z"):
        decision = ram.json(*simulate_args("B", "oss:GetObject", "acs:oss:*:*:bucket/a", when=when))
        assert decision["Effect"] == "Allow", decision["Reason"]
    late = ram.json(*simulate_args("B", "oss:GetObject", "acs:oss:*:*:bucket/a", when="1000-01-01T00:00:00Z"))
    assert late["Effect"] == "ImplicitDeny"
