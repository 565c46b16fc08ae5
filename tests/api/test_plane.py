"""The framework-free control plane: authorization cross-check, resources, routing, rendering."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator, MutableMapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest

from ram_middleware import errors
from ram_middleware.api.app import create_app
from ram_middleware.api.base import Backend, mfa_by_serial, policy_of_type, user_or_caller
from ram_middleware.api.params import Params
from ram_middleware.api.plane import ControlPlane
from ram_middleware.api.responses import error_response, success_response
from ram_middleware.api.routing import ControlPlaneRule, KeyOwner
from ram_middleware.audit import AuditSink, MemorySink
from ram_middleware.bootstrap import Bootstrap, initialise
from ram_middleware.client import RequestSigner
from ram_middleware.config import Ram, RamConfig, build
from ram_middleware.credentials.sts import principal_from_claims
from ram_middleware.facts import RequestFacts
from ram_middleware.identity import Principal
from ram_middleware.routes import AuthenticateOnly
from tests.adapters.harness import client_class


@pytest.fixture
def runtime() -> Iterator[Ram]:
    made = build(RamConfig(store_url="memory://", audit=MemorySink()))
    yield made
    made.close()


def plane_with(runtime: Ram, audit: AuditSink | None = None) -> ControlPlane:
    """The control plane over ``runtime``, writing its own audit events to ``audit`` (default: the
    runtime's sink)."""
    base = runtime.authorizer
    backend = Backend(
        runtime.service, runtime.directory, runtime.tokens, base.contexts, runtime.guard, base.diagnostics,
        base.audit if audit is None else audit,
    )  # fmt: skip
    return ControlPlane(backend)


@pytest.fixture
def plane(runtime: Ram) -> ControlPlane:
    return plane_with(runtime)


@pytest.fixture
def boot(runtime: Ram) -> Bootstrap:
    made = initialise(runtime.service)
    runtime.service.create_user(made.account_id, "alice")
    runtime.service.create_user(made.account_id, "bob")
    return made


def facts(version: str = "2015-05-01", **params: str) -> RequestFacts:
    return RequestFacts("GET", "/", urlencode({"Version": version, **params}))


def v1_facts(key_id: str, secret: str, token: str | None, **params: str) -> RequestFacts:
    url = "http://127.0.0.1/?" + urlencode({"Version": "2015-05-01", **params})
    signed = RequestSigner(key_id, secret, security_token=token, scheme="v1").sign("GET", url, [], b"")
    return RequestFacts("GET", "/", signed.url.partition("?")[2])


def user(runtime: Ram, boot: Bootstrap, name: str) -> Principal:
    return runtime.directory.principal_for_user(boot.account_id, name)


def call(
    plane: ControlPlane, principal: Principal, request: RequestFacts, authorized: tuple[str, str] | None
) -> dict:  # type: ignore[type-arg]
    response = plane.handle(request, principal, "REQ-1", authorized=authorized)
    body = json.loads(response.body)
    body["status"] = response.status
    return dict(body)


def test_runs_only_what_was_authorized(runtime: Ram, plane: ControlPlane, boot: Bootstrap) -> None:
    alice = user(runtime, boot, "alice")
    request = facts(Action="GetUser", UserName="bob")
    bob_arn = f"acs:ram::{boot.account_id}:user/bob"
    assert plane.target(request, boot.account_id, lambda: alice) == ("ram:GetUser", bob_arn)
    assert call(plane, alice, request, ("ram:GetUser", bob_arn))["User"]["UserName"] == "bob"
    for authorized in (("ram:GetUser", bob_arn.replace("bob", "alice")), ("ram:ListUsers", "*"), None):
        refused = call(plane, alice, request, authorized)
        assert (refused["status"], refused["Code"]) == (403, "NoPermission")
        assert "AccessDeniedDetail" not in refused


def test_permission_free_calls_and_own_password(runtime: Ram, plane: ControlPlane, boot: Bootstrap) -> None:
    alice = user(runtime, boot, "alice")
    identity = call(plane, alice, facts("2015-04-01", Action="GetCallerIdentity"), None)
    assert (identity["status"], identity["IdentityType"]) == (200, "RAMUser")
    runtime.service.create_login_profile(boot.account_id, "alice", "Old-Passw0rd!")
    change = facts(Action="ChangePassword", OldPassword="Old-Passw0rd!", NewPassword="New-Passw0rd!")
    # ChangePassword is decided by the middleware like any action (the security preference's grant is a
    # policy there): the plane runs it only as authorized, on the caller's own ARN.
    own = ("ram:ChangePassword", f"acs:ram::{boot.account_id}:user/alice")
    assert plane.target(change, boot.account_id, lambda: alice) == own
    # The account root (which no policy decides) has no RAM user's password to change.
    account = boot.account_id
    root = Principal("root", account, account, account, f"acs:ram::{account}:root")
    with pytest.raises(errors.AuthorizationError):
        plane.target(change, account, lambda: root)
    assert call(plane, alice, change, None)["Code"] == "NoPermission"
    assert call(plane, alice, change, own)["status"] == 200
    runtime.service.verify_login_password(boot.account_id, "alice", "New-Passw0rd!")


def test_resources(runtime: Ram, boot: Bootstrap) -> None:
    account = boot.account_id
    alice = user(runtime, boot, "alice")
    role_session = replace(alice, kind="assumed-role")
    assert user_or_caller(Params({}), account, lambda: alice) == f"acs:ram::{account}:user/alice"
    assert user_or_caller(Params({"UserName": "bob"}), account, lambda: alice).endswith(":user/bob")
    with pytest.raises(errors.MissingParameter) as missing:
        user_or_caller(Params({}), account, lambda: role_session)
    assert missing.value.code == "MissingParameter.UserName"
    other_serial = "acs:ram::9999999999999999:mfa/phone"
    assert (
        mfa_by_serial(
            Params({"SerialNumber": other_serial, "VirtualMFADeviceName": "mine"}), account, lambda: alice
        )
        == f"acs:ram::{account}:mfa/phone"
    )
    system = Params({"PolicyName": "AdministratorAccess", "PolicyType": "System"})
    assert policy_of_type(system, account, lambda: alice) == "acs:ram::system:policy/AdministratorAccess"
    with pytest.raises(errors.InvalidParameter):
        user_or_caller(Params({"UserName": "a/../b"}), account, lambda: alice)


def test_role_resources_are_lower_case(plane: ControlPlane, boot: Bootstrap, runtime: Ram) -> None:
    alice = user(runtime, boot, "alice")
    request = facts(Action="GetRole", RoleName="EcsOperator")
    assert plane.target(request, boot.account_id, lambda: alice) == (
        "ram:GetRole",
        f"acs:ram::{boot.account_id}:role/ecsoperator",
    )
    assume = facts("2015-04-01", Action="AssumeRole", RoleArn=f"acs:ram::{boot.account_id}:role/EcsOperator")
    assert plane.target(assume, boot.account_id, lambda: alice) == (
        "sts:AssumeRole",
        f"acs:ram::{boot.account_id}:role/ecsoperator",
    )


def test_key_owner_names_the_signer(runtime: Ram, boot: Bootstrap, plane: ControlPlane) -> None:
    owner = KeyOwner(runtime.authenticator, runtime.directory, runtime.tokens)
    admin_key = runtime.service.create_access_key(boot.account_id, "admin")
    request = v1_facts(admin_key.key.access_key_id, admin_key.secret, None, Action="ListAccessKeys")
    found = owner(request)
    assert found is not None and found.name == "admin"
    rule = ControlPlaneRule(plane, owner)
    assert rule.resolve(request, {}, boot.account_id) == (
        "ram:ListAccessKeys",
        f"acs:ram::{boot.account_id}:user/admin",
    )
    role = runtime.service.create_role(
        boot.account_id,
        "Ops",
        json.dumps(
            {
                "Version": "1",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"RAM": [f"acs:ram::{boot.account_id}:root"]},
                    }
                ],
            }
        ),
    )
    issued = runtime.tokens.issue(account_id=boot.account_id, role_name=role.role_name, role_id=role.role_id,
                                  session_name="s1", duration_seconds=900)  # fmt: skip
    sts_request = v1_facts(issued.access_key_id, issued.access_key_secret, issued.security_token, Action="X")
    assert owner(sts_request) == principal_from_claims(issued.claims)


