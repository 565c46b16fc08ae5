"""``ram apply`` on the local store is all or nothing: a change that fails leaves every row as it was.

Runs on SQLite and on PostgreSQL (a schema of its own; skipped without a server, failed under CI=true).
"""

from __future__ import annotations

import ast
import copy
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import click
import pytest

from ram_middleware.errors import LimitExceeded
from ram_middleware.organisation import ApplyResult, apply, load_organisation

from .conftest import ORG_FILE, Ram, dump, write_json

Dump = dict[str, list[str]]


def change_counter(url: str) -> int:
    """The store's change counter, from the database (the one row of ``ram_changes``: id, counter)."""
    (row,) = dump(url)["ram_changes"]
    return int(ast.literal_eval(row)[1])


def refuse(url: str, event: str, table: str) -> None:
    """Make the database itself refuse ``event`` (INSERT, UPDATE) on ``table``: the store failing."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn, conn:
            conn.execute(
                f"CREATE TRIGGER refuse BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, 'no'); END"
            )
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'no'; END $$"
        )
        pg.execute(f"CREATE TRIGGER refuse BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION refuse()")


def changed_company(extra_groups: int = 0) -> dict[str, Any]:
    """Company X with changes of every kind; ``over`` joins 3 + ``extra_groups`` groups (5 are allowed)."""
    org = copy.deepcopy(load_organisation(ORG_FILE))
    org["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"] = ["oss:GetObject"]  # a new version
    org["Users"][0]["DisplayName"] = "Renamed A"
    extra = [f"X{i}" for i in range(extra_groups)]
    org["Groups"] += [{"GroupName": name} for name in extra]
    org["Users"] += [
        {"UserName": "fresh", "AccessKey": True, "Console": True, "Groups": ["HR"]},
        {"UserName": "over", "Groups": ["HR", "RnD", "OandM", *extra]},
    ]
    trust = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"RAM": ["acs:ram::${AccountId}:root"]}}]}  # fmt: skip
    org["Roles"].append({"RoleName": "Auditor", "AssumeRolePolicyDocument": trust})
    return org


def test_a_change_refused_by_a_quota_leaves_the_store_exactly_as_it_was(
    store_ram: Ram, tmp_path: Path
) -> None:
    # The 6th group of "over" passes the file check (quotas belong to the service) and fails halfway,
    # after a policy version, groups, a renamed user and a new user with an AccessKey and a password.
    path = write_json(tmp_path / "o.json", changed_company(extra_groups=3))
    before = dump(store_ram.url)
    failed = store_ram("apply", path, "--yes")
    assert failed.exit_code == 1, failed.output
    assert "Stopped at: add user over to group X2. Nothing was applied" in failed.stderr
    assert "Error: LimitExceeded.User.Group: " in failed.stderr
    # Nothing was made, so no credential is shown.
    assert "Applied nothing." in failed.stdout and "AccessKeySecret" not in failed.output
    assert dump(store_ram.url) == before
    as_json = store_ram("apply", path, "--yes", json_output=True)
    report = json.loads(as_json.stdout)
    assert report["Applied"] == [] and report["Secrets"] == {} and report["RolledBack"] is True
    assert report["Failed"] == {"Step": "add user over to group X2", "Code": "LimitExceeded.User.Group"}
    assert len(report["Plan"]) > 10 and dump(store_ram.url) == before


def test_the_store_failing_at_the_last_change_rolls_everything_back(store_ram: Ram, tmp_path: Path) -> None:
    path = write_json(tmp_path / "o.json", changed_company())
    refuse(store_ram.url, "INSERT", "ram_roles")
    before = dump(store_ram.url)
    failed = store_ram("apply", path, "--yes")
    assert failed.exit_code == 1, failed.output
    assert "Stopped at: create role Auditor. Nothing was applied" in failed.stderr
    assert "Error: ServiceUnavailable.Store: " in failed.stderr
    assert dump(store_ram.url) == before
    assert store_ram.service.list_access_keys(store_ram.account_id, "A") == []  # unchanged Company X


def test_a_store_failing_at_the_commit_says_the_outcome_is_unknown_and_keeps_the_credentials(
    store_ram: Ram, tmp_path: Path
) -> None:
    # The change counter moves only at the commit, after every change has run.
    refuse(store_ram.url, "UPDATE", "ram_changes")
    before = dump(store_ram.url)
    failed = store_ram("apply", write_json(tmp_path / "o.json", changed_company()), "--yes")
    assert failed.exit_code == 1 and "Error: ServiceUnavailable.Store: " in failed.stderr
    assert "The store failed at the commit, so whether the changes were made is unknown" in failed.stderr
    assert ", which the store did not confirm." in failed.stdout
    assert (
        "AccessKey of fresh: AccessKeyId=" in failed.stdout and "initial password of fresh" in failed.stdout
    )
    assert dump(store_ram.url) == before  # here the database did roll back


def test_a_successful_apply_is_one_commit_and_a_second_changes_nothing(
    store_ram: Ram, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "o.json", changed_company(extra_groups=2))
    counter = change_counter(store_ram.url)
    applied = store_ram.json("apply", path, "--yes")
    assert applied["Failed"] is None and applied["Applied"] == applied["Plan"]
    assert set(applied["Secrets"]) == {"AccessKey of fresh", "initial password of fresh"}
    # One transaction: the change counter moved by one, so every instance heard of it once.
    assert change_counter(store_ram.url) == counter + 1
    assert store_ram.service.get_user(store_ram.account_id, "A").display_name == "Renamed A"
    assert len(store_ram.service.list_groups_for_user(store_ram.account_id, "over")) == 5
    assert store_ram.json("apply", path, "--yes") == {"Plan": [], "Applied": []}


def test_subscribers_hear_of_a_commit_only(store_ram: Ram) -> None:
    heard: list[int] = []
    store_ram.service.store.subscribe(heard.append)
    with pytest.raises(LimitExceeded) as caught:
        apply(store_ram.service, store_ram.account_id, changed_company(extra_groups=3))
    result = caught.value.detail["result"]
    assert isinstance(result, ApplyResult) and result.rolled_back and result.applied == []
    assert heard == []
    assert store_ram.service.list_users(store_ram.account_id, max_items=100).items[-1].user_name != "over"
    done = apply(store_ram.service, store_ram.account_id, changed_company(extra_groups=2))
    assert done.error is None and len(heard) == 1


def test_an_account_changed_since_the_plan_was_shown_is_not_applied(
    ram: Ram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_json(tmp_path / "o.json", {"Users": [{"UserName": "late"}, {"UserName": "early"}]})
    before: list[Dump] = []

    def someone_else_meanwhile(*args: object, **kwargs: object) -> bool:
        ram.service.create_user(ram.account_id, "late")
        before.append(dump(ram.url))
        return True

    monkeypatch.setattr(click, "confirm", someone_else_meanwhile)
    changed = ram("apply", path)
    assert changed.exit_code == 1 and "+ create user late" in changed.stderr
    assert "Error: Conflict.PlanChanged: The account changed after the plan was shown" in changed.stderr
    assert [dump(ram.url)] == before
    assert ram.json("apply", path, "--yes")["Applied"] == ["create user early"]
