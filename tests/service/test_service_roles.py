"""Roles: trust policy validation, session duration, deletion, revocation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ram_middleware.identity import SessionRevocation
from ram_middleware.service import RamService

from ..store.backends import FakeClock, expect_code


def trust(acct: str, who: str = "root") -> str:
    return json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [f"acs:ram::{acct}:{who}"]}}]}
    )  # fmt: skip


def test_create_get_update(svc: RamService, acct: str, clock: FakeClock) -> None:
    role = svc.create_role(acct, "EcsOperator", trust(acct), description="ops", max_session_duration=7200)
    assert role.role_id.isdigit() and 18 <= len(role.role_id) <= 19 and role.role_id[0] != "0"
    assert role.arn == f"acs:ram::{acct}:role/ecsoperator"
    assert (role.max_session_duration, role.trust_policy, role.create_date) == (7200, trust(acct), clock.now)
    assert svc.get_role(acct, "ecsoperator") == role
    clock.advance(1)
    updated = svc.update_role(
        acct, "EcsOperator", new_assume_role_policy_document=trust(acct, "user/alice"),
        new_max_session_duration=43200, new_description="",
    )  # fmt: skip
    assert (updated.trust_policy, updated.max_session_duration, updated.description) == (
        trust(acct, "user/alice"), 43200, ""
    )  # fmt: skip
    assert updated.update_date == clock.now and updated.role_id == role.role_id


@pytest.mark.parametrize("seconds", [3599, 43201, 0])
def test_max_session_duration_range(svc: RamService, acct: str, seconds: int) -> None:
    with expect_code("InvalidParameter.MaxSessionDuration"):
        svc.create_role(acct, "r", trust(acct), max_session_duration=seconds)
    svc.create_role(acct, "r", trust(acct))
    with expect_code("InvalidParameter.NewMaxSessionDuration"):
        svc.update_role(acct, "r", new_max_session_duration=seconds)


def test_trust_policy_is_validated_and_nothing_is_stored(svc: RamService, acct: str) -> None:
    identity = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    with expect_code("MalformedPolicyDocument"):
        svc.create_role(acct, "r", identity)  # no Principal: not a trust policy
    with expect_code("EntityNotExist.Role"):
        svc.get_role(acct, "r")
    assert svc.list_roles(acct).items == ()
    svc.create_role(acct, "r", trust(acct))
    with expect_code("MalformedPolicyDocument"):
        svc.update_role(acct, "r", new_assume_role_policy_document="{")
    assert svc.get_role(acct, "r").trust_policy == trust(acct)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ecs_operator", "InvalidParameter.RoleName.InvalidChars"),
        ("r" * 65, "InvalidParameter.RoleName.Length"),
    ],
)
def test_role_name_rules(svc: RamService, acct: str, name: str, code: str) -> None:
    with expect_code(code):
        svc.create_role(acct, name, trust(acct))


def test_unique_delete_conflict_and_force(svc: RamService, acct: str) -> None:
    svc.create_role(acct, "Reader", trust(acct))
    with expect_code("EntityAlreadyExists.Role"):
        svc.create_role(acct, "READER", trust(acct))
    svc.attach_policy_to_role(acct, "System", "ReadOnlyAccess", "reader")
    with expect_code("DeleteConflict.Role.Policy"):
        svc.delete_role(acct, "Reader")
    svc.delete_role(acct, "Reader", force=True)
    with expect_code("EntityNotExist.Role"):
        svc.get_role(acct, "Reader")
    assert svc.list_entities_for_policy(acct, "System", "ReadOnlyAccess").roles == ()


def test_revocation_time_only_moves_forward(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_role(acct, "r", trust(acct))
    assert svc.get_role_revoked_before(acct, "r") is None
    first = svc.revoke_role_sessions(acct, "r")
    assert first == clock.now == svc.get_role_revoked_before(acct, "R")
    assert svc.revoke_role_sessions(acct, "r", before=first - timedelta(hours=1)) == first
    later = svc.revoke_role_sessions(acct, "r", before=first + timedelta(minutes=5))
    assert later == first + timedelta(minutes=5) == svc.get_role_revoked_before(acct, "r")
    # Every call ends every session issued until it, an older time too: the generation counts each one.
    assert svc.get_role_revocation(acct, "r") == SessionRevocation(later, 3)
    assert svc.get_role(acct, "r").session_generation == 3
    with expect_code("EntityNotExist.Role"):
        svc.revoke_role_sessions(acct, "nope")


def test_list_roles_pages(svc: RamService, acct: str) -> None:
    for n in range(5):
        svc.create_role(acct, f"role{n}", trust(acct))
    first = svc.list_roles(acct, max_items=3)
    rest = svc.list_roles(acct, marker=first.marker)
    assert first.is_truncated and not rest.is_truncated
    assert [r.role_name for r in first.items + rest.items] == [f"role{n}" for n in range(5)]
