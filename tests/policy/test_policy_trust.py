"""Role trust policies: who may assume the role."""

from __future__ import annotations

from typing import Any

from ram_middleware.policy import CompiledPolicy, evaluate_trust, parse_policy

ACCOUNT = "1234567890123456"
OTHER = "6543210987654321"
ALICE = f"acs:ram::{ACCOUNT}:user/alice"


def trust(*statements: dict[str, Any]) -> CompiledPolicy:
    return parse_policy({"Version": "1", "Statement": list(statements)}, kind="trust")


def allow(principal: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal, **extra}


def check(
    policy: CompiledPolicy,
    *,
    account: str = ACCOUNT,
    arns: tuple[str, ...] = (ALICE,),
    service: str | None = None,
    context: dict[str, Any] | None = None,
    action: str = "sts:AssumeRole",
) -> str:
    decision = evaluate_trust(
        policy, account_id=account, principal_arns=arns, service=service, context=context or {}, action=action
    )
    return decision.effect


def test_account_root_trusts_every_identity_of_that_account() -> None:
    policy = trust(allow({"RAM": [f"acs:ram::{ACCOUNT}:root"]}))
    assert check(policy) == "Allow"
    assert (
        check(policy, arns=(f"acs:ram::{ACCOUNT}:assumed-role/ops/s1", f"acs:ram::{ACCOUNT}:role/ops"))
        == "Allow"
    )
    assert check(policy, account=OTHER, arns=(f"acs:ram::{OTHER}:user/alice",)) == "ImplicitDeny"


def test_specific_user_and_role() -> None:
    policy = trust(allow({"RAM": [f"acs:ram::{ACCOUNT}:user/Alice", f"acs:ram::{ACCOUNT}:role/ops"]}))
    assert check(policy) == "Allow"  # user names compare case-insensitively
    assert check(policy, arns=(f"acs:ram::{ACCOUNT}:user/bob",)) == "ImplicitDeny"
    assert (
        check(policy, arns=(f"acs:ram::{ACCOUNT}:assumed-role/ops/s", f"acs:ram::{ACCOUNT}:role/OPS"))
        == "Allow"
    )
    decision = evaluate_trust(policy, account_id=ACCOUNT, principal_arns=[ALICE], service=None, context={})
    assert decision.statement_index == 0 and decision.policy is not None
    assert decision.policy.policy_type == "Trust"
    assert (
        decision.reason == f"Trusted by statement 0 of the trust policy (RAM acs:ram::{ACCOUNT}:user/alice)"
    )


def test_specific_user_does_not_extend_to_the_account() -> None:
    policy = trust(allow({"RAM": ALICE}))
    assert check(policy, arns=(f"acs:ram::{ACCOUNT}:root",)) == "ImplicitDeny"


def test_service_principal() -> None:
    policy = trust(allow({"Service": ["batch.internal.example"]}))
    assert check(policy, arns=(), service="Batch.Internal.Example") == "Allow"
    assert check(policy, arns=(), service="other.example") == "ImplicitDeny"
    assert check(policy, service=None) == "ImplicitDeny"


def test_external_id_condition() -> None:
    policy = trust(allow({"RAM": ALICE}, Condition={"StringEquals": {"sts:ExternalId": "ext-123"}}))
    assert check(policy, context={"sts:ExternalId": "ext-123"}) == "Allow"
    assert check(policy, context={"sts:ExternalId": "EXT-123"}) == "ImplicitDeny"
    missing = evaluate_trust(policy, account_id=ACCOUNT, principal_arns=[ALICE], service=None, context={})
    assert missing.effect == "ImplicitDeny"
    assert missing.reason == "Statement 0 of the trust policy: StringEquals sts:ExternalId absent"
    wrong = evaluate_trust(
        policy, account_id=ACCOUNT, principal_arns=[ALICE], service=None, context={"sts:ExternalId": "guess"}
    )
    assert "guess" not in wrong.reason and "(redacted)" in wrong.reason


