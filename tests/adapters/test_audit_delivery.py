"""Audit events reach their sink through real apps, or the request is refused (fail closed)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator

import pytest

from ram_middleware.audit import LoggingSink
from ram_middleware.client import RamAuth

from .apps import starlette_app
from .harness import client_class
from .world import World, make_world


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _quiet_parent(parent: logging.Logger, child: logging.Logger) -> None:
    """What ``logging.config.dictConfig`` does to a child of a logger it configures at WARNING (an app
    quieting a library's logs): the child is reset to NOTSET and loses its handlers."""
    parent.setLevel(logging.WARNING)
    child.setLevel(logging.NOTSET)
    child.handlers = []


def _disable(parent: logging.Logger, child: logging.Logger) -> None:
    """What ``dictConfig`` does to a logger it does not name (``disable_existing_loggers``, on by default)."""
    child.disabled = True


@pytest.fixture
def logged_world() -> Iterator[tuple[World, logging.Logger, logging.Logger, _Records]]:
    parent = logging.getLogger(f"rev_app{os.getpid()}")
    child = logging.getLogger(f"{parent.name}.audit")
    records = _Records()
    parent.addHandler(records)
    parent.propagate = False
    world = make_world(audit=LoggingSink(child))
    yield world, parent, child, records
    world.ram.close()
    for logger in (parent, child):
        logger.handlers, logger.disabled, logger.level = [], False, logging.NOTSET


@pytest.mark.parametrize("configure", [_quiet_parent, _disable], ids=["parent-quieted", "disabled"])
def test_a_logging_sink_configured_away_refuses_requests_instead_of_dropping_their_events(
    logged_world: tuple[World, logging.Logger, logging.Logger, _Records],
    configure: Callable[[logging.Logger, logging.Logger], None],
) -> None:
    world, parent, child, records = logged_world
    client = client_class()(starlette_app(world.ram))
    key = world.keys["alice"]
    auth = RamAuth(key.access_key_id, key.secret, clock=world.clock)
    assert client.get("/instances/i-1", auth=auth).status_code == 200
    (line,) = [json.loads(text) for text in records.lines]
    assert line["decision"] == "Allow"
    records.lines.clear()
    configure(parent, child)  # the app configures logging after building the middleware
    refused = client.get("/instances/i-1", auth=auth)
    # Before: 200, and the event silently dropped, so an allowed call left no trace.
    assert refused.status_code == 503 and refused.json()["Code"] == "ServiceUnavailable"
    assert records.lines == []
