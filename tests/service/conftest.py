from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import Store

from ..store.backends import BACKENDS, FakeClock, open_backend


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from open_backend(request.param, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def svc(store: Store, clock: FakeClock) -> RamService:
    return RamService(store, clock=clock)


@pytest.fixture
def acct(svc: RamService) -> str:
    """A fresh account's id."""
    return svc.create_account().account_id
