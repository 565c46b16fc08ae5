"""Helpers both peers share: RAM wildcards and local wall-clock time."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["local_parts", "wildcard_matches", "wildcard_regex"]


def wildcard_regex(pattern: str) -> str:
    """A RAM wildcard (``*`` any run, ``?`` one character) as an anchored regular expression."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return f"^{body}$"


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(wildcard_regex(pattern), re.IGNORECASE | re.DOTALL)


def wildcard_matches(pattern: str, text: str) -> bool:
    """Case-insensitive RAM wildcard match (actions are case-insensitive)."""
    return _compiled(pattern).match(text) is not None


@lru_cache(maxsize=4096)
def local_parts(instant: str, zone: str) -> tuple[int, int]:
    """(HHMM, ISO weekday) of an ISO 8601 instant in an IANA zone: 02:00Z in Asia/Shanghai → (1000, …)."""
    local = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return local.hour * 100 + local.minute, local.isoweekday()
