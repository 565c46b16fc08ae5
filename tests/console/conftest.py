from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from ram_middleware.credentials import password

from .apps import VARIANTS
from .client import Site, make_site
from .world import World, make_world


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the lowest cost: these tests check the logon flow, not the hash's strength
    (tests/credentials covers that), and the default cost would make each logon ~0.1 s."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(password, "_HASHER", cheap)
    monkeypatch.setattr(password, "DUMMY_HASH", cheap.hash("nobody knows this password"))


@pytest.fixture
def world() -> Iterator[World]:
    made = make_world()
    yield made
    made.ram.close()


@pytest.fixture(params=VARIANTS)
def site(request: pytest.FixtureRequest, world: World) -> Site:
    """Every console behaviour test runs against the Flask app and the Starlette app."""
    return make_site(request.param, world)
