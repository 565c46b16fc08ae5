"""A logon in progress: who proved their password, which steps remain, and where to go afterwards.

Between the password page and the session the browser holds a short-lived signed cookie (itsdangerous,
its own salt) naming the account, the user and the remaining steps (``mfa``, ``bind``, ``password``).
Each step, once done, is replaced by a new cookie with a new id, and the old id is claimed in the guard,
so a copied cookie of a finished step cannot be replayed. The cookie also names the password it proved (its
PasswordChangedDate, to the microsecond) and the MFA binding it saw or proved (the bound device's
ActivateDate, or none): either changed during the logon makes the logon start again.
The cookie is signed, not encrypted: it holds no secret.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from itsdangerous import BadData, URLSafeSerializer

from .. import errors
from ..credentials.session import password_time
from ..guard import Guard

__all__ = ["PendingLogon", "PendingLogons", "Step"]

Step = Literal["mfa", "bind", "password"]
_STEPS: frozenset[str] = frozenset({"mfa", "bind", "password"})
_SALT = "ram-middleware/console-logon/v1"
_FORMAT = 1
_MAX_CHARS = 4000  # browsers keep a cookie only while its name and value fit in 4096 bytes
_STEP_ROOM = 64  # what the times its steps add (MFA, new password) may lengthen the cookie by


class LogonExpired(errors.AuthenticationError):
    """The logon in progress is missing, tampered with, finished already, or took too long."""

    default_code = "InvalidSession.Logon"
    default_status = 401
    default_message = "Your sign-in took too long or was interrupted. Please start again."


@dataclass(frozen=True, slots=True)
class PendingLogon:
    """A password-verified logon that still has ``steps`` to do (the first is the current one)."""

    logon_id: str
    account_id: str
    user_name: str | None
    steps: tuple[Step, ...]
    next_url: str
    issued: int  # epoch seconds
    mfa_time: int | None = None  # epoch seconds of the MFA proof made during this logon
    password_time: int | None = None  # epoch microseconds: PasswordChangedDate of the password proved
    mfa_binding: int | None = None  # the MFA binding seen or proved (credentials.session.binding_time)

    @property
    def step(self) -> Step | None:
        return self.steps[0] if self.steps else None


class PendingLogons:
    """Signs and checks :class:`PendingLogon` cookies; ``lifetime`` seconds for the whole logon."""

    def __init__(
        self, keys: Sequence[bytes], guard: Guard, *, clock: Callable[[], datetime], lifetime: float = 600.0
    ) -> None:
        self._serializer = URLSafeSerializer(
            list(reversed(keys)),
            salt=_SALT,
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
        )
        self._guard = guard
        self._clock = clock
        self.lifetime = lifetime

    def __repr__(self) -> str:
        return f"PendingLogons(lifetime={self.lifetime})"

    def _now(self) -> int:
        return int(self._clock().astimezone(UTC).timestamp())

    def start(
        self,
        account_id: str,
        user_name: str | None,
        steps: Sequence[Step],
        next_url: str,
        *,
        password_changed: datetime | None,
        mfa_binding: int,
        fallback_next: str,
    ) -> PendingLogon:
        """A new logon, its password (set at ``password_changed``) just verified, with ``steps`` to do, while
        the identity's MFA binding is ``mfa_binding`` (:func:`.credentials.session.binding_time`).

        It returns to ``next_url``, or to ``fallback_next`` when its cookie could not carry that: a return
        address may have 2048 characters, of up to four bytes each."""
        logon_id = secrets.token_urlsafe(18)
        pending = PendingLogon(
            logon_id, account_id, user_name, tuple(steps), next_url, self._now(),
            password_time=password_time(password_changed), mfa_binding=mfa_binding,
        )  # fmt: skip
        if len(self.dumps(pending)) > _MAX_CHARS - _STEP_ROOM:
            pending = replace(pending, next_url=fallback_next)
        return pending

    def dumps(self, pending: PendingLogon) -> str:
        payload = {
            "v": _FORMAT, "p": pending.logon_id, "a": pending.account_id, "u": pending.user_name,
            "s": list(pending.steps), "n": pending.next_url, "t": pending.issued, "mt": pending.mfa_time,
            "pc": pending.password_time, "mb": pending.mfa_binding,
        }  # fmt: skip
        return str(self._serializer.dumps(payload))

    def loads(self, value: str | None) -> PendingLogon:
        """The logon a cookie carries; :class:`LogonExpired` when missing, bad, finished or too old."""
        if not value or len(value) > _MAX_CHARS:
            raise LogonExpired()
        try:
            pending = _from_payload(self._serializer.loads(value))
        except BadData:
            raise LogonExpired() from None
        age = self._now() - pending.issued
        if age > self.lifetime or age < -60:  # a minute of slack for clocks stepping between instances
            raise LogonExpired()
        if self._guard.count(_done_key(pending.logon_id)) > 0:
            raise LogonExpired()
        if pending.issued < self._guard.remembers_since():  # its spent steps may be forgotten (Redis restart)
            raise LogonExpired()
        return pending

    def advance(
        self,
        pending: PendingLogon,
        *,
        mfa_time: datetime | None = None,
        password_changed: datetime | None = None,
        mfa_binding: int | None = None,
    ) -> PendingLogon:
        """The logon with its current step done: the old cookie is spent, the next one has a new id.

        ``password_changed`` names the password the step set (the ``password`` step), ``mfa_binding`` the
        MFA binding it proved a code of (``mfa``) or made (``bind``)."""
        self.finish(pending)
        mfa = pending.mfa_time if mfa_time is None else int(mfa_time.timestamp())
        proved = pending.password_time if password_changed is None else password_time(password_changed)
        binding = pending.mfa_binding if mfa_binding is None else mfa_binding
        return replace(
            pending, logon_id=secrets.token_urlsafe(18), steps=pending.steps[1:], mfa_time=mfa,
            password_time=proved, mfa_binding=binding,
        )  # fmt: skip

    def finish(self, pending: PendingLogon) -> None:
        """Spend the cookie's id (its step is done, or the logon is over)."""
        self._guard.claim(_done_key(pending.logon_id), self.lifetime + 120)


def _done_key(logon_id: str) -> str:
    return "logon-done:" + hashlib.sha256(logon_id.encode()).hexdigest()[:32]


def _from_payload(payload: Any) -> PendingLogon:
    if not isinstance(payload, dict) or payload.get("v") != _FORMAT:
        raise LogonExpired()
    user, steps, mfa, proved = payload.get("u"), payload.get("s"), payload.get("mt"), payload.get("pc")
    binding = payload.get("mb")
    if user is not None:
        user = _text(payload, "u")
    if not isinstance(steps, list) or not all(step in _STEPS for step in steps):
        raise LogonExpired()
    return PendingLogon(
        logon_id=_text(payload, "p"),
        account_id=_text(payload, "a"),
        user_name=user,
        steps=tuple(steps),
        next_url=_text(payload, "n"),
        issued=_number(payload, "t"),
        mfa_time=None if mfa is None else _number(payload, "mt"),
        password_time=None if proved is None else _number(payload, "pc"),
        mfa_binding=None if binding is None else _number(payload, "mb"),
    )


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise LogonExpired()
    return value


def _number(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise LogonExpired()
    return value
