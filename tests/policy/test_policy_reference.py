"""The evaluator against an independent reference written from the spec alone (sections 2-3, decisions 2-13).

The brute-force checks in test_policy_properties reuse the compiled matchers; this reference shares no code
with ram_middleware.policy: wildcards become regular expressions, numbers Decimals, dates ``datetime``, IP
addresses ``ipaddress`` objects, and the absent-key, negation and set-quantifier rules are spelled out again.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ram_middleware.policy import AttachedPolicy, PolicySet, make_request, parse_policy

# --- the reference ------------------------------------------------------------------------------------------


def wildcard(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def lower_head(arn: str, *, pattern: bool) -> tuple[str, str | None]:
    """Decision 13: ``acs`` and the service field compare case-insensitively; returns (text, service)."""
    if arn[:4].lower() != "acs:":
        return arn, None
    end = arn.find(":", 4)
    if end >= 0:
        return arn[: end + 1].lower() + arn[end + 1 :], arn[4:end].lower()
    if pattern:  # no ':' after the service: a wildcard may reach into the case-sensitive fields
        stop = next((i for i in range(4, len(arn)) if arn[i] in "*?"), len(arn))
        return arn[:stop].lower() + arn[stop:], None
    return arn.lower(), arn[4:].lower()


def resource_matches(pattern: str, resource: str) -> bool:
    text, service = lower_head(resource, pattern=False)
    if service == "ram":  # RAM ARNs compare case-insensitively as a whole
        return wildcard(pattern.lower(), resource.lower())
    return wildcard(lower_head(pattern, pattern=True)[0], text)


def as_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def as_number(value: Any) -> Decimal | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return Decimal(value) if re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", value) else None


def as_date(text: str) -> float | None:
    found = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    iso = whole + (fraction or "")[:7] + ("+00:00" if zone == "Z" else zone)
    return datetime.fromisoformat(iso).timestamp()


def as_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def as_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    network = ipaddress.ip_network(text, strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(
        ipaddress.IPv6Network("::ffff:0:0/96")
    ):
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    return network


ORDERED = {
    "Equals": "==",
    "NotEquals": "==",  # negated: the positive sense is compared, then inverted
    "LessThan": "<",
    "LessThanEquals": "<=",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
}


def compare(a: Any, how: str, b: Any) -> bool:
    return bool({"==": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[how])


def value_matches(operator: str, policy_value: Any, request_value: str) -> bool:
    """Does one request value match one policy value, in the operator's positive sense?"""
    if operator in ("StringEquals", "StringNotEquals"):
        return as_text(policy_value) == request_value
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return as_text(policy_value).casefold() == request_value.casefold()
    if operator in ("StringLike", "StringNotLike"):
        return wildcard(as_text(policy_value), request_value)
    if operator.startswith("Numeric"):
        number = as_number(request_value)
        return number is not None and compare(number, ORDERED[operator[7:]], as_number(policy_value))
    if operator.startswith("Date"):
        moment = as_date(request_value)
        return moment is not None and compare(moment, ORDERED[operator[4:]], as_date(policy_value))
    if operator == "Bool":
        wanted = policy_value if isinstance(policy_value, bool) else policy_value.lower() == "true"
        return request_value.lower() in ("true", "false") and (request_value.lower() == "true") == wanted
    address, network = as_address(request_value), as_network(policy_value)  # IpAddress, NotIpAddress
    return address is not None and address.version == network.version and address in network


NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "NumericNotEquals",
    "DateNotEquals",
    "NotIpAddress",
}


def condition_holds(name: str, policy_values: Any, request: Any) -> bool:
    quantifier, _, operator = name.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    negated = operator in NEGATED
    values = policy_values if isinstance(policy_values, list) else [policy_values]
    if request is None or request == []:
        return if_exists or quantifier == "ForAllValues" or (not quantifier and negated)
    hits = [
        any(value_matches(operator, v, r) for v in values)
        for r in ([request] if isinstance(request, str) else request)
    ]
    if not quantifier:
        return any(hits) != negated
    satisfied = [hit != negated for hit in hits]
    return any(satisfied) if quantifier == "ForAnyValue" else all(satisfied)


def statement_matches(statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]) -> bool:
    actions = statement["Action"] if "Action" in statement else statement["NotAction"]
    hit = any(wildcard(a, action, ignore_case=True) for a in actions) != ("NotAction" in statement)
    resources = statement["Resource"] if "Resource" in statement else statement["NotResource"]
    hit = hit and any(resource_matches(r, resource) for r in resources) != ("NotResource" in statement)
    conditions = statement.get("Condition", {}).items()
    lowered = {key.lower(): value for key, value in context.items()}
    return hit and all(
        condition_holds(op, v, lowered.get(k.lower())) for op, keys in conditions for k, v in keys.items()
    )


def reference(documents: list[dict[str, Any]], action: str, resource: str, context: dict[str, Any]) -> str:
    effects = {
        s["Effect"]
        for d in documents
        for s in d["Statement"]
        if statement_matches(s, action, resource, context)
    }
    return "ExplicitDeny" if "Deny" in effects else "Allow" if "Allow" in effects else "ImplicitDeny"


# --- random documents and requests --------------------------------------------------------------------------

