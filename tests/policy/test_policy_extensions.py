"""The mw:LocalTimeOfDay/<zone> and mw:LocalWeekday/<zone> extension keys."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ram_middleware.errors import MalformedPolicyDocument
from ram_middleware.policy import AttachedPolicy, PolicySet, make_request, parse_policy

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORKING_HOURS = {
    "NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Asia/Shanghai": "0900"},
    "NumericLessThan": {"mw:LocalTimeOfDay/Asia/Shanghai": "1800"},
    "NumericLessThanEquals": {"mw:LocalWeekday/Asia/Shanghai": "5"},
}


def rnd_document(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "oss:*",
                "Resource": "acs:oss:*:*:rnd-bucket/*",
                "Condition": condition,
            }
        ],
    }


def rnd_policy(condition: dict[str, Any]) -> PolicySet:
    compiled = parse_policy(rnd_document(condition))
    return PolicySet([AttachedPolicy("RnDOSSOfficeHours", "Custom", "v1", "group", "R&D", compiled)])


def allowed(policies: PolicySet, when: str | None, **extra: Any) -> bool:
    context: dict[str, Any] = {"acs:SourceIp": "203.0.113.7", **extra}
    if when is not None:
        context["acs:CurrentTime"] = when
    return policies.decide(
        make_request("oss:GetObject", "acs:oss:cn-shanghai:1:rnd-bucket/a", context)
    ).allowed


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2024-06-03T01:00:00Z", True),  # Monday 09:00 in Shanghai
        ("2024-06-03T00:59:59Z", False),  # Monday 08:59:59
        ("2024-06-03T09:59:59Z", True),  # Monday 17:59:59
        ("2024-06-03T10:00:00Z", False),  # Monday 18:00, the end is exclusive
        ("2024-06-07T09:30:00+08:00", True),  # Friday 09:30 written in local time
        ("2024-06-08T02:00:00Z", False),  # Saturday 10:00
        ("2024-06-09T02:00:00Z", False),  # Sunday 10:00
        ("2024-06-02T23:30:00-02:00", True),  # Monday 09:30 in Shanghai, Sunday where it was written
    ],
)
def test_working_hours_in_shanghai(when: str, expected: bool) -> None:
    assert allowed(rnd_policy(WORKING_HOURS), when) is expected


def test_reason_names_the_local_time_observed() -> None:
    policies = rnd_policy(WORKING_HOURS)
    request = make_request(
        "oss:GetObject", "acs:oss:r:1:rnd-bucket/a", {"acs:CurrentTime": "2024-06-03T10:00:00Z"}
    )
    decision = policies.decide(request)
    assert decision.effect == "ImplicitDeny"
    assert decision.reason == (
        "Statement 0 of custom policy RnDOSSOfficeHours (group R&D): "
        "NumericLessThan mw:LocalTimeOfDay/Asia/Shanghai observed 1800"
    )


@pytest.mark.parametrize(
    ("zone", "when", "weekday"),
    [
        ("Asia/Shanghai", "2024-06-02T17:00:00Z", 1),  # already Monday in Shanghai
        ("UTC", "2024-06-02T17:00:00Z", 7),
        ("America/Los_Angeles", "2024-06-03T03:00:00Z", 7),  # still Sunday evening
        ("Pacific/Kiritimati", "2024-06-02T11:00:00Z", 1),  # UTC+14
    ],
)
def test_weekday_across_zones(zone: str, when: str, weekday: int) -> None:
    policies = rnd_policy({"NumericEquals": {f"mw:LocalWeekday/{zone}": str(weekday)}})
    assert allowed(policies, when)
    other = rnd_policy({"NumericEquals": {f"mw:LocalWeekday/{zone}": str(weekday % 7 + 1)}})
    assert not allowed(other, when)


@pytest.mark.parametrize(
    ("zone", "when", "hhmm"),
    [
        ("America/New_York", "2024-03-08T14:00:00Z", 900),  # EST, UTC-5
        ("America/New_York", "2024-03-11T13:00:00Z", 900),  # EDT after the switch, UTC-4
        ("America/New_York", "2024-03-08T13:00:00Z", 800),
        ("Asia/Kolkata", "2024-06-03T03:30:00Z", 900),  # UTC+05:30
        ("Asia/Kathmandu", "2024-06-03T00:00:00Z", 545),  # UTC+05:45
        ("UTC", "2024-06-03T23:59:59.999Z", 2359),
        ("UTC", "2024-06-03T00:00:00Z", 0),
    ],
)
def test_time_of_day_across_zones_and_dst(zone: str, when: str, hhmm: int) -> None:
    assert allowed(rnd_policy({"NumericEquals": {f"mw:LocalTimeOfDay/{zone}": hhmm}}), when)
    assert not allowed(rnd_policy({"NumericEquals": {f"mw:LocalTimeOfDay/{zone}": hhmm + 1}}), when)


def test_zone_and_key_names_are_case_insensitive() -> None:
    policies = rnd_policy({"NumericGreaterThanEquals": {"MW:localtimeofday/asia/shanghai": "900"}})
    assert allowed(policies, "2024-06-03T01:00:00Z")
    assert not allowed(policies, "2024-06-03T00:00:00Z")


def test_absent_or_unreadable_current_time_means_absent_key() -> None:
    strict = rnd_policy(WORKING_HOURS)
    assert not allowed(strict, None)
    assert not allowed(strict, "not a time")
    assert not allowed(strict, "2024-06-03T01:00:00")  # no zone
    lenient = rnd_policy({"NumericLessThanIfExists": {"mw:LocalTimeOfDay/UTC": "1200"}})
    assert allowed(lenient, None)
    assert not allowed(lenient, "2024-06-03T13:00:00Z")


def test_caller_cannot_supply_the_derived_keys() -> None:
    policies = rnd_policy(WORKING_HOURS)
    spoof = {"mw:LocalTimeOfDay/Asia/Shanghai": "1000", "mw:LocalWeekday/Asia/Shanghai": "2"}
    assert not allowed(policies, "2024-06-08T02:00:00Z", **spoof)
    assert not allowed(policies, None, **spoof)


def test_single_element_time_list_is_read() -> None:
    assert allowed(rnd_policy(WORKING_HOURS), None, **{"acs:CurrentTime": ["2024-06-03T01:00:00Z"]})


# Files under the zone directory that ZoneInfo opens but that are no IANA zone; localtime follows the host.
NOT_ZONES = ["localtime", "LOCALTIME", "posixrules", "right/UTC", "posix/Asia/Shanghai", "zone.tab"]


@pytest.mark.parametrize("zone", NOT_ZONES)
def test_zone_must_be_an_iana_name(zone: str) -> None:
    for key in (f"mw:LocalTimeOfDay/{zone}", f"mw:LocalWeekday/{zone}"):
        with pytest.raises(MalformedPolicyDocument) as info:
            rnd_policy({"NumericLessThan": {key: "1200"}})
        assert info.value.path == f"Statement[0].Condition.NumericLessThan.{key}"
        assert "IANA time zone" in info.value.problem


def test_stored_document_keeps_a_zone_name_accepted_before() -> None:
    try:
        ZoneInfo("posix/Asia/Shanghai")
    except (KeyError, ValueError, OSError):
        pytest.skip("this host has no posix/ zone files")
    document = rnd_document({"NumericEquals": {"mw:LocalTimeOfDay/posix/Asia/Shanghai": "930"}})
    compiled = parse_policy(document, stored=True)
    policies = PolicySet([AttachedPolicy("Old", "Custom", "v1", "group", "R&D", compiled)])
    assert allowed(policies, "2024-06-03T01:30:00Z")


# Zones with DST, half- and quarter-hour offsets, and offsets in whole seconds (Monrovia until 1972,
# Amsterdam until 1937, every zone's local mean time before standard time).
REFERENCE_ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Africa/Monrovia",
    "Europe/Amsterdam",
]


@SETTINGS
@given(
    st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(REFERENCE_ZONES),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_local_keys_agree_with_zoneinfo(moment: datetime, zone: str, written_offset: int) -> None:
    # The request may write the instant in any offset; the keys depend on the instant only.
    written = moment.astimezone(timezone(timedelta(minutes=written_offset))).isoformat()
    local = moment.astimezone(ZoneInfo(zone))
    hhmm = local.hour * 100 + local.minute
    assert allowed(rnd_policy({"NumericEquals": {f"mw:LocalTimeOfDay/{zone}": hhmm}}), written), written
    assert allowed(rnd_policy({"NumericEquals": {f"mw:LocalWeekday/{zone}": local.isoweekday()}}), written)


def statements_policy(*conditions: dict[str, Any]) -> PolicySet:
    """One Allow statement per condition block (statements are ORed, the operators in a block ANDed)."""
    statements = [rnd_document(condition)["Statement"][0] for condition in conditions]
    compiled = parse_policy({"Version": "1", "Statement": statements})
    return PolicySet([AttachedPolicy("NightShift", "Custom", "v1", "group", "R&D", compiled)])


NIGHT_SHIFT = statements_policy(
    {"NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Europe/Berlin": "2200"}},
    {"NumericLessThan": {"mw:LocalTimeOfDay/Europe/Berlin": "0600"}},
)


@SETTINGS
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_a_window_across_midnight_takes_two_statements(moment: datetime) -> None:
    local = moment.astimezone(ZoneInfo("Europe/Berlin"))
    assert allowed(NIGHT_SHIFT, moment.isoformat()) is (local.hour >= 22 or local.hour < 6)
    # Both bounds in one block are ANDed: no time of day is at once >= 22:00 and < 06:00.
    one_block = rnd_policy(
        {
            "NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Europe/Berlin": "2200"},
            "NumericLessThan": {"mw:LocalTimeOfDay/Europe/Berlin": "0600"},
        }
    )
    assert not allowed(one_block, moment.isoformat())


BERLIN_NINE_TO_SIX = {
    "NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Europe/Berlin": "0900"},
    "NumericLessThan": {"mw:LocalTimeOfDay/Europe/Berlin": "1800"},
}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # 2024-03-31, clocks go 02:00 -> 03:00: from then on CEST, the window is 07:00Z-16:00Z
        ("2024-03-31T06:59:59Z", False),
        ("2024-03-31T07:00:00Z", True),
        ("2024-03-31T15:59:59Z", True),
        ("2024-03-31T16:00:00Z", False),
        # 2024-10-27, clocks go 03:00 -> 02:00: back on CET, the window is 08:00Z-17:00Z
        ("2024-10-27T07:59:59Z", False),
        ("2024-10-27T08:00:00Z", True),
        ("2024-10-27T16:59:59Z", True),
        ("2024-10-27T17:00:00Z", False),
    ],
)
def test_working_hours_on_the_days_clocks_change(when: str, expected: bool) -> None:
    assert allowed(rnd_policy(BERLIN_NINE_TO_SIX), when) is expected


@pytest.mark.parametrize(
    ("zone", "instants", "hhmm"),
    [
        ("Europe/Berlin", ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"], 230),  # 02:30 happens twice
        ("America/New_York", ["2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z"], 130),
    ],
)
def test_a_repeated_local_time_matches_both_instants(zone: str, instants: list[str], hhmm: int) -> None:
    policies = rnd_policy({"NumericEquals": {f"mw:LocalTimeOfDay/{zone}": hhmm}})
    assert all(allowed(policies, when) for when in instants)


def test_a_skipped_local_time_never_matches() -> None:
    # 2024-03-31 in Berlin has no 02:30: 00:59Z is 01:59 CET, 01:00Z is 03:00 CEST.
    policies = rnd_policy({"NumericEquals": {"mw:LocalTimeOfDay/Europe/Berlin": "0230"}})
    day = [f"2024-03-31T{hour:02d}:{minute:02d}:00Z" for hour in range(24) for minute in range(60)]
    assert not any(allowed(policies, when) for when in day)


def test_working_hours_hold_on_a_host_without_zone_files(tmp_path: Any) -> None:
    # A slim container has no /usr/share/zoneinfo: the zones then come from the tzdata package (a
    # dependency). Without it, every request of a user with such a policy was refused.
    script = (
        "from tests.policy.test_policy_extensions import WORKING_HOURS, allowed, rnd_policy\n"
        "print(allowed(rnd_policy(WORKING_HOURS), '2024-06-03T01:00:00Z'))\n"
    )
    env = {**os.environ, "PYTHONTZPATH": str(tmp_path)}  # an empty directory: no system zone data
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr
