"""What every adapter shares: the runtime protocol, the default body cap, building a runtime from env."""

from __future__ import annotations

from typing import Protocol

from ..authorizer import Authorizer

__all__ = ["DEFAULT_MAX_BODY", "Runtime", "runtime_from_env"]

DEFAULT_MAX_BODY = 10 * 1024 * 1024
"""Largest body buffered for signature verification (bytes); larger bodies get 413."""


class Runtime(Protocol):
    """What adapters need from :class:`ram_middleware.config.Ram`."""

    @property
    def authorizer(self) -> Authorizer: ...

    @property
    def blocking(self) -> bool: ...


def runtime_from_env() -> Runtime:
    """A runtime built from the ``RAM_*`` environment variables (used when no ``ram=`` is given)."""
    from ..config import RamConfig, build  # config sits above the adapters' own imports

    return build(RamConfig.from_env())
