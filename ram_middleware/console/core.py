"""The :class:`Console`: logon and self-service pages over a runtime, framework-free.

``Console(ram)`` builds the pages and installs two hooks into the runtime's request path: the session-cookie
authentication scheme (``ram.authenticator.session_authenticator``) and the browser refusal renderer
(``ram.authorizer.refusals``). The Starlette and Flask modules mount its pages and render its replies.

Keys: ``secret_keys`` (newest first, each at least 32 bytes) sign session, logon and CSRF values; by
default they are derived from the same keys as the runtime's STS tokens (explicit token keys, else the
master keys or the SQLite key file), so every instance sharing the store accepts the same cookies.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

from .. import errors
from ..authorizer import ErrorResponse, Outcome
from ..config import Ram, _token_keys
from ..credentials.session import BrowserSessions, InvalidSession
from ..facts import RequestFacts, from_own_pages
from ..identity import Principal
from .account import AccountPages
from .base import PATHS, ConsoleSettings, Kit, NeedLogon
from .binding import Enrolments
from .browser import BrowserRefusals, mfa_fresh
from .devices import DevicePages
from .logon import LogonPages
from .pending import LogonExpired
from .safety import CsrfRejected, return_target
from .web import ConsoleRequest, Reply, private_cache_control

__all__ = ["Console"]

_KEY_LABEL = b"ram-middleware/console-key/v1"
_METHODS = frozenset({"GET", "HEAD", "POST"})

Handler = Callable[[ConsoleRequest], Reply]


def console_keys(ram: Ram, secret_keys: Sequence[str | bytes] | None = None) -> list[bytes]:
    """The console's keys (newest first), derived per purpose from ``secret_keys`` or the runtime's keys."""
    if isinstance(secret_keys, str | bytes) or any(
        not isinstance(key, str | bytes) for key in secret_keys or ()
    ):
        # One key where a list belongs: iterating bytes gives numbers, and bytes(n) is n zero bytes.
        raise errors.InvalidParameter(
            "SecretKeys", "secret_keys is a list of keys, newest first (each at least 32 bytes): [key]."
        )
    if secret_keys:
        base = [key.encode() if isinstance(key, str) else bytes(key) for key in secret_keys]
        if any(len(key) < 32 for key in base):
            raise errors.InvalidParameter("SecretKeys", "Console keys must be at least 32 bytes long.")
    else:
        base = list(_token_keys(ram.config))
    return [hmac.new(key, _KEY_LABEL, hashlib.sha256).digest() for key in base]


class Console:
    """Console logon (password, TOTP MFA, first-logon binding, forced password change), step-up MFA,
    logout, and self-service pages, for any app the runtime ``ram`` protects."""

    def __init__(
        self,
        ram: Ram,
        *,
        prefix: str = "/console",
        secret_keys: Sequence[str | bytes] | None = None,
        title: str = "ram-middleware",
        idle_timeout: float = 1800.0,
        refresh_after: float = 60.0,
        logon_timeout: float = 600.0,
        install: bool = True,
    ) -> None:
        self.settings = ConsoleSettings(
            prefix=prefix, title=title, idle_timeout=idle_timeout, refresh_after=refresh_after,
            logon_timeout=logon_timeout,
        )  # fmt: skip
        self.kit = Kit(ram, self.settings, console_keys(ram, secret_keys))
        enrolments = Enrolments(ram.service)
        self._handlers: dict[str, Handler] = {
            **LogonPages(self.kit, enrolments).handlers(),
            **AccountPages(self.kit).handlers(),
            **DevicePages(self.kit, enrolments).handlers(),
        }
        self.refusals = BrowserRefusals(self.kit)
        if install:
            self.install()

    def __repr__(self) -> str:
        return f"Console(prefix={self.settings.prefix!r})"

    @property
    def ram(self) -> Ram:
        return self.kit.ram

    @property
    def sessions(self) -> BrowserSessions:
        return self.kit.sessions

    def install(self) -> None:
        """Plug the session scheme and the browser refusal renderer into the runtime's request path."""
        self.ram.authenticator.session_authenticator = self.kit.session_auth
        self.ram.authorizer.refusals = self.refusals

    def pages(self) -> list[tuple[str, str]]:
        """(page name, path below the prefix) of every console page, for the framework mountings."""
        return list(PATHS.items())

    def url(self, request: ConsoleRequest, name: str, **query: str) -> str:
        """The path of page ``name`` as ``request``'s browser reaches it (below the app's mount point)."""
        return self.kit.url(request, name, **query)

    # --- serving ------------------------------------------------------------------------------------------

    def handle(self, name: str, request: ConsoleRequest) -> Reply:
        """Answer one request to page ``name``."""
        if request.facts.method not in _METHODS:
            reply = self.kit.message(request, "This page does not accept that method.", status=405)
            reply.headers.append(("allow", "GET, HEAD, POST"))
            return reply
        if request.method == "POST" and not from_own_pages(request.facts, secure=self.kit.secure(request)):
            # Every console form is posted from a console page. Another site's — a sibling subdomain's
            # too, which can plant a CSRF cookie of its own — is refused before the form is read, and
            # changes no cookie: a cross-site logout must not sign the user out. A browser without
            # Sec-Fetch-Site must name this origin (Origin, else Referer), the logon form included.
            return self.kit.message(request, CsrfRejected.default_message, status=CsrfRejected.default_status)
        try:
            return self._handlers[name](request)
        except NeedLogon:
            return self._to_logon(request)
        except LogonExpired:
            reply = Reply.redirect(self.kit.url(request, "logon", expired="1"))
            return reply.set_cookie(self.kit.clear_logon_cookie(request))
        except errors.RAMError as exc:
            return self.kit.message(request, exc.message, status=exc.status)

    def to_home(self, request: ConsoleRequest) -> Reply:
        """The console's prefix without its trailing slash (``/console``, as people type it): to the home
        page. A route of its own, public, so the middleware does not refuse it as undeclared before the
        framework could add the slash."""
        return Reply.redirect(self.kit.url(request, "home"), status=307)

    def _to_logon(self, request: ConsoleRequest) -> Reply:
        target = return_target(request.facts)
        reply = Reply.redirect(self.kit.url(request, "logon", **({"next": target} if target else {})))
        if request.cookie(self.kit.session_cookie_name(request.facts)) is not None:
            reply.set_cookie(self.kit.clear_session_cookie(request.facts))
        return reply

    # --- hooks for the framework mountings ------------------------------------------------------------------

    def refreshed_cookie(self, facts: RequestFacts, set_cookies: Sequence[str] = ()) -> str | None:
        """A ``Set-Cookie`` value renewing the request's session (restarting its idle timeout), when due and
        the response (its ``set_cookies`` values) does not already set or clear the session cookie."""
        mine = self.kit.session_cookie_name(facts) + "="
        if any(value.startswith(mine) for value in set_cookies):
            return None
        sessions = self.kit.sessions
        try:
            session = self.kit.session_auth.session(facts, check_revoked=False)
        except InvalidSession:
            return None
        if session is None or not sessions.due_for_refresh(session):
            return None
        try:
            revoked = sessions.is_revoked(session)
        except errors.ServiceUnavailable:
            # The guard is unreachable: the response (the app's, or the request's own 503) goes out as it
            # is, not turned into a 500 on its way; a later response renews the cookie.
            return None
        if revoked:
            return None
        _, value = sessions.refresh(session)
        return self.kit.session_cookie(facts, value)

    def renewal_headers(
        self, facts: RequestFacts, set_cookies: Sequence[str] = (), cache_control: str | None = None
    ) -> list[tuple[str, str]]:
        """Headers renewing the request's session on a response of the app whose ``Set-Cookie`` values are
        ``set_cookies`` and whose ``Cache-Control`` is ``cache_control`` (None: it has none): the renewed
        cookie with a ``Cache-Control`` that keeps shared caches from storing it
        (:func:`~.web.private_cache_control`); none when no renewal is due or the response is meant for
        shared caches."""
        private = private_cache_control(cache_control)
        if private is None:
            return []
        renewed = self.refreshed_cookie(facts, set_cookies)
        if renewed is None:
            return []
        return [("set-cookie", renewed), ("cache-control", private)]

    def mfa_refusal(
        self, facts: RequestFacts, principal: Principal | None, max_age: float | None,
        outcome: Outcome | None = None,
    ) -> ErrorResponse | None:  # fmt: skip
        """None when ``principal`` has (recent enough) MFA; else the audited refusal to send: a redirect
        to step-up for a browser, 403 ``Forbidden.MFARequired`` JSON for an API caller. ``outcome``: the
        middleware's check of this request, whose request id the refusal keeps."""
        if mfa_fresh(principal, max_age, self.kit.now()):
            return None
        error = errors.MFARequired()
        if principal is not None and principal.mfa_present and max_age is not None:
            error = errors.MFARequired(f"This operation requires an MFA authentication within {max_age:g} s.")
        after = outcome if outcome is not None and outcome.allowed else None
        return self.ram.authorizer.reject(facts, error, principal=principal, after=after)
