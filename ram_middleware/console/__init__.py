"""Console logon for people: password, TOTP MFA, browser sessions, step-up MFA, self-service pages.

:class:`Console` holds the framework-free flow; mount it with
:func:`ram_middleware.console.starlette.mount_console` (Starlette/FastAPI) or
:func:`ram_middleware.console.flask.init_console` (Flask). Those modules are imported explicitly, so a
Flask app never needs Starlette and the other way round.
"""

from __future__ import annotations

from .base import PATHS as PATHS
from .base import ConsoleSettings as ConsoleSettings
from .browser import mfa_fresh as mfa_fresh
from .core import Console as Console
from .safety import safe_next as safe_next
from .web import ConsoleRequest as ConsoleRequest
from .web import Reply as Reply
