"""Fixtures shared by the credential tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store


@pytest.fixture
def two_instances(tmp_path: Path) -> Iterator[tuple[RamService, Store]]:
    """The service on one Store object, and a second Store object on the same file (another instance)."""
    url = f"sqlite:///{tmp_path}/ram.db"
    first, second = open_store(url, env={}), open_store(url, env={})
    yield RamService(first), second
    first.close()
    second.close()
