from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from ram_middleware.audit import MemorySink
from ram_middleware.bootstrap import initialise
from ram_middleware.config import RamConfig, build
from ram_middleware.service import Limits
from tests.live_server import sdk_environment

from .live import Live, serving


@pytest.fixture(scope="session", autouse=True)
def _sdk_environment() -> Iterator[None]:
    """Both SDKs honour proxies, and core prefers credentials from the environment: clear them."""
    with sdk_environment():
        yield


def start_live(
    tmp: str, alias: str = "company-x", *, guard_url: str | None = None, limits: Limits | None = None
) -> Generator[Live, None, None]:
    """A fresh SQLite store, `ram init`'s bootstrap, and the control plane serving it (the guard in the
    store's file unless ``guard_url`` names another; Alibaba's default quotas unless ``limits`` are given)."""
    audit = MemorySink()
    config = RamConfig(
        store_url=f"sqlite:///{tmp}/ram.db", audit=audit, guard_url=guard_url, limits=limits or Limits()
    )
    runtime = build(config)
    boot = initialise(runtime.service, alias=alias)
    try:
        with serving(runtime) as endpoint:
            yield Live(endpoint, runtime, audit, boot)
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(str(tmp_path_factory.mktemp("plane")))
