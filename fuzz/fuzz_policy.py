"""Coverage-guided fuzz target (atheris): the policy parser and the evaluator behind it.

Each input is a policy document (JSON text, optionally wrapped around fragments of real documents so the
fuzzer starts from valid grammar), a policy kind and a length cap. The parser must either accept it — and
then a decision on a fuzzed request, and a re-parse of the canonical source, must succeed — or reject it
with MalformedPolicyDocument (message prefixed by the JSON path when it has one) or the length
InvalidParameter. Anything else is a crash.

Run: ``.venv/bin/python fuzz/fuzz_policy.py -max_total_time=60`` (see fuzz/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris  # type: ignore[import-not-found, import-untyped, unused-ignore]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from ram_middleware.errors import InvalidParameter, MalformedPolicyDocument
    from ram_middleware.policy import AttachedPolicy, PolicySet, evaluate_trust, make_request, parse_policy

FRAGMENTS = [
    '{"Version":"1","Statement":[',
    "]}",
    '{"Effect":"Allow","Action":"oss:*","Resource":"*"}',
    '{"Effect":"Deny","NotAction":["ram:*"],"NotResource":"acs:ram::1:user/*"}',
    ',"Condition":{',
    '"IpAddress":{"acs:SourceIp":["10.0.0.0/8","2001:db8::/32"]}',
    '"ForAllValues:StringLike":{"oss:Prefix":"a*"}',
    '"DateLessThanIfExists":{"acs:CurrentTime":"2024-01-01T00:00:00+08:00"}',
    '"Bool":{"acs:MFAPresent":true}',
    '"NumericLessThan":{"oss:MaxKeys":100}',
    '"Principal":{"RAM":["acs:ram::1:root"],"Service":"ecs.aliyuncs.com"}',
    '"Action":"sts:AssumeRole"',
    ",",
    "}",
    '"',
    "[",
    "{",
    ":",
    "null",
    "1e999",
    '"Sid":"x"',
]
KINDS = ["identity", "session", "trust"]


def document_from(fdp: atheris.FuzzedDataProvider) -> str:
    if fdp.ConsumeBool():
        return str(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 2000)))
    pieces = []
    for _ in range(fdp.ConsumeIntInRange(1, 24)):
        if fdp.ConsumeBool():
            pieces.append(str(fdp.PickValueInList(FRAGMENTS)))
        else:
            pieces.append(str(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))))
    return "".join(pieces)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    kind = fdp.PickValueInList(KINDS)
    max_length = fdp.PickValueInList([None, None, 64, 6144])
    text = document_from(fdp)
    try:
        compiled = parse_policy(text, kind=kind, max_length=max_length)
    except MalformedPolicyDocument as exc:
        if exc.path and not exc.message.startswith(exc.path + ": "):
            raise AssertionError(f"the message does not lead with the path: {exc.message!r}") from exc
        return
    except InvalidParameter as exc:
        if exc.code != "InvalidParameter.PolicyDocument.Length":
            raise
        return
    if parse_policy(compiled.source, kind=kind).source != compiled.source:
        raise AssertionError("the canonical source does not re-parse to itself")
    context = {
        str(fdp.ConsumeUnicodeNoSurrogates(12)): str(fdp.ConsumeUnicodeNoSurrogates(20)) for _ in range(3)
    }
    context["acs:SourceIp"] = fdp.PickValueInList(["10.1.2.3", "2001:db8::1", "x", "::ffff:10.0.0.1"])
    request = make_request(
        str(fdp.ConsumeUnicodeNoSurrogates(20)), str(fdp.ConsumeUnicodeNoSurrogates(40)), context
    )
    if kind == "trust":
        evaluate_trust(
            compiled, account_id="1", principal_arns=["acs:ram::1:user/a"], service=None, context=context
        )
    else:
        PolicySet([AttachedPolicy("Fuzz", "Custom", "v1", "user", "a", compiled)]).decide(request)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
