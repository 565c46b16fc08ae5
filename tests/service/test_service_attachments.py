"""Attaching and detaching policies; attachment quotas and listings."""

from __future__ import annotations

import json

import pytest

from ram_middleware.service import Limits, RamService
from ram_middleware.service.results import PolicyEntities
from ram_middleware.store import Store

from ..store.backends import FakeClock, expect_code


def doc(n: int) -> str:
    return json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": f"s{n}:*", "Resource": "*"}]}
    )


def trust(acct: str) -> str:
    return json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [f"acs:ram::{acct}:root"]}}]}
    )  # fmt: skip


@pytest.fixture
def targets(svc: RamService, acct: str) -> str:
    svc.create_user(acct, "u")
    svc.create_group(acct, "g")
    svc.create_role(acct, "r", trust(acct))
    return acct


def test_attach_list_detach(svc: RamService, targets: str, clock: FakeClock) -> None:
    acct = targets
    svc.create_policy(acct, "Mine", doc(1))
    svc.attach_policy_to_user(acct, "System", "ReadOnlyAccess", "U")
    clock.advance(60)
    svc.attach_policy_to_user(acct, "Custom", "mine", "u")
    attached = svc.list_policies_for_user(acct, "u")
    assert [(a.entity.policy_type, a.entity.policy_name) for a in attached] == [
        ("System", "ReadOnlyAccess"),
        ("Custom", "Mine"),
    ]
    assert attached[1].attach_date == clock.now
    svc.attach_policy_to_group(acct, "Custom", "Mine", "g")
    svc.attach_policy_to_role(acct, "Custom", "Mine", "R")
    entities = svc.list_entities_for_policy(acct, "Custom", "Mine")
    assert [a.entity.user_name for a in entities.users] == ["u"]
    assert [a.entity.group_name for a in entities.groups] == ["g"]
    assert [a.entity.role_name for a in entities.roles] == ["r"]
    assert svc.get_policy(acct, "Mine", "Custom").policy.attachment_count == 3
    svc.detach_policy_from_user(acct, "Custom", "Mine", "u")
    svc.detach_policy_from_group(acct, "Custom", "Mine", "g")
    svc.detach_policy_from_role(acct, "Custom", "Mine", "r")
    assert svc.list_policies_for_group(acct, "g") == []
    assert svc.list_policies_for_role(acct, "r") == []
    assert [a.entity.policy_name for a in svc.list_policies_for_user(acct, "u")] == ["ReadOnlyAccess"]


@pytest.mark.parametrize(("target", "code"), [("user", "User"), ("group", "Group"), ("role", "Role")])
def test_duplicate_and_missing_attachments(svc: RamService, targets: str, target: str, code: str) -> None:
    name = {"user": "u", "group": "g", "role": "r"}[target]
    svc.attach_policy(targets, target, name, "System", "AliyunOSSFullAccess")  # type: ignore[arg-type]
    with expect_code(f"EntityAlreadyExists.{code}.Policy"):
        svc.attach_policy(targets, target, name, "System", "AliyunOSSFullAccess")  # type: ignore[arg-type]
    with expect_code(f"EntityNotExist.{code}.Policy"):
        svc.detach_policy(targets, target, name, "System", "ReadOnlyAccess")  # type: ignore[arg-type]
    with expect_code(f"EntityNotExist.{code}"):
        svc.attach_policy(targets, target, "nobody", "System", "ReadOnlyAccess")  # type: ignore[arg-type]


def test_unknown_policies_and_types(svc: RamService, targets: str) -> None:
    with expect_code("EntityNotExist.Policy"):
        svc.attach_policy_to_user(targets, "Custom", "Nope", "u")
    with expect_code("EntityNotExist.Policy"):
        svc.attach_policy_to_user(targets, "System", "NoSuchSystemPolicy", "u")
    with expect_code("InvalidParameter.PolicyType"):
        svc.attach_policy_to_user(targets, "Inline", "Nope", "u")
    assert svc.list_policies_for_user(targets, "u") == []


@pytest.mark.parametrize(
    ("target", "name", "quota"), [("user", "u", 10), ("group", "g", 5), ("role", "r", 5)]
)
def test_custom_attachment_quotas(svc: RamService, targets: str, target: str, name: str, quota: int) -> None:
    for n in range(quota + 1):
        svc.create_policy(targets, f"P{n}", doc(n))
    for n in range(quota):
        svc.attach_policy(targets, target, name, "Custom", f"P{n}")  # type: ignore[arg-type]
    with expect_code(f"LimitExceeded.{target.capitalize()}.Policy"):
        svc.attach_policy(targets, target, name, "Custom", f"P{quota}")  # type: ignore[arg-type]
    svc.attach_policy(targets, target, name, "System", "ReadOnlyAccess")  # type: ignore[arg-type]  # own quota


