"""What every console page shares: settings, URLs, cookies, CSRF, the current session, rendering.

:class:`Kit` is built once per :class:`~ram_middleware.console.Console` and handed to the page groups
(logon, account, devices); it holds no per-request state. Page URLs and the console cookies' ``Path`` are
built per request, below the app's mount point (ASGI ``root_path``, WSGI ``SCRIPT_NAME``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from .. import errors
from ..audit import AuditDecision, AuditEvent, flush_sink
from ..authorizer import new_request_id
from ..config import Ram
from ..context import format_time
from ..credentials.password import LogonThrottle, PasswordPolicy
from ..credentials.session import (
    DEFAULT_COOKIE,
    HOST_PREFIX,
    BrowserSession,
    BrowserSessions,
    InvalidSession,
    SessionAuthenticator,
    binding_time,
)
from ..facts import RequestFacts
from ..identity import Account, Principal
from ..store.cache import root_principal
from ..store.records import MFADevice
from .pending import PendingLogons
from .safety import CsrfTokens, safe_next
from .web import ConsoleRequest, Reply, cookie_header

__all__ = [
    "CODE_REFUSED",
    "MFA_CODE_ATTEMPTS",
    "MFA_LOCK_SECONDS",
    "PATHS",
    "ConsoleSettings",
    "Kit",
    "NeedLogon",
    "SignedIn",
    "device_binding",
]

MFA_CODE_ATTEMPTS = 5
"""Wrong TOTP codes before the console locks MFA for the user (mfa-totp.md, step 6). Decided: counted
within :data:`MFA_LOCK_SECONDS`, not only in a row; a right code takes back its own count and nothing more,
as with passwords (:meth:`Kit.check_code`)."""
MFA_LOCK_SECONDS = 900.0
"""The window those codes are counted in, and so how long the lock lasts, from the first of them."""
CODE_REFUSED = "Console MFA code refused"  # the audit reason of every refused TOTP code
BINDING_REFUSED = "Console MFA binding refused"  # the audit reason of a refused device binding

PATHS: dict[str, str] = {
    "home": "/",
    "logon": "/logon",
    "logon_mfa": "/logon/mfa",
    "logon_bind": "/logon/bind",
    "logon_password": "/logon/password",
    "stepup": "/mfa",
    "logout": "/logout",
    "password": "/password",
    "mfa_device": "/mfa-device",
    "access_keys": "/access-keys",
}
"""Page name → path below the console's prefix."""


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """Console options. Timeouts are in seconds; the absolute session lifetime is the account's
    ``LoginSessionDuration`` (security preference)."""

    prefix: str = "/console"
    title: str = "ram-middleware"
    session_cookie: str = DEFAULT_COOKIE
    csrf_cookie: str = "ram_csrf"
    logon_cookie: str = "ram_logon"
    idle_timeout: float = 1800.0
    refresh_after: float = 60.0
    logon_timeout: float = 600.0

    def __post_init__(self) -> None:
        prefix = self.prefix
        if not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix or "\\" in prefix:
            raise errors.InvalidParameter("Prefix", "The console prefix is a path like /console.")
        # The logon step cookie's Max-Age is these whole seconds: under one it is gone before the next step.
        if not 1 <= self.logon_timeout < float("inf"):
            raise errors.InvalidParameter(
                "LogonTimeout", "logon_timeout must be a finite number of seconds, at least 1."
            )


