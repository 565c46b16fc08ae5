"""Custom policies, versions, System policies, and deletion rules."""

from __future__ import annotations

import json

import pytest

from ram_middleware.policy import SYSTEM_POLICIES
from ram_middleware.service import SYSTEM_POLICY_DATE, Limits, RamService
from ram_middleware.store import Store

from ..store.backends import FakeClock, expect_code

ROTATE = "DeleteOldestNonDefaultVersionWhenLimitExceeded"


def doc(action: str) -> str:
    return json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


def test_create_and_get(svc: RamService, acct: str, clock: FakeClock) -> None:
    created = svc.create_policy(acct, "Oss-Read", doc("oss:Get*"), description="read OSS")
    assert (created.policy_type, created.default_version, created.create_date) == ("Custom", "v1", clock.now)
    detail = svc.get_policy(acct, "oss-read", "Custom")
    assert detail.policy == created
    assert detail.default_version.version_id == "v1" and detail.default_version.is_default
    assert detail.default_version.document == doc("oss:Get*")


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("{not json", "MalformedPolicyDocument"),
        ('{"Version":"1","Statement":[]}', "MalformedPolicyDocument"),
        ('{"Version":"1","Statement":[{"Effect":"Allow","Action":"*"}]}', "MalformedPolicyDocument"),
        (
            '{"Version":"2","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
            "MalformedPolicyDocument",
        ),
        (doc("a:" + "x" * 6200), "InvalidParameter.PolicyDocument.Length"),
    ],
)
def test_an_invalid_document_stores_nothing(svc: RamService, acct: str, document: str, code: str) -> None:
    counter = svc.store.change_counter()
    with expect_code(code):
        svc.create_policy(acct, "Bad", document)
    with expect_code("EntityNotExist.Policy"):
        svc.get_policy(acct, "Bad", "Custom")
    assert svc.list_policies(acct, policy_type="Custom").items == ()
    assert svc.store.change_counter() == counter


def test_malformed_document_error_names_the_json_path(svc: RamService, acct: str) -> None:
    statement = {
        "Effect": "Allow",
        "Action": "*",
        "Resource": "*",
        "Condition": {"IpAddress": {"acs:SourceIp": "abc"}},
    }
    bad = json.dumps({"Version": "1", "Statement": [statement]})
    with expect_code("MalformedPolicyDocument") as caught:
        svc.create_policy(acct, "Bad", bad)
    assert caught.error is not None and "Statement[0].Condition" in caught.error.message


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "InvalidParameter.PolicyName.Length"),
        ("p" * 129, "InvalidParameter.PolicyName.Length"),
        ("my_policy", "InvalidParameter.PolicyName.InvalidChars"),
        ("my.policy", "InvalidParameter.PolicyName.InvalidChars"),
    ],
)
def test_policy_name_rules(svc: RamService, acct: str, name: str, code: str) -> None:
    with expect_code(code):
        svc.create_policy(acct, name, doc("*"))


def test_uniqueness_description_and_quota(store: Store, clock: FakeClock) -> None:
    svc = RamService(store, clock=clock, limits=Limits(custom_policies_per_account=2))
    acct = svc.create_account().account_id
    svc.create_policy(acct, "A", doc("*"))
    with expect_code("EntityAlreadyExists.Policy"):
        svc.create_policy(acct, "a", doc("*"))
    with expect_code("InvalidParameter.Description.Length"):
        svc.create_policy(acct, "B", doc("*"), description="d" * 1025)
    svc.create_policy(acct, "B", doc("*"), description="d" * 1024)
    with expect_code("LimitExceeded.Policy"):
        svc.create_policy(acct, "C", doc("*"))
    clock.advance(10)
    updated = svc.update_policy_description(acct, "b", "new")
    assert (updated.description, updated.update_date) == ("new", clock.now)


def test_versions_up_to_five_then_limit(svc: RamService, acct: str) -> None:
    svc.create_policy(acct, "P", doc("a:1"))
    for n in range(2, 6):
        version = svc.create_policy_version(acct, "P", doc(f"a:{n}"))
        assert (version.version_id, version.is_default) == (f"v{n}", False)
    with expect_code("LimitExceeded.Policy.Version"):
        svc.create_policy_version(acct, "P", doc("a:6"))
    assert [v.version_id for v in svc.list_policy_versions(acct, "P")] == ["v1", "v2", "v3", "v4", "v5"]


