"""The framework-free request path: fail-closed behaviour, response formats, undeclared-route modes."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest

from ram_middleware import errors
from ram_middleware.audit import AuditEvent, MemorySink
from ram_middleware.authorizer import (
    Authenticating,
    Authorizer,
    Claim,
    DiagnosticCodec,
    Outcome,
    new_request_id,
)
from ram_middleware.facts import RequestFacts
from ram_middleware.identity import Principal
from ram_middleware.routes import RouteRule

from .world import World, make_world

RULE = RouteRule("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{id}")


def _facts(
    world: World, who: str | None, path: str = "/i/i-1", query: str = "", scheme: str = "acs3"
) -> RequestFacts:
    url = f"http://example.test{path}" + (f"?{query}" if query else "")
    headers: list[tuple[str, str]] = [("host", "example.test")]
    if who is not None:
        signed = world.signer(who, scheme).sign("GET", url, [], b"")
        url = signed.url
        headers = [(k, v) for k, v in signed.headers.items()]
    _, _, rest = url.partition("example.test")
    raw_path, _, raw_query = rest.partition("?")
    return RequestFacts("GET", raw_path, raw_query, tuple(headers), b"", "203.0.113.7", "http")


def _check(world: World, who: str | None, rule: RouteRule | None = RULE, **kw: str) -> Outcome:
    return world.ram.authorizer.check(_facts(world, who, **kw), rule, {"id": "i-1"})


class BrokenSink:
    def emit(self, event: AuditEvent) -> None:
        raise OSError("disk full")


class ExplodingRule:
    public = False

    def resolve(
        self, facts: RequestFacts, path_params: Mapping[str, str], account_id: str
    ) -> tuple[str, str]:
        raise RuntimeError("bug in an application rule")


def test_allowed_outcome_carries_principal_and_decision(world: World) -> None:
    outcome = _check(world, "alice")
    assert outcome.allowed and outcome.error is None
    assert outcome.principal is not None and outcome.principal.name == "alice"
    assert outcome.decision is not None and outcome.decision.effect == "Allow"
    assert outcome.resource == f"acs:ecs:*:{world.account_id}:instance/i-1"


def test_audit_sink_failure_turns_an_allow_into_503(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.ram.authorizer.audit = BrokenSink()
    with caplog.at_level(logging.ERROR, "ram_middleware.authorizer"):
        outcome = _check(world, "alice")
    assert outcome.error is not None and outcome.error.status == 503
    assert "audit sink failed" in caplog.text


def test_unexpected_exception_fails_closed_and_is_audited(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "ram_middleware.authorizer"):
        outcome = world.ram.authorizer.check(_facts(world, "alice"), ExplodingRule(), {})
    assert outcome.error is not None
    assert (outcome.error.status, outcome.error.code) == (503, "ServiceUnavailable")
    assert b"bug in an application rule" not in outcome.error.body
    event = world.audit.events[-1]
    assert (event.decision, event.status, event.principal_arn) == ("Rejected", 503, world.arn("alice"))
    assert "failed closed" in caplog.text


def test_xml_error_body_when_the_request_asks_for_xml(world: World) -> None:
    outcome = _check(world, "eve", query="Format=XML", scheme="v1")
    assert outcome.error is not None
    headers = dict(outcome.error.headers)
    assert headers["content-type"] == "text/xml;charset=utf-8"
    body = outcome.error.body.decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Error><RequestId>')
    assert "<Code>NoPermission</Code>" in body and "<NoPermissionType>ImplicitDeny</NoPermissionType>" in body


def test_host_id_is_included_when_configured() -> None:
    world = make_world(host_id="api.example.test")
    try:
        outcome = _check(world, None)
        assert outcome.error is not None
        assert b'"HostId":"api.example.test"' in outcome.error.body
    finally:
        world.ram.close()


@pytest.mark.parametrize(
    ("mode", "who", "status"),
    [("deny", "alice", 403), ("deny", None, 401), ("authenticate", "eve", None), ("authenticate", None, 401),
     ("allow", None, None)],
)  # fmt: skip
def test_undeclared_modes(mode: str, who: str | None, status: int | None) -> None:
    world = make_world(undeclared=mode)
    try:
        outcome = _check(world, who, rule=None)
        assert (outcome.error.status if outcome.error else None) == status
        if mode == "allow":
            assert world.audit.events == []  # nothing was decided
        elif status is None:
            assert world.audit.events[-1].decision == "Allow"
    finally:
        world.ram.close()


def test_bad_undeclared_setting_is_refused(world: World) -> None:
    with pytest.raises(errors.InvalidParameter):
        Authorizer(world.ram.authenticator, world.ram.directory, undeclared="maybe", audit=MemorySink())  # type: ignore[arg-type]


def test_root_is_always_allowed_when_root_keys_are() -> None:
    world = make_world(allow_root_keys=True)
    try:
        outcome = _check(world, "root")
        assert outcome.allowed
        event = world.audit.events[-1]
        assert (event.principal_type, event.reason) == ("Account", "The account root may perform any action")
    finally:
        world.ram.close()


def test_diagnostic_codec_rejects_foreign_messages() -> None:
    mine, other = DiagnosticCodec(), DiagnosticCodec()
    sealed = mine.encode({"AuthAction": "ecs:X"})
    assert mine.decode(sealed) == {"AuthAction": "ecs:X"}
    for garbage in (other.encode({"a": 1}), "not-a-message", sealed[:-4] + "AAAA"):
        with pytest.raises(errors.InvalidParameter):
            mine.decode(garbage)


def test_request_ids_look_like_alibabas() -> None:
    rid = new_request_id()
    assert len(rid) == 36 and rid == rid.upper() and rid.count("-") == 4


class OwnAuthenticator:
    """An application's own authenticator with only the two required methods (no ``host_bucket``)."""

    def __init__(self, inner: Authenticating) -> None:
        self._inner = inner

    def authenticate(self, facts: RequestFacts) -> Principal | None:
        return self._inner.authenticate(facts)

    def parse(self, facts: RequestFacts) -> Claim | None:
        return self._inner.parse(facts)


