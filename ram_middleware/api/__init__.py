"""Our own control plane: the RAM API 2015-05-01 and STS API 2015-04-01, for the official SDKs.

:func:`create_app` (in :mod:`.app`) is the protected ASGI app ``ram serve`` runs; :class:`ControlPlane`
(in :mod:`.plane`) is the framework-free dispatcher underneath it. Handlers live in ``ram_*.py`` (RAM) and
``sts.py``; ``responses.py`` renders JSON/XML bodies.
"""

from __future__ import annotations

from .app import create_app as create_app
from .base import Backend as Backend
from .plane import ControlPlane as ControlPlane

__all__ = ["Backend", "ControlPlane", "create_app"]
