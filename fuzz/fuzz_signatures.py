"""Coverage-guided fuzz target (atheris): the signature parsers and the request path behind them.

Each input becomes one request (method, raw path, raw query, headers, body, peer) whose credential is
shaped like one of the schemes the server accepts (RPC v1, ACS3, ROA, OSS V1, OSS V4, STS tokens), with real
AccessKeyIds of a small in-memory account so lookups succeed and the parsers run to the end. Two checks:

* the authenticator either returns a principal or raises a :class:`RAMError` with a 4xx status — any other
  exception is a crash;
* the authorizer answers with a well-formed Alibaba JSON error (or allows); a 503 would mean it caught an
  unexpected exception (the in-memory backends cannot be unreachable), so it is reported as a crash too.

Run: ``.venv/bin/python fuzz/fuzz_signatures.py -max_total_time=60`` (see fuzz/README.md).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import atheris  # type: ignore[import-not-found, import-untyped, unused-ignore]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from ram_middleware import errors
    from ram_middleware.audit import AuditEvent
    from ram_middleware.config import RamConfig, build
    from ram_middleware.facts import RequestFacts
    from ram_middleware.routes import RouteRule

NOW = datetime(2030, 3, 4, 2, 0, 0, tzinfo=UTC)


class Discard:
    """An audit sink that keeps nothing (a memory sink would grow for the whole run)."""

    def emit(self, event: AuditEvent) -> None:
        del event


RAM = build(
    RamConfig(store_url="memory://", audit=Discard(), clock=lambda: NOW, trusted_proxies=("192.0.2.0/24",))
)
ACCOUNT = RAM.service.create_account().account_id
RAM.service.create_user(ACCOUNT, "alice")
RAM.service.attach_policy_to_user(ACCOUNT, "System", "AliyunECSFullAccess", "alice")
KEY = RAM.service.create_access_key(ACCOUNT, "alice")
ROOT_KEY = RAM.service.create_access_key(ACCOUNT, None)
TRUST = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{"RAM":["acs:ram::ACCOUNT:root"]}}]}'
)
RAM.service.create_role(ACCOUNT, "Deployer", TRUST.replace("ACCOUNT", ACCOUNT))
ROLE = RAM.service.get_role(ACCOUNT, "Deployer")
SESSION = RAM.tokens.issue(
    account_id=ACCOUNT,
    role_name=ROLE.role_name,
    role_id=ROLE.role_id,
    session_name="fuzz",
    duration_seconds=3600,
    session_policy='{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
)
RULE = RouteRule("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{InstanceId}")

KEY_IDS = [
    KEY.key.access_key_id,
    ROOT_KEY.key.access_key_id,
    SESSION.access_key_id,
    "LTAInotakey",
    "STS.nope",
    "",
]
TOKENS = [SESSION.security_token, SESSION.security_token[:-4], "v1..", "v1.AAAA.BBBB", ""]
TIMES = [
    "2030-03-04T02:00:00Z",
    "2030-03-04T02:14:59Z",
    "2030-03-04T02:00:00.5Z",
    "Mon, 04 Mar 2030 02:00:00 GMT",
    "20300304T020000Z",
    "2030-02-30T02:00:00Z",
    "x",
]
HEADER_NAMES = [
    "authorization",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
    "x-acs-accesskey-id",
    "x-acs-action",
    "x-acs-version",
    "x-acs-signature-method",
    "date",
    "content-md5",
    "content-type",
    "x-oss-date",
    "x-oss-security-token",
    "x-oss-content-sha256",
    "host",
    "x-forwarded-for",
    "x-acs-bearer-token",
    "forwarded",
    "x-forwarded-proto",
]
SCHEME_WORDS = ["ACS3-HMAC-SHA256 ", "acs ", "OSS ", "OSS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 ", "Bearer ", ""]
RPC_NAMES = [
    "Action",
    "Version",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "SecurityToken",
    "Format",
    "InstanceId",
    "BearerToken",
    "acl",
]


def _text(fdp: atheris.FuzzedDataProvider, limit: int) -> str:
    return str(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, limit)))


def _value(fdp: atheris.FuzzedDataProvider) -> str:
    choice = fdp.ConsumeIntInRange(0, 5)
    if choice == 0:
        return str(fdp.PickValueInList(KEY_IDS))
    if choice == 1:
        return str(fdp.PickValueInList(TOKENS))
    if choice == 2:
        return str(fdp.PickValueInList(TIMES))
    if choice == 3:
        word = fdp.PickValueInList(SCHEME_WORDS)
        return f"{word}Credential={fdp.PickValueInList(KEY_IDS)}{_text(fdp, 120)}"
    return _text(fdp, 80)


def facts_from(data: bytes) -> RequestFacts:
    fdp = atheris.FuzzedDataProvider(data)
    method = fdp.PickValueInList(["GET", "POST", "DELETE", "PUT", "HEAD", "get"])
    path = "/instances/" + _text(fdp, 30)
    pairs = [f"{fdp.PickValueInList(RPC_NAMES)}={_value(fdp)}" for _ in range(fdp.ConsumeIntInRange(0, 10))]
    query = "&".join(pairs) + _text(fdp, 20)
    headers = tuple(
        (fdp.PickValueInList(HEADER_NAMES), _value(fdp)) for _ in range(fdp.ConsumeIntInRange(0, 10))
    )
    peer = fdp.PickValueInList(["127.0.0.1", "192.0.2.10", "::1", "", "junk"])
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    return RequestFacts(method, path, query, headers, body, peer or None)


def TestOneInput(data: bytes) -> None:
    facts = facts_from(data)
    try:
        RAM.authenticator.authenticate(facts)
    except errors.RAMError as exc:
        if not 400 <= exc.status < 500:
            raise AssertionError(f"authenticator raised a {exc.status}: {exc}") from exc
    outcome = RAM.authorizer.check(facts, RULE, {"InstanceId": "i-1"})
    if outcome.error is not None:
        if outcome.error.status >= 500:
            raise AssertionError(
                f"the authorizer failed closed on an unexpected error: {outcome.error.body!r}"
            )
        body = json.loads(outcome.error.body) if b"<?xml" not in outcome.error.body[:8] else None
        if body is not None and not all(
            isinstance(body.get(k), str) and body[k] for k in ("RequestId", "Code", "Message")
        ):
            raise AssertionError(f"malformed error body {outcome.error.body!r}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
