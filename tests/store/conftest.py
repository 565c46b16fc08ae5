from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.store import Store

from .backends import BACKENDS, open_backend


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from open_backend(request.param, tmp_path)