def test_system_attachment_quota(store: Store, clock: FakeClock) -> None:
    svc = RamService(store, clock=clock, limits=Limits(system_policies_per_target=2))
    acct = svc.create_account().account_id
    svc.create_user(acct, "u")
    svc.attach_policy_to_user(acct, "System", "ReadOnlyAccess", "u")
    svc.attach_policy_to_user(acct, "System", "AliyunOSSFullAccess", "u")
    with expect_code("LimitExceeded.User.Policy"):
        svc.attach_policy_to_user(acct, "System", "AliyunECSFullAccess", "u")


def test_renaming_a_user_keeps_their_attachments(svc: RamService, targets: str) -> None:
    svc.attach_policy_to_user(targets, "System", "ReadOnlyAccess", "u")
    svc.update_user(targets, "u", new_user_name="u2")
    assert [a.entity.policy_name for a in svc.list_policies_for_user(targets, "u2")] == ["ReadOnlyAccess"]
    entities = svc.list_entities_for_policy(targets, "System", "ReadOnlyAccess")
    assert [a.entity.user_name for a in entities.users] == ["u2"]


def test_target_types_in_the_apis_spelling_and_unknown_ones(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "casey")
    svc.attach_policy(acct, "User", "casey", "System", "AliyunECSReadOnlyAccess")  # type: ignore[arg-type]
    assert [a.entity.policy_name for a in svc.list_policies_for(acct, "USER", "casey")] == [  # type: ignore[arg-type]
        "AliyunECSReadOnlyAccess"
    ]
    for bad in ("Bogus", "", "users"):
        with expect_code("InvalidParameter.PolicyTargetType"):
            svc.attach_policy(acct, bad, "casey", "System", "AdministratorAccess")  # type: ignore[arg-type]
    svc.detach_policy(acct, "user", "casey", "System", "AliyunECSReadOnlyAccess")


def test_the_facade_is_importable_from_the_package() -> None:
    import ram_middleware

    service = ram_middleware.RamService(ram_middleware.open_store("memory://"))
    account = service.create_account().account_id
    service.create_user(account, "dana")
    service.attach_policy_to_user(account, "System", "AliyunECSReadOnlyAccess", "dana")
    decision = service.simulate(account, "dana", "ecs:DescribeInstances", "*", {})
    assert isinstance(decision, ram_middleware.Decision) and decision.effect == "Allow"
    assert {"RamService", "open_store", "build", "RamConfig", "decide"} <= set(dir(ram_middleware))
    with pytest.raises(AttributeError):
        ram_middleware.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_listings_keep_their_order_and_dates(svc: RamService, acct: str, clock: FakeClock) -> None:
    """ListEntitiesForPolicy lists each kind by stored name (case-sensitive); ListPoliciesFor* by attach date,
    then name, its custom policies with their attachment counts."""
    svc.create_policy(acct, "Shared", doc(1))
    svc.create_policy(acct, "beta", doc(2))
    svc.create_policy(acct, "Alpha", doc(3))
    dates = {}
    for name in ("zed", "Bob", "alice"):
        clock.advance(60)
        svc.create_user(acct, name)
        svc.create_group(acct, name)
        svc.create_role(acct, name, trust(acct))
        for target in ("user", "group", "role"):
            svc.attach_policy(acct, target, name, "Custom", "shared")
        dates[name] = clock.now
    entities = svc.list_entities_for_policy(acct, "Custom", "SHARED")
    for listed in (entities.users, entities.groups, entities.roles):
        assert [(a.entity.account_id, a.attach_date) for a in listed] == [
            (acct, dates[n]) for n in ("Bob", "alice", "zed")
        ]
    assert [a.entity.user_name for a in entities.users] == ["Bob", "alice", "zed"]
    assert [a.entity.group_name for a in entities.groups] == ["Bob", "alice", "zed"]
    assert [a.entity.role_name for a in entities.roles] == ["Bob", "alice", "zed"]
    assert svc.list_entities_for_policy(acct, "System", "ReadOnlyAccess") == PolicyEntities()
    clock.advance(60)
    for policy_type, name in (("Custom", "BETA"), ("System", "ReadOnlyAccess"), ("Custom", "alpha")):
        svc.attach_policy_to_user(acct, policy_type, name, "alice")  # all at one time: then by name
    svc.attach_policy_to_group(acct, "Custom", "Alpha", "Bob")
    attached = svc.list_policies_for_user(acct, "ALICE")
    assert [(a.entity.policy_type, a.entity.policy_name, a.entity.attachment_count) for a in attached] == [
        ("Custom", "Shared", 9),
        ("Custom", "Alpha", 2),
        ("System", "ReadOnlyAccess", 0),
        ("Custom", "beta", 1),
    ]
    assert [a.attach_date for a in attached] == [dates["alice"]] + [clock.now] * 3
