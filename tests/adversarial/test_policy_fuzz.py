"""The policy parser under fuzz: random and mutated documents are either accepted — and then evaluate
without error on random requests, and re-parse from their canonical source — or rejected with
MalformedPolicyDocument (or the length InvalidParameter) whose message names a JSON path that really
locates the problem in the document."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ram_middleware.errors import InvalidParameter, MalformedPolicyDocument, RAMError
from ram_middleware.policy import (
    SYSTEM_POLICIES,
    AttachedPolicy,
    CompiledPolicy,
    PolicySet,
    evaluate_trust,
    make_request,
    parse_policy,
)
from tests.adapters.world import DENY_PROTECTED, RND_OSS

from .fuzzing import fuzz_settings, fuzz_timeout
from .tally import TALLY

pytestmark = pytest.mark.timeout(fuzz_timeout(240))

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "policy-cases.json"
KINDS = ("identity", "session", "trust")
TRUST = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": ["acs:ram::1:root"]},
            "Condition": {"StringEquals": {"sts:ExternalId": "abc"}},
        }
    ],
}


def seed_documents() -> list[Any]:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
    found: list[Any] = [p["document"] for case in cases for p in case["policies"]]
    found += [json.loads(policy.document) for policy in SYSTEM_POLICIES.values()]
    return [*found, DENY_PROTECTED, RND_OSS, TRUST]


SEEDS = seed_documents()

# --- locating a reported path in the document ---------------------------------------------------------------


def resolve(document: Any, path: str) -> bool:
    """Whether ``path`` (``Statement[1].Condition.IpAddress.acs:SourceIp[0]``) names a node of ``document``,
    or a missing key of an existing object ("X is required"). Keys may themselves contain dots."""
    node, rest = document, path
    while rest:
        if isinstance(node, list):
            found = re.match(r"\[(\d+)\]", rest)
            if found is None or int(found.group(1)) >= len(node):
                return False
            node, rest = node[int(found.group(1))], rest[found.end() :]
            continue
        if not isinstance(node, dict):
            return False
        if node is not document:
            if not rest.startswith("."):
                return False
            rest = rest[1:]
        keys = sorted(
            (k for k in node if rest == k or rest.startswith((k + ".", k + "["))), key=len, reverse=True
        )
        if not keys:
            return "." not in rest and "[" not in rest  # a required key that is absent
        node, rest = node[keys[0]], rest[len(keys[0]) :]
    return True


def check_rejection(text: str, exc: RAMError, max_length: int | None) -> None:
    if isinstance(exc, InvalidParameter):
        assert exc.code == "InvalidParameter.PolicyDocument.Length" and max_length is not None, exc
        return
    assert isinstance(exc, MalformedPolicyDocument), exc
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and exc.path:
        assert exc.message.startswith(exc.path + ": "), exc.message
        assert resolve(data, exc.path), f"{exc.path!r} does not locate anything in {text[:300]}"
    elif isinstance(data, dict):
        # Only whole-document problems carry no path: duplicate keys, numbers out of range, lone surrogates.
        assert re.search(r"duplicate key|out of range|not JSON|lone surrogate", exc.message), exc.message
    else:
        assert exc.path == "", exc
        assert re.search(r"JSON|empty|object", exc.message), exc.message


# --- random requests for accepted documents -----------------------------------------------------------------

context_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "10.1.2.3",
            "203.0.113.9",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "2024-06-03T02:00:00Z",
            "2024-06-03T02:00:00+08:00",
            "true",
            "false",
            "TRUE",
            "12",
            "-1.5",
            "1e400",
            "NaN",
        ]
    ),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.text(max_size=10), max_size=3),
)
context_keys = st.one_of(
    st.sampled_from(
        [
            "acs:SourceIp",
            "acs:CurrentTime",
            "acs:SecureTransport",
            "acs:MFAPresent",
            "acs:SourceVpc",
            "acs:AccessId",
            "sts:ExternalId",
            "oss:Prefix",
            "ACS:SOURCEIP",
            "mw:LocalTimeOfDay",
        ]
    ),
    st.text(max_size=12),
)
requests = st.builds(
    make_request,
    st.one_of(
        st.sampled_from(["oss:GetObject", "ecs:DescribeInstances", "ram:CreateUser", "sts:AssumeRole", "*"]),
        st.text(max_size=20),
    ),
    st.one_of(
        st.sampled_from(
            ["acs:oss:*:1:bucket/a.txt", "acs:ram::1:user/Bob", "acs:ecs:cn:1:instance/i-1", "*"]
        ),
        st.text(max_size=30),
    ),
    st.dictionaries(context_keys, context_values, max_size=5),
)


def exercise(compiled: CompiledPolicy, kind: str, probes: list[Any]) -> None:
    """An accepted document evaluates without error and survives a round trip through its source."""
    again = parse_policy(compiled.source, kind=kind)  # type: ignore[arg-type]
    assert again.source == compiled.source
    if kind == "trust":
        for request in probes:
            verdict = evaluate_trust(
                compiled,
                account_id="1",
                principal_arns=["acs:ram::1:user/bob"],
                service="ecs.aliyuncs.com",
                context=request.context,
            )
            assert verdict.effect in ("Allow", "ExplicitDeny", "ImplicitDeny")
        return
    policies = PolicySet([AttachedPolicy("Fuzzed", "Custom", "v1", "user", "bob", compiled)])
    for request in probes:
        assert policies.decide(request).effect in ("Allow", "ExplicitDeny", "ImplicitDeny")


def run_case(text: str, kind: str, max_length: int | None, probes: list[Any]) -> None:
    try:
        compiled = parse_policy(text, kind=kind, max_length=max_length)  # type: ignore[arg-type]
    except RAMError as exc:
        TALLY.record("policy-parser", 400, exc.code)
        check_rejection(text, exc, max_length)
        return
    TALLY.record("policy-parser", 200)
    exercise(compiled, kind, probes)


# --- documents ----------------------------------------------------------------------------------------------

ELEMENTS = [
    "Version",
    "Statement",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Principal",
    "Sid",
    "RAM",
    "Service",
    "Federated",
    "StringEquals",
    "IpAddress",
    "Bool",
    "DateLessThan",
    "NumericLessThan",
    "ForAllValues:StringLike",
    "ForAnyValue:StringEquals",
    "StringLikeIfExists",
    "Null",
    "acs:SourceIp",
    "acs:CurrentTime",
    "effect",
    "version",
]
SCALARS = [
    "1",
    "2",
    "Allow",
    "Deny",
    "*",
    "oss:*",
    "oss:Get?bject",
    "acs:oss:*:*:bucket/*",
    "acs:ram::1:root",
    "10.0.0.0/8",
    "10.0.0.1/33",
    "::ffff:10.0.0.0/104",
    "2024-01-01T00:00:00Z",
    "2024-01-01",
    "true",
    "TRUE",
    "yes",
    "1e999",
    "",
    " ",
    "ecs:",
    ":x",
    "a b:c",
    "acs:",
    "*:*",
]
json_scalars = st.one_of(
    st.sampled_from(SCALARS),
    st.text(max_size=15),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(ELEMENTS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=30,
)


OPERATOR_NAMES = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericLessThan",
    "NumericGreaterThanEquals",
    "NumericNotEquals",
    "DateLessThan",
    "DateGreaterThanEquals",
    "Bool",
    "IpAddress",
    "NotIpAddress",
]
operators = st.builds(
    lambda prefix, name, suffix, upper: (prefix + name + suffix).upper() if upper else prefix + name + suffix,
    st.sampled_from(["", "", "ForAnyValue:", "ForAllValues:"]),
    st.sampled_from(OPERATOR_NAMES),
    st.sampled_from(["", "", "IfExists"]),
    st.booleans(),
)
condition_values = st.one_of(
    st.sampled_from(
        [
            "10.0.0.0/8",
            "2001:db8::/32",
            "::ffff:10.0.0.0/104",
            "10.0.0.1/8",
            "2024-01-01T00:00:00Z",
            "2024-01-01T08:00:00.123+08:00",
            "true",
            "False",
            "12",
            "-0.5",
            "vpc-*",
            "a?c",
            "*",
        ]
    ),
    st.text(max_size=10),
    st.integers(),
    st.booleans(),
)
conditions = st.dictionaries(
    operators,
    st.dictionaries(
        context_keys.filter(lambda k: k.strip() == k and k),
        st.one_of(condition_values, st.lists(condition_values, max_size=3)),
        max_size=3,
    ),
    max_size=3,
)
patterns = st.one_of(
    st.sampled_from(
        ["*", "oss:*", "oss:Get*", "ecs:Describe?nstances", "*:List*", "RAM:*", "sts:AssumeRole"]
    ),
    st.from_regex(r"[a-z*?]{1,5}:[A-Za-z*?]{1,8}", fullmatch=True),
)
arns = st.one_of(
    st.sampled_from(
        ["*", "acs:oss:*:*:bucket/*", "acs:ram::1:user/*", "ACS:ECS:*:*:instance/i-?", "*bucket"]
    ),
    st.text(max_size=12).map(lambda t: "acs:" + t),
)


@st.composite
def statements(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    body[draw(st.sampled_from(["Action", "Action", "NotAction"]))] = draw(
        st.one_of(patterns, st.lists(patterns, min_size=1, max_size=3))
    )
    if kind != "trust" or draw(st.booleans()):
        body[draw(st.sampled_from(["Resource", "Resource", "NotResource"]))] = draw(
            st.one_of(arns, st.lists(arns, min_size=1, max_size=3))
        )
    if draw(st.booleans()):
        body["Condition"] = draw(conditions)
    if kind == "trust":
        body["Action"] = "sts:AssumeRole"
        body["Principal"] = {
            draw(st.sampled_from(["RAM", "Service", "Federated"])): draw(
                st.sampled_from(
                    ["acs:ram::1:root", "acs:ram::1:user/bob", "ecs.aliyuncs.com", "acs:ram::1:*"]
                )
            )
        }
    if draw(st.booleans()):
        body["Sid"] = draw(st.text(max_size=5))
    return body


@st.composite
def grammar_documents(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    found = draw(st.lists(statements(kind), min_size=1, max_size=3))
    return {"Version": "1", "Statement": found}


def mutate(document: Any, choices: list[int], replacement: Any) -> Any:
    """``document`` with one node (picked by ``choices``) replaced, deleted, or wrapped."""
    if not choices:
        return replacement
    pick, *rest = choices
    if isinstance(document, dict) and document:
        key = sorted(document)[pick % len(document)]
        copy = dict(document)
        if pick % 7 == 0:
            del copy[key]
        elif pick % 7 == 1:
            copy[key.lower() if key != key.lower() else key.upper()] = copy.pop(key)
        else:
            copy[key] = mutate(document[key], rest, replacement)
        return copy
    if isinstance(document, list) and document:
        index = pick % len(document)
        items = list(document)
        if pick % 5 == 0:
            del items[index]
        else:
            items[index] = mutate(document[index], rest, replacement)
        return items
    return [document, replacement] if pick % 3 == 0 else replacement


def text_mutate(text: str, position: int, insert: str, cut: int) -> str:
    at = position % (len(text) + 1)
    return text[:at] + insert + text[at + cut :]


@fuzz_settings(600)
@given(
    document=json_values,
    kind=st.sampled_from(KINDS),
    probes=st.lists(requests, min_size=1, max_size=3),
)
def test_random_documents(document: Any, kind: str, probes: list[Any]) -> None:
    run_case(json.dumps(document), kind, None, probes)


@fuzz_settings(600)
@given(data=st.data(), kind=st.sampled_from(KINDS), probes=st.lists(requests, min_size=1, max_size=3))
def test_grammar_documents(data: st.DataObject, kind: str, probes: list[Any]) -> None:
    run_case(json.dumps(data.draw(grammar_documents(kind))), kind, None, probes)


@fuzz_settings(800)
@given(
    seed=st.sampled_from(SEEDS),
    choices=st.lists(st.integers(0, 1000), min_size=1, max_size=6),
    replacement=st.one_of(patterns, arns, conditions, condition_values, json_values),
    kind=st.sampled_from(KINDS),
    probes=st.lists(requests, min_size=1, max_size=3),
)
def test_mutated_documents(
    seed: Any, choices: list[int], replacement: Any, kind: str, probes: list[Any]
) -> None:
    run_case(json.dumps(mutate(seed, choices, replacement)), kind, None, probes)


@fuzz_settings(600)
@given(
    seed=st.sampled_from(SEEDS),
    position=st.integers(0, 10_000),
    insert=st.one_of(
        st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "\\", "\\u0000", '"Effect":"Deny",', "\ud800"]),
        st.text(max_size=5),
    ),
    cut=st.integers(0, 5),
    kind=st.sampled_from(KINDS),
    max_length=st.one_of(st.none(), st.none(), st.integers(1, 400)),
    probes=st.lists(requests, min_size=1, max_size=2),
)
def test_mutated_text(
    seed: Any, position: int, insert: str, cut: int, kind: str, max_length: int | None, probes: list[Any]
) -> None:
    run_case(text_mutate(json.dumps(seed), position, insert, cut), kind, max_length, probes)


def test_empty_element_name_is_named() -> None:
    document = json.dumps(
        {"Version": "1", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}, "": 1}
    )
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(document)
    assert caught.value.path, caught.value.message
