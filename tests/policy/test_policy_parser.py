"""Parsing and validation of policy documents: rejected documents name the JSON path."""

from __future__ import annotations

import gc
import itertools
import json
import string
import tracemalloc
from typing import Any

import pytest

from ram_middleware.errors import InvalidParameter, MalformedPolicyDocument
from ram_middleware.policy import PolicyKind, parse_policy


def doc(*statements: Any) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


ALLOW_ALL: dict[str, Any] = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def stmt(**overrides: Any) -> dict[str, Any]:
    body = dict(ALLOW_ALL)
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def cond(block: Any) -> dict[str, Any]:
    return doc(stmt(Condition=block))


TRUST_OK: dict[str, Any] = {
    "Effect": "Allow",
    "Action": "sts:AssumeRole",
    "Principal": {"RAM": ["acs:ram::1234567890123456:root"]},
}

# (id, document, kind, exact path, fragment of the problem)
REJECTED: list[tuple[str, Any, PolicyKind, str, str]] = [
    (
        "number-out-of-range",
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
        '"Condition":{"StringEquals":{"app:k":1e400}}}]}',
        "identity",
        "",
        "out of range",
    ),
    (
        "number-out-of-range-small",
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
        '"Condition":{"StringEquals":{"app:k":1e-400}}}]}',
        "identity",
        "",
        "out of range",
    ),
    (
        "number-exponent-beyond-decimal",
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
        '"Condition":{"NumericLessThan":{"app:k":1e999999999999999999999}}}]}',
        "identity",
        "",
        "out of range",
    ),
    (
        "key-name-padded",
        cond({"StringEquals": {" acs:SourceVpc": "v"}}),
        "identity",
        "Statement[0].Condition.StringEquals. acs:SourceVpc",
        "spaces",
    ),
    ("not-json", '{"Version": "1",', "identity", "", "not valid JSON"),
    ("empty-text", "   ", "identity", "", "empty"),
    ("top-list", "[]", "identity", "", "must be a JSON object"),
    (
        "nan",
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
        '"Condition":{"NumericEquals":{"app:k":NaN}}}]}',
        "identity",
        "",
        "not valid JSON",
    ),
    (
        "duplicate-key",
        '{"Version":"1","Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}]}',
        "identity",
        "",
        "duplicate key 'Effect'",
    ),
    (
        "unknown-top",
        {"Version": "1", "Statement": [ALLOW_ALL], "Id": "x"},
        "identity",
        "Id",
        "unknown element",
    ),
    ("no-version", {"Statement": [ALLOW_ALL]}, "identity", "Version", "required"),
    (
        "version-number",
        {"Version": 1, "Statement": [ALLOW_ALL]},
        "identity",
        "Version",
        "1 is not a supported",
    ),
    (
        "version-2",
        {"Version": "2", "Statement": [ALLOW_ALL]},
        "identity",
        "Version",
        "'2' is not a supported",
    ),
    ("no-statement", {"Version": "1"}, "identity", "Statement", "required"),
    ("empty-statement", {"Version": "1", "Statement": []}, "identity", "Statement", "may not be empty"),
    ("statement-string", {"Version": "1", "Statement": "x"}, "identity", "Statement", "object or a list"),
    ("statement-item-not-object", doc(ALLOW_ALL, "x"), "identity", "Statement[1]", "must be an object"),
    (
        "unknown-statement-key",
        doc(stmt(Effects="Allow")),
        "identity",
        "Statement[0].Effects",
        "unknown element",
    ),
    ("lowercase-element", doc(stmt(action="*")), "identity", "Statement[0].action", "unknown element"),
    ("no-effect", doc(stmt(Effect=None)), "identity", "Statement[0]", "Effect is required"),
    # "Effect": null is there but wrong, not missing
    ("effect-null", doc({**ALLOW_ALL, "Effect": None}), "identity", "Statement[0].Effect", "null is not"),
    (
        "effect-case",
        doc(stmt(Effect="allow")),
        "identity",
        "Statement[0].Effect",
        "'allow' is not Allow or Deny",
    ),
    ("no-action", doc(stmt(Action=None)), "identity", "Statement[0]", "Action (or NotAction) is required"),
    ("both-actions", doc(stmt(NotAction="ram:*")), "identity", "Statement[0]", "not both"),
    ("empty-action-string", doc(stmt(Action="")), "identity", "Statement[0].Action", "may not be empty"),
    ("empty-action-list", doc(stmt(Action=[])), "identity", "Statement[0].Action", "empty list"),
    (
        "action-number",
        doc(ALLOW_ALL, stmt(Action=["ecs:*", 5])),
        "identity",
        "Statement[1].Action[1]",
        "5 is not a string",
    ),
    ("action-object", doc(stmt(Action={"a": 1})), "identity", "Statement[0].Action", "string or a list"),
    (
        "action-without-service",
        doc(stmt(Action="GetObject")),
        "identity",
        "Statement[0].Action",
        "is not an action",
    ),
    (
        "action-empty-name",
        doc(stmt(Action=["oss:"])),
        "identity",
        "Statement[0].Action[0]",
        "is not an action",
    ),
    (
        "action-whitespace",
        doc(stmt(Action="oss:GetObject ")),
        "identity",
        "Statement[0].Action",
        "contains whitespace",
    ),
    (
        "no-resource",
        doc(stmt(Resource=None)),
        "identity",
        "Statement[0]",
        "Resource (or NotResource) is required",
    ),
    ("session-no-resource", doc(stmt(Resource=None)), "session", "Statement[0]", "Resource (or NotResource)"),
    ("both-resources", doc(stmt(NotResource="acs:oss:*:*:b")), "identity", "Statement[0]", "not both"),
    ("empty-resource", doc(stmt(Resource=[])), "identity", "Statement[0].Resource", "empty list"),
    (
        "empty-notresource",
        doc(stmt(Resource=None, NotResource="")),
        "identity",
        "Statement[0].NotResource",
        "NotResource may not be empty",
    ),
    (
        "resource-not-arn",
        doc(stmt(Resource=["acs:oss:*:*:b", "bucket/*"])),
        "identity",
        "Statement[0].Resource[1]",
        "not a resource ARN",
    ),
    ("sid-number", doc(stmt(Sid=3)), "identity", "Statement[0].Sid", "must be a string"),
    ("sid-null", doc({**ALLOW_ALL, "Sid": None}), "identity", "Statement[0].Sid", "must be a string"),
    (
        "unimplemented-key",  # a Deny on acs:RequestedRegion would never fire: refused instead of accepted
        doc(stmt(Effect="Deny", Condition={"StringNotEquals": {"acs:RequestedRegion": "cn-hangzhou"}})),
        "identity",
        "Statement[0].Condition.StringNotEquals.acs:RequestedRegion",
        "not supported",
    ),
    ("lone-surrogate", doc(stmt(Action="ecs:\ud800")), "identity", "", "lone surrogate"),
    (
        "escaped-lone-surrogate",
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:\\udc00","Resource":"*"}]}',
        "identity",
        "",
        "lone surrogate",
    ),
    (
        "principal-in-identity",
        doc(stmt(Principal={"RAM": "acs:ram::1:root"})),
        "identity",
        "Statement[0].Principal",
        "only allowed in role trust policies",
    ),
    (
        "principal-in-session",
        doc(stmt(Principal={"RAM": "acs:ram::1:root"})),
        "session",
        "Statement[0].Principal",
        "only allowed",
    ),
    ("condition-list", cond([]), "identity", "Statement[0].Condition", "must be an object"),
    (
        "unknown-operator",
        cond({"StringEqual": {"app:k": "v"}}),
        "identity",
        "Statement[0].Condition.StringEqual",
        "unknown condition operator",
    ),
    (
        "null-operator",
        cond({"Null": {"app:k": "true"}}),
        "identity",
        "Statement[0].Condition.Null",
        "Null operator is not supported",
    ),
    (
        "null-ifexists",
        cond({"ForAnyValue:NullIfExists": {"app:k": "true"}}),
        "identity",
        "Statement[0].Condition.ForAnyValue:NullIfExists",
        "Null operator",
    ),
    (
        "double-quantifier",
        cond({"ForAnyValue:ForAllValues:StringEquals": {"app:k": "v"}}),
        "identity",
        "Statement[0].Condition.ForAnyValue:ForAllValues:StringEquals",
        "unknown condition operator",
    ),
    (
        "operator-no-keys",
        cond({"StringEquals": {}}),
        "identity",
        "Statement[0].Condition.StringEquals",
        "at least one condition key",
    ),
    (
        "operator-not-object",
        cond({"StringEquals": "x"}),
        "identity",
        "Statement[0].Condition.StringEquals",
        "must map condition keys",
    ),
    (
        "empty-key-name",
        cond({"StringEquals": {"": "x"}}),
        "identity",
        'Statement[0].Condition.StringEquals.""',
        "may not be empty",
    ),
    ("empty-operator-name", cond({"": {"app:k": "x"}}), "identity", 'Statement[0].Condition.""', "unknown"),
    # Alibaba's policy check refuses these ("Invalid condition key format", "Multiple Boolean values")
    *[
        (
            f"key-format-{i}",
            cond({"StringEquals": {key: "x"}}),
            "identity",
            f"Statement[0].Condition.StringEquals.{key}",
            "is not <service>:<key>",
        )
        for i, key in enumerate(["SourceIp", "acs:", ":SourceIp", "acs"])
    ],
    (
        "bool-two-values",
        cond({"Bool": {"acs:SecureTransport": ["true", "false"]}}),
        "identity",
        "Statement[0].Condition.Bool.acs:SecureTransport",
        "one boolean value",
    ),
    (
        "key-empty-list",
        cond({"StringEquals": {"acs:SourceVpc": []}}),
        "identity",
        "Statement[0].Condition.StringEquals.acs:SourceVpc",
        "at least one value",
    ),
    (
        "bad-cidr",
        doc(ALLOW_ALL, stmt(Condition={"IpAddress": {"acs:SourceIp": ["abc"]}})),
        "identity",
        "Statement[1].Condition.IpAddress.acs:SourceIp[0]",
        "'abc' is not an IP address or CIDR",
    ),
    (
        "bad-cidr-prefix",
        cond({"NotIpAddress": {"acs:SourceIp": "10.0.0.0/33"}}),
        "identity",
        "Statement[0].Condition.NotIpAddress.acs:SourceIp",
        "is not an IP address or CIDR",
    ),
    # After "/" only a CIDR prefix length: no netmask or host mask (/0.0.0.0 would read as /0), no "/08"
    *[
        (
            f"cidr-mask-{i}",
            cond({"IpAddress": {"acs:SourceIp": value}}),
            "identity",
            "Statement[0].Condition.IpAddress.acs:SourceIp",
            f"{value!r} is not an IP address or CIDR",
        )
        for i, value in enumerate(
            ["10.0.0.0/0.0.0.0", "10.0.0.0/0.0.0.255", "10.0.0.0/255.0.0.0", "10.0.0.0/08", "2001:db8::/032"]
        )
    ],
    (
        "ip-number",
        cond({"IpAddress": {"acs:SourceIp": 167772160}}),
        "identity",
        "Statement[0].Condition.IpAddress.acs:SourceIp",
        "167772160 is not an IP address",
    ),
    (
        "ip-scoped",
        cond({"IpAddress": {"acs:SourceIp": "fe80::1%eth0"}}),
        "identity",
        "Statement[0].Condition.IpAddress.acs:SourceIp",
        "not an IP address",
    ),
    (
        "bad-number",
        cond({"NumericLessThan": {"oss:MaxKeys": ["10", "ten"]}}),
        "identity",
        "Statement[0].Condition.NumericLessThan.oss:MaxKeys[1]",
        "'ten' is not a number",
    ),
    (
        "number-exponent",
        cond({"NumericEquals": {"app:k": "1e3"}}),
        "identity",
        "Statement[0].Condition.NumericEquals.app:k",
        "is not a number",
    ),
    (
        "number-bool",
        cond({"NumericEquals": {"app:k": True}}),
        "identity",
        "Statement[0].Condition.NumericEquals.app:k",
        "true is not a number",
    ),
    (
        "date-no-zone",
        cond({"DateLessThan": {"acs:CurrentTime": "2024-01-01T00:00:00"}}),
        "identity",
        "Statement[0].Condition.DateLessThan.acs:CurrentTime",
        "with a time zone",
    ),
    (
        "date-only",
        cond({"DateLessThan": {"acs:CurrentTime": "2024-01-01"}}),
        "identity",
        "Statement[0].Condition.DateLessThan.acs:CurrentTime",
        "ISO 8601",
    ),
    (
        "date-epoch",
        cond({"DateGreaterThan": {"acs:CurrentTime": 1704067200}}),
        "identity",
        "Statement[0].Condition.DateGreaterThan.acs:CurrentTime",
        "1704067200 is not an ISO 8601",
    ),
    (
        "date-month-13",
        cond({"DateEquals": {"acs:CurrentTime": "2024-13-01T00:00:00Z"}}),
        "identity",
        "Statement[0].Condition.DateEquals.acs:CurrentTime",
        "ISO 8601",
    ),
    (
        "date-offset-24h",
        cond({"DateEquals": {"acs:CurrentTime": "2024-01-01T00:00:00+24:00"}}),
        "identity",
        "Statement[0].Condition.DateEquals.acs:CurrentTime",
        "ISO 8601",
    ),
    (
        "date-offset-minutes-99",
        cond({"DateEquals": {"acs:CurrentTime": "2024-01-01T00:00:00+05:99"}}),
        "identity",
        "Statement[0].Condition.DateEquals.acs:CurrentTime",
        "ISO 8601",
    ),
    (
        "date-offset-minutes-60-compact",
        cond({"DateLessThan": {"acs:CurrentTime": "2024-01-01T00:00:00-0860"}}),
        "identity",
        "Statement[0].Condition.DateLessThan.acs:CurrentTime",
        "ISO 8601",
    ),
    (
        "bad-bool",
        cond({"Bool": {"acs:SecureTransport": "yes"}}),
        "identity",
        "Statement[0].Condition.Bool.acs:SecureTransport",
        "'yes' is not a boolean",
    ),
    (
        "bool-number",
        cond({"Bool": {"acs:SecureTransport": 1}}),
        "identity",
        "Statement[0].Condition.Bool.acs:SecureTransport",
        "1 is not a boolean",
    ),
    (
        "string-null",
        cond({"StringEquals": {"app:k": None}}),
        "identity",
        "Statement[0].Condition.StringEquals.app:k",
        "null is not a string",
    ),
    (
        "string-nested",
        cond({"StringEquals": {"app:k": ["a", ["b"]]}}),
        "identity",
        "Statement[0].Condition.StringEquals.app:k[1]",
        "is not a string",
    ),
    (
        "mw-unknown",
        cond({"NumericEquals": {"mw:LocalHour/UTC": "1"}}),
        "identity",
        "Statement[0].Condition.NumericEquals.mw:LocalHour/UTC",
        "unknown condition key",
    ),
    (
        "mw-bad-zone",
        cond({"NumericEquals": {"mw:LocalTimeOfDay/Mars/Base": "1"}}),
        "identity",
        "Statement[0].Condition.NumericEquals.mw:LocalTimeOfDay/Mars/Base",
        "IANA time zone",
    ),
    (
        "mw-no-zone",
        cond({"NumericEquals": {"mw:LocalWeekday/": "1"}}),
        "identity",
        "Statement[0].Condition.NumericEquals.mw:LocalWeekday/",
        "IANA time zone",
    ),
    (
        "mw-string-operator",
        cond({"StringEquals": {"mw:LocalWeekday/UTC": "1"}}),
        "identity",
        "Statement[0].Condition.StringEquals.mw:LocalWeekday/UTC",
        "use a Numeric operator",
    ),
    (
        "trust-no-principal",
        doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
        "trust",
        "Statement[0]",
        "Principal is required",
    ),
    (
        "trust-wrong-action",
        doc(dict(TRUST_OK, Action="ecs:*")),
        "trust",
        "Statement[0].Action",
        "is not sts:AssumeRole",
    ),
    (
        "trust-notaction",
        doc({k: v for k, v in TRUST_OK.items() if k != "Action"} | {"NotAction": "ecs:*"}),
        "trust",
        "Statement[0].NotAction",
        "NotAction is not allowed",
    ),
    (
        "trust-principal-string",
        doc(dict(TRUST_OK, Principal="*")),
        "trust",
        "Statement[0].Principal",
        "must be an object",
    ),
    (
        "trust-principal-type",
        doc(dict(TRUST_OK, Principal={"AWS": "x"})),
        "trust",
        "Statement[0].Principal.AWS",
        "unknown principal type",
    ),
    (
        "trust-principal-type-empty",
        doc(dict(TRUST_OK, Principal={"": "x"})),
        "trust",
        'Statement[0].Principal.""',
        "unknown principal type",
    ),
    (
        "trust-principal-wildcard",
        doc(dict(TRUST_OK, Principal={"RAM": ["acs:ram::*:root"]})),
        "trust",
        "Statement[0].Principal.RAM[0]",
        "literal",
    ),
    (
        "trust-principal-not-arn",
        doc(dict(TRUST_OK, Principal={"RAM": "alice"})),
        "trust",
        "Statement[0].Principal.RAM",
        "not a RAM ARN",
    ),
    (
        "trust-principal-empty",
        doc(dict(TRUST_OK, Principal={"Service": []})),
        "trust",
        "Statement[0].Principal.Service",
        "empty list",
    ),
]


