"""Fixtures of the adversarial suite, and the summary line that reports how many fuzz cases ran."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adapters.harness import VARIANTS, Harness, make_harness
from tests.adapters.world import World, make_world

from .tally import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.cases:
        terminalreporter.write_line(TALLY.details())
        terminalreporter.write_line(TALLY.code_lines())
        terminalreporter.write_line(TALLY.summary())


@pytest.fixture
def world() -> Iterator[World]:
    made = make_world()
    yield made
    made.ram.close()


@pytest.fixture(params=sorted(VARIANTS))
def harness(request: pytest.FixtureRequest, world: World) -> Harness:
    """Targeted attacks run once per adapter variant (Starlette, FastAPI, Flask, bare WSGI)."""
    return make_harness(request.param, world)