def test_deny_statement_wins() -> None:
    policy = trust(
        allow({"RAM": f"acs:ram::{ACCOUNT}:root"}),
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": {"RAM": ALICE}},
    )
    assert check(policy) == "ExplicitDeny"
    assert check(policy, arns=(f"acs:ram::{ACCOUNT}:user/bob",)) == "Allow"


def test_federated_and_action_variants() -> None:
    provider = f"acs:ram::{ACCOUNT}:saml-provider/IdP"
    policy = trust(
        {"Effect": "Allow", "Action": "sts:AssumeRoleWithSAML", "Principal": {"Federated": provider}}
    )
    assert check(policy, arns=(provider,), action="sts:AssumeRoleWithSAML") == "Allow"
    assert check(policy, arns=(provider,)) == "ImplicitDeny"  # plain AssumeRole is not granted
    assert check(policy, arns=(provider,), action="ecs:DeleteInstance") == "ImplicitDeny"


def test_wildcard_trust_action() -> None:
    policy = trust({"Effect": "Allow", "Action": "sts:AssumeRole*", "Principal": {"RAM": ALICE}})
    assert check(policy) == "Allow"
    assert check(policy, action="sts:AssumeRoleWithOIDC") == "Allow"


def test_identity_policy_names_no_one() -> None:
    identity = parse_policy(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    assert check(identity) == "ImplicitDeny"


ROLE = f"acs:ram::{ACCOUNT}:role/ops"


def test_resource_in_a_trust_statement_must_cover_the_role() -> None:
    # The role is the trust policy's resource: a Resource naming another role, or NotResource "*", narrows
    # the statement to nothing instead of being ignored.
    root = {"RAM": f"acs:ram::{ACCOUNT}:root"}
    for extra, expected in [
        ({"Resource": "*"}, "Allow"),
        ({"Resource": f"acs:ram::{ACCOUNT}:role/OPS"}, "Allow"),  # RAM ARNs compare case-insensitively
        ({"Resource": "acs:ram::*:role/op?"}, "Allow"),
        ({"Resource": f"acs:ram::{ACCOUNT}:role/other"}, "ImplicitDeny"),
        ({"NotResource": "*"}, "ImplicitDeny"),
        ({"NotResource": f"acs:ram::{ACCOUNT}:role/other"}, "Allow"),
    ]:
        policy = trust(allow(root, **extra))
        verdict = evaluate_trust(
            policy, account_id=ACCOUNT, principal_arns=[ALICE], service=None, context={}, role_arn=ROLE
        )
        assert verdict.effect == expected, extra
    narrowed = evaluate_trust(
        trust(allow(root, Resource=f"acs:ram::{ACCOUNT}:role/other")),
        account_id=ACCOUNT,
        principal_arns=[ALICE],
        service=None,
        context={},
        role_arn=ROLE,
    )
    assert narrowed.reason == f"Statement 0 of the trust policy: its Resource does not cover {ROLE}"


def test_resource_scoped_deny_in_a_trust_policy() -> None:
    root = {"RAM": f"acs:ram::{ACCOUNT}:root"}
    deny_other = {"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": root, "Resource": f"{ROLE}x"}
    deny_this = {**deny_other, "Resource": ROLE}
    kwargs: dict[str, Any] = {"account_id": ACCOUNT, "service": None, "context": {}, "role_arn": ROLE}
    assert evaluate_trust(trust(allow(root), deny_other), principal_arns=[ALICE], **kwargs).effect == "Allow"
    denied = evaluate_trust(trust(allow(root), deny_this), principal_arns=[ALICE], **kwargs)
    assert denied.effect == "ExplicitDeny"


def test_without_the_role_arn_a_resource_scoped_trust_statement_fails_closed() -> None:
    root = {"RAM": f"acs:ram::{ACCOUNT}:root"}
    assert check(trust(allow(root, Resource="*"))) == "Allow"
    assert check(trust(allow(root, Resource=ROLE))) == "ImplicitDeny"
    assert check(trust(allow(root, NotResource="*"))) == "ImplicitDeny"
    deny = {"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": root, "Resource": f"{ROLE}x"}
    assert check(trust(allow(root), deny)) == "ExplicitDeny"
