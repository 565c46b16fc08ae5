from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import VARIANTS, Harness, make_harness
from .world import World, make_world


@pytest.fixture
def world() -> Iterator[World]:
    made = make_world()
    yield made
    made.ram.close()


@pytest.fixture(params=sorted(VARIANTS))
def harness(request: pytest.FixtureRequest, world: World) -> Harness:
    """The behaviour suite runs once per adapter variant."""
    return make_harness(request.param, world)


@pytest.fixture(params=[name for name, spec in sorted(VARIANTS.items()) if spec[0] == "asgi"])
def asgi_harness(request: pytest.FixtureRequest, world: World) -> Harness:
    return make_harness(request.param, world)