def test_rotation_deletes_the_oldest_non_default_version(svc: RamService, acct: str) -> None:
    svc.create_policy(acct, "P", doc("a:1"))
    for n in range(2, 6):
        svc.create_policy_version(acct, "P", doc(f"a:{n}"))
    version = svc.create_policy_version(acct, "P", doc("a:6"), set_as_default=True, rotate_strategy=ROTATE)
    assert (version.version_id, version.is_default) == ("v6", True)
    versions = svc.list_policy_versions(acct, "P")
    assert [v.version_id for v in versions] == ["v1", "v3", "v4", "v5", "v6"]
    assert [v.version_id for v in versions if v.is_default] == ["v6"]
    svc.create_policy_version(acct, "P", doc("a:7"), rotate_strategy=ROTATE)
    assert [v.version_id for v in svc.list_policy_versions(acct, "P")] == ["v3", "v4", "v5", "v6", "v7"]
    assert svc.get_policy(acct, "P", "Custom").default_version.document == doc("a:6")


def test_version_rules(svc: RamService, acct: str) -> None:
    svc.create_policy(acct, "P", doc("a:1"))
    svc.create_policy_version(acct, "P", doc("a:2"))
    with expect_code("InvalidParameter.RotateStrategy"):
        svc.create_policy_version(acct, "P", doc("a:3"), rotate_strategy="Oldest")
    with expect_code("MalformedPolicyDocument"):
        svc.create_policy_version(acct, "P", "[]")
    assert len(svc.list_policy_versions(acct, "P")) == 2  # nothing half-written
    with expect_code("DeleteConflict.Policy.Version"):
        svc.delete_policy_version(acct, "P", "v1")
    with expect_code("EntityNotExist.Policy.Version"):
        svc.delete_policy_version(acct, "P", "v9")
    with expect_code("EntityNotExist.Policy.Version"):
        svc.set_default_policy_version(acct, "P", "v9")
    assert svc.set_default_policy_version(acct, "P", "v2").default_version == "v2"
    assert svc.get_policy_version(acct, "P", "Custom", "v2").is_default
    svc.delete_policy_version(acct, "P", "v1")
    with expect_code("EntityNotExist.Policy.Version"):
        svc.get_policy_version(acct, "P", "Custom", "v1")
    assert svc.create_policy_version(acct, "P", doc("a:3")).version_id == "v3"  # ids are never reused


@pytest.mark.parametrize(("target", "code"), [("user", "User"), ("group", "Group"), ("role", "Role")])
def test_delete_conflicts_for_attachments(svc: RamService, acct: str, target: str, code: str) -> None:
    svc.create_policy(acct, "P", doc("*"))
    if target == "user":
        svc.create_user(acct, "t")
        svc.attach_policy_to_user(acct, "Custom", "P", "t")
    elif target == "group":
        svc.create_group(acct, "t")
        svc.attach_policy_to_group(acct, "Custom", "P", "t")
    else:
        trust = {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": [f"acs:ram::{acct}:root"]},
        }
        svc.create_role(acct, "t", json.dumps({"Version": "1", "Statement": [trust]}))
        svc.attach_policy_to_role(acct, "Custom", "P", "t")
    with expect_code(f"DeleteConflict.Policy.{code}"):
        svc.delete_policy(acct, "P")
    assert svc.get_policy(acct, "P", "Custom").policy.attachment_count == 1


def test_cascading_delete(svc: RamService, acct: str) -> None:
    svc.create_policy(acct, "P", doc("*"))
    svc.create_policy_version(acct, "P", doc("a:2"))
    with expect_code("DeleteConflict.Policy.Version"):
        svc.delete_policy(acct, "P")
    svc.create_user(acct, "u")
    svc.attach_policy_to_user(acct, "Custom", "P", "u")
    svc.delete_policy(acct, "p", cascading_delete=True)
    with expect_code("EntityNotExist.Policy"):
        svc.get_policy(acct, "P", "Custom")
    assert svc.list_policies_for_user(acct, "u") == []
    svc.create_policy(acct, "P", doc("b:1"))  # the name is free again, starting at v1
    assert [v.version_id for v in svc.list_policy_versions(acct, "P")] == ["v1"]
    svc.delete_policy(acct, "P")


