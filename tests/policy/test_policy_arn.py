"""ARN helpers and wildcard matching (spec decisions 2 and 13)."""

from __future__ import annotations

import time

import pytest

from ram_middleware.arn import (
    Arn,
    action_matches,
    action_service,
    compile_action,
    compile_resource,
    compile_wildcard,
    format_arn,
    normalize_resource,
    parse_arn,
    resource_matches,
)
from ram_middleware.errors import InvalidParameter


def test_parse_and_format_round_trip() -> None:
    arn = parse_arn("acs:OSS:cn-hangzhou:1234567890123456:bucket/dir:with:colons/a.txt")
    assert arn == Arn("oss", "cn-hangzhou", "1234567890123456", "bucket/dir:with:colons/a.txt")
    assert str(arn) == "acs:oss:cn-hangzhou:1234567890123456:bucket/dir:with:colons/a.txt"
    assert format_arn("ram", "", "1", "user/alice") == "acs:ram::1:user/alice"
    assert parse_arn("ACS:ram::1:root") == Arn("ram", "", "1", "root")


@pytest.mark.parametrize(
    "text", ["", "acs", "acs:oss", "acs:oss:r:1", "arn:aws:s3:::b", "acs::r:1:x", "acs:oss:r:1:"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_arn(text, param="RoleArn")
    assert info.value.code == "InvalidParameter.RoleArn"


# (pattern, text, expected) — exercises each fast path and the regex fallback
WILDCARDS = [
    ("abc", "abc", True),
    ("abc", "abcd", False),
    ("*", "", True),
    ("**", "anything/at:all", True),
    ("ab*", "ab", True),
    ("ab*", "abc/d:e", True),
    ("ab*", "a", False),
    ("*.txt", "dir/a.txt", True),
    ("*.txt", "dir/atxt", False),
    ("a*z", "az", True),
    ("a*z", "a/b:c z", True),
    ("ab*ba", "aba", False),  # head and tail may not overlap
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    ("a?c", "a/c", True),
    ("?", "", False),
    ("a*b*c", "aXbYc", True),
    ("a*b*c", "aXcYb", False),
    ("*a*a*a*b", "aaaa" * 5 + "b", True),
    ("a.c", "abc", False),
    ("a[b]c", "a[b]c", True),
    ("a+", "aa", False),
    ("a\\*", "a\\xyz", True),
    ("x*?y", "xy", False),
    ("x*?y", "x1y", True),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), WILDCARDS)
def test_wildcard(pattern: str, text: str, expected: bool) -> None:
    assert compile_wildcard(pattern)(text) is expected


def test_wildcard_is_compiled_once() -> None:
    assert compile_wildcard("acs:oss:*:*:bucket/*") is compile_wildcard("acs:oss:*:*:bucket/*")


def test_hostile_pattern_stays_linear() -> None:
    matcher = compile_wildcard("*a*a*a*a*a*a*a*a*a*a*b")
    text = "a" * 20_000
    started = time.perf_counter()
    assert matcher(text) is False
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "piece",
    ["a" * 6000 + "b", "a" * 5999 + "?b", "a" * 62 + "?b", "a?" * 3000 + "b"],
    ids=["literal", "long-with-?", "short-with-?", "alternating-?"],
)
def test_long_piece_against_long_text_stays_linear(piece: str) -> None:
    # A 6,000-character piece fits a 6,144-character policy; trying it at each of 64,000 positions took
    # ~0.5 s per decision.
    text = "x" + "a" * 64_000
    matchers = [
        compile_wildcard("*" + piece + "*"),
        compile_resource("acs:orders:*:*:*" + piece + "*").match_cs,
    ]
    started = time.perf_counter()
    assert matchers[0](text) is False
    assert matchers[1]("acs:orders:cn:1:" + text) is False
    assert time.perf_counter() - started < 0.25


def test_actions_are_case_insensitive() -> None:
    assert action_matches("ECS:describe*", "ecs:DescribeInstances")
    assert action_matches("ecs:Describe?nstances", "ECS:DESCRIBEINSTANCES")
    assert not action_matches("ecs:Describe?Instances", "ecs:DescribeInstances")
    assert action_service("OSS:GetObject") == "oss" and action_service("*") == "*"
    assert compile_action("ECS:Describe*").service == "ecs"
    assert compile_action("*:Describe*").service is None
    assert compile_action("e?s:Describe*").service is None


# (pattern, resource, expected) — spec decision 13
RESOURCES = [
    ("acs:oss:*:*:bucket/*", "acs:oss:cn-hangzhou:1:bucket/dir/a.txt", True),
    ("acs:oss:*:*:bucket", "acs:oss:cn-hangzhou:1:bucket/a.txt", False),
    ("acs:oss:*:*:bucket/*", "acs:oss:cn-hangzhou:1:bucket", False),
    ("ACS:OSS:*:*:bucket/*", "acs:oss:r:1:bucket/a", True),  # prefix and service are case-insensitive
    ("acs:oss:*:*:bucket/*", "ACS:Oss:r:1:bucket/a", True),
    ("acs:oss:*:*:Bucket/*", "acs:oss:r:1:bucket/a", False),  # relative id is case-sensitive
    ("acs:ecs:CN-hangzhou:*:*", "acs:ecs:cn-hangzhou:1:instance/i-1", False),  # so is the region
    ("acs:ram::1:user/Alice", "acs:ram::1:user/alice", True),  # RAM: the whole ARN is case-insensitive
    ("acs:RAM::1:role/OPS", "ACS:ram::1:role/ops", True),
    ("*:user/Alice", "acs:ram::1:user/alice", True),
    ("*:user/Alice", "acs:other::1:user/alice", False),
    ("*", "acs:anything:r:1:x", True),
    ("*", "", True),
    ("acs:rds:*:*:*", "acs:rds:cn-beijing:1:dbinstance/rm-1", True),
    ("acs:rds:*:*:*", "acs:ecs:cn-beijing:1:instance/i-1", False),
    ("acs:oss:*:*:b/?.txt", "acs:oss:r:1:b/a.txt", True),
    # A wildcard in the service field may reach into the case-sensitive fields: only what precedes it is
    # lowered (lowering "Secret" too made a Deny on "acs:*Secret*" miss ".../Secret/plan.txt").
    ("acs:*Secret*", "acs:oss:cn-hangzhou:1:Secret/plan.txt", True),
    ("acs:*Secret*", "acs:oss:cn-hangzhou:1:secret/plan.txt", False),
    ("acs:oss*Secret*", "acs:OSS:r:1:Secret/x", True),
    ("acs:OSS*:b/*", "acs:oss:r:1:b/x", True),
    ("ACS:Oss?:*", "acs:ossx:r:1:b", True),
    ("acs:O?S:*:*:*", "acs:oss:cn-hangzhou:1:bucket/x", True),  # a wildcard in the service keeps it a service
    ("acs:E*S:*:*:*", "acs:ecs:cn-hangzhou:1:instance/i-1", True),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), RESOURCES)
def test_resource_case_rules(pattern: str, resource: str, expected: bool) -> None:
    assert resource_matches(pattern, resource) is expected


def test_normalize_resource() -> None:
    assert normalize_resource("ACS:OSS:R:1:Bucket/X") == ("acs:oss:R:1:Bucket/X", False)
    assert normalize_resource("acs:Ram::1:User/Bob") == ("acs:ram::1:user/bob", True)
    assert normalize_resource("not-an-arn/X") == ("not-an-arn/X", False)
    assert compile_resource("*").is_any and not compile_resource("acs:*").is_any
