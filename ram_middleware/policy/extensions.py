"""Middleware extension condition keys (namespace ``mw:``) for "working hours" rules.

RAM's ``acs:CurrentTime`` is an instant, so date operators can bound a date range but cannot say
"09:00-18:00 every weekday". Two derived keys fill that gap; the evaluator computes them from the request's
``acs:CurrentTime`` whenever a policy uses them, so callers never supply them (a value a caller does put in
the context under these names is ignored):

``mw:LocalTimeOfDay/<IANA zone>``
    local wall-clock time in that zone as an HHMM number: 09:30 → ``930``, 18:00 → ``1800``.
``mw:LocalWeekday/<IANA zone>``
    ISO weekday in that zone: 1 = Monday … 7 = Sunday.

Both are Numeric keys: only the ``Numeric*`` operators accept them. The zone is validated when the document is
parsed (exact IANA name, or the same name in another case) and resolved once. Only names in
``zoneinfo.available_timezones()`` count, less ``localtime`` (it follows the host's own zone) and
``posixrules``; other files of the zone directory (``right/UTC``, ``posix/Asia/Shanghai``) are refused too.
A stored document (``parse_policy(stored=True)``) still resolves such a name as it was read when accepted.
With no ``acs:CurrentTime`` in the request the keys are absent. Example, R&D's OSS only 09:00-18:00 Monday
to Friday, Shanghai time::

    {"NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Asia/Shanghai": "0900"},
     "NumericLessThan": {"mw:LocalTimeOfDay/Asia/Shanghai": "1800"},
     "NumericLessThanEquals": {"mw:LocalWeekday/Asia/Shanghai": "5"}}

The keys follow the zone's clock changes: on the day clocks go forward the skipped local times never occur
and the 09:00-18:00 window above is still 09:00-18:00 local; a repeated local time (02:30 on the day they go
back) matches at both instants. Operators in one condition block are ANDed, so a window across midnight
(22:00-06:00) takes two statements, ``>= 2200`` in one and ``< 0600`` in the other; in one block it never
matches.

Any other key in the ``mw:`` namespace is rejected, so a typo cannot silently turn a rule into "key absent".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

from ram_middleware.errors import MalformedPolicyDocument
from ram_middleware.policy.values import EPOCH, read_date

__all__ = ["LOCAL_TIME_OF_DAY", "LOCAL_WEEKDAY", "Context", "Derive", "extension_key"]

Context = Mapping[str, str | Sequence[str]]
Derive = Callable[[Context], str | None]

LOCAL_TIME_OF_DAY = "mw:LocalTimeOfDay/"
LOCAL_WEEKDAY = "mw:LocalWeekday/"
_CURRENT_TIME = "acs:currenttime"
_SECOND_US = 1_000_000


def extension_key(key_name: str, path: str, stored: bool = False) -> Derive | None:
    """The deriving function for an ``mw:`` key, None for any other key; bad ``mw:`` keys are malformed.

    ``stored`` accepts the zone names documents stored before the IANA check could hold.
    """
    lowered = key_name.lower()
    if not lowered.startswith("mw:"):
        return None
    for prefix, part in ((LOCAL_TIME_OF_DAY, 0), (LOCAL_WEEKDAY, 1)):
        if lowered.startswith(prefix.lower()):
            name = key_name[len(prefix) :]
            zone = _resolve_zone(name) or (_stored_zone(name) if stored else None)
            if zone is None:
                raise MalformedPolicyDocument(path, f"{key_name!r} does not name an IANA time zone")
            return _deriver(zone, part)
    raise MalformedPolicyDocument(
        path,
        f"unknown condition key {key_name!r} (mw: keys are mw:LocalTimeOfDay/<zone>, mw:LocalWeekday/<zone>)",
    )


# Files of the zone directory that available_timezones() may list but that name no IANA zone: a link to the
# host's own zone (a policy would change meaning with the host) and the POSIX TZ-string default rules.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@cache
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones() if name not in _NOT_ZONES}


@lru_cache(maxsize=1024)
def _resolve_zone(name: str) -> ZoneInfo | None:
    # The name is checked against the list first: ZoneInfo(name) opens any TZif file under the zone
    # directory (localtime, right/UTC, posix/...), which is not what the policy language promises.
    proper = _zones_by_lower_name().get(name.lower())
    if proper is None:
        return None
    try:
        return ZoneInfo(proper)
    except (KeyError, ValueError, OSError):
        return None


@lru_cache(maxsize=64)
def _stored_zone(name: str) -> ZoneInfo | None:
    """How zone names were read before the IANA check: any file ZoneInfo opens."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return None


# By the second, not the minute: some offsets have seconds (Africa/Monrovia -00:44:30 until 1972, every
# zone's local mean time), so the UTC minute does not fix the local one.
@lru_cache(maxsize=8192)
def _local_parts(second: int, zone: ZoneInfo) -> tuple[str, str] | None:
    try:
        local = (EPOCH + timedelta(seconds=second)).astimezone(zone)
    except (OverflowError, ValueError):
        return None
    return str(local.hour * 100 + local.minute), str(local.isoweekday())


def _deriver(zone: ZoneInfo, part: int) -> Derive:
    def derive(context: Context) -> str | None:
        raw = context.get(_CURRENT_TIME)
        if raw is not None and not isinstance(raw, str):
            # acs:CurrentTime is single-valued; only a list of exactly one time is readable
            raw = raw[0] if len(raw) == 1 else None
        if raw is None:
            return None
        instant = read_date(raw)
        if instant is None:
            return None
        parts = _local_parts(instant // _SECOND_US, zone)
        return None if parts is None else parts[part]

    return derive
