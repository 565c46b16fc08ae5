"""Condition operators, absent keys, multi-valued keys, set quantifiers and request context conversion."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from ram_middleware.policy import OPERATORS, canonical_operator, make_request, parse_policy

ABSENT = object()


def holds(block: dict[str, Any], key: str, value: Any) -> bool:
    """Does the Condition ``block`` hold when the request carries ``key`` = ``value`` (or not at all)?"""
    policy = parse_policy(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": block}],
        }
    )
    context = {} if value is ABSENT else {key: value}
    return policy.statements[0].failed_condition(make_request("svc:Act", "*", context).context) is None


K = "acs:TestKey"

# (id, operator, policy values, request value, expected)
TABLE: list[tuple[str, str, Any, Any, bool]] = [
    # String family
    ("eq-exact", "StringEquals", "Abc", "Abc", True),
    ("eq-case-sensitive", "StringEquals", "Abc", "abc", False),
    ("eq-absent", "StringEquals", "Abc", ABSENT, False),
    ("eq-values-ored", "StringEquals", ["x", "Abc"], "Abc", True),
    ("ne-different", "StringNotEquals", "Abc", "abc", True),
    ("ne-same", "StringNotEquals", "Abc", "Abc", False),
    ("ne-absent", "StringNotEquals", "Abc", ABSENT, True),
    ("ne-matches-none-of-the-values", "StringNotEquals", ["a", "b"], "b", False),
    ("ieq-casefold", "StringEqualsIgnoreCase", "STRASSE", "straße", True),
    ("ieq-differs", "StringEqualsIgnoreCase", "vpc-a", "vpc-b", False),
    ("ine-same-ignoring-case", "StringNotEqualsIgnoreCase", "A", "a", False),
    ("ine-absent", "StringNotEqualsIgnoreCase", "A", ABSENT, True),
    ("like-star-question", "StringLike", "a*c?", "abbcd", True),
    ("like-question-needs-one", "StringLike", "a*c?", "ac", False),
    ("like-case-sensitive", "StringLike", "A*", "abc", False),
    ("like-star-crosses-slash", "StringLike", "home/*/docs", "home/a/b/docs", True),
    ("like-literal-dot", "StringLike", "a.c", "abc", False),
    ("notlike", "StringNotLike", "tmp/*", "home/x", True),
    ("notlike-hit", "StringNotLike", "tmp/*", "tmp/x", False),
    ("notlike-absent", "StringNotLike", "tmp/*", ABSENT, True),
    ("json-number-as-text", "StringEquals", 100, 100, True),
    ("json-number-vs-text", "StringEquals", 100, "100", True),
    ("json-float-as-text", "StringEquals", 2.5, "2.5", True),
    # Large and small floats: decimal text on both sides, never "1e+20" on one and digits on the other.
    ("json-exponent-float-as-text", "StringEquals", 1e20, 1e20, True),
    ("json-exponent-float-vs-text", "StringEquals", 1e-7, "0.0000001", True),
    ("json-exponent-float-not-equals", "StringNotEquals", 1e20, 1e20, False),
    ("json-bool-as-text", "StringEquals", True, True, True),
    ("json-bool-text-case", "StringEquals", True, "True", False),
    # Numeric family
    ("num-eq-decimal", "NumericEquals", "10", "10.0", True),
    ("num-eq-json-number", "NumericEquals", 10, "10", True),
    ("num-eq-unreadable", "NumericEquals", "10", "abc", False),
    ("num-ne-unreadable", "NumericNotEquals", "10", "abc", True),
    ("num-ne-same", "NumericNotEquals", "10", "10", False),
    ("num-lt-any-value", "NumericLessThan", ["5", "10"], "7", True),
    ("num-lt-none", "NumericLessThan", ["5", "10"], "12", False),
    ("num-lt-equal-is-not-less", "NumericLessThan", "10", "10", False),
    ("num-le-equal", "NumericLessThanEquals", "10", "10", True),
    ("num-gt", "NumericGreaterThan", "-1.5", "-1", True),
    ("num-gt-not", "NumericGreaterThan", "-1.5", "-2", False),
    ("num-ge-leading-zero", "NumericGreaterThanEquals", "0900", "900", True),
    ("num-ge-json-float", "NumericGreaterThanEquals", 2.5, 2.5, True),
    ("num-absent", "NumericLessThan", "10", ABSENT, False),
    ("num-exponent-unreadable", "NumericLessThan", "10", "1e0", False),
    ("num-bool-request-unreadable", "NumericEquals", "1", True, False),
    # Date family
    ("date-lt-zone-aware", "DateLessThan", "2024-01-01T00:00:00+08:00", "2023-12-31T15:59:59Z", True),
    ("date-lt-same-instant", "DateLessThan", "2024-01-01T00:00:00+08:00", "2023-12-31T16:00:00Z", False),
    ("date-le-same-instant", "DateLessThanEquals", "2024-01-01T00:00:00+08:00", "2023-12-31T16:00:00z", True),
    ("date-eq-fraction", "DateEquals", "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.500000000Z", True),
    ("date-eq-hhmm-offset", "DateEquals", "2024-01-01T08:00:00+0800", "2024-01-01T00:00:00Z", True),
    ("date-eq-negative-offset", "DateEquals", "2023-12-31T19:00:00-05:00", "2024-01-01T00:00:00Z", True),
    ("date-ne", "DateNotEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", True),
    ("date-gt", "DateGreaterThan", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000001Z", True),
    ("date-ge", "DateGreaterThanEquals", "2024-01-01T00:00:00Z", "2023-12-31T23:59:59Z", False),
    ("date-request-without-zone", "DateLessThan", "2099-01-01T00:00:00Z", "2024-01-01T00:00:00", False),
    ("date-request-unreadable-negated", "DateNotEquals", "2099-01-01T00:00:00Z", "yesterday", True),
    ("date-request-epoch-number", "DateLessThan", "2099-01-01T00:00:00Z", 1704067200, False),
    # request offsets with minutes 00-59 only: "+05:99" is unreadable, not +06:39
    ("date-offset-minutes-99", "DateLessThan", "2099-01-01T00:00:00Z", "2024-01-01T00:00:00+05:99", False),
    ("date-offset-minutes-60", "DateNotEquals", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00+0060", True),
    # Bool
    ("bool-true", "Bool", "true", True, True),
    ("bool-any-case", "Bool", "TRUE", "true", True),
    ("bool-json-policy", "Bool", False, "False", True),
    ("bool-mismatch", "Bool", "true", "false", False),
    ("bool-unreadable", "Bool", "true", "yes", False),
    ("bool-absent", "Bool", "false", ABSENT, False),
    # IP
    ("ip-cidr", "IpAddress", "203.0.113.0/24", "203.0.113.7", True),
    ("ip-outside", "IpAddress", "203.0.113.0/24", "203.0.114.7", False),
    ("ip-single-address", "IpAddress", "203.0.113.7", "203.0.113.7", True),
    ("ip-host-bits-normalised", "IpAddress", "10.0.0.1/8", "10.255.0.1", True),
    ("ip-v6", "IpAddress", "2001:db8::/32", "2001:db8:ffff::1", True),
    ("ip-v6-outside", "IpAddress", "2001:db8::/32", "2001:db9::1", False),
    ("ip-v4-never-v6", "IpAddress", "::/0", "10.0.0.1", False),
    ("ip-v6-never-v4", "IpAddress", "0.0.0.0/0", "2001:db8::1", False),
    ("ip-mapped-request", "IpAddress", "192.0.2.0/24", "::ffff:192.0.2.5", True),
    ("ip-mapped-request-hex", "IpAddress", "192.0.2.0/24", "::ffff:c000:205", True),
    ("ip-mapped-policy", "IpAddress", "::ffff:192.0.2.0/120", "192.0.2.5", True),
    ("ip-mapped-policy-outside", "IpAddress", "::ffff:192.0.2.0/120", "192.0.3.5", False),
    ("ip-unreadable", "IpAddress", "0.0.0.0/0", "abc", False),
    ("ip-unreadable-negated", "NotIpAddress", "10.0.0.0/8", "abc", True),
    ("notip-outside", "NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], "203.0.113.7", True),
    ("notip-inside-one", "NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], "192.168.1.1", False),
    ("notip-absent", "NotIpAddress", "10.0.0.0/8", ABSENT, True),
    # IfExists
    ("ifexists-absent", "StringEqualsIfExists", "x", ABSENT, True),
    ("ifexists-present-mismatch", "StringEqualsIfExists", "x", "y", False),
    ("ifexists-present-match", "NumericLessThanIfExists", "5", "4", True),
    ("ifexists-negated-absent", "NotIpAddressIfExists", "10.0.0.0/8", ABSENT, True),
    ("ifexists-negated-present", "NotIpAddressIfExists", "10.0.0.0/8", "10.1.1.1", False),
    # multi-valued request keys without a quantifier (spec decisions 7-8)
    ("multi-positive-any", "StringEquals", "a", ["b", "a"], True),
    ("multi-positive-none", "StringEquals", "a", ["b", "c"], False),
    ("multi-negated-one-hit", "StringNotEquals", "a", ["b", "a"], False),
    ("multi-negated-no-hit", "StringNotEquals", "a", ["b", "c"], True),
    ("multi-empty-is-absent", "StringEquals", "a", [], False),
    ("multi-empty-is-absent-negated", "StringNotEquals", "a", [], True),
    ("multi-unreadable-skipped", "NumericLessThan", "10", ["abc", "5"], True),
    # ForAnyValue / ForAllValues
    ("any-hit", "ForAnyValue:StringEquals", ["a", "b"], ["c", "b"], True),
    ("any-miss", "ForAnyValue:StringEquals", ["a", "b"], ["c"], False),
    ("any-absent", "ForAnyValue:StringEquals", "a", ABSENT, False),
    ("any-empty", "ForAnyValue:StringEquals", "a", [], False),
    ("any-single-value", "ForAnyValue:StringLike", "a*", "abc", True),
    ("any-negated", "ForAnyValue:StringNotEquals", "x", ["x", "y"], True),
    ("any-negated-all-hit", "ForAnyValue:StringNotEquals", "x", ["x"], False),
    ("any-ifexists-absent", "ForAnyValue:StringEqualsIfExists", "a", ABSENT, True),
    ("all-hit", "ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("all-one-miss", "ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("all-absent", "ForAllValues:StringEquals", "a", ABSENT, True),
    ("all-empty", "ForAllValues:StringEquals", "a", [], True),
    ("all-negated", "ForAllValues:StringNotEquals", "x", ["a", "b"], True),
    ("all-negated-one-hit", "ForAllValues:StringNotEquals", "x", ["a", "x"], False),
    ("all-ip", "ForAllValues:IpAddress", "10.0.0.0/8", ["10.1.1.1", "10.2.2.2"], True),
    ("all-ip-unreadable", "ForAllValues:IpAddress", "10.0.0.0/8", ["10.1.1.1", "bad"], False),
    ("all-ifexists-absent", "ForAllValues:NumericLessThanIfExists", "3", ABSENT, True),
    ("all-numeric", "ForAllValues:NumericLessThan", "3", ["1", "2"], True),
]


@pytest.mark.parametrize(
    ("operator", "values", "request_value", "expected"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_operator(operator: str, values: Any, request_value: Any, expected: bool) -> None:
    assert holds({operator: {K: values}}, K, request_value) is expected


def holds_as_text(operator: str, number: str, value: str) -> bool:
    """Like :func:`holds`, the policy value being ``number`` as written in the JSON text."""
    text = (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
        f'"Condition":{{"{operator}":{{"{K}":{number}}}}}}}]}}'
    )
    policy = parse_policy(text)
    return policy.statements[0].failed_condition(make_request("svc:Act", "*", {K: value}).context) is None


# (policy JSON number as written, operator, request value, expected): never read through a binary float
JSON_NUMBERS = [
    ("9007199254740993.5", "NumericGreaterThan", "9007199254740994", True),  # a float says ...994.0
    ("9007199254740993.5", "NumericLessThan", "9007199254740993", True),
    ("0.30000000000000001", "NumericEquals", "0.30000000000000001", True),  # a float says 0.3
    ("0.30000000000000001", "NumericEquals", "0.3", False),
    ("1e2", "NumericEquals", "100", True),
    ("-0", "NumericEquals", "0", True),
    ("12345678901234567890123", "NumericEquals", "12345678901234567890123", True),
    # String operators compare the JSON text as written; exponent form as plain decimal (decision 11)
    ("2.50", "StringEquals", "2.50", True),
    ("2.50", "StringEquals", "2.5", False),
    ("-0", "StringEquals", "-0", True),
    ("1e2", "StringEquals", "100", True),
    ("1e2", "StringEquals", "100.0", False),
    ("1e2", "StringEquals", "1e2", False),
    ("1.5E-7", "StringEquals", "0.00000015", True),
    ("0.30000000000000001", "StringLike", "0.30000000000000001", True),
]


@pytest.mark.parametrize(("number", "operator", "value", "expected"), JSON_NUMBERS)
def test_json_numbers_keep_value_and_text(number: str, operator: str, value: str, expected: bool) -> None:
    assert holds_as_text(operator, number, value) is expected


def test_every_base_operator_is_covered() -> None:
    used = {canonical_operator(t[1]) for t in TABLE}
    base = {name.split(":")[-1].removesuffix("IfExists") for name in used if name}
    assert base == {op.name for op in OPERATORS.values()}
    assert len(OPERATORS) == 21


def test_operator_and_key_names_are_case_insensitive() -> None:
    assert holds({"stringequals": {"ACS:TESTKEY": "v"}}, "acs:testkey", "v")
    assert holds({"foranyvalue:STRINGEQUALSifexists": {K: "v"}}, K, ["v"])
    assert canonical_operator("foranyvalue:stringlikeifexists") == "ForAnyValue:StringLikeIfExists"
    assert canonical_operator("notipaddress") == "NotIpAddress"
    assert canonical_operator("Null") is None


def test_operators_and_keys_are_anded() -> None:
    block = {"StringEquals": {"a:x": "1", "a:y": "2"}, "Bool": {"a:z": "true"}}
    policy = parse_policy(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": block}],
        }
    )
    statement = policy.statements[0]
    full = {"a:x": "1", "a:y": "2", "a:z": True}
    assert statement.failed_condition(make_request("a:b", "*", full).context) is None
    for missing in full:
        partial = {k: v for k, v in full.items() if k != missing}
        failed = statement.failed_condition(make_request("a:b", "*", partial).context)
        assert failed is not None and failed.key == missing


def test_explain_reports_observed_values() -> None:
    policy = parse_policy(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {
                        "IpAddress": {"acs:SourceIp": "10.0.0.0/8"},
                        "StringEquals": {"sts:ExternalId": "s"},
                        "StringLike": {"app:Tags": "x"},
                    },
                }
            ],
        }
    )
    ip, external, tags = policy.statements[0].conditions
    assert ip.explain({"acs:sourceip": "198.51.100.7"}) == "IpAddress acs:SourceIp observed 198.51.100.7"
    assert ip.explain({}) == "IpAddress acs:SourceIp absent"
    assert external.explain({"sts:externalid": "guess"}) == "StringEquals sts:ExternalId observed (redacted)"
    assert tags.explain({"app:tags": ("a", "b")}) == "StringLike app:Tags observed a, b"
    assert "\n" not in tags.explain({"app:tags": "x\nforged log line"})
    assert len(tags.explain({"app:tags": "y" * 10_000})) < 200


# --- request context conversion -------------------------------------------------------------------


def test_make_request_converts_values() -> None:
    moment = datetime(2024, 6, 3, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    request = make_request(
        "OSS:GetObject",
        "acs:OSS:cn-hangzhou:1:Bucket/Key",
        {
            "acs:SecureTransport": True,
            "acs:MFAPresent": False,
            "oss:MaxKeys": 2,
            "app:Ratio": 1.5,
            "app:Big": 1e20,
            "app:Exact": Decimal("2.50"),
            "acs:CurrentTime": moment,
            "acs:SourceIp": ipaddress.ip_address("10.0.0.1"),
            "acs:TagKeys": ["b", "a"],
            "app:Set": {"z", "y"},
            "app:Missing": None,
        },
    )
    ctx = request.context
    assert ctx["acs:securetransport"] == "true" and ctx["acs:mfapresent"] == "false"
    assert ctx["oss:maxkeys"] == "2" and ctx["app:ratio"] == "1.5"
    assert ctx["app:big"] == "100000000000000000000"
    assert ctx["app:exact"] == "2.50"
    assert ctx["acs:currenttime"] == "2024-06-03T02:00:00Z"
    assert ctx["acs:sourceip"] == "10.0.0.1"
    assert ctx["acs:tagkeys"] == ("b", "a")
    assert ctx["app:set"] == ("y", "z")
    assert "app:missing" not in ctx
    assert request.action_key == "oss:getobject" and request.service == "oss"
    assert request.resource_key == "acs:oss:cn-hangzhou:1:Bucket/Key" and not request.resource_is_ram


def test_request_normalises_even_when_built_directly() -> None:
    from ram_middleware.policy import Request

    request = Request("ram:CreateUser", "acs:RAM::1:user/Bob", {"ACS:MFAPresent": "false"})
    assert request.context == {"acs:mfapresent": "false"}
    assert request.resource_key == "acs:ram::1:user/bob" and request.resource_is_ram


def test_make_request_rejects_unsupported_values() -> None:
    with pytest.raises(TypeError):
        make_request("a:b", "*", {"k": object()})
    with pytest.raises(TypeError):
        make_request("a:b", "*", {"acs:CurrentTime": datetime(2024, 1, 1)})
    assert make_request("a:b", "*", {"acs:CurrentTime": datetime(2024, 1, 1, tzinfo=UTC)}).context == {
        "acs:currenttime": "2024-01-01T00:00:00Z"
    }