def test_rule_asks_only_authentication_for_permission_free_calls(plane: ControlPlane) -> None:
    rule = ControlPlaneRule(plane, lambda facts: None)

    def resolve(query: str = "", headers: tuple[tuple[str, str], ...] = (), body: str = "") -> object:
        form = (("content-type", "application/x-www-form-urlencoded"),) if body else ()
        request = RequestFacts("POST" if body else "GET", "/", query, headers + form, body.encode())
        return rule.resolve(request, {}, "1234567890123456")

    named = AuthenticateOnly("sts:GetCallerIdentity", "*")  # no policy decides it; the audit log names it
    assert resolve("Action=GetCallerIdentity&Version=2015-04-01") == named
    assert resolve(headers=(("x-acs-action", "GetCallerIdentity"), ("x-acs-version", "2015-04-01"))) == named
    # RPC v1 may carry every parameter in a form body, which its signature covers.
    assert resolve(body="Action=GetCallerIdentity&Version=2015-04-01") == named
    assert resolve("Action=AssumeRole&Version=2015-04-01&RoleArn=acs:ram::1:role/r&RoleSessionName=s") == (
        "sts:AssumeRole",
        "acs:ram::1:role/r",
    )
    assert resolve(body="Action=GetUser&Version=2015-05-01&UserName=bob") == (
        "ram:GetUser",
        "acs:ram::1234567890123456:user/bob",
    )
    # GetCallerIdentity is an STS action: under the RAM version it is an unknown one, never the lenient path.
    with pytest.raises(errors.RAMError):
        resolve("Action=GetCallerIdentity&Version=2015-05-01")
    # Disagreeing parameter and header: refused, never the lenient path.
    with pytest.raises(errors.RAMError):
        resolve("Action=GetCallerIdentity&Version=2015-04-01", (("x-acs-action", "CreateUser"),))