def test_system_policies_are_listed_and_read_only(svc: RamService, acct: str) -> None:
    detail = svc.get_policy(acct, "AdministratorAccess", "System")
    assert detail.policy.policy_type == "System" and detail.policy.create_date == SYSTEM_POLICY_DATE
    assert detail.default_version.document == SYSTEM_POLICIES["AdministratorAccess"].document
    assert [v.version_id for v in svc.list_policy_versions(acct, "AdministratorAccess", "System")] == ["v1"]
    with expect_code("EntityNotExist.Policy"):
        svc.get_policy(acct, "administratoraccess", "System")  # System names are case-sensitive
    with expect_code("EntityNotExist.Policy"):
        svc.delete_policy(acct, "AdministratorAccess")
    with expect_code("EntityNotExist.Policy"):
        svc.create_policy_version(acct, "AdministratorAccess", doc("*"))
    with expect_code("InvalidParameter.PolicyType"):
        svc.get_policy(acct, "AdministratorAccess", "system")


def test_list_policies_merges_types_and_pages(svc: RamService, acct: str) -> None:
    for name in ("Zeta", "alpha", "Mid"):
        svc.create_policy(acct, name, doc("*"))
    svc.create_user(acct, "u")
    svc.attach_policy_to_user(acct, "System", "ReadOnlyAccess", "u")
    svc.attach_policy_to_user(acct, "Custom", "Mid", "u")
    everything: list[tuple[str, str, int]] = []
    marker = None
    while True:
        page = svc.list_policies(acct, marker=marker, max_items=4)
        everything += [(p.policy_type, p.policy_name, p.attachment_count) for p in page.items]
        if not page.is_truncated:
            break
        marker = page.marker
    system = sorted(SYSTEM_POLICIES, key=str.lower)
    expected_system = [("System", n, 1 if n == "ReadOnlyAccess" else 0) for n in system]
    custom = [("Custom", "alpha", 0), ("Custom", "Mid", 1), ("Custom", "Zeta", 0)]
    assert everything == expected_system + custom
    assert [p.policy_name for p in svc.list_policies(acct, policy_type="Custom").items] == [
        "alpha",
        "Mid",
        "Zeta",
    ]
    assert len(svc.list_policies(acct, policy_type="System").items) == len(SYSTEM_POLICIES)


def test_list_policies_pages_return_each_policy_once_in_order(svc: RamService, acct: str) -> None:
    """Every page size and filter lists System then Custom policies, each by lower-cased name, every one
    exactly once; a Marker keeps continuing at its key when policies are added before it."""
    names = ["b-2", "B-10", "a", "Zulu", "zz9", "0day", "mid-Way", "A1", "c"]
    for name in names:
        svc.create_policy(acct, name, doc("*"))
    svc.create_user(acct, "u")
    svc.attach_policy_to_user(acct, "Custom", "zulu", "u")
    system = [("System", n) for n in sorted(SYSTEM_POLICIES, key=str.lower)]
    custom = [("Custom", n) for n in sorted(names, key=str.lower)]
    expected = {None: system + custom, "System": system, "Custom": custom}
    for kind, wanted in expected.items():
        for size in (1, 2, 5, len(system), len(system) + 1, 1000):
            listed: list[tuple[str, str]] = []
            marker = None
            while True:
                page = svc.list_policies(acct, policy_type=kind, marker=marker, max_items=size)
                assert len(page.items) <= size and (page.marker is not None) == page.is_truncated
                listed += [(p.policy_type, p.policy_name) for p in page.items]
                if not page.is_truncated:
                    break
                marker = page.marker
            assert listed == wanted, (kind, size)
    counts = {p.policy_name: p.attachment_count for p in svc.list_policies(acct, max_items=1000).items}
    assert counts["Zulu"] == 1 and counts["a"] == 0
    first = svc.list_policies(acct, policy_type="Custom", max_items=3)
    assert [p.policy_name for p in first.items] == ["0day", "a", "A1"]
    svc.create_policy(acct, "aa", doc("*"))  # sorts before the Marker's key: not listed after it
    svc.create_policy(acct, "b-11", doc("*"))  # after it: listed
    rest = svc.list_policies(acct, policy_type="Custom", marker=first.marker, max_items=1000)
    assert [p.policy_name for p in rest.items] == ["B-10", "b-11", "b-2", "c", "mid-Way", "Zulu", "zz9"]
