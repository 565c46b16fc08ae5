"""``ram apply`` and ``ram export`` on a large account: their reads do not grow with the organisation.

Planning compares every declared user's groups, attachments, keys and login profile with the account; on the
local store it reads the account whole in a fixed number of statements rather than several per entity (at
5,000 users a re-apply with nothing to change issued ~59,000 statements). Counted with SQLite's trace hook;
"writes nothing" is checked on every backend.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ram_middleware.organisation import apply, export, plan
from ram_middleware.service import RamService
from ram_middleware.store import Store
from ram_middleware.store.cache import Directory

from ..store.backends import BACKENDS, open_backend
from ..store.statements import traced, writes


def organisation(users: int) -> dict[str, Any]:
    """``users`` users over four groups (two each), custom and System policies on groups, users and roles;
    every other user has an AccessKey, the first a console logon."""
    doc = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:Get*", "Resource": "*"}]}
    # fmt: off
    return {
        "Policies": [{"PolicyName": f"P{i}", "PolicyDocument": doc} for i in range(4)],
        "Groups": [
            {"GroupName": f"G{i}", "Policies": [{"PolicyName": f"P{i}"}, {"PolicyType": "System",
             "PolicyName": "AliyunECSReadOnlyAccess"}]}
            for i in range(4)
        ],
        "Users": [
            {"UserName": f"u{i}", "Groups": [f"G{i % 4}", f"G{(i + 1) % 4}"], "AccessKey": i % 2 == 0,
             "Console": i == 0, "Policies": [{"PolicyName": f"P{i % 4}"}] if i % 3 == 0 else []}
            for i in range(users)
        ],
        "Roles": [
            {"RoleName": f"R{i}", "Policies": [{"PolicyName": "P0"}],
             "AssumeRolePolicyDocument": {"Version": "1", "Statement": [{"Effect": "Allow",
              "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::${AccountId}:root"]}}]}}
            for i in range(2)
        ],
    }
    # fmt: on


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from open_backend(request.param, tmp_path)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    yield from open_backend("sqlite", tmp_path)


def applied(store: Store, users: int) -> tuple[RamService, str, dict[str, Any]]:
    svc = RamService(store)
    account = svc.create_account().account_id
    org = organisation(users)
    apply(svc, account, org)
    return svc, account, org


def test_reapply_reads_a_fixed_number_of_statements_and_writes_none(tmp_path: Path) -> None:
    counts = []
    for users in (6, 30):
        for store in open_backend("sqlite", tmp_path / str(users)):
            svc, account, org = applied(store, users)
            with traced(store) as statements:
                assert apply(svc, account, org).applied == []
            assert writes(statements) == []
            counts.append(len(statements))
    assert counts[0] == counts[1], f"a re-apply's statements grew with the users: {counts}"


def test_planning_a_small_change_and_exporting_do_not_read_per_entity(tmp_path: Path) -> None:
    plans, exports = [], []
    for users in (6, 30):
        for store in open_backend("sqlite", tmp_path / str(users)):
            svc, account, org = applied(store, users)
            changed = copy.deepcopy(org)
            changed["Users"][1]["Groups"] = ["G3"]
            with traced(store) as statements:
                steps = [c.description for c in plan(svc, account, changed)]
            assert steps == [
                "add user u1 to group G3",
                "remove user u1 from group G1",
                "remove user u1 from group G2",
            ]
            plans.append(len(statements))
            with traced(store) as statements:
                exported = export(svc, account)
            exports.append(len(statements))
            assert len(exported["Users"]) == users
    assert plans[0] == plans[1], f"planning's statements grew with the users: {plans}"
    assert exports[0] == exports[1], f"export's statements grew with the users: {exports}"


def test_reapply_with_no_change_announces_nothing(store: Store) -> None:
    """No change counted, so no instance drops its snapshot of the account."""
    svc, account, org = applied(store, 4)
    directory = Directory(store, refresh_interval=0)
    directory.principal_for_user(account, "u1")
    before = store.change_counter()
    assert apply(svc, account, org).applied == []
    assert store.change_counter() == before
    directory.principal_for_user(account, "u1")
    assert directory.cached_entries == 1
    directory.close()
    svc.directory.close()


def test_export_through_the_read_ahead_equals_the_per_entity_reads(sqlite_store: Store) -> None:
    """The account-wide read answers as the per-entity reads would (what `ram export` prints)."""
    svc, account, _ = applied(sqlite_store, 9)
    svc.create_access_key(account, None)  # the root's key is no user's
    exported = export(svc, account)
    target_reads = exported["Users"][0]
    assert target_reads["Console"] is True and target_reads["AccessKey"] is True
    assert target_reads["Groups"] == ["G0", "G1"]
    assert target_reads["Policies"] == [{"PolicyType": "Custom", "PolicyName": "P0"}]
    assert exported["Groups"][0]["Policies"] == [
        {"PolicyType": "Custom", "PolicyName": "P0"},
        {"PolicyType": "System", "PolicyName": "AliyunECSReadOnlyAccess"},
    ]
    assert [r["Policies"] for r in exported["Roles"]] == [[{"PolicyType": "Custom", "PolicyName": "P0"}]] * 2
    assert "AccessKey" not in exported["Users"][1]
    assert apply(svc, account, exported).applied == []  # the export is the organisation itself
