"""Random input never escapes as anything but a specific 4xx RAMError."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ram_middleware.errors import RAMError
from ram_middleware.service import RamService
from ram_middleware.store import open_store

from ..store.backends import FakeClock

NAMES = st.text(alphabet=st.characters(codec="utf-8"), max_size=70) | st.from_regex(
    r"[A-Za-z0-9._-]{1,64}", fullmatch=True
)


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[RamService, str]]:
    store = open_store("memory://", env={})
    svc = RamService(store, clock=FakeClock())
    yield svc, svc.create_account().account_id
    store.close()


@settings(max_examples=150, deadline=None)
@given(name=NAMES)
def test_user_names_are_accepted_exactly_when_the_rule_allows(
    world: tuple[RamService, str], name: str
) -> None:
    svc, acct = world
    allowed = 1 <= len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    try:
        created = svc.create_user(acct, name)
    except RAMError as error:
        assert 400 <= error.status < 500
        if allowed:
            assert error.code == "EntityAlreadyExists.User"
        else:
            assert error.code in (
                "InvalidParameter.UserName.Length",
                "InvalidParameter.UserName.InvalidChars",
            )
        return
    assert allowed
    assert svc.get_user(acct, name.upper()) == created
    svc.delete_user(acct, name)


@settings(max_examples=100, deadline=None)
@given(marker=st.text(max_size=40), max_items=st.integers(min_value=-5, max_value=1200))
def test_list_parameters_never_crash(world: tuple[RamService, str], marker: str, max_items: int) -> None:
    svc, acct = world
    try:
        page = svc.list_users(acct, marker=marker, max_items=max_items)
    except RAMError as error:
        assert error.code in ("InvalidParameter.Marker", "InvalidParameter.MaxItems")
        return
    assert len(page.items) <= max_items


@settings(max_examples=100, deadline=None)
@given(document=st.text(max_size=200) | st.just('{"Version":"1","Statement":[{"Effect":"Allow"}]}'))
def test_policy_documents_never_crash(world: tuple[RamService, str], document: str) -> None:
    svc, acct = world
    try:
        svc.create_policy(acct, "Fuzz", document)
    except RAMError as error:
        assert 400 <= error.status < 500
        return
    svc.delete_policy(acct, "Fuzz")
