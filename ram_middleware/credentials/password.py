"""Console logon passwords: argon2id hashing, the account password policy, expiry, reuse, lock-out.

Hashes are argon2id (argon2-cffi defaults, RFC 9106 "low memory" profile). An unknown user is checked
against :data:`DUMMY_HASH` so that "no such user" costs the same as "wrong password" and user names cannot
be discovered by timing. The lock-out counter is keyed by account and user name whether or not the user
exists, for the same reason.

Each hash or verification fills 64 MiB. At most :data:`HASH_CONCURRENCY` run at once in a process (more
than there are cores only queue inside the CPU anyway): without the bound, unauthenticated logon attempts
sent at once would make the process hold 64 MiB each. One that waits longer than
:data:`HASH_WAIT_SECONDS` for a slot is refused with 503 ServiceUnavailable.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .. import errors
from ..guard import Counted, Guard

MAX_PASSWORD_CHARS = 1024  # far above any sane password; bounds the hashing work an attacker can request
LOGIN_WINDOW_SECONDS = 3600.0  # MaxLoginAttemps counts failures per hour

_T = TypeVar("_T")

HASH_CONCURRENCY = max(2, os.cpu_count() or 2)  # argon2id hashes at once per process (64 MiB each)
HASH_WAIT_SECONDS = 10.0  # how long a hash waits for a slot before it is refused

_HASHER = PasswordHasher()
_slots = threading.BoundedSemaphore(HASH_CONCURRENCY)
# An optional minus and at most 18 digits: no int() of a huge or malformed string ("--9", 5,000 digits).
_INTEGER = re.compile(r"-?[0-9]{1,18}")

__all__ = [
    "DUMMY_HASH",
    "HASH_CONCURRENCY",
    "HASH_WAIT_SECONDS",
    "LOGIN_WINDOW_SECONDS",
    "LogonThrottle",
    "PasswordPolicy",
    "PreparedPassword",
    "check_reuse",
    "hash_password",
    "hashing_slot",
    "is_expired",
    "needs_rehash",
    "parse_api_bool",
    "parse_api_int",
    "verify_password",
    "verify_password_or_dummy",
]


@contextmanager
def hashing_slot(wait: float = HASH_WAIT_SECONDS) -> Iterator[None]:
    """Hold one of the process's :data:`HASH_CONCURRENCY` hashing slots for the block; none free within
    ``wait`` seconds: :class:`errors.ServiceUnavailable`."""
    slots = _slots  # the one released is the one taken, even if a fork hook replaced it meanwhile
    if not slots.acquire(timeout=wait):
        raise errors.ServiceUnavailable("Too many password checks are in progress; try again shortly.")
    try:
        yield
    finally:
        slots.release()


def _renew_slots() -> None:
    # A forked child does not inherit the threads holding its parent's slots: it gets a full set.
    global _slots
    _slots = threading.BoundedSemaphore(HASH_CONCURRENCY)


os.register_at_fork(after_in_child=_renew_slots)


def hash_password(pw: str) -> str:
    """An argon2id hash (PHC string) of ``pw``."""
    if not isinstance(pw, str) or not pw:
        raise errors.InvalidParameter("Password", "The password must be a non-empty string.")
    if len(pw) > MAX_PASSWORD_CHARS:
        raise errors.InvalidParameter("Password.Length", "The password is too long.")
    with hashing_slot():
        return str(_HASHER.hash(pw))


@dataclass(frozen=True, slots=True)
class PreparedPassword:
    """A new console password and its hash, made ahead of the write that stores it so that the slow hash
    never holds the store's write lock (``RamService.prepare_password``; ``ram apply`` prepares every new
    console logon's before its transaction opens). The service still checks ``password`` against the
    password policy inside the write. Only Python code can build one: the RAM API passes text, which is
    always hashed, so no caller can hand in a hash of its own."""

    password: str = field(repr=False)
    password_hash: str = field(repr=False)


def verify_password(stored_hash: str, pw: str) -> bool:
    """Whether ``pw`` matches ``stored_hash`` (argon2 compares in constant time). Raises only
    :class:`errors.ServiceUnavailable`, when no hashing slot comes free in time."""
    if not isinstance(pw, str) or len(pw) > MAX_PASSWORD_CHARS:
        return False
    try:
        with hashing_slot():
            return bool(_HASHER.verify(stored_hash, pw))
    except (VerificationError, InvalidHashError, TypeError, ValueError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when ``stored_hash`` was made with weaker parameters than the current ones."""
    try:
        return bool(_HASHER.check_needs_rehash(stored_hash))
    except (InvalidHashError, ValueError):
        return True


DUMMY_HASH: str = hash_password(secrets.token_urlsafe(24))
"""Hash of a random password nobody knows, made with the current parameters."""


def verify_password_or_dummy(stored_hash: str | None, pw: str) -> bool:
    """Like :func:`verify_password`, but an absent user (``None``) still pays for one verification."""
    if stored_hash is None:
        verify_password(DUMMY_HASH, pw)
        return False
    return verify_password(stored_hash, pw)


