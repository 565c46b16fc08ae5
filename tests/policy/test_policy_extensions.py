"""The mw:LocalTimeOfDay/<zone> and mw:LocalWeekday/<zone> extension keys."""

from __future__ import annotations

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
