"""RAM parameter rules: entity names, text lengths, list paging.

Each rule raises :class:`errors.InvalidParameter` with the spec's code form, e.g.
``InvalidParameter.UserName.Length`` or ``InvalidParameter.UserName.InvalidChars``. Lengths are checked
before characters. Optional free-text fields ("" = not set) may not contain control characters, which
would otherwise end up in logs and consoles verbatim, nor characters XML 1.0 cannot carry (surrogates,
U+FFFE, U+FFFF).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from .. import errors
from ..store.base import storable

__all__ = [
    "MAX_GROUPS_ITEMS",
    "MAX_ITEMS",
    "TEXT_LENGTH",
    "check_alias",
    "check_email",
    "check_max_items",
    "check_mobile_phone",
    "check_name",
    "check_text",
    "decode_marker",
    "encode_marker",
    "nameable",
]

# (max length, allowed characters) per name parameter — spec "Name rules".
NAME_RULES: Final[dict[str, tuple[int, re.Pattern[str]]]] = {
    "UserName": (64, re.compile(r"[A-Za-z0-9._-]+")),
    "NewUserName": (64, re.compile(r"[A-Za-z0-9._-]+")),
    "GroupName": (64, re.compile(r"[A-Za-z0-9._-]+")),
    "NewGroupName": (64, re.compile(r"[A-Za-z0-9._-]+")),
    "RoleName": (64, re.compile(r"[A-Za-z0-9.-]+")),
    "PolicyName": (128, re.compile(r"[A-Za-z0-9-]+")),
    "VirtualMFADeviceName": (64, re.compile(r"[A-Za-z0-9.-]+")),
}
# Control characters, and what XML 1.0 cannot carry at all (surrogates, U+FFFE, U+FFFF): a stored value
# is sent back in ``Format=XML`` responses and must stay text there.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MOBILE = re.compile(r"[0-9]{1,4}-[0-9]{4,20}")
_ALIAS = re.compile(r"[a-z0-9-]+")

MAX_ITEMS: Final = 1000
"""The largest MaxItems of a listing (ListUsers, ListRoles, ListPolicies, ListUsersForGroup)."""
MAX_GROUPS_ITEMS: Final = 100
"""ListGroups' tighter bound."""
TEXT_LENGTH: Final = 128
"""The longest DisplayName or Comments of a user, and Comments of a group."""


def check_name(param: str, value: str) -> str:
    """Validate an entity name against its rule; returns it unchanged."""
    max_length, pattern = NAME_RULES[param]
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise errors.InvalidParameter(
            f"{param}.Length", f"{param} must be 1 to {max_length} characters long."
        )
    if not pattern.fullmatch(value):
        raise errors.InvalidParameter(
            f"{param}.InvalidChars", f"{param} contains characters that are not allowed."
        )
    return value


def nameable(value: object) -> bool:
    """Whether ``value`` is text that could name something stored. Lookups treat anything else as not
    found instead of handing it to the store, which may fail on it (PostgreSQL: a NUL is a DataError,
    which would reach the caller as a 503 for what is bad input)."""
    return isinstance(value, str) and storable(value)


def check_text(param: str, value: str, max_length: int) -> str:
    """Validate an optional free-text field ("" means not set)."""
    if not isinstance(value, str) or len(value) > max_length:
        raise errors.InvalidParameter(
            f"{param}.Length", f"{param} must be at most {max_length} characters long."
        )
    if _CONTROL.search(value):
        raise errors.InvalidParameter(
            f"{param}.InvalidChars",
            f"{param} must not contain control characters, surrogates, U+FFFE or U+FFFF.",
        )
    return value


def check_email(value: str, param: str = "Email") -> str:
    """Optional e-mail address, at most 128 characters; refusals name ``param`` (UpdateUser: NewEmail)."""
    check_text(param, value, 128)
    if value and not _EMAIL.fullmatch(value):
        raise errors.InvalidParameter(f"{param}.Format", f"{param} is not a valid e-mail address.")
    return value


def check_mobile_phone(value: str, param: str = "MobilePhone") -> str:
    """Optional ``<country code>-<number>``; refusals name ``param`` (UpdateUser: NewMobilePhone)."""
    if value and not (isinstance(value, str) and _MOBILE.fullmatch(value)):
        raise errors.InvalidParameter(f"{param}.Format", f"{param} must look like <country code>-<number>.")
    return value


def check_alias(value: str) -> str:
    """AccountAlias: 3–32 of ``[a-z0-9-]``, no leading, trailing or doubled ``-``, not all digits.

    All-digit aliases are refused (decision) so ``user@<alias>`` can never be mistaken for an AccountId.
    """
    if not isinstance(value, str) or not 3 <= len(value) <= 32:
        raise errors.InvalidParameter("AccountAlias.Length", "AccountAlias must be 3 to 32 characters long.")
    if not _ALIAS.fullmatch(value):
        raise errors.InvalidParameter(
            "AccountAlias.InvalidChars", "AccountAlias may contain a-z, 0-9 and '-'."
        )
    if value.startswith("-") or value.endswith("-") or "--" in value or value.isdigit():
        raise errors.InvalidParameter(
            "AccountAlias.Format",
            "AccountAlias must not start or end with '-', repeat '-', or be all digits.",
        )
    return value


def check_max_items(value: int, high: int) -> int:
    """MaxItems in 1..``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise errors.InvalidParameter("MaxItems", f"MaxItems must be an integer from 1 to {high}.")
    return value


def encode_marker(key: str) -> str:
    """The opaque Marker that continues a listing at ``key``."""
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def decode_marker(marker: str | None, prefixes: tuple[str, ...] = (), names: str | None = None) -> str:
    """The key a Marker continues at ("" for the first page). A listing whose keys all start with one of
    ``prefixes``, or are all lower-cased names of the ``names`` rule (``"UserName"``), refuses any other key:
    it was not issued by that listing, and would silently skip whatever sorts before it."""
    if not marker:
        return ""
    try:
        raw = base64.b64decode(marker + "=" * (-len(marker) % 4), altchars=b"-_", validate=True)
        key = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        key = None
    foreign = key is not None and (
        (prefixes and not key.startswith(prefixes)) or (names is not None and not _is_name(names, key))
    )
    if key is None or not nameable(key) or foreign:
        raise errors.InvalidParameter("Marker", "The Marker is not one returned by a previous call.")
    return key


def _is_name(param: str, value: str) -> bool:
    max_length, pattern = NAME_RULES[param]
    return len(value) <= max_length and pattern.fullmatch(value) is not None