class NeedLogon(errors.AuthenticationError):
    """A console page that needs a session was opened without a valid one."""

    default_code = "MissingAuthentication"
    default_status = 401
    default_message = "Please sign in."


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The current session and the identity it belongs to."""

    session: BrowserSession
    principal: Principal

    @property
    def account_id(self) -> str:
        return self.session.account_id

    @property
    def user_name(self) -> str | None:
        return self.session.user_name


def device_binding(device: MFADevice | None) -> int:
    """The MFA binding a bound ``device`` (or None: no device) stands for (:func:`binding_time`)."""
    return binding_time(None if device is None else device.bound_since)


def derive_keys(keys: Sequence[bytes], label: bytes) -> list[bytes]:
    """Purpose-specific keys from the console keys, in the same order (newest first)."""
    return [hmac.new(key, label, hashlib.sha256).digest() for key in keys]


class Kit:
    """Shared services of the console pages."""

    def __init__(self, ram: Ram, settings: ConsoleSettings, keys: Sequence[bytes]) -> None:
        self.ram = ram
        self.service = ram.service
        self.settings = settings
        clock = ram.config.clock
        self.sessions = BrowserSessions(
            keys, ram.guard, clock=clock, idle_timeout=settings.idle_timeout,
            refresh_after=settings.refresh_after,
        )  # fmt: skip
        self.session_auth = SessionAuthenticator(
            self.sessions, ram.directory, cookie_name=settings.session_cookie,
            secure_transport=self.secure_transport,
        )  # fmt: skip
        self.pending = PendingLogons(keys, ram.guard, clock=clock, lifetime=settings.logon_timeout)
        self.csrf = CsrfTokens(derive_keys(keys, b"ram-middleware/console-csrf/v1"))

    def now(self) -> datetime:
        return self.ram.config.clock()

    def base(self, request: ConsoleRequest) -> str:
        """The console's path as this request's browser sees it: the app's mount point, then the prefix."""
        return request.facts.root_path + self.settings.prefix

    def url(self, request: ConsoleRequest, name: str, **query: str) -> str:
        """The absolute path of page ``name`` for this request (under the app's mount), with ``query``."""
        path = self.base(request) + PATHS[name]
        return f"{path}?{urlencode(query)}" if query else path

    def urls(self, request: ConsoleRequest) -> dict[str, str]:
        return {name: self.url(request, name) for name in PATHS}

    def next_url(self, request: ConsoleRequest, value: str | None, default: str | None = None) -> str:
        """``value`` as a place to return to (:func:`safe_next`: a path under the app's mount), else
        ``default`` (None: the console's home page)."""
        fallback = self.url(request, "home") if default is None else default
        return safe_next(value, fallback, request.facts.root_path)

    def secure_transport(self, facts: RequestFacts) -> bool:
        """Whether the browser reached us over HTTPS (directly or through a trusted proxy)."""
        return self.ram.authorizer.contexts.secure_transport(facts)

    def secure(self, request: ConsoleRequest) -> bool:
        return self.secure_transport(request.facts)

    def source_ip(self, request: ConsoleRequest) -> str:
        return self.ram.authorizer.contexts.source_ip(request.facts)

    # --- cookies ----------------------------------------------------------------------------------------

    def session_cookie_name(self, facts: RequestFacts) -> str:
        """The session cookie's name for this request (:meth:`SessionAuthenticator.cookie_name_for`)."""
        return self.session_auth.cookie_name_for(facts)

    def session_cookie(self, facts: RequestFacts, value: str, *, max_age: int | None = None) -> str:
        """The ``Set-Cookie`` value carrying session ``value`` ('' with ``max_age=0``: clearing it)."""
        # No Max-Age: the browser forgets it on exit; the server enforces idle and absolute timeouts.
        name = self.session_cookie_name(facts)
        return cookie_header(name, value, secure=self.secure_transport(facts), max_age=max_age)

    def clear_session_cookie(self, facts: RequestFacts) -> str:
        return self.session_cookie(facts, "", max_age=0)

    def logon_cookie_name(self, request: ConsoleRequest) -> str:
        """The logon step cookie's name: ``__Host-ram_logon`` over HTTPS, else ``ram_logon``.

        Decision: over HTTPS it is host-wide and ``__Host-``, like the session cookie. A plain name scoped to
        the console's path could be planted by a sibling subdomain with a more specific path, which browsers
        send first: the attacker's own logon in progress (its MFA binding or new password step) would then
        replace the victim's, who would finish it and be signed in as the attacker.
        """
        name = self.settings.logon_cookie
        return HOST_PREFIX + name if self.secure(request) else name

    def logon_cookie(self, request: ConsoleRequest, value: str) -> str:
        return self._logon_cookie(request, value, int(self.settings.logon_timeout))

    def clear_logon_cookie(self, request: ConsoleRequest) -> str:
        return self._logon_cookie(request, "", 0)

    def _logon_cookie(self, request: ConsoleRequest, value: str, max_age: int) -> str:
        secure = self.secure(request)
        return cookie_header(
            self.logon_cookie_name(request), value, path="/" if secure else self.base(request), secure=secure,
            max_age=max_age, same_site="Strict",
        )  # fmt: skip

    # --- CSRF and rendering -----------------------------------------------------------------------------

    def csrf_cookie_name(self, request: ConsoleRequest) -> str:
        """The CSRF cookie's name: ``__Host-ram_csrf`` over HTTPS, else ``ram_csrf``.

        Decision: over HTTPS it is host-wide and ``__Host-``, like the session and logon step cookies. A
        plain name could be planted by a sibling subdomain (or a plain-HTTP page of the host) with a nonce
        whose token it knows; only the name is secure, so the unprefixed cookie is never read over HTTPS.
        Over plain HTTP (development) it stays ``ram_csrf``, scoped to the console's path.
        """
        name = self.settings.csrf_cookie
        return HOST_PREFIX + name if self.secure(request) else name

    def check_csrf(self, request: ConsoleRequest, signed_in: SignedIn | None = None) -> None:
        """Raise :class:`CsrfRejected` unless the form's token matches this browser and session."""
        session_id = signed_in.session.session_id if signed_in is not None else ""
        nonce = request.cookie(self.csrf_cookie_name(request))
        self.csrf.check(nonce, request.field("csrf_token", 128), session_id)

    def page(
        self,
        request: ConsoleRequest,
        template: str,
        *,
        status: int = 200,
        signed_in: SignedIn | None = None,
        **context: Any,
    ) -> Reply:
        """A rendered page with a CSRF token for its forms (and the CSRF cookie when the browser lacks it)."""
        nonce = request.cookie(self.csrf_cookie_name(request))
        fresh = not self.csrf.valid_nonce(nonce)
        if nonce is None or fresh:
            nonce = self.csrf.new_nonce()
        session_id = signed_in.session.session_id if signed_in is not None else ""
        context.update(
            title=self.settings.title,
            urls=self.urls(request),
            csrf_token=self.csrf.token(nonce, session_id),
            signed_in=signed_in,
            who=self.who(signed_in) if signed_in is not None else None,
        )
        reply = Reply(status=status, template=template, context=context)
        if fresh:
            reply.set_cookie(self._csrf_cookie(request, nonce))
        return reply

    def _csrf_cookie(self, request: ConsoleRequest, nonce: str) -> str:
        secure = self.secure(request)
        return cookie_header(
            self.csrf_cookie_name(request), nonce, path="/" if secure else self.base(request), secure=secure,
            same_site="Strict",
        )  # fmt: skip

    def message(
        self, request: ConsoleRequest, text: str, *, status: int = 200, signed_in: SignedIn | None = None,
        link: str | None = None, link_text: str | None = None,
    ) -> Reply:  # fmt: skip
        """A page that only says something (a refusal, announced as an alert, or a confirmation)."""
        return self.page(
            request, "message.html", status=status, signed_in=signed_in, text=text, alert=status >= 400,
            link=link, link_text=link_text,
        )  # fmt: skip

    # --- sessions and identities ------------------------------------------------------------------------

    def signed_in(self, request: ConsoleRequest) -> SignedIn | None:
        """The request's valid session and its Principal, or None."""
        try:
            session = self.session_auth.session(request.facts)
            if session is None:
                return None
            return SignedIn(session, self.session_auth.principal(session))
        except InvalidSession:
            return None

    def require_session(self, request: ConsoleRequest) -> SignedIn:
        """The session, or :class:`NeedLogon` (the console sends the browser to the logon page)."""
        found = self.signed_in(request)
        if found is None:
            raise NeedLogon()
        return found

    def who(self, signed_in: SignedIn) -> str:
        """``alice@company-x`` (or ``root@…``) for the page header."""
        account = self.account_or_none(signed_in.account_id)
        where = account.alias if account is not None and account.alias else signed_in.account_id
        return f"{signed_in.user_name or 'root'}@{where}"

    def account_or_none(self, alias_or_id: str) -> Account | None:
        if not alias_or_id or len(alias_or_id) > 64:
            return None
        try:
            return self.service.find_account(alias_or_id)
        except errors.EntityNotExist:
            return None

    def bound_device(self, account_id: str, user_name: str | None) -> MFADevice | None:
        """The virtual MFA device bound to the user (None: the root), or None."""
        if user_name is None:
            return self.service.get_root_mfa_info(account_id)
        try:
            return self.service.get_user_mfa_info(account_id, user_name)
        except errors.EntityNotExist:
            return None

    def binding(self, account_id: str, user_name: str | None) -> int:
        """The user's (None: the root's) MFA binding now, as sessions name it (:func:`binding_time`)."""
        return device_binding(self.bound_device(account_id, user_name))

    def identity(self, account_id: str, user_name: str | None) -> Principal | None:
        """The Principal of an identity that proved its password (a logon not finished yet, for the audit
        log); None when it no longer exists."""
        if user_name is None:
            return root_principal(account_id)
        try:
            return self.ram.directory.principal_for_user(account_id, user_name)
        except errors.EntityNotExist:
            return None

    def audit(
        self, request: ConsoleRequest, decision: AuditDecision, status: int, *,
        principal: Principal | None = None, code: str | None = None, reason: str = "",
        action: str = "console:Logon", issued: bool = False,
    ) -> None:  # fmt: skip
        """Record a console event (``console:Logon`` unless ``action`` says otherwise) in the audit sink;
        ``issued``: the event records a secret about to be shown, and is written out (not only queued) first.

        Failed logons name no identity: what was typed into the user name field is not trusted, and people
        sometimes type their password there. A sink that fails makes the action fail (closed).
        """
        event = AuditEvent(
            time=format_time(self.now(), milliseconds=True), request_id=new_request_id(), decision=decision,
            status=status, method=request.facts.method, path=request.facts.path,
            source_ip=self.source_ip(request), principal_arn=principal.arn if principal else None,
            principal_type=principal.principal_type if principal else None,
            auth_method="session" if principal else "none", action=action, code=code, reason=reason,
        )  # fmt: skip
        try:
            self.ram.authorizer.audit.emit(event)
            if issued:
                flush_sink(self.ram.authorizer.audit)
        except Exception as exc:
            raise errors.ServiceUnavailable() from exc

    def throttle(self, account_id: str | None) -> LogonThrottle:
        """The ``MaxLoginAttemps`` counter under the account's password policy (an unknown account: the
        default policy's, as most accounts keep it, so the lock-out rarely tells the two apart)."""
        policy = self.service.get_password_policy(account_id) if account_id else PasswordPolicy()
        return LogonThrottle(self.ram.guard, policy.max_login_attempts)

    def check_code(
        self, request: ConsoleRequest, account_id: str, user_name: str | None, code: str, *, action: str,
        principal: Principal | None = None, logon: LogonThrottle | None = None,
    ) -> MFADevice:  # fmt: skip
        """A TOTP code from the user's bound device, for ``action`` (logon, step-up, unbinding); returns that
        device. ``logon``: the ``MaxLoginAttemps`` counter the code counts in too (at logon), checked first.

        At most :data:`MFA_CODE_ATTEMPTS` wrong codes within :data:`MFA_LOCK_SECONDS`, whatever
        ``MaxLoginAttemps`` says (0 there would otherwise allow endless guesses of six digits), then
        ``LoginLocked`` until that window ends. A right code takes back only its own count
        (:meth:`LogonThrottle.checked`): it does not wipe the wrong codes before it, which may be someone
        else's. A refusal is audited. Raises ``InvalidAuthenticationCode`` or ``LoginLocked``.
        """
        codes = LogonThrottle(
            self.ram.guard, MFA_CODE_ATTEMPTS, purpose="mfa", window_seconds=MFA_LOCK_SECONDS
        )
        user_key = user_name or ""

        def check() -> MFADevice:
            return codes.checked(
                account_id, user_key, lambda: self.service.verify_mfa_code(account_id, user_name, code)
            )

        try:
            return check() if logon is None else logon.checked(account_id, user_key, check)
        except (errors.InvalidAuthenticationCode, errors.LoginLocked) as exc:
            self.audit(
                request, "Rejected", exc.status, principal=principal, code=exc.code, reason=CODE_REFUSED,
                action=action,
            )  # fmt: skip
            raise
