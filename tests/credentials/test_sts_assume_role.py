"""AssumeRole semantics, GetCallerIdentity, and session-policy intersection through a real token."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.sts import (
    MAX_CHAIN,
    AssumeRoleResult,
    StsTokens,
    assume_role,
    caller_identity,
    parse_role_arn,
    principal_from_claims,
)
from ram_middleware.identity import Principal, Role, session_chain
from ram_middleware.policy.document import parse_policy
from ram_middleware.policy.evaluate import (
    AttachedPolicy,
    Decision,
    PolicySet,
    decide_with_session,
    make_request,
)

ACCOUNT = "1234567890123456"
OTHER_ACCOUNT = "6543210987654321"
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
TOKENS = StsTokens([b"assume-role-test-key-0123456789abcdef"], clock=lambda: NOW)


def doc(*statements: Mapping[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def trust(principal: Mapping[str, Any], condition: Mapping[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}
    if condition is not None:
        statement["Condition"] = condition
    return doc(statement)


def role(name: str = "EcsOperator", trust_policy: str | None = None, max_duration: int = 7200) -> Role:
    return Role(
        account_id=ACCOUNT,
        role_id="300000000000000001",
        role_name=name,
        trust_policy=trust_policy or trust({"RAM": [f"acs:ram::{ACCOUNT}:root"]}),
        max_session_duration=max_duration,
    )


def user(name: str = "alice", account: str = ACCOUNT, mfa: bool | None = None) -> Principal:
    return Principal(
        kind="user",
        account_id=account,
        name=name,
        principal_id="200000000000000001",
        arn=f"acs:ram::{account}:user/{name}",
        mfa_present=mfa,
    )


ROOT = Principal(
    kind="root", account_id=ACCOUNT, name="root", principal_id=ACCOUNT, arn=f"acs:ram::{ACCOUNT}:root"
)
# AliyunSTSAssumeRoleAccess
STS_ACCESS = doc({"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": "*"})


def policy_set(*documents: str, attached_to: str = "user") -> PolicySet:
    return PolicySet(
        AttachedPolicy(f"P{i}", "Custom", "v1", attached_to, "x", parse_policy(text))  # type: ignore[arg-type]
        for i, text in enumerate(documents)
    )


def allowed_to_assume(target: Role, *documents: str) -> Decision:
    return policy_set(*documents).decide(make_request("sts:AssumeRole", target.arn, {}))


ALLOW = allowed_to_assume(role(), STS_ACCESS)


def params(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {"RoleArn": f"acs:ram::{ACCOUNT}:role/ecsoperator", "RoleSessionName": "alice"}
    base.update(extra)
    return base


def assume(
    caller: Principal | None = None,
    target: Role | None = None,
    decision: Decision = ALLOW,
    context: Mapping[str, object] | None = None,
    service: str | None = None,
    more: Mapping[str, object] | None = None,
    **extra: object,
) -> AssumeRoleResult:
    return assume_role(
        caller or user(),
        decision,
        target or role(),
        params(**{**extra, **(more or {})}),
        TOKENS,
        context=context,
        service=service,
    )


def code_of(exc_info: pytest.ExceptionInfo[errors.RAMError]) -> str:
    return exc_info.value.code


# --- the happy path ----------------------------------------------------------------------------------------


def test_assume_role_returns_credentials_in_the_api_shape() -> None:
    result = assume(SourceIdentity="alice")
    body = result.to_api()
    assert set(body) == {"AssumedRoleUser", "Credentials", "SourceIdentity"}
    assert body["AssumedRoleUser"] == {
        "Arn": f"acs:ram::{ACCOUNT}:assumed-role/EcsOperator/alice",
        "AssumedRoleId": "300000000000000001:alice",
    }
    credentials = body["Credentials"]
    assert set(credentials) == {"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
    assert credentials["AccessKeyId"].startswith("STS.")
    assert credentials["Expiration"] == "2024-01-02T04:04:05Z"  # default 3600 s
    assert body["SourceIdentity"] == "alice"
    claims = TOKENS.verify(credentials["AccessKeyId"], credentials["SecurityToken"])
    assert TOKENS.secret_for(claims) == credentials["AccessKeySecret"]
    assert claims.session_policy is None and claims.mfa_present is None


def test_source_identity_is_omitted_when_absent() -> None:
    assert "SourceIdentity" not in assume().to_api()


def test_role_arn_is_case_insensitive() -> None:
    assume(RoleArn=f"ACS:RAM::{ACCOUNT}:role/EcsOperator")


def test_params_may_arrive_as_text_or_numbers() -> None:
    assert assume(DurationSeconds="900").credentials.expiration == NOW + timedelta(seconds=900)
    assert assume(DurationSeconds=1800).credentials.expiration == NOW + timedelta(seconds=1800)


def test_mfa_state_is_inherited() -> None:
    assert assume(user(mfa=True)).credentials.claims.mfa_present is True
    assert assume(user(mfa=False)).credentials.claims.mfa_present is False
    assert assume(user()).credentials.claims.mfa_present is None


# --- refusals ----------------------------------------------------------------------------------------------


def test_root_caller_is_refused() -> None:
    with pytest.raises(errors.AuthorizationError) as info:
        assume(ROOT)
    assert (info.value.code, info.value.status) == ("NoPermission", 403)


def test_caller_without_permission_is_refused() -> None:
    denied = allowed_to_assume(role(), doc({"Action": "ecs:*", "Effect": "Allow", "Resource": "*"}))
    assert not denied.allowed
    with pytest.raises(errors.AuthorizationError) as info:
        assume(decision=denied)
    assert info.value.code == "NoPermission"
    explicit = allowed_to_assume(
        role(), STS_ACCESS, doc({"Action": "sts:*", "Effect": "Deny", "Resource": "*"})
    )
    with pytest.raises(errors.AuthorizationError):
        assume(decision=explicit)


def test_trust_policy_rejection() -> None:
    only_bob = role(trust_policy=trust({"RAM": [f"acs:ram::{ACCOUNT}:user/bob"]}))
    with pytest.raises(errors.AuthorizationError) as info:
        assume(target=only_bob)
    assert info.value.code == "NoPermission"
    assert "reason" in info.value.detail
    assert assume(user("BOB"), target=only_bob).assumed_role_arn.endswith("/EcsOperator/alice")


def test_other_accounts_are_not_trusted_by_a_root_entry() -> None:
    with pytest.raises(errors.AuthorizationError):
        assume(user(account=OTHER_ACCOUNT))
    cross = role(trust_policy=trust({"RAM": [f"acs:ram::{OTHER_ACCOUNT}:root"]}))
    assume(user(account=OTHER_ACCOUNT), target=cross)


def test_trust_statement_resource_must_name_the_assumed_role() -> None:
    root = {"RAM": [f"acs:ram::{ACCOUNT}:root"]}
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": root}
    other = role(trust_policy=doc({**statement, "Resource": f"acs:ram::{ACCOUNT}:role/other"}))
    with pytest.raises(errors.AuthorizationError):
        assume(target=other)
    with pytest.raises(errors.AuthorizationError):
        assume(target=role(trust_policy=doc({**statement, "NotResource": "*"})))
    own = role(trust_policy=doc({**statement, "Resource": f"acs:ram::{ACCOUNT}:role/EcsOperator"}))
    assert assume(target=own).assumed_role_arn.endswith("/EcsOperator/alice")


def test_broken_stored_trust_policy_trusts_nobody() -> None:
    with pytest.raises(errors.AuthorizationError):
        assume(target=role(trust_policy="{not json"))


def test_service_principal() -> None:
    service_role = role(trust_policy=trust({"Service": ["batch.internal.example"]}))
    with pytest.raises(errors.AuthorizationError):
        assume(target=service_role)
    assume(target=service_role, service="batch.internal.example")


EXT_ROLE = role(
    trust_policy=trust(
        {"RAM": [f"acs:ram::{ACCOUNT}:user/alice"]}, {"StringEquals": {"sts:ExternalId": "ext-123"}}
    )
)


@pytest.mark.parametrize("external_id", [None, "ext-124", "EXT-123"])
def test_external_id_mismatch(external_id: str | None) -> None:
    extra = {} if external_id is None else {"ExternalId": external_id}
    with pytest.raises(errors.AuthorizationError) as info:
        assume(target=EXT_ROLE, more=extra)
    assert info.value.code == "NoPermission"


def test_external_id_match() -> None:
    assume(target=EXT_ROLE, ExternalId="ext-123")


@pytest.mark.parametrize("external_id", ["e", "bad id", "x" * 1225, "ext\n123", "ëxt-123"])
def test_external_id_syntax(external_id: str) -> None:
    with pytest.raises(errors.InvalidParameter) as info:
        assume(target=EXT_ROLE, ExternalId=external_id)
    assert info.value.code == "InvalidParameter.ExternalId"


def test_trust_conditions_see_the_request_context() -> None:
    office = role(
        trust_policy=trust(
            {"RAM": [f"acs:ram::{ACCOUNT}:root"]}, {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}
        )
    )
    assume(target=office, context={"acs:SourceIp": "10.1.2.3"})
    with pytest.raises(errors.AuthorizationError):
        assume(target=office, context={"acs:SourceIp": "192.0.2.1"})


# --- parameters --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "ok"),
    [
        (899, False),
        (900, True),
        (3600, True),
        (7200, True),
        (7201, False),
        ("abc", False),
        ("", True),
        (-1, False),
    ],
)
def test_duration_bounds(duration: object, ok: bool) -> None:
    if ok:
        assume(DurationSeconds=duration)
        return
    with pytest.raises(errors.InvalidParameter) as info:
        assume(DurationSeconds=duration)
    assert info.value.code == "InvalidParameter.DurationSeconds"


def test_default_max_session_duration_is_one_hour() -> None:
    with pytest.raises(errors.InvalidParameter):
        assume(target=role(max_duration=3600), DurationSeconds=3601)


@pytest.mark.parametrize("name", ["a", "x" * 65, "bad name", "alice!", "ålice", "a/b"])
def test_bad_session_names(name: str) -> None:
    with pytest.raises(errors.InvalidParameter) as info:
        assume(RoleSessionName=name)
    assert info.value.code == "InvalidParameter.RoleSessionName"


@pytest.mark.parametrize("name", ["ab", "x" * 64, "alice@example.com", "ops_1-2.3"])
def test_good_session_names(name: str) -> None:
    assert assume(RoleSessionName=name).assumed_role_id == f"300000000000000001:{name}"


@pytest.mark.parametrize("missing", ["RoleArn", "RoleSessionName"])
def test_missing_parameters(missing: str) -> None:
    with pytest.raises(errors.MissingParameter) as info:
        assume(more={missing: None})
    assert info.value.code == f"MissingParameter.{missing}"


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123:role/x",
        f"acs:ram::{ACCOUNT}:user/ecsoperator",
        f"acs:ram:cn-hangzhou:{ACCOUNT}:role/ecsoperator",
        f"acs:ram::{ACCOUNT}:role/",
        f"acs:ram::{OTHER_ACCOUNT}:role/ecsoperator",
        f"acs:ram::{ACCOUNT}:role/otherrole",
    ],
)
def test_bad_role_arns(arn: str) -> None:
    with pytest.raises(errors.InvalidParameter) as info:
        assume(RoleArn=arn)
    assert info.value.code == "InvalidParameter.RoleArn"


@pytest.mark.parametrize("name", ["ec\u017foperator", "\u212aey", "r\u00f4le"])
def test_a_role_arn_is_ascii(name: str) -> None:
    # Case-insensitive Unicode matching would read the long s as "s" and the Kelvin sign as "k".
    with pytest.raises(errors.InvalidParameter, match="RoleArn must look like"):
        parse_role_arn(f"acs:ram::{ACCOUNT}:role/{name}")
    assert parse_role_arn(f"ACS:RAM::{ACCOUNT}:role/Key") == (ACCOUNT, "Key")


@pytest.mark.parametrize(
    "policy",
    [
        "{not json",
        json.dumps({"Version": "2", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        doc({"Effect": "Allow", "Action": "*"}),  # session policies need Resource
        doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": {"RAM": ["*"]}}),
    ],
)
def test_bad_session_policy_grammar(policy: str) -> None:
    with pytest.raises(errors.InvalidParameter) as info:
        assume(Policy=policy)
    assert info.value.code == "InvalidParameter.PolicyGrammar"


def test_session_policy_size() -> None:
    compact = doc({"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"})
    padded = compact[:-1] + " " * (2048 - len(compact)) + "}"
    assert len(padded) == 2048
    assert assume(Policy=padded).credentials.claims.session_policy == padded
    with pytest.raises(errors.InvalidParameter) as info:
        assume(Policy=padded[:-1] + " }")
    assert info.value.code == "InvalidParameter.PolicySize"


@pytest.mark.parametrize("value", ["a", "x" * 65, "has space"])
def test_bad_source_identity(value: str) -> None:
    with pytest.raises(errors.InvalidParameter) as info:
        assume(SourceIdentity=value)
    assert info.value.code == "InvalidParameter.SourceIdentity"


# --- role chaining -----------------------------------------------------------------------------------------


def session_principal(result: AssumeRoleResult) -> Principal:
    credentials = result.credentials
    return principal_from_claims(TOKENS.verify(credentials.access_key_id, credentials.security_token))


def test_role_chaining_is_capped_at_one_hour() -> None:
    first = session_principal(assume(SourceIdentity="alice", DurationSeconds=7200))
    second_role = Role(
        account_id=ACCOUNT,
        role_id="300000000000000002",
        role_name="Auditor",
        trust_policy=trust({"RAM": [f"acs:ram::{ACCOUNT}:role/EcsOperator"]}),
        max_session_duration=43200,
    )
    chained = {"RoleArn": f"acs:ram::{ACCOUNT}:role/auditor", "RoleSessionName": "hop"}
    decision = allowed_to_assume(second_role, STS_ACCESS)
    result = assume_role(first, decision, second_role, {**chained, "DurationSeconds": 3600}, TOKENS)
    assert result.assumed_role_arn == f"acs:ram::{ACCOUNT}:assumed-role/Auditor/hop"
    assert result.source_identity == "alice"  # carried along the chain
    with pytest.raises(errors.InvalidParameter) as info:
        assume_role(first, decision, second_role, {**chained, "DurationSeconds": 3601}, TOKENS)
    assert info.value.code == "InvalidParameter.DurationSeconds"
    with pytest.raises(errors.InvalidParameter) as info:
        assume_role(first, decision, second_role, {**chained, "SourceIdentity": "mallory"}, TOKENS)
    assert info.value.code == "InvalidParameter.SourceIdentity"
    # A role not trusting the first role refuses the session.
    with pytest.raises(errors.AuthorizationError):
        assume_role(first, decision, role(trust_policy=trust({"RAM": ["acs:ram::1:root"]})), params(), TOKENS)


# --- GetCallerIdentity -------------------------------------------------------------------------------------


def test_caller_identity_shapes() -> None:
    assert caller_identity(ROOT) == {
        "AccountId": ACCOUNT,
        "Arn": f"acs:ram::{ACCOUNT}:root",
        "IdentityType": "Account",
        "PrincipalId": ACCOUNT,
        "UserId": ACCOUNT,
    }
    assert caller_identity(user()) == {
        "AccountId": ACCOUNT,
        "Arn": f"acs:ram::{ACCOUNT}:user/alice",
        "IdentityType": "RAMUser",
        "PrincipalId": "200000000000000001",
        "UserId": "200000000000000001",
    }
    assert caller_identity(session_principal(assume())) == {
        "AccountId": ACCOUNT,
        "Arn": f"acs:ram::{ACCOUNT}:assumed-role/EcsOperator/alice",
        "IdentityType": "AssumedRoleUser",
        "PrincipalId": "300000000000000001:alice",
        "RoleId": "300000000000000001",
    }


# --- session policies through a real token -----------------------------------------------------------------


def session_decision(
    role_documents: list[str], session_policy: str | None, action: str, resource: str
) -> str:
    """Assume the role with ``session_policy``, verify the token, and decide as the authorizer would."""
    extra = {} if session_policy is None else {"Policy": session_policy}
    principal = session_principal(assume(more=extra))
    identity = policy_set(*role_documents, attached_to="role")
    session = None
    if principal.session_policy is not None:
        compiled = parse_policy(principal.session_policy, kind="session")
        session = PolicySet([AttachedPolicy("SessionPolicy", "Session", "", "session", "", compiled)])
    return decide_with_session(identity, session, make_request(action, resource, {})).effect


OSS_ALL = doc({"Effect": "Allow", "Action": "oss:*", "Resource": "*"})
OSS_GET = doc({"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"})
EVERYTHING = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
OBJ = "acs:oss:*:*:bucket/a.txt"


def test_session_policy_narrows() -> None:
    assert session_decision([OSS_ALL], OSS_GET, "oss:GetObject", OBJ) == "Allow"
    assert session_decision([OSS_ALL], OSS_GET, "oss:PutObject", OBJ) == "ImplicitDeny"
    assert session_decision([OSS_ALL], None, "oss:PutObject", OBJ) == "Allow"


def test_session_policy_cannot_widen() -> None:
    assert session_decision([OSS_GET], EVERYTHING, "ecs:DescribeInstances", "*") == "ImplicitDeny"
    assert session_decision([OSS_GET], EVERYTHING, "oss:PutObject", OBJ) == "ImplicitDeny"
    assert session_decision([OSS_GET], EVERYTHING, "oss:GetObject", OBJ) == "Allow"


def test_a_deny_in_either_wins() -> None:
    deny_delete = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "oss:DeleteObject", "Resource": "*"},
    )
    assert session_decision([EVERYTHING], deny_delete, "oss:DeleteObject", OBJ) == "ExplicitDeny"
    assert session_decision([EVERYTHING], deny_delete, "oss:GetObject", OBJ) == "Allow"
    assert session_decision([EVERYTHING, deny_delete], EVERYTHING, "oss:DeleteObject", OBJ) == "ExplicitDeny"


ACTIONS = ["oss:GetObject", "oss:PutObject", "oss:DeleteObject", "ecs:StopInstance", "ram:CreateUser"]


@settings(max_examples=60, deadline=None)
@given(
    role_actions=st.lists(st.sampled_from([*ACTIONS, "oss:*", "*"]), min_size=1, max_size=3),
    session_actions=st.lists(st.sampled_from([*ACTIONS, "oss:*", "*"]), min_size=1, max_size=3),
    action=st.sampled_from(ACTIONS),
)
def test_session_result_is_the_intersection(
    role_actions: list[str], session_actions: list[str], action: str
) -> None:
    role_doc = doc({"Effect": "Allow", "Action": role_actions, "Resource": "*"})
    session_doc = doc({"Effect": "Allow", "Action": session_actions, "Resource": "*"})
    with_session = session_decision([role_doc], session_doc, action, OBJ)
    role_allows = session_decision([role_doc], None, action, OBJ) == "Allow"
    session_allows = policy_set(session_doc).decide(make_request(action, OBJ, {})).allowed
    assert (with_session == "Allow") == (role_allows and session_allows)


def test_a_chain_names_every_session_above_and_is_bounded() -> None:
    caller = session_principal(assume(RoleSessionName="hop0"))
    for hop in range(1, MAX_CHAIN + 1):
        result = assume(caller, RoleSessionName=f"hop{hop}")
        assert [link.role_id for link in result.credentials.claims.chain] == ["300000000000000001"] * hop
        caller = session_principal(result)
    assert [link.issued_at for link in session_chain(caller)] == [NOW] * MAX_CHAIN
    with pytest.raises(errors.LimitExceeded) as info:
        assume(caller, RoleSessionName="one-too-many")
    assert (info.value.code, info.value.status) == ("LimitExceeded.RoleChain", 409)
