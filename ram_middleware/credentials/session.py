"""Browser sessions after console logon: signed cookies, rotating keys, idle and absolute timeouts.

A session cookie is an itsdangerous ``URLSafeSerializer`` token (HMAC-SHA256; keys newest first, the newest
signs, every key verifies) over a compact JSON payload::

    v  format (1)            sid  random session id       a   account id     u  user name (None: root)
    mt MFA time (or None)    at   authentication time     x   absolute expiry
    t  last refresh (the idle timeout counts from here)
    pv the password proved: its PasswordChangedDate in epoch microseconds (None: not known)
    mb the MFA binding signed in under: the bound device's ActivateDate in epoch microseconds, 0 when no
       device was bound (None: not known)

It is signed, not encrypted: it holds no secret, only who signed in and when. Times (``pv`` aside) are
whole epoch seconds from the injectable clock. :meth:`BrowserSessions.loads` refuses, in order: a bad
signature or shape, a refresh time in the future, a session past its absolute expiry, one idle for longer
than ``idle_timeout``, and a revoked session id.

Revocation is server-side, through the :class:`~ram_middleware.guard.Guard`: logout and every session-id
rotation claim ``session-revoked:<sid>`` until the session would have expired anyway, so a cookie copied
before logout is refused by every instance that shares the guard.

A password change (by the user or an administrator) ends every other session, and removing the login
profile ends them all: :meth:`SessionAuthenticator.principal` reads the identity's current
PasswordChangedDate through the :class:`~ram_middleware.store.cache.Directory` (one cached lookup,
instance-wide through the store's change counter) and refuses a session whose ``pv`` differs from it.

Resolution (decision): the comparison is exact, at the store's microseconds, never at the cookie's whole
seconds. Whole seconds cannot order a logon and a change that fall in the same second — either a session
issued just after the change is refused, or one issued just before it survives. With ``pv`` a session made
after the change carries the new time and is kept, one made before carries the old time and is refused,
whatever the second. Only a cookie without ``pv`` (issued by a caller that named no password) falls back to
``at``, failing closed: refused when ``at <= floor(changed)``, the change's own second counting as before.

Binding or unbinding the identity's MFA device ends its sessions the same way, on every instance.
Decision: the sessions end, rather than only losing their MFA state. An unbinding is how a lost or stolen
phone is retired, and a session signed in with that phone (perhaps by whoever has it) must not go on even
with the password alone; a binding makes the identity's earlier password-only sessions sign in again with
MFA. A session names the binding it was signed in under (``mb``) and is refused when
:meth:`~ram_middleware.store.cache.Directory.mfa_bound_since` gives another, exactly as for ``pv``. The
browser that bound or unbound its own device stays signed in, re-issued for the new binding and without MFA
(:meth:`BrowserSessions.rebind`). A cookie without ``mb`` (issued before sessions named it) fails closed:
refused when the device bound now was bound in or after its ``at`` second, or when none is bound and the
session has MFA.

The cookie (set by the console): ``HttpOnly; SameSite=Lax; Path=/``, no ``Domain``, no ``Max-Age`` (it ends
with the browser; the server enforces both timeouts), ``Secure`` over HTTPS. Decision: over HTTPS its name is
``__Host-ram_session`` and only that name is read (:meth:`SessionAuthenticator.cookie_name_for`), so a sibling
subdomain or a plain-HTTP page cannot plant or overwrite it; the cookie is host-wide whatever the console's
prefix, which is what ``__Host-`` requires. A cross-site request is refused with the session left intact
(:class:`~ram_middleware.errors.CrossSiteRequest`), never treated as an invalid session, whose refusal clears
the cookie: another site could otherwise sign the user out.

:class:`SessionAuthenticator` is the request path's "browser session cookie" scheme: it plugs into the
:class:`~ram_middleware.credentials.authenticate.Authenticator` (``session_authenticator=``) and turns a
valid cookie into the user's (or root's) :class:`Principal` with ``auth_method="session"`` and the MFA state
that becomes ``acs:MFAPresent``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from .. import errors
from ..facts import RequestFacts, from_own_pages
from ..guard import Guard
from ..identity import MFA_BOUND, PASSWORD_CHANGED, Principal
from ..store.cache import MFA_CHANGED, Directory, root_principal

__all__ = [
    "DEFAULT_COOKIE",
    "HOST_PREFIX",
    "BrowserSession",
    "BrowserSessions",
    "InvalidSession",
    "SessionAuthenticator",
    "SessionExpired",
    "SessionRevoked",
    "binding_time",
    "cookie_value",
    "password_moment",
    "password_time",
]

Clock = Callable[[], datetime]

DEFAULT_COOKIE = "ram_session"
HOST_PREFIX = "__Host-"  # the session cookie's name over HTTPS (SessionAuthenticator.cookie_name_for)
MAX_COOKIE_CHARS = 4096  # browsers keep at most ~4 KiB per cookie; anything longer is not ours
_FORMAT = 1
_SALT = "ram-middleware/console-session/v1"
_FUTURE_SLACK = 60  # seconds a refresh time may lie ahead of our clock (clock steps between instances)
_REVOKE_SLACK = 60
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _changes_state(facts: RequestFacts) -> bool:
    """Whether a request may change state: any method but GET/HEAD/OPTIONS, and a websocket handshake, a GET
    that opens a channel both ways (browsers send the cookie on it whichever page opens the socket, and no
    CORS applies: another site's page would otherwise talk to the app as the signed-in user)."""
    if facts.method not in _SAFE_METHODS:
        return True
    # What every browser sends on a handshake, which a page cannot leave out: Upgrade over HTTP/1.1,
    # Sec-WebSocket-Version over HTTP/1.1 and HTTP/2 (RFC 8441 has no Upgrade).
    index = facts.header_map
    upgrade = index.get("upgrade")
    return "sec-websocket-version" in index or (
        upgrade is not None and any("websocket" in value.lower() for value in upgrade)
    )


# Defined with the other errors (the Directory raises SessionRevoked too); importable from here as before.
InvalidSession = errors.InvalidSession
SessionExpired = errors.SessionExpired
SessionRevoked = errors.SessionRevoked


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


_EPOCH = _moment(0)


def password_time(changed: datetime | None) -> int | None:
    """A PasswordChangedDate as exact epoch microseconds: how sessions and logons name a password."""
    return None if changed is None else (changed - _EPOCH) // timedelta(microseconds=1)


def password_moment(time: int) -> datetime:
    """The PasswordChangedDate that :func:`password_time` named ``time``."""
    return _EPOCH + timedelta(microseconds=time)


def binding_time(bound: datetime | None) -> int:
    """An MFA binding (the bound device's ActivateDate, None when none is bound) as exact epoch
    microseconds, 0 for none: how sessions and logons name it."""
    return 0 if bound is None else (bound - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """One console session. ``user_name`` None is the account root; ``mfa_time`` None: no MFA was used;
    ``password_time`` (see :func:`password_time`) None: the password it proved is not known;
    ``mfa_binding`` (see :func:`binding_time`) None: the MFA binding it was signed in under is not known."""

    session_id: str = field(repr=False)
    account_id: str
    user_name: str | None
    auth_time: datetime
    expires: datetime
    refreshed: datetime
    mfa_time: datetime | None = None
    password_time: int | None = None
    mfa_binding: int | None = None

    @property
    def mfa_present(self) -> bool:
        return self.mfa_time is not None

    def mfa_age(self, now: datetime) -> float | None:
        """Seconds since the last MFA proof, or None when the session has none."""
        return None if self.mfa_time is None else (now - self.mfa_time).total_seconds()


class BrowserSessions:
    """Issues, verifies, refreshes, rotates and revokes :class:`BrowserSession` cookies.

    ``keys`` are secrets of at least 32 bytes, newest first. ``idle_timeout`` (seconds) ends a session
    nobody used for that long; a cookie is re-issued with a new refresh time once ``refresh_after`` old.
    """

    def __init__(
        self,
        keys: Sequence[bytes | str],
        guard: Guard,
        *,
        clock: Clock = _utc_now,
        idle_timeout: float = 1800.0,
        refresh_after: float = 60.0,
    ) -> None:
        raw = [key.encode() if isinstance(key, str) else bytes(key) for key in keys]
        if not raw or any(len(key) < 32 for key in raw):
            raise errors.InvalidParameter("SessionKeys", "Session keys must be at least 32 bytes long.")
        if not 0 < refresh_after < idle_timeout < float("inf"):
            raise errors.InvalidParameter(
                "IdleTimeout", "idle_timeout must be positive and longer than refresh_after."
            )
        # itsdangerous signs with the last key of its list and verifies with all of them.
        self._serializer = URLSafeSerializer(
            list(reversed(raw)),
            salt=_SALT,
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
        )
        self._guard = guard
        self._clock = clock
        self.idle_timeout = float(idle_timeout)
        self.refresh_after = float(refresh_after)

    def __repr__(self) -> str:
        return f"BrowserSessions(idle_timeout={self.idle_timeout})"

    def now(self) -> datetime:
        return self._clock()

    # --- issue and verify ---------------------------------------------------------------------------------

    def issue(
        self,
        account_id: str,
        user_name: str | None,
        *,
        lifetime: float,
        mfa_time: datetime | None = None,
        auth_time: datetime | None = None,
        password_changed: datetime | None = None,
        mfa_binding: int | None = None,
    ) -> tuple[BrowserSession, str]:
        """A new session with a fresh id, valid for ``lifetime`` seconds from ``auth_time`` (default: now).

        ``password_changed`` is the PasswordChangedDate of the password the logon proved and ``mfa_binding``
        (:func:`binding_time`) the MFA binding it signed in under; the session ends when either changes
        (module docstring).
        """
        now = _moment(_epoch(self._clock()))
        start = now if auth_time is None else _moment(_epoch(auth_time))
        session = BrowserSession(
            session_id=secrets.token_urlsafe(18),
            account_id=account_id,
            user_name=user_name,
            auth_time=start,
            expires=_moment(_epoch(start) + int(lifetime)),
            refreshed=now,
            mfa_time=None if mfa_time is None else _moment(_epoch(mfa_time)),
            password_time=password_time(password_changed),
            mfa_binding=mfa_binding,
        )
        return session, self.dumps(session)

    def dumps(self, session: BrowserSession) -> str:
        """The cookie value for ``session``."""
        payload = {
            "v": _FORMAT,
            "sid": session.session_id,
            "a": session.account_id,
            "u": session.user_name,
            "mt": None if session.mfa_time is None else _epoch(session.mfa_time),
            "at": _epoch(session.auth_time),
            "x": _epoch(session.expires),
            "t": _epoch(session.refreshed),
            "pv": session.password_time,
            "mb": session.mfa_binding,
        }
        return str(self._serializer.dumps(payload))

    def loads(self, value: str, *, check_revoked: bool = True) -> BrowserSession:
        """The session a cookie value carries; :class:`InvalidSession` (or a subclass) when it is unusable.

        ``check_revoked=False`` skips the guard lookup (for callers that check :meth:`is_revoked` later).
        """
        if not isinstance(value, str) or not value or len(value) > MAX_COOKIE_CHARS:
            raise InvalidSession()
        try:
            payload = self._serializer.loads(value)
        except BadData:
            raise InvalidSession() from None
        session = _from_payload(payload)
        now = _epoch(self._clock())
        if _epoch(session.refreshed) > now + _FUTURE_SLACK:
            raise InvalidSession()
        if now >= _epoch(session.expires) or now - _epoch(session.refreshed) > self.idle_timeout:
            raise SessionExpired()
        if check_revoked and self.is_revoked(session):
            raise SessionRevoked()
        return session

    def is_revoked(self, session: BrowserSession) -> bool:
        """Whether the session was ended (logout, rotation) — a guard lookup. A session whose logon is older
        than the guard's memory (a Redis restarted empty) counts as ended: its logout may be forgotten."""
        revoked = self._guard.count(_revoked_key(session.session_id)) > 0
        return revoked or _epoch(session.auth_time) < self._guard.remembers_since()

    # --- lifecycle ------------------------------------------------------------------------------------------

    def due_for_refresh(self, session: BrowserSession) -> bool:
        """Whether the cookie should be re-issued so the idle timeout starts again."""
        return (self._clock() - session.refreshed).total_seconds() >= self.refresh_after

    def refresh(self, session: BrowserSession) -> tuple[BrowserSession, str]:
        """The same session (same id) with the refresh time set to now."""
        renewed = dataclasses.replace(session, refreshed=_moment(_epoch(self._clock())))
        return renewed, self.dumps(renewed)

    def rotate(
        self,
        session: BrowserSession,
        *,
        mfa_time: datetime | None = None,
        password_changed: datetime | None = None,
    ) -> tuple[BrowserSession, str]:
        """A new session id for the same logon, the old id revoked: after a privilege change.

        ``mfa_time`` records a new MFA proof (step-up); ``password_changed`` a new password this session
        set (own password change): the session names that password and its authentication time is now.
        None keeps the session's current state. The absolute expiry stays that of the logon.
        """
        now = _moment(_epoch(self._clock()))
        renewed = dataclasses.replace(
            session,
            session_id=secrets.token_urlsafe(18),
            refreshed=now,
            mfa_time=session.mfa_time if mfa_time is None else _moment(_epoch(mfa_time)),
        )
        if password_changed is not None:
            renewed = dataclasses.replace(
                renewed, auth_time=now, password_time=password_time(password_changed)
            )
        self.revoke(session)
        return renewed, self.dumps(renewed)

    def rebind(self, session: BrowserSession, bound: datetime | None) -> tuple[BrowserSession, str]:
        """A new session id after this session bound or unbound its identity's MFA device: it names the new
        binding (``bound``: the device's ActivateDate, None when unbound) and has no MFA.

        An unbound device proves nothing any more; binding one enrols it and is no use of it. The session has
        MFA again once a step-up (or the next logon) proves a code from the device.
        """
        renewed, _ = self.rotate(session)
        renewed = dataclasses.replace(renewed, mfa_time=None, mfa_binding=binding_time(bound))
        return renewed, self.dumps(renewed)

    def revoke(self, session: BrowserSession) -> None:
        """End ``session`` everywhere the guard is shared (logout)."""
        remaining = (session.expires - self._clock()).total_seconds()
        self._guard.claim(_revoked_key(session.session_id), max(remaining, 0.0) + _REVOKE_SLACK)


def _revoked_key(session_id: str) -> str:
    # Hashed: the guard may be a shared Redis whose keys operators can list.
    return "session-revoked:" + hashlib.sha256(session_id.encode()).hexdigest()[:32]


def _from_payload(payload: Any) -> BrowserSession:
    if not isinstance(payload, dict) or payload.get("v") != _FORMAT:
        raise InvalidSession()
    sid, account, user = payload.get("sid"), payload.get("a"), payload.get("u")
    auth, expires, refreshed = (_epoch_field(payload, name) for name in ("at", "x", "t"))
    mfa = None if payload.get("mt") is None else _epoch_field(payload, "mt")
    proved, binding = payload.get("pv"), payload.get("mb")
    for number in (proved, binding):
        if not (number is None or (isinstance(number, int) and not isinstance(number, bool))):
            raise InvalidSession()
    if not (isinstance(sid, str) and sid and isinstance(account, str) and account):
        raise InvalidSession()
    if not (user is None or (isinstance(user, str) and user)):
        raise InvalidSession()
    return BrowserSession(sid, account, user, auth, expires, refreshed, mfa, proved, binding)


def _epoch_field(payload: dict[str, Any], name: str) -> datetime:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**40:
        raise InvalidSession()
    return _moment(value)


def cookie_value(facts: RequestFacts, name: str) -> str | None:
    """The first value of cookie ``name`` in the request's ``Cookie`` header(s), or None.

    Browsers send the most specific path first, so the first occurrence is the one the app set for itself.
    """
    for line in facts.header_values("cookie"):
        for piece in line.split(";"):
            key, sep, value = piece.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
    return None


class SessionAuthenticator:
    """The Authenticator's session scheme: a valid session cookie → the signed-in identity's Principal.

    The Principal is read from the :class:`Directory` on every request (cached there), so group moves and
    deletions apply to live sessions at once; a deleted user's session is refused, and so is one older than
    the password or without a login profile (module docstring).

    A state-changing request (not GET/HEAD/OPTIONS, or a websocket handshake) that the browser says another
    site sent
    (``Sec-Fetch-Site`` other than ``same-origin`` or ``none``; ``same-site`` too: a sibling subdomain is
    another origin, which SameSite cookies let in) may not ride on the cookie: 403
    :class:`~ram_middleware.errors.CrossSiteRequest`. It is refused, not an invalid session, so the session
    and its cookie stay as they were. A browser that does not say (from before Fetch Metadata) must send
    this site's origin instead (:func:`~ram_middleware.facts.from_own_pages`: ``Origin``, else
    ``Referer``); one that sends neither is refused the same way. SameSite=Lax alone would let a sibling
    subdomain's POST in.

    The cookie's name depends on the transport (``secure_transport(facts)``): over HTTPS it is
    :data:`HOST_PREFIX` + ``cookie_name`` and only that name is read, over plain HTTP ``cookie_name``
    (see :meth:`cookie_name_for`).
    """

    def __init__(
        self, sessions: BrowserSessions, directory: Directory, *, cookie_name: str = DEFAULT_COOKIE,
        secure_transport: Callable[[RequestFacts], bool] | None = None,
    ) -> None:  # fmt: skip
        self.sessions = sessions
        self.cookie_name = cookie_name
        self._directory = directory
        self._secure_transport = secure_transport

    def cookie_name_for(self, facts: RequestFacts) -> str:
        """The session cookie's name: ``__Host-ram_session`` over HTTPS, else ``ram_session``.

        Decision: the session cookie is always host-wide (``Path=/``, no ``Domain``: it must reach every
        protected route of the host, wherever the app or the console is mounted), so over HTTPS it can carry
        the ``__Host-`` prefix, which browsers accept only with ``Secure``, ``Path=/`` and no ``Domain``. A
        sibling subdomain, or a plain-HTTP page of the same host, then cannot plant or overwrite it (session
        fixation, signing the user in as someone else). For the same reason the unprefixed name is never
        read over HTTPS: a session issued under it before the prefix signs in again, once.
        """
        return HOST_PREFIX + self.cookie_name if self._secure(facts) else self.cookie_name

    def _secure(self, facts: RequestFacts) -> bool:
        return self._secure_transport is not None and self._secure_transport(facts)

    def session(self, facts: RequestFacts, *, check_revoked: bool = True) -> BrowserSession | None:
        """The request's session; None without a cookie, :class:`InvalidSession` for a bad one."""
        value = cookie_value(facts, self.cookie_name_for(facts))
        return None if value is None else self.sessions.loads(value, check_revoked=check_revoked)

    def authenticate(self, facts: RequestFacts) -> Principal | None:
        session = self.session(facts)
        if session is None:
            return None
        if _changes_state(facts) and not from_own_pages(facts, secure=self._secure(facts)):
            raise errors.CrossSiteRequest()
        return self.principal(session)

    def principal(self, session: BrowserSession) -> Principal:
        """The session's Principal, with ``auth_method="session"`` and its MFA state."""
        if session.user_name is None:
            base = root_principal(session.account_id)
        else:
            try:
                base = self._directory.principal_for_user(session.account_id, session.user_name)
            except errors.EntityNotExist:
                raise InvalidSession() from None
        changed = self._directory.password_changed(session.account_id, session.user_name)
        if changed is None:
            raise SessionRevoked("Console access was removed; the logon session has ended.")
        if session.password_time is None:
            stale = _epoch(session.auth_time) <= _epoch(changed)
        else:
            stale = session.password_time != password_time(changed)
        if stale:
            raise SessionRevoked("The password was changed; sign in again.")
        bound = self._directory.mfa_bound_since(session.account_id, session.user_name)
        if _binding_stale(session, bound):
            raise SessionRevoked(MFA_CHANGED)
        # The password and MFA binding times go with the principal: the Directory checks them again in the
        # snapshot the policies are read from (a change meanwhile ends the session there too).
        extra = base.extra
        if session.user_name:
            checked = {
                PASSWORD_CHANGED: changed.isoformat(),
                MFA_BOUND: "" if bound is None else bound.isoformat(),
            }
            extra = {**base.extra, **checked}
        return dataclasses.replace(
            base, auth_method="session", mfa_present=session.mfa_present, mfa_time=session.mfa_time,
            extra=extra,
        )  # fmt: skip


def _binding_stale(session: BrowserSession, bound: datetime | None) -> bool:
    """Whether the identity's MFA binding (``bound``: ActivateDate of its device) is not the session's."""
    if session.mfa_binding is not None:
        return session.mfa_binding != binding_time(bound)
    # Not named (module docstring): the binding is known to be the session's only when its device was bound
    # before the session's authentication second, or when none is bound and the session never used MFA.
    if bound is None:
        return session.mfa_present
    return _epoch(bound) >= _epoch(session.auth_time)
