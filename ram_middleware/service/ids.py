"""Identifiers and AccessKey secrets, all from the OS CSPRNG (:mod:`secrets`)."""

from __future__ import annotations

import secrets
import string

__all__ = ["access_key_id", "access_key_secret", "account_id", "numeric_id", "role_id"]

_ALNUM = string.ascii_letters + string.digits


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def account_id() -> str:
    """16 digits, no leading zero."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def numeric_id(prefix: str = "2", length: int = 18) -> str:
    """A random numeric string (UserId/GroupId style: ``prefix`` then random digits)."""
    return prefix + _random_text(string.digits, length - len(prefix))


def role_id() -> str:
    """18 or 19 digits, no leading zero."""
    return str(10**17 + secrets.randbelow(10**19 - 10**17))


def access_key_id() -> str:
    """``LTAI`` followed by 20 letters and digits."""
    return "LTAI" + _random_text(_ALNUM, 20)


def access_key_secret() -> str:
    """30 letters and digits (about 178 bits)."""
    return _random_text(_ALNUM, 30)
