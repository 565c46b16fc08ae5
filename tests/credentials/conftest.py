"""Fixtures shared by the credential tests: two store instances on one file, and bob with a password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from tests.credentials.session_users import PASSWORD


@pytest.fixture
def two_instances(tmp_path: Path) -> Iterator[tuple[RamService, Store]]:
    """The service on one Store object, and a second Store object on the same file (another instance)."""
    url = f"sqlite:///{tmp_path}/ram.db"
    first, second = open_store(url, env={}), open_store(url, env={})
    yield RamService(first), second
    first.close()
    second.close()


@pytest.fixture
def bob_account(two_instances: tuple[RamService, Store]) -> str:
    """A new account (on the first instance) with user bob, who has a console password."""
    svc = two_instances[0]
    account = svc.create_account().account_id
    svc.create_user(account, "bob")
    svc.create_login_profile(account, "bob", PASSWORD)
    return account