@pytest.mark.parametrize(
    ("document", "kind", "path", "problem"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_rejected(document: Any, kind: PolicyKind, path: str, problem: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(document, kind=kind)
    err = info.value
    assert err.path == path
    assert problem in err.problem
    assert err.message == (f"{path}: {err.problem}" if path else err.problem)
    assert err.code == "MalformedPolicyDocument" and err.status == 400


def test_rejected_as_text_too() -> None:
    # The same violations are found whether the document arrives as text or as decoded JSON.
    for name, document, kind, path, _ in REJECTED:
        if isinstance(document, dict):
            with pytest.raises(MalformedPolicyDocument) as info:
                parse_policy(json.dumps(document), kind=kind)
            assert info.value.path == path, name


def test_message_example_from_the_brief() -> None:
    document = doc(ALLOW_ALL, stmt(Condition={"IpAddress": {"acs:SourceIp": ["abc"]}}))
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(document)
    assert (
        info.value.message
        == "Statement[1].Condition.IpAddress.acs:SourceIp[0]: 'abc' is not an IP address or CIDR"
    )


def test_single_statement_object_path() -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy({"Version": "1", "Statement": {"Effect": "Permit", "Action": "*", "Resource": "*"}})
    assert info.value.path == "Statement.Effect"


def test_non_serialisable_mapping() -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy({"Version": "1", "Statement": [{"Effect": "Allow", "Action": {1, 2}, "Resource": "*"}]})
    assert info.value.path == ""


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    text = '{"Version":"1","Statement":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(MalformedPolicyDocument):
        parse_policy(text)


def test_wrong_input_type() -> None:
    with pytest.raises(MalformedPolicyDocument):
        parse_policy(b'{"Version":"1"}')  # type: ignore[arg-type]


def test_max_length() -> None:
    text = json.dumps(doc(ALLOW_ALL))
    assert parse_policy(text, max_length=len(text)).source
    with pytest.raises(InvalidParameter) as info:
        parse_policy(text, max_length=len(text) - 1)
    assert info.value.code == "InvalidParameter.PolicyDocument.Length"
    compact = parse_policy(doc(ALLOW_ALL)).source
    with pytest.raises(InvalidParameter):
        parse_policy(doc(ALLOW_ALL), max_length=len(compact) - 1)
    # the length check comes before parsing, so an oversize document is not even decoded
    with pytest.raises(InvalidParameter):
        parse_policy("x" * 7000, max_length=6144)


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_policy(doc(ALLOW_ALL), kind="bucket")  # type: ignore[arg-type]


# --- accepted variants ----------------------------------------------------------------------------------


def test_statement_object_is_a_list_of_one() -> None:
    policy = parse_policy({"Version": "1", "Statement": ALLOW_ALL})
    assert len(policy.statements) == 1 and policy.statements[0].index == 0


def test_source_is_canonical_compact_json_in_document_order() -> None:
    text = (
        '{ "Version" : "1",\n "Statement" : [ {"Resource": "*", "Effect": "Allow", "Action": ["ecs:*"]} ] }'
    )
    policy = parse_policy(text)
    assert (
        policy.source == '{"Version":"1","Statement":[{"Resource":"*","Effect":"Allow","Action":["ecs:*"]}]}'
    )
    assert parse_policy(json.loads(text)).source == policy.source


def test_source_keeps_numbers_as_written() -> None:
    text = (
        '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": '
        '{"NumericLessThan": {"a:k": [2.50, 1e2, 9007199254740993.5, -0, 1E-7, 12345678901234567890123]}}}]}'
    )
    policy = parse_policy(text)
    assert policy.source == text.replace(" ", "")
    assert parse_policy(policy.source).source == policy.source
    assert policy.statements[0].conditions[0].values == (
        "2.50", "100", "9007199254740993.5", "-0", "0.0000001", "12345678901234567890123"
    )  # fmt: skip
    # a decoded document's floats are written as Python writes them, as before
    assert '"a:k":2.5}' in parse_policy(cond({"NumericLessThan": {"a:k": 2.5}})).source


def test_unicode_is_kept_in_source() -> None:
    policy = parse_policy(doc(stmt(Sid="研发", Resource="acs:oss:*:*:桶/*")))
    assert "研发" in policy.source and "桶" in policy.source


def test_every_element_accepted() -> None:
    policy = parse_policy(
        doc(
            {
                "Sid": "s1",
                "Effect": "Deny",
                "NotAction": ["ram:*", "ims:*"],
                "NotResource": ["acs:oss:*:*:public/*"],
                "Condition": {
                    "stringequals": {"acs:SourceVpc": ["vpc-a", 5, True, 2.5]},
                    "ForAnyValue:StringLikeIfExists": {"acs:TagKeys": "env*"},
                    "NumericLessThanEquals": {"oss:MaxKeys": [100, "2.5", -3]},
                    "DateGreaterThan": {"acs:CurrentTime": "2024-01-01T00:00:00.123456789+0800"},
                    "Bool": {"acs:SecureTransport": True, "acs:MFAPresent": "FALSE"},
                    "IpAddress": {"acs:SourceIp": ["10.0.0.1/8", "2001:db8::/32", "::ffff:192.0.2.0/120"]},
                },
            }
        )
    )
    s = policy.statements[0]
    assert (s.effect, s.sid, s.not_action, s.not_resource) == ("Deny", "s1", True, True)
    operators = [c.operator for c in s.conditions]
    assert operators[0] == "StringEquals"
    assert "ForAnyValue:StringLikeIfExists" in operators
    assert s.conditions[0].values == ("vpc-a", "5", "true", "2.5")
    assert s.conditions[0].key == "acs:sourcevpc" and s.conditions[0].key_name == "acs:SourceVpc"


def test_empty_condition_block_means_no_condition() -> None:
    assert parse_policy(cond({})).statements[0].conditions == ()


def test_trust_policy_forms() -> None:
    policy = parse_policy(
        doc(
            TRUST_OK,
            {"Effect": "Allow", "Action": ["sts:AssumeRole"], "Principal": {"Service": "ECS.aliyuncs.com"}},
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithSAML",
                "Principal": {"Federated": ["acs:ram::1234567890123456:saml-provider/IdP"]},
            },
            {
                "Effect": "Allow",
                "Action": "sts:*",
                "Resource": "*",
                "Principal": {"RAM": "acs:ram::1:user/Bob"},
                "Condition": {"StringEquals": {"sts:ExternalId": "abc"}},
            },
        ),
        kind="trust",
    )
    assert policy.kind == "trust"
    principals = [s.principal for s in policy.statements]
    assert principals[0] is not None and principals[0].ram == ("acs:ram::1234567890123456:root",)
    assert principals[1] is not None and principals[1].service == ("ecs.aliyuncs.com",)
    assert principals[2] is not None and principals[2].federated == (
        "acs:ram::1234567890123456:saml-provider/idp",
    )
    assert policy.statements[0].resources == ()


def test_session_kind_follows_identity_grammar() -> None:
    assert parse_policy(doc(ALLOW_ALL), kind="session").kind == "session"


def test_compiled_policy_is_immutable() -> None:
    policy = parse_policy(doc(ALLOW_ALL))
    with pytest.raises(AttributeError):
        policy.source = "x"  # type: ignore[misc]
    assert isinstance(policy.statements, tuple)


def test_documents_stored_before_a_check_was_added_still_compile() -> None:
    # A stored version is compiled again for every decision: refusing it then would fail every request of
    # everyone it is attached to. Only new documents are refused.
    documents = [
        doc({**ALLOW_ALL, "Sid": None}),
        doc(stmt(Effect="Deny", Condition={"StringNotEquals": {"acs:RequestedRegion": "cn-hangzhou"}})),
        doc(stmt(Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/255.0.0.0", "192.0.2.0/024"]}})),
        doc(stmt(Condition={"DateLessThan": {"acs:CurrentTime": "2024-01-01T00:00:00+05:99"}})),
        doc(stmt(Effect="Deny", Condition={"StringEquals": {"SourceVpc": "vpc-1"}})),
        doc(stmt(Condition={"Bool": {"acs:SecureTransport": ["true", "false"]}})),
    ]
    for document in documents:
        with pytest.raises(MalformedPolicyDocument):
            parse_policy(document)
        assert len(parse_policy(document, stored=True).statements) == 1
    with pytest.raises(MalformedPolicyDocument):  # the flag does not outlive the call
        parse_policy(documents[0])


def test_stored_zone_offset_minutes_read_as_before() -> None:
    document = doc(stmt(Condition={"DateLessThan": {"acs:CurrentTime": "2024-01-01T06:39:00+05:99"}}))
    condition = parse_policy(document, stored=True).statements[0].conditions[0]
    assert condition.holds({"acs:currenttime": "2023-12-31T23:59:59Z"})  # +05:99 read as +06:39
    assert not condition.holds({"acs:currenttime": "2024-01-01T00:00:00Z"})


def test_stored_netmask_reads_as_before() -> None:
    document = doc(stmt(Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/255.0.0.0"}}))
    condition = parse_policy(document, stored=True).statements[0].conditions[0]
    assert condition.holds({"acs:sourceip": "10.1.2.3"})
    assert not condition.holds({"acs:sourceip": "11.0.0.1"})


def test_a_discarded_document_leaves_no_large_compiled_patterns_behind() -> None:
    """AssumeRole validates its Policy parameter before it checks the caller may assume the role, so any
    signed caller can send many distinct session policies. Each holds a StringLike pattern that compiles to
    a large matcher; once the document is dropped, its matchers must go too (no process-wide cache may
    keep ~300 KB per call until memory runs out)."""
    pieces = ["".join(pair) + "?" for pair in itertools.product(string.ascii_letters, repeat=2)]

    def document(i: int) -> str:
        pattern = f"{i}*" + "*".join(pieces[(i * 470 + k) % len(pieces)] for k in range(470)) + "*"
        return json.dumps(cond({"StringLike": {"acs:SourceVpc": pattern}}))

    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(30):
            parse_policy(document(i), kind="session", max_length=2048)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 2_000_000, f"{kept:,} bytes kept after 30 documents were dropped"
