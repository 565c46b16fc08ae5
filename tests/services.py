"""Which external services the tests may use.

PostgreSQL, Redis and Chromium are present on CI machines. On a developer's fresh machine they may not be:
tests that need them skip with a clear reason there, but never under ``CI=true``, where a missing service is
a failure.
"""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` is missing, unless running in CI (then fail)."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true but is not available")
    pytest.skip(f"{what} is not available on this machine")