# --- API value parsing (also used by the security preference) -----------------------------------------


def parse_api_bool(name: str, value: object) -> bool:
    """A boolean API parameter: a bool, or ``"true"``/``"false"`` in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise errors.InvalidParameter(name, f"{name} must be true or false.")


def parse_api_int(name: str, value: object, low: int, high: int) -> int:
    """An integer API parameter in ``low..high`` (an int, or a string of decimal digits and nothing else:
    no SDK pads a number, so ``" 5 "`` is refused like any other malformed value)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
    if number is None or not low <= number <= high:
        raise errors.InvalidParameter(name, f"{name} must be an integer from {low} to {high}.")
    return number


# --- the password policy ----------------------------------------------------------------------------------

# attribute -> (API field, low, high); booleans have no range
_INT_FIELDS: dict[str, tuple[str, int, int]] = {
    "minimum_password_length": ("MinimumPasswordLength", 8, 32),
    "max_password_age": ("MaxPasswordAge", 0, 1095),
    "password_reuse_prevention": ("PasswordReusePrevention", 0, 24),
    "max_login_attempts": ("MaxLoginAttemps", 0, 32),
}
_BOOL_FIELDS: dict[str, str] = {
    "require_lowercase": "RequireLowercaseCharacters",
    "require_uppercase": "RequireUppercaseCharacters",
    "require_numbers": "RequireNumbers",
    "require_symbols": "RequireSymbols",
    "hard_expiry": "HardExpiry",
}


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The account's password policy (GetPasswordPolicy / SetPasswordPolicy).

    ``max_login_attempts`` is the API's ``MaxLoginAttemps`` (sic): failures per hour before lock-out,
    0 = unlimited. ``max_password_age`` is in days, 0 = never expires.
    """

    minimum_password_length: int = 8
    require_lowercase: bool = True
    require_uppercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True
    hard_expiry: bool = False
    max_password_age: int = 0
    password_reuse_prevention: int = 0
    max_login_attempts: int = 5

    def __post_init__(self) -> None:
        for attr, (api_name, low, high) in _INT_FIELDS.items():
            parse_api_int(api_name, getattr(self, attr), low, high)
        for attr, api_name in _BOOL_FIELDS.items():
            if not isinstance(getattr(self, attr), bool):
                raise errors.InvalidParameter(api_name, f"{api_name} must be true or false.")

    def check(self, password: str, user_name: str = "") -> None:
        """Raise ``InvalidParameter.PasswordPolicy`` naming the first rule ``password`` breaks."""
        problem = self._problem(password, user_name)
        if problem is not None:
            message = f"The password does not meet the policy: {problem}"
            raise errors.InvalidParameter("PasswordPolicy", message)

    def _problem(self, password: str, user_name: str) -> str | None:
        if not isinstance(password, str):
            return "it must be text."
        if len(password) < self.minimum_password_length:
            return f"it must be at least {self.minimum_password_length} characters long."
        if len(password) > MAX_PASSWORD_CHARS:
            return f"it must be at most {MAX_PASSWORD_CHARS} characters long."
        if any(not ch.isprintable() for ch in password):
            return "it must not contain control characters."
        if self.require_lowercase and not any(ch.islower() for ch in password):
            return "it must contain a lowercase letter."
        if self.require_uppercase and not any(ch.isupper() for ch in password):
            return "it must contain an uppercase letter."
        if self.require_numbers and not any(ch.isdigit() for ch in password):
            return "it must contain a number."
        if self.require_symbols and all(ch.isalnum() for ch in password):
            return "it must contain a symbol."
        # Only names of 3+ characters: a one-letter user name "A" would otherwise forbid every "a".
        if len(user_name) >= 3 and user_name.casefold() in password.casefold():
            return "it must not contain the user name."
        return None

    def to_api(self) -> dict[str, int | bool]:
        """The ``PasswordPolicy`` object of GetPasswordPolicy (API field names)."""
        out: dict[str, int | bool] = {}
        for attr in (f.name for f in fields(self)):
            api_name = _INT_FIELDS[attr][0] if attr in _INT_FIELDS else _BOOL_FIELDS[attr]
            out[api_name] = getattr(self, attr)
        return out

    @classmethod
    def from_api(cls, mapping: Mapping[str, Any], *, base: PasswordPolicy | None = None) -> PasswordPolicy:
        """Build from SetPasswordPolicy parameters; fields not given keep ``base`` (default: defaults).

        Values may be typed (JSON) or text (query parameters). ``MaxLoginAttempts`` is accepted as an alias
        of the real, misspelt ``MaxLoginAttemps``. Unknown keys are ignored (RPC requests carry others).
        """
        given = dict(mapping)
        if "MaxLoginAttemps" not in given and "MaxLoginAttempts" in given:
            given["MaxLoginAttemps"] = given["MaxLoginAttempts"]
        changes: dict[str, Any] = {}
        for attr, (api_name, low, high) in _INT_FIELDS.items():
            if given.get(api_name) is not None:
                changes[attr] = parse_api_int(api_name, given[api_name], low, high)
        for attr, api_name in _BOOL_FIELDS.items():
            if given.get(api_name) is not None:
                changes[attr] = parse_api_bool(api_name, given[api_name])
        return replace(base if base is not None else cls(), **changes)


def is_expired(changed_at: datetime, policy: PasswordPolicy, now: datetime, *, root: bool = False) -> bool:
    """Whether a password last changed at ``changed_at`` is past ``MaxPasswordAge`` days at ``now``.

    The account root's (``root``) never is: ``MaxPasswordAge`` and ``HardExpiry`` govern the RAM users'
    passwords, as in Alibaba Cloud. Under ``HardExpiry`` only an administrator may set a new password, and
    the root has none above it: an expired root password would lock the account's owner out of the console.
    """
    if policy.max_password_age == 0 or root:
        return False
    return now - changed_at >= timedelta(days=policy.max_password_age)


def check_reuse(new_pw: str, history_hashes: Sequence[str], policy: PasswordPolicy) -> None:
    """Refuse ``new_pw`` if it matches one of the last ``PasswordReusePrevention`` passwords.

    ``history_hashes`` is newest first and includes the current password's hash. Every hash in the window is
    checked (no early exit), so the time taken does not tell which one matched.
    """
    window = history_hashes[: policy.password_reuse_prevention]
    reused = False
    for stored in window:
        reused = verify_password(stored, new_pw) or reused
    if reused:
        raise errors.InvalidParameter(
            "PasswordPolicy",
            "The password does not meet the policy: it must differ from the last "
            f"{policy.password_reuse_prevention} passwords.",
        )


class LogonThrottle:
    """A lock-out counter over a :class:`~ram_middleware.guard.Guard`: ``MaxLoginAttemps`` for passwords
    (``LogonThrottle(guard, policy.max_login_attempts)``), or wrong MFA codes (``purpose="mfa"``).

    Attempts are counted per (account, lower-cased user name) in a window that opens at the first one.
    Once more than ``limit`` attempts were made in the window, :meth:`attempt` raises
    :class:`errors.LoginLocked` until the window ends or :meth:`succeeded` clears the count (``limit`` 0:
    never locked). Unknown users are counted exactly like real ones.

    The one rule for every check of a password or code on behalf of a user (the logon's, a re-entered
    password, an old password, a code) is :meth:`checked`: count first, refuse when locked, take back the
    one count when right (only while its window lasts: never from a next window a guess opened meanwhile).
    Only wrong answers stay counted, and a right one never clears the failures before it: whoever knows the
    password (a stolen session, say) must not wipe the record of guesses at it. Clearing is for a completed
    logon and a password an administrator sets.
    """

    def __init__(
        self,
        guard: Guard,
        limit: int,
        *,
        purpose: str = "logon",
        window_seconds: float = LOGIN_WINDOW_SECONDS,
    ) -> None:
        self._guard = guard
        self._limit = limit
        self._purpose = purpose
        self._window = window_seconds

    @staticmethod
    def key(account: str, user: str, purpose: str = "logon") -> str:
        """The guard key: hashed so that arbitrary submitted names give short, uniform keys."""
        digest = hashlib.sha256(f"{account}\0{user.casefold()}".encode()).hexdigest()[:32]
        return f"{purpose}-fail:{digest}"

    def attempt(self, account: str, user: str) -> int:
        """Count one attempt; :class:`errors.LoginLocked` when it is over the limit. Returns the attempts in
        the window. Most callers want :meth:`checked`, which takes a right attempt's count back."""
        return self._counted(account, user).value

    def _counted(self, account: str, user: str) -> Counted:
        counted = self._guard.incr(self.key(account, user, self._purpose), self._window)
        if self._limit and counted.value > self._limit:
            raise errors.LoginLocked()
        return counted

    def refund(self, account: str, user: str, counted: Counted) -> None:
        """Take back the count of an attempt that turned out right (``counted``, as the guard returned it),
        without clearing the failures before it; not if its window has ended meanwhile, so it never takes
        back a failure of the next window."""
        self._guard.decr(self.key(account, user, self._purpose), counted.window)

    def checked(self, account: str, user: str, check: Callable[[], _T]) -> _T:
        """``check()`` (which raises when the password or code is wrong) as one attempt: counted before it
        runs, so parallel guesses cannot all pass before any is counted; ``LoginLocked`` instead when over
        the limit; taken back when it returns. Whatever it raises stays counted (the safe side)."""
        counted = self._counted(account, user)
        result = check()
        self.refund(account, user, counted)
        return result

    def succeeded(self, account: str, user: str) -> None:
        """Clear the count: a completed logon, or a password an administrator set (never a mere right
        answer: see the class)."""
        self._guard.reset(self.key(account, user, self._purpose))
