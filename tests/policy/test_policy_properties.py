"""Property-based checks of the evaluator, the wildcard matcher and the parser."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ram_middleware.arn import _pieces_scan, compile_wildcard
from ram_middleware.errors import MalformedPolicyDocument
from ram_middleware.policy import (
    AttachedPolicy,
    PolicySet,
    Request,
    decide,
    decide_with_session,
    make_request,
    parse_policy,
)
from ram_middleware.policy.values import EPOCH, json_text, read_date, read_network

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACTIONS = [
    "ecs:*",
    "ecs:Describe*",
    "ecs:StopInstance",
    "oss:Get*",
    "*",
    "*:List*",
    "OSS:getobject",
    "e?s:*",
    "ram:*",
    "oss:*Object",
]
RESOURCES = [
    "*",
    "acs:ecs:*:*:instance/*",
    "acs:oss:*:*:bucket/*",
    "acs:oss:cn-hangzhou:1:bucket/a.txt",
    "ACS:OSS:cn-hangzhou:1:bucket*",
    "acs:ecs:cn-hangzhou:1:instance/i-?",
    "acs:RAM::1:user/*",
    "*bucket",
    "acs:oss:*:*:bucket",
    "acs:ram::1:user/Bob",
    "acs:oss:*:*:bucket/p?/*",
]
CONDITIONS: list[dict[str, Any]] = [
    {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}},
    {"Bool": {"acs:MFAPresent": "false"}},
    {"StringNotEquals": {"acs:SourceVpc": "vpc-a"}},
    {"NumericLessThanIfExists": {"oss:MaxKeys": "100"}},
    {"DateLessThan": {"acs:CurrentTime": "2024-06-03T12:00:00+08:00"}},
    {"ForAllValues:StringLike": {"acs:TagKeys": "env*"}},
    {"ForAnyValue:StringEquals": {"acs:TagKeys": ["team", "cost"]}},
    {"NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Asia/Shanghai": "0900"}},
]
REQ_ACTIONS = [
    "ecs:DescribeInstances",
    "ecs:StopInstance",
    "oss:GetObject",
    "oss:PutObject",
    "ram:ListUsers",
    "rds:ListTags",
]
REQ_RESOURCES = [
    "acs:ecs:cn-hangzhou:1:instance/i-1",
    "acs:oss:cn-hangzhou:1:bucket/a.txt",
    "acs:oss:cn-hangzhou:1:bucket",
    "acs:ram::1:user/bob",
    "acs:oss:r:1:bucket/p1/x",
]


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    body["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(
        st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3)
    )
    body["NotResource" if draw(st.integers(0, 4)) == 0 else "Resource"] = draw(
        st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2)
    )
    blocks = draw(st.lists(st.sampled_from(CONDITIONS), max_size=2))
    if blocks:
        body["Condition"] = {op: keys for block in blocks for op, keys in block.items()}
    return body


documents = st.lists(statements(), min_size=1, max_size=4).map(lambda s: {"Version": "1", "Statement": s})
policy_lists = st.lists(documents, max_size=4)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    context: dict[str, Any] = {}
    if draw(st.booleans()):
        context["acs:SourceIp"] = draw(
            st.sampled_from(["10.1.2.3", "192.0.2.1", "2001:db8::5", "::ffff:10.0.0.1"])
        )
    if draw(st.booleans()):
        context["acs:MFAPresent"] = draw(st.booleans())
    if draw(st.booleans()):
        context["acs:SourceVpc"] = draw(st.sampled_from(["vpc-a", "vpc-b"]))
    if draw(st.booleans()):
        context["oss:MaxKeys"] = draw(st.sampled_from(["10", "1000", "x"]))
    if draw(st.booleans()):
        context["acs:CurrentTime"] = draw(st.sampled_from(["2024-06-03T01:00:00Z", "2024-06-03T05:00:00Z"]))
    if draw(st.booleans()):
        context["acs:TagKeys"] = draw(st.lists(st.sampled_from(["env", "team", "cost", "envx"]), max_size=3))
    return make_request(draw(st.sampled_from(REQ_ACTIONS)), draw(st.sampled_from(REQ_RESOURCES)), context)


def attach(docs: list[dict[str, Any]]) -> list[AttachedPolicy]:
    return [AttachedPolicy(f"P{i}", "Custom", "v1", "user", "u", parse_policy(d)) for i, d in enumerate(docs)]


def effect(docs: list[dict[str, Any]], request: Request) -> str:
    return PolicySet(attach(docs)).decide(request).effect


def reference_effect(docs: list[dict[str, Any]], request: Request) -> str:
    """Spec section 3 by brute force: every statement, no index."""
    matched = [s.effect for p in attach(docs) for s in p.policy.statements if s.matches(request)]
    return "ExplicitDeny" if "Deny" in matched else "Allow" if "Allow" in matched else "ImplicitDeny"


@SETTINGS
@given(policy_lists, requests())
def test_index_agrees_with_brute_force(docs: list[dict[str, Any]], request: Request) -> None:
    policies = PolicySet(attach(docs))
    expected = reference_effect(docs, request)
    assert policies.decide(request).effect == expected
    assert policies.decide(request).effect == expected  # memoised path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.lists(statements(), min_size=20, max_size=40), st.lists(requests(), min_size=4, max_size=12))
def test_resource_prefix_index_agrees_with_brute_force(
    body: list[dict[str, Any]], batch: list[Request]
) -> None:
    # one policy with many statements, so the per-action candidate lists are long enough to be indexed
    docs = [{"Version": "1", "Statement": body}]
    policies = PolicySet(attach(docs))
    for request in batch:
        assert policies.decide(request).effect == reference_effect(docs, request)


@SETTINGS
@given(policy_lists, requests(), statements(effect="Deny"))
def test_adding_a_deny_never_allows(
    docs: list[dict[str, Any]], request: Request, extra: dict[str, Any]
) -> None:
    before = effect(docs, request)
    after = effect([*docs, {"Version": "1", "Statement": [extra]}], request)
    if before != "Allow":
        assert after != "Allow"
    if before == "ExplicitDeny":
        assert after == "ExplicitDeny"


@SETTINGS
@given(policy_lists, requests(), statements(effect="Allow"))
def test_adding_an_allow_never_lifts_an_explicit_deny(
    docs: list[dict[str, Any]], request: Request, extra: dict[str, Any]
) -> None:
    if effect(docs, request) == "ExplicitDeny":
        assert effect([*docs, {"Version": "1", "Statement": [extra]}], request) == "ExplicitDeny"


@SETTINGS
@given(policy_lists, requests(), st.randoms(use_true_random=False))
def test_order_never_changes_the_decision(docs: list[dict[str, Any]], request: Request, rnd: Any) -> None:
    shuffled = [dict(d, Statement=rnd.sample(d["Statement"], len(d["Statement"]))) for d in docs]
    rnd.shuffle(shuffled)
    assert effect(shuffled, request) == effect(docs, request)


@SETTINGS
@given(policy_lists, st.lists(documents, min_size=1, max_size=2), requests())
def test_session_policies_only_narrow_and_any_deny_wins(
    identity: list[dict[str, Any]], sessions: list[dict[str, Any]], request: Request
) -> None:
    """Spec section 3.4: a Deny in the role's policies or in any session policy wins; an Allow needs the
    role's policies and every session policy to allow; anything else is an implicit deny."""
    effects = [reference_effect(identity, request), *(reference_effect([d], request) for d in sessions)]
    expected = (
        "ExplicitDeny"
        if "ExplicitDeny" in effects
        else "Allow"
        if all(e == "Allow" for e in effects)
        else "ImplicitDeny"
    )
    session_attached = [
        AttachedPolicy(f"S{i}", "Session", "", "session", "", parse_policy(d, kind="session"))
        for i, d in enumerate(sessions)
    ]
    assert decide([*attach(identity), *session_attached], request).effect == expected
    one = decide_with_session(PolicySet(attach(identity)), PolicySet(session_attached[:1]), request)
    assert one.effect == decide(attach(identity), request, session_policy=session_attached[0].policy).effect


