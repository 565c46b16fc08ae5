"""The RAM API's listings do not grow with the organisation: a page of ListPolicies reads that page (not
every policy again), ListEntitiesForPolicy and ListPoliciesFor* read their holders and policies in a fixed
number of statements, and the other listings stay keyed pages. Statements and fetched rows are recorded
through the repository's connection, on SQLite and PostgreSQL, at 5 and at 40 entities."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import Store
from ram_middleware.store.records import Page

from .backends import open_backend
from .statements import Recording, recorded

DOC = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:Get*", "Resource": "*"}]}'
SIZES = (5, 40)
PAGE = 4


def trust(account: str) -> str:
    return json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [f"acs:ram::{account}:root"]}}]}
    )  # fmt: skip


@pytest.fixture(params=("sqlite", "postgres"))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens a fresh store of the backend for each organisation size."""
    opened: list[Iterator[Store]] = []

    def fresh() -> Store:
        backend = open_backend(request.param, tmp_path / str(len(opened)))
        opened.append(backend)
        return next(backend)

    yield fresh
    for backend in opened:
        for _ in backend:  # runs the backend's cleanup
            pass


def organisation(store: Store, size: int) -> tuple[RamService, str]:
    """``size`` custom policies, users, groups and roles; each holds policy P000 and a System policy."""
    svc = RamService(store)
    account = svc.create_account().account_id
    for i in range(size):
        svc.create_policy(account, f"P{i:03d}", DOC)
        svc.create_user(account, f"u{i:03d}")
        svc.create_group(account, f"g{i:03d}")
        svc.add_user_to_group(account, "g000", f"u{i:03d}")
        svc.create_role(account, f"r{i:03d}", trust(account))
        for target in ("user", "group", "role"):
            name = f"{target[0]}{i:03d}"
            svc.attach_policy(account, target, name, "Custom", "P000")
            svc.attach_policy(account, target, name, "System", "ReadOnlyAccess")
    return svc, account


def every_page(
    store: Store, listing: Callable[..., Page[Any]], *args: object, **kwargs: object
) -> list[Recording]:
    """What each page (PAGE items) of ``listing(*args, **kwargs)`` read, following its Markers to the end."""
    pages: list[Recording] = []
    marker: str | None = None
    while True:
        with recorded(store) as seen:
            page = listing(*args, marker=marker, max_items=PAGE, **kwargs)
        pages.append(seen)
        if not page.is_truncated:
            return pages
        marker = page.marker


def test_each_policies_page_reads_only_that_page(stores: Callable[[], Store]) -> None:
    statements = {}
    for size in SIZES:
        store = stores()
        svc, account = organisation(store, size)
        for kind in (None, "Custom", "System"):
            pages = every_page(store, svc.list_policies, account, policy_type=kind)
            # The account, the page's System attachment counts, and at most PAGE + 1 custom policies.
            assert max(p.rows for p in pages) <= 1 + PAGE + PAGE + 1, (size, kind)
            statements[size, kind] = max(len(p.statements) for p in pages)
    for kind in (None, "Custom", "System"):
        assert statements[SIZES[0], kind] == statements[SIZES[1], kind] <= 3


def test_entities_for_policy_reads_a_fixed_number_of_statements(stores: Callable[[], Store]) -> None:
    counts = {}
    for size in SIZES:
        store = stores()
        svc, account = organisation(store, size)
        for kind, name in (("Custom", "P000"), ("System", "ReadOnlyAccess")):
            with recorded(store) as seen:
                found = svc.list_entities_for_policy(account, kind, name)
            assert (len(found.users), len(found.groups), len(found.roles)) == (size, size, size)
            counts[size, kind] = len(seen.statements)
    assert counts[SIZES[0], "Custom"] == counts[SIZES[1], "Custom"] <= 5
    assert counts[SIZES[0], "System"] == counts[SIZES[1], "System"] <= 4


def test_policies_for_a_target_read_a_fixed_number_of_statements(stores: Callable[[], Store]) -> None:
    counts = {}
    for held in (1, 5):  # custom policies attached (a group and a role hold at most five)
        store = stores()
        svc, account = organisation(store, 5)
        for target in ("user", "group", "role"):
            for i in range(1, held):
                svc.attach_policy(account, target, f"{target[0]}001", "Custom", f"P{i:03d}")
            with recorded(store) as seen:
                attached = svc.list_policies_for(account, target, f"{target[0]}001")
            assert len(attached) == held + 1
            counts[held, target] = len(seen.statements)
    assert all(counts[1, target] == counts[5, target] <= 3 for target in ("user", "group", "role"))


def test_other_listings_read_only_their_page(stores: Callable[[], Store]) -> None:
    """ListUsers, ListGroups, ListRoles and ListUsersForGroup are keyed pages already; keep them so."""
    for size in SIZES:
        store = stores()
        svc, account = organisation(store, size)
        listings: dict[str, tuple[Callable[..., Page[Any]], tuple[str, ...]]] = {
            "users": (svc.list_users, (account,)),
            "groups": (svc.list_groups, (account,)),
            "roles": (svc.list_roles, (account,)),
            "members": (svc.list_users_for_group, (account, "g000")),
        }
        for what, (listing, args) in listings.items():
            pages = every_page(store, listing, *args)
            assert max(len(p.statements) for p in pages) <= 2, (size, what)
            assert max(p.rows for p in pages) <= 1 + PAGE + 1, (size, what)