def test_rendering() -> None:
    body = {
        "Users": {"User": [{"UserName": "a", "LastLoginDate": None}, {"UserName": "b"}]},
        "IsTruncated": False,
    }
    json_response = success_response("ListUsers", body, "RID")
    assert json.loads(json_response.body) == {
        "RequestId": "RID",
        "Users": {"User": [{"UserName": "a"}, {"UserName": "b"}]},
        "IsTruncated": False,
    }
    assert ("x-acs-request-id", "RID") in json_response.headers
    xml = ET.fromstring(success_response("ListUsers", body, "RID", xml=True).body)
    assert [u.findtext("UserName") for u in xml.iter("User")] == ["a", "b"] and xml.findtext(
        "IsTruncated"
    ) == "false"
    error = error_response(
        errors.EntityNotExist("User", "The user does not exist: <x>"), "RID", xml=True, host_id="h"
    )
    tree = ET.fromstring(error.body)
    assert (error.status, tree.tag, tree.findtext("Code"), tree.findtext("HostId")) == (
        404,
        "Error",
        "EntityNotExist.User",
        "h",
    )
    assert tree.findtext("Message") == "The user does not exist: <x>"
    # What XML 1.0 cannot carry shows as U+FFFD: the body still parses, the rest of the text is kept.
    odd = success_response(
        "GetUser", {"User": {"Comments": "a\x00b\ud800c\uffffd\U0001f600\t"}}, "RID", xml=True
    )
    assert ET.fromstring(odd.body).findtext("User/Comments") == "a\ufffdb\ufffdc\ufffdd\U0001f600\t"


def test_secrets_stay_out_of_reprs(runtime: Ram, boot: Bootstrap) -> None:
    assert boot.access_key_secret not in repr(boot)
    params = Params({"Password": "Sup3r-Secret!", "UserName": "alice"})
    assert "Sup3r-Secret!" not in repr(params) and "Password" in repr(params)


def test_unprotected_app_fails_closed(runtime: Ram) -> None:
    import asyncio

    app = create_app(runtime, console=False)
    inner = app.app.app  # type: ignore[attr-defined]  # under the arrival clock and the middleware
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"Action=ListUsers&Version=2015-05-01",
        "headers": [],
    }
    asyncio.run(inner(scope, receive, send))
    assert sent[0]["status"] == 503
    assert json.loads(sent[1]["body"])["Code"] == "ServiceUnavailable"  # type: ignore[arg-type]


class FailingSink(MemorySink):
    def emit(self, event: object) -> None:
        raise OSError("disk full")


def failing_plane(runtime: Ram) -> ControlPlane:
    """A control plane whose own audit events (those it adds to the middleware's) cannot be written."""
    return plane_with(runtime, FailingSink())


def test_an_audit_sink_that_fails_on_a_refusal_still_gets_the_caller_an_api_error(
    runtime: Ram, boot: Bootstrap
) -> None:
    admin = user(runtime, boot, boot.user_name)
    target = ("ram:GetUser", f"acs:ram::{boot.account_id}:user/nobody")
    reply = call(failing_plane(runtime), admin, facts(Action="GetUser", UserName="nobody"), target)
    assert (reply["status"], reply["Code"]) == (503, "ServiceUnavailable")


def test_a_refusal_its_sink_cannot_record_is_503_and_runs_nothing(runtime: Ram, boot: Bootstrap) -> None:
    """A call outside what was authorized is refused by the plane; a sink failing to record that refusal
    must answer in the API's shape, not escape as a 500, and the password must stay as it was."""
    runtime.service.create_login_profile(boot.account_id, "alice", "Old-Passw0rd!")
    alice = user(runtime, boot, "alice")
    change = facts(Action="ChangePassword", OldPassword="Old-Passw0rd!", NewPassword="New-Passw0rd!")
    plane = failing_plane(runtime)
    for authorized in (None, ("ram:ListUsers", "*")):
        reply = call(plane, alice, change, authorized)
        assert (reply["status"], reply["Code"]) == (503, "ServiceUnavailable")
    runtime.service.verify_login_password(boot.account_id, "alice", "Old-Passw0rd!")