PATTERN_CHARS = st.sampled_from(list("ab/:.*?"))
TEXT_CHARS = st.sampled_from(list("ab/:.*?c"))
AB = st.sampled_from("ab")  # a small alphabet, so that pieces overlap and recur
# Patterns with several pieces between '*'s, over that alphabet
PIECES = st.lists(st.text(st.sampled_from("ab?"), max_size=3), min_size=2, max_size=5).map("*".join)


def reference_match(pattern: str, text: str) -> bool:
    """fnmatch-like translation: '*' → '.*', '?' → '.', everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


@settings(max_examples=600, deadline=None)
@given(st.text(PATTERN_CHARS, max_size=10), st.text(TEXT_CHARS, max_size=14))
def test_wildcard_agrees_with_reference(pattern: str, text: str) -> None:
    assert compile_wildcard(pattern)(text) is reference_match(pattern, text)


def dynamic_match(pattern: str, text: str) -> bool:
    """Reference for long texts: the textbook O(len(pattern) x len(text)) table, one row per text prefix."""
    row = [True] + [False] * len(pattern)  # row[j]: pattern[:j] matches the text read so far
    for j, p in enumerate(pattern):
        row[j + 1] = row[j] and p == "*"
    for ch in text:
        new = [False] * (len(pattern) + 1)
        for j, p in enumerate(pattern):
            new[j + 1] = (new[j] or row[j + 1]) if p == "*" else (row[j] and p in ("?", ch))
        row = new
    return row[-1]


@settings(max_examples=600, deadline=None)
@given(
    st.text(PATTERN_CHARS, max_size=10).filter(lambda p: "*" in p) | PIECES,
    st.text(TEXT_CHARS, max_size=14) | st.text(AB, max_size=14),
)
def test_piece_scan_agrees_with_reference(pattern: str, text: str) -> None:
    # The scan answers for long texts only; here it is run on short ones, with '?' pieces searched both by
    # the regex engine and by the bit-parallel scan.
    segments = re.sub(r"\*+", "*", pattern).split("*")
    expected = reference_match(pattern, text)
    assert dynamic_match(pattern, text) is expected  # the long-text reference, checked here
    assert _pieces_scan(segments)(text) is expected
    assert _pieces_scan(segments, short_piece=0)(text) is expected


def test_piece_scan_agrees_with_reference_exhaustively() -> None:
    # Every pattern over "ab?*" up to 6 characters against every text over "ab" up to 5: tight fits, where
    # an off-by-one in a finder or overlapping pieces would show, which random examples reach only by luck.
    texts = ["".join(t) for n in range(6) for t in itertools.product("ab", repeat=n)]
    for n in range(1, 7):
        for chars in itertools.product("ab?*", repeat=n):
            pattern = "".join(chars)
            if "*" not in pattern:
                continue
            segments = re.sub(r"\*+", "*", pattern).split("*")
            scans = (_pieces_scan(segments), _pieces_scan(segments, short_piece=0))
            for text in texts:
                expected = reference_match(pattern, text)
                assert all(scan(text) is expected for scan in scans), (pattern, text)


LONG_TEXTS = st.builds(
    lambda head, filler, count, tail: head + filler * count + tail,
    st.text(TEXT_CHARS, max_size=8) | st.text(AB, max_size=8),
    st.text(TEXT_CHARS, min_size=1, max_size=3) | st.text(AB, min_size=1, max_size=3),
    st.integers(0, 1500),
    st.text(TEXT_CHARS, max_size=8) | st.text(AB, max_size=8),
)


@settings(max_examples=200, deadline=None)
@given(st.text(PATTERN_CHARS, max_size=12) | PIECES, LONG_TEXTS)
def test_wildcard_on_long_texts_agrees_with_reference(pattern: str, text: str) -> None:
    expected = dynamic_match(pattern, text)
    assert compile_wildcard(pattern)(text) is expected
    if "*" in pattern:
        assert _pieces_scan(re.sub(r"\*+", "*", pattern).split("*"), short_piece=0)(text) is expected


@SETTINGS
@given(documents)
def test_parse_source_parse_is_stable(document: dict[str, Any]) -> None:
    first = parse_policy(document)
    second = parse_policy(first.source)
    assert second.source == first.source
    assert json.loads(first.source) == document
    assert [s.effect for s in second.statements] == [s.effect for s in first.statements]


KEYS = [
    "Version",
    "Statement",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Sid",
    "Principal",
    "RAM",
    "Service",
    "StringEquals",
    "IpAddress",
    "NumericLessThan",
    "DateLessThan",
    "Bool",
    "ForAllValues:StringLike",
    "acs:SourceIp",
    "mw:LocalWeekday/UTC",
    "Null",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(
        [
            "1",
            "Allow",
            "Deny",
            "*",
            "ecs:*",
            "acs:oss:*:*:b/*",
            "10.0.0.0/8",
            "true",
            "2024-01-01T00:00:00Z",
            "sts:AssumeRole",
            "acs:ram::1:root",
        ]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=25,
)
KINDS = st.sampled_from(["identity", "trust", "session"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=3) | JSON, KINDS)
def test_random_documents_parse_or_are_malformed(document: Any, kind: Any) -> None:
    text_or_mapping = document if isinstance(document, dict) else json.dumps(document)
    try:
        parse_policy(text_or_mapping, kind=kind)
    except MalformedPolicyDocument as exc:
        assert exc.code == "MalformedPolicyDocument" and isinstance(exc.path, str)


@settings(max_examples=300, deadline=None)
@given(
    documents,
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["", "{", "]", ",", '"', "1", "*"])),
        min_size=1,
        max_size=4,
    ),
    KINDS,
)
def test_mutated_text_parses_or_is_malformed(
    document: dict[str, Any], edits: list[tuple[int, str]], kind: Any
) -> None:
    text = parse_policy(document).source
    for position, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + 1 :]
    try:
        policy = parse_policy(text, kind=kind)
    except MalformedPolicyDocument:
        return
    assert parse_policy(policy.source, kind=kind).source == policy.source


NETWORKS = st.sampled_from([32, 128]).flatmap(
    lambda bits: st.tuples(st.integers(0, 2**bits - 1), st.integers(0, bits), st.just(bits))
)


@settings(max_examples=300, deadline=None)
@given(NETWORKS)
def test_network_after_slash_is_a_prefix_length_only(network: tuple[int, int, int]) -> None:
    number, prefix, bits = network
    address = ipaddress.IPv4Address(number) if bits == 32 else ipaddress.IPv6Address(number)
    read = read_network(f"{address}/{prefix}")
    assert read is not None and read == read_network(f"{address}/{prefix}", stored=True)
    assert read_network(f"{address}/0{prefix}") is None  # leading zero
    if bits == 32:  # ipaddress would read these as masks
        net = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
        assert read_network(f"{address}/{net.netmask}") is None
        assert read_network(f"{address}/{net.hostmask}") is None


DATE_FIELDS = st.tuples(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(["", "Z", "z", "+", "-"]),  # no zone, UTC, or an offset of this sign
    st.integers(0, 29),  # offset hours, some beyond 23
    st.integers(0, 99),  # offset minutes, some beyond 59
    st.booleans(),  # ":" between offset hours and minutes
    st.integers(0, 9),  # fraction digits
)
DateFields = tuple[datetime, str, int, int, bool, int]


@settings(max_examples=500, deadline=None)
@given(DATE_FIELDS)
def test_date_reading_agrees_with_datetime_arithmetic(fields: DateFields) -> None:
    # Spec decision 12: a zone is required; an offset is ±hh:mm or ±hhmm with hours 00-23, minutes 00-59.
    moment, zone, hours, minutes, colon, digits = fields
    fraction = f".{moment.microsecond:06d}{'7' * max(0, digits - 6)}"[: digits + 1] if digits else ""
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}{fraction}"  # %Y does not pad years before 1000
    if zone in ("+", "-"):
        text += f"{zone}{hours:02d}{':' if colon else ''}{minutes:02d}"
    else:
        text += zone
    valid = zone in ("Z", "z") or (zone in ("+", "-") and hours < 24 and minutes < 60)
    if not valid:
        assert read_date(text) is None, text
        return
    offset = timedelta(0)
    if zone in ("+", "-"):
        offset = timedelta(hours=hours, minutes=minutes) * (1 if zone == "+" else -1)
    kept = int(f"{moment.microsecond:06d}"[:digits].ljust(6, "0")) if digits else 0
    expected = moment.replace(microsecond=kept, tzinfo=timezone(offset))
    assert read_date(text) == (expected - EPOCH) // timedelta(microseconds=1), text


JSON_NUMBER_TEXT = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,2})?", fullmatch=True
)


def _bigger(plain: str) -> str:
    """A decimal text of slightly larger magnitude: one more digit at the end."""
    return plain + ("1" if "." in plain else ".1")


@settings(max_examples=300, deadline=None)
@given(JSON_NUMBER_TEXT)
def test_json_number_keeps_exact_value_and_text(number: str) -> None:
    text = (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":'
        f'{{"NumericEquals":{{"a:n":{number}}},"StringEquals":{{"a:s":{number}}}}}}}]}}'
    )
    policy = parse_policy(text)
    assert policy.source == text  # not rewritten
    numeric, string = policy.statements[0].conditions
    plain = format(Decimal(number), "f")  # the exact value, written out
    assert numeric.holds({"a:n": plain})
    assert not numeric.holds({"a:n": _bigger(plain)})
    as_written = plain if "e" in number.lower() else number
    assert string.holds({"a:s": as_written})
    assert not string.holds({"a:s": _bigger(as_written)})


PLAIN_JSON = st.recursive(
    st.none() | st.booleans() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(PLAIN_JSON)
def test_json_text_is_the_compact_encoding(data: Any) -> None:
    # parse_policy writes sources without numbers with the C encoder: both must give the same text
    assert json_text(data) == json.dumps(data, ensure_ascii=False, separators=(",", ":"))


_CONTEXT_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=70)


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=70), _CONTEXT_KEYS, st.text(max_size=8)), min_size=1, max_size=8))
def test_a_request_derives_its_keys_from_its_own_text_whatever_came_before(
    rounds: list[tuple[str, str, str]],
) -> None:
    # Lower-cased actions and context keys are remembered across requests: each request must still get
    # exactly its own, in any order and case (and for texts too long to be remembered).
    for action, key, value in rounds + rounds[::-1]:
        request = make_request(action, "acs:oss:*:1:bucket/a", {key: value, key.upper(): True})
        assert request.action == action
        assert request.action_key == action.lower()
        assert request.service == action.lower().partition(":")[0]
        expected = {key.lower(): value, key.upper().lower(): "true"}
        assert request.context == expected


@SETTINGS
@given(
    st.sampled_from(["Resource", "NotResource"]),
    st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3),
    st.sampled_from([*REQ_RESOURCES, "ACS:OSS:cn-hangzhou:1:Bucket", "acs:ram::1:USER/Bob"]),
)
def test_statement_resource_match_is_any_pattern_flipped_by_not_resource(
    element: str, patterns: list[str], resource: str
) -> None:
    document = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", element: patterns}]}
    statement = parse_policy(document).statements[0]
    request = make_request("oss:GetObject", resource)
    hit = any(p.matches(request.resource_key, request.resource_is_ram) for p in statement.resources)
    assert statement.matches_resource(request.resource_key, request.resource_is_ram) == (
        hit != (element == "NotResource")
    )


_V4_NETWORKS = st.builds(
    lambda address, length: str(ipaddress.ip_network((address, length), strict=False)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
_V6_NETWORKS = st.builds(  # inside 2000::/3: no IPv6 network spelling of IPv4 (mapped) space
    lambda address, length: str(ipaddress.ip_network((address, length), strict=False)),
    st.integers(2**125, 2**126 - 1),
    st.integers(3, 128),
)


@SETTINGS
@given(
    st.lists(st.one_of(_V4_NETWORKS, _V6_NETWORKS), min_size=1, max_size=4),
    st.one_of(*(st.ip_addresses(network=n) for n in ("0.0.0.0/0", "2000::/3", "::ffff:0:0/96"))),
)
def test_ip_address_condition_agrees_with_the_ipaddress_module(networks: list[str], address: Any) -> None:
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*",
             "Condition": {"IpAddress": {"acs:SourceIp": networks}}}
        ],
    }  # fmt: skip
    statement = parse_policy(document).statements[0]
    request = make_request("oss:GetObject", "*", {"acs:SourceIp": str(address)})
    mapped = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    expected = any(mapped in ipaddress.ip_network(network) for network in networks)
    assert (statement.failed_condition(request.context) is None) == expected
