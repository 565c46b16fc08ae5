"""Adapters: put the authorizer in front of web apps.

* :mod:`~ram_middleware.adapters.asgi` — pure ASGI middleware (any ASGI server or framework);
* :mod:`~ram_middleware.adapters.starlette` — the same, reading rules off Starlette/FastAPI routes;
  ``@ram_route``, ``@public``, the FastAPI dependency ``RequirePermission``;
* :mod:`~ram_middleware.adapters.wsgi` — pure WSGI middleware driven by a route table;
* :mod:`~ram_middleware.adapters.flask` — the Flask extension ``RAM`` with ``@require`` / ``@public``.

The framework-specific modules are imported explicitly, so installing one framework never needs another.
"""

from __future__ import annotations

from .asgi import RAMMiddleware as RAMMiddleware
from .common import DEFAULT_MAX_BODY as DEFAULT_MAX_BODY
from .common import Runtime as Runtime
from .wsgi import RAMWSGIMiddleware as RAMWSGIMiddleware