FAMILIES: dict[str, tuple[list[str], str, list[Any], list[str]]] = {
    # operators, key, policy values, request values
    "String": (
        [
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
            "StringLike",
            "StringNotLike",
        ],
        "acs:SourceVpc",
        ["vpc-a", "VPC-A", "vpc-*", "vpc-?", "STRASSE", True, 100],
        ["vpc-a", "VPC-A", "vpc-ab", "vpc-", "straße", "true", "100", ""],
    ),
    "Numeric": (
        [f"Numeric{suffix}" for suffix in ORDERED],
        "oss:MaxKeys",
        ["10", "-1.5", "0900", 5, 2.5],
        ["10", "10.0", "900", "-2", "x", "5", "2.50", "1e1"],
    ),
    "Date": (
        [f"Date{suffix}" for suffix in ORDERED],
        "acs:CurrentTime",
        ["2024-01-01T08:00:00+08:00", "2024-01-01T00:00:00Z", "2023-12-31T19:00:00-05:00"],
        [
            "2024-01-01T00:00:00Z",
            "2023-12-31T23:59:59Z",
            "2024-01-01T00:00:00.5Z",
            "x",
            "2024-01-01T00:00:01Z",
        ],
    ),
    "Bool": (["Bool"], "acs:MFAPresent", ["true", "FALSE", True, False], ["true", "false", "TRUE", "x"]),
    "IP": (
        ["IpAddress", "NotIpAddress"],
        "acs:SourceIp",
        ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1", "::ffff:10.0.0.0/104"],
        ["10.1.2.3", "::ffff:10.0.0.1", "2001:db8::1", "192.0.2.1", "", "garbage", "11.0.0.1"],
    ),
}
ACTIONS = [
    "ecs:*",
    "ECS:Describe*",
    "ecs:Stop?nstance",
    "*",
    "*:List*",
    "oss:Get*",
    "ram:*",
    "e*:*",
    "oss:*Object",
]
RESOURCES = [
    "*",
    "acs:ecs:*:*:instance/*",
    "acs:OSS:*:*:Bucket/*",
    "acs:oss:*:*:bucket/*",
    "acs:ram::1:user/Bob",
    "acs:RAM::*:USER/*",
    "acs:*:*:*:user/bob",
    "*bucket*",
    "acs:oss:*:*:bucket/a?txt",
    "acs:e*s:*:*:instance/I-1",
    "acs:*Secret*",
]
REQUEST_ACTIONS = [
    "ecs:DescribeInstances",
    "Ecs:stopinstance",
    "oss:GetObject",
    "oss:PutObject",
    "ram:ListUsers",
]
REQUEST_RESOURCES = [
    "acs:ecs:cn:1:instance/i-1",
    "acs:ecs:cn:1:instance/I-1",
    "acs:oss:cn:1:bucket/a.txt",
    "acs:OSS:cn:1:Bucket/a.txt",
    "ACS:Ram::1:User/BOB",
    "acs:oss:cn:1:Secret/x",
    "acs:kms:cn:1:secret/x",
]


@st.composite
def conditions(draw: st.DrawFn) -> tuple[str, str, Any]:
    operators, key, policy_values, _ = FAMILIES[draw(st.sampled_from(sorted(FAMILIES)))]
    name = draw(st.sampled_from(["", "ForAnyValue:", "ForAllValues:"])) + draw(st.sampled_from(operators))
    name += draw(st.sampled_from(["", "IfExists"]))
    usable = [
        v
        for v in policy_values
        if isinstance(v, str) or name.rpartition(":")[2].startswith(("String", "Bool"))
    ]
    usable = [v for v in usable if not (isinstance(v, bool) and "Numeric" in name)]
    values = draw(st.lists(st.sampled_from(usable), min_size=1, max_size=1 if "Bool" in name else 2))
    spelled = draw(st.sampled_from([key, key.upper(), key.lower()]))  # key names are case-insensitive
    return name, spelled, values if len(values) > 1 or draw(st.booleans()) else values[0]


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    statement["NotAction" if draw(st.integers(0, 6)) == 0 else "Action"] = draw(
        st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2)
    )
    statement["NotResource" if draw(st.integers(0, 6)) == 0 else "Resource"] = draw(
        st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2)
    )
    block: dict[str, dict[str, Any]] = {}
    for name, key, values in draw(st.lists(conditions(), max_size=2)):
        block.setdefault(name, {})[key] = values
    if block:
        statement["Condition"] = block
    return statement


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for _, key, _, request_values in FAMILIES.values():
        shape = draw(st.integers(0, 3))
        if shape == 1:  # a multi-valued key (an empty list counts as absent)
            context[key] = draw(st.lists(st.sampled_from(request_values), max_size=2))
        elif shape >= 2:
            context[key] = draw(st.sampled_from(request_values))
    return context


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(statements(), min_size=1, max_size=3), min_size=1, max_size=2),
    st.sampled_from(REQUEST_ACTIONS),
    st.sampled_from(REQUEST_RESOURCES),
    contexts(),
)
def test_evaluator_agrees_with_independent_reference(
    statement_lists: list[list[dict[str, Any]]], action: str, resource: str, context: dict[str, Any]
) -> None:
    documents = [{"Version": "1", "Statement": s} for s in statement_lists]
    attached = [
        AttachedPolicy(f"P{i}", "Custom", "v1", "user", "u", parse_policy(d)) for i, d in enumerate(documents)
    ]
    decided = PolicySet(attached).decide(make_request(action, resource, context)).effect
    assert decided == reference(documents, action, resource, context)