def test_credentials_whose_issue_cannot_be_audited_are_not_handed_out(runtime: Ram, boot: Bootstrap) -> None:
    account = boot.account_id
    trust = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{account}:root"]},
    }
    runtime.service.create_role(account, "Ops", json.dumps({"Version": "1", "Statement": [trust]}))
    runtime.service.attach_policy_to_user(account, "System", "AliyunSTSAssumeRoleAccess", "alice")
    alice, role_arn = user(runtime, boot, "alice"), f"acs:ram::{account}:role/ops"
    target = ("sts:AssumeRole", role_arn)
    decision = runtime.service.simulate(account, "alice", *target, {})
    request = facts("2015-04-01", Action="AssumeRole", RoleArn=role_arn, RoleSessionName="ops-1")
    plane = ControlPlane(
        Backend(
            runtime.service, runtime.directory, runtime.tokens, runtime.authorizer.contexts, runtime.guard
        )
    )
    assert plane.handle(request, alice, "REQ-1", authorized=target, decision=decision).status == 200
    refused = failing_plane(runtime).handle(request, alice, "REQ-2", authorized=target, decision=decision)
    assert (refused.status, json.loads(refused.body)["Code"]) == (503, "ServiceUnavailable")
    assert b"Credentials" not in refused.body


def test_a_head_is_answered_with_the_headers_and_no_body(runtime: Ram, boot: Bootstrap) -> None:
    # Not every ASGI server drops a HEAD answer's body, and a client reads none: a body sent would be taken
    # for the next response on the connection. The refusals the middleware sends already carry none.
    import asyncio

    app = create_app(runtime, console=False)
    signer = RequestSigner(boot.access_key_id, boot.access_key_secret, clock=runtime.authorizer.contexts.now)
    query = urlencode({"Action": "GetUser", "Version": "2015-05-01", "UserName": "ghost"})

    def answer(method: str, path: str, signed: bool) -> tuple[int, dict[bytes, bytes], bytes]:
        url = f"http://127.0.0.1{path}" + (f"?{query}" if path == "/" else "")
        signed_headers = signer.sign(method, url, [], b"").headers if signed else {}
        headers = {k: v for k, v in signed_headers.items() if k != "host"}  # the scope names the host
        scope = {
            "type": "http", "method": method, "path": path, "raw_path": path.encode(),
            "query_string": url.partition("?")[2].encode(), "root_path": "", "scheme": "http",
            "headers": [(b"host", b"127.0.0.1"), *((k.encode(), v.encode()) for k, v in headers.items())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        async def run() -> None:
            await app(scope, receive, send)

        asyncio.run(run())
        return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])

    for path, signed in (("/healthz", False), ("/elsewhere", True)):
        status, headers, body = answer("GET", path, signed)
        head_status, head_headers, head_body = answer("HEAD", path, signed)
        assert (head_status, head_body) == (status, b""), path
        assert head_headers[b"content-length"] == str(len(body)).encode() and body, path
        assert head_headers[b"content-type"] == headers[b"content-type"] == b"application/json;charset=utf-8"
        assert head_headers[b"x-acs-request-id"]
    # A call runs for GET and POST only (RPC style): a HEAD, PUT or DELETE of one is refused, run never.
    for method in ("PUT", "DELETE", "PATCH", "HEAD"):
        status, headers, body = answer(method, "/", True)
        assert (status, headers.get(b"allow")) == (405, b"GET, POST"), (method, body)
        if method != "HEAD":
            assert json.loads(body)["Code"] == "UnsupportedHTTPMethod", method


def test_a_call_sent_with_another_method_than_get_or_post_changes_nothing(
    runtime: Ram, boot: Bootstrap
) -> None:
    # Signed as HEAD (RPC v1 signs the method), a CreateUser was run: a HEAD must not change anything.
    client = client_class()(create_app(runtime, console=False))
    signer = RequestSigner(boot.access_key_id, boot.access_key_secret, clock=runtime.authorizer.contexts.now)
    query = urlencode({"Action": "CreateUser", "Version": "2015-05-01", "UserName": "by-head"})
    for method in ("HEAD", "PUT"):
        signed = signer.sign(method, f"http://testserver/?{query}", [], b"")
        reply = client.request(method, signed.url, headers=signed.headers)
        assert reply.status_code == 405, method
    assert "by-head" not in [u.user_name for u in runtime.service.list_users(boot.account_id).items]
    audit = runtime.authorizer.audit
    assert isinstance(audit, MemorySink)
    events = [e for e in audit.events if e.action == "ram:CreateUser"]
    assert [(e.decision, e.status) for e in events] == [("Allow", 200), ("Rejected", 405)] * 2