def test_an_authenticator_without_host_bucket_still_decides(world: World) -> None:
    authorizer = Authorizer(OwnAuthenticator(world.ram.authenticator), world.ram.directory, audit=world.audit)
    bucket_rule = RouteRule("oss:GetObject", "acs:oss:*:{account}:{bucket}/{key}")
    described = authorizer.check(_facts(world, "bob"), RULE, {"id": "i-1"})  # bob (R&D) may describe ECS
    assert described.allowed, described.error
    facts = _facts(world, "bob", path="/rnd-bucket/a.txt")
    outcome = authorizer.check(facts, bucket_rule, {"bucket": "rnd-bucket", "key": "a.txt"})
    assert outcome.resource == f"acs:oss:*:{world.account_id}:rnd-bucket/a.txt"
    assert outcome.error is None or outcome.error.status == 403  # decided by policy, never a 503


class SessionOf:
    """Stands in for the console's session scheme: every request is ``principal``'s logon session."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def authenticate(self, facts: RequestFacts) -> Principal | None:
        return self.principal

    def parse(self, facts: RequestFacts) -> Claim | None:
        return None


def test_mfa_age_admits_only_a_fresh_mfa_proof(world: World) -> None:
    service, account = world.ram.service, world.account_id
    fresh = {"NumericLessThan": {"acs:MFAAge": "600"}}
    statement = {"Effect": "Allow", "Action": "billing:Refund", "Resource": "*", "Condition": fresh}
    fresh_only = {"Version": "1", "Statement": [statement]}
    service.create_policy(account, "RefundWithFreshMFA", json.dumps(fresh_only))
    service.attach_policy_to_user(account, "Custom", "RefundWithFreshMFA", "bob")
    bob = world.ram.directory.principal_for_user(account, "bob")
    refund = RouteRule("billing:Refund", "*")

    def refund_as(principal: Principal) -> Outcome:
        contexts = world.ram.authorizer.contexts
        authorizer = Authorizer(
            SessionOf(principal), world.ram.directory, contexts=contexts, audit=world.audit
        )
        return authorizer.check(_facts(world, None), refund, {})

    proved = world.clock()
    session = dataclasses.replace(bob, auth_method="session", mfa_present=True, mfa_time=proved)
    world.clock.advance(seconds=599)
    assert refund_as(session).allowed
    world.clock.advance(seconds=1)  # 600 s old: no longer less than 600
    stale = refund_as(session)
    assert stale.error is not None and stale.error.code == "Forbidden.MFARequired"  # a step-up would do
    assert "acs:MFAAge" in str(world.audit.events[-1].reason) and "600" in str(world.audit.events[-1].reason)
    without_mfa = dataclasses.replace(bob, auth_method="session", mfa_present=False)
    assert refund_as(without_mfa).error.code == "Forbidden.MFARequired"  # type: ignore[union-attr]
    # An AccessKey call has no MFA age at all: the Allow cannot apply, and no step-up could help.
    signed = world.ram.authorizer.check(_facts(world, "bob"), refund, {})
    assert signed.error is not None and signed.error.code == "NoPermission"


def test_an_sts_session_with_mfa_is_not_told_to_step_up(world: World) -> None:
    # STS sessions carry no MFA age and cannot prove MFA again: a refusal on acs:MFAAge is plain NoPermission.
    service, account = world.ram.service, world.account_id
    statement = {"Effect": "Allow", "Action": "billing:Refund", "Resource": "*",
                 "Condition": {"NumericLessThan": {"acs:MFAAge": "600"}}}  # fmt: skip
    service.create_policy(account, "FreshRefunds", json.dumps({"Version": "1", "Statement": [statement]}))
    service.attach_policy_to_role(account, "Custom", "FreshRefunds", "Deployer")
    role = service.get_role(account, "Deployer")
    session = Principal(kind="assumed-role", account_id=account, name="Deployer",
                        principal_id=f"{role.role_id}:s", arn=f"acs:ram::{account}:assumed-role/Deployer/s",
                        session_name="s", auth_method="sts", mfa_present=True,
                        extra={"role_id": role.role_id})  # fmt: skip
    authorizer = Authorizer(SessionOf(session), world.ram.directory, audit=world.audit)
    outcome = authorizer.check(_facts(world, None), RouteRule("billing:Refund", "*"), {})
    assert outcome.error is not None and outcome.error.code == "NoPermission"


def test_a_stored_policy_this_instance_cannot_read_is_503_not_the_callers_fault(tmp_path: Path) -> None:
    # A document an instance cannot compile (written by a newer release with an operator this one lacks,
    # or naming a time zone this host has no data for) is the server's problem: 400 MalformedPolicyDocument
    # told the caller their request was malformed.
    world = make_world(f"sqlite:///{tmp_path}/ram.db")
    try:
        assert _check(world, "alice").allowed
        condition = {"FromANewerRelease": {"acs:SourceIp": "x"}}
        statement = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition}
        future = {"Version": "1", "Statement": [statement]}
        with sqlite3.connect(tmp_path / "ram.db") as db:
            db.execute(
                "UPDATE ram_policy_versions SET document = ? WHERE policy_id = "
                "(SELECT policy_id FROM ram_policies WHERE policy_name = 'DenyProtected')",
                (json.dumps(future),),
            )
        world.ram.directory.invalidate()
        refused = _check(world, "alice")
        assert refused.error is not None and refused.error.status == 503
        assert json.loads(refused.error.body)["Code"] == "ServiceUnavailable"
        other = _check(world, "eve").error  # eve, whom that policy does not concern, is decided as before
        assert other is not None and other.status == 403
    finally:
        world.ram.close()
