"""ram-middleware: Alibaba-Cloud-RAM-style identity and access management for Python web apps.

The names most programs start from are importable from the package itself (loaded on first use, so that
``import ram_middleware`` stays cheap and pulls in no optional dependency):

* :class:`RamService` — the administration and simulation façade over a store
  (``RamService(open_store("sqlite:///ram.db")).simulate(...)``);
* :func:`open_store` — a store from its URL (``sqlite://``, ``memory://``, ``postgresql://``);
* :class:`RamConfig` and :func:`build` — the runtime (:class:`Ram`) the adapters protect apps with;
* :class:`Decision`, :func:`decide`, :func:`parse_policy` — the policy language and evaluator.

Adapters live in :mod:`ram_middleware.adapters` (``.starlette``, ``.flask``, ``.asgi``, ``.wsgi``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Ram, RamConfig, build
    from .policy import Decision, decide, parse_policy
    from .service import RamService
    from .store import open_store

__all__ = ["Decision", "Ram", "RamConfig", "RamService", "build", "decide", "open_store", "parse_policy"]

_HOMES = {
    "Decision": ".policy",
    "decide": ".policy",
    "parse_policy": ".policy",
    "Ram": ".config",
    "RamConfig": ".config",
    "build": ".config",
    "RamService": ".service",
    "open_store": ".store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
