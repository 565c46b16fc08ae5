"""One behaviour suite, run against every adapter variant (Starlette inline and offloaded, FastAPI, Flask,
and a bare WSGI app declared through a route table). Requests are signed with ram_middleware.client's
RequestSigner (ACS3 and RPC v1); identities live in a real store provisioned through RamService."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest

from ram_middleware.audit import AuditEvent
from ram_middleware.client import RequestSigner, SignedParts

from .harness import VARIANTS, Harness, make_harness
from .world import World

OFFICE_IP = "203.0.113.7"
PROXY_IP = "192.0.2.10"
ELSEWHERE = "198.51.100.9"


def _last_event(harness: Harness) -> AuditEvent:
    events = harness.world.audit.events
    assert events, "every decision is audited"
    return events[-1]


# --- allow / deny -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_allowed_user_reaches_the_app_as_herself(harness: Harness, scheme: str) -> None:
    reply = harness.call("GET", "/instances/i-1", signer=harness.world.signer("alice", scheme))
    assert reply.status == 200, reply.body
    data = reply.json()
    assert data["principal"] == harness.world.arn("alice")
    assert data["via"] == harness.world.arn("alice")  # where this framework's users look
    assert data["params"] == {"instance_id": "i-1"}
    event = _last_event(harness)
    assert (event.decision, event.action) == ("Allow", "ecs:DescribeInstance")
    assert event.resource == f"acs:ecs:*:{harness.world.account_id}:instance/i-1"
    assert event.policy == "system policy AliyunECSFullAccess (group OM)"


def test_implicit_deny_is_403_with_access_denied_detail_but_no_explanation(harness: Harness) -> None:
    reply = harness.call("GET", "/instances/i-1", signer=harness.world.signer("eve"))
    assert reply.status == 403
    body = reply.json()
    assert body["Code"] == "NoPermission"
    assert reply.headers["x-acs-request-id"] == body["RequestId"]
    detail = body["AccessDeniedDetail"]
    assert detail["NoPermissionType"] == "ImplicitDeny"
    assert detail["AuthAction"] == "ecs:DescribeInstance"
    assert detail["AuthPrincipalType"] == "SubUser"
    assert detail["AuthPrincipalOwnerId"] == harness.world.account_id
    assert detail["PolicyType"] == "AccountLevelIdentityBasedPolicy"
    assert "statement" not in reply.body.decode().lower()  # the explanation is for the audit log only
    event = _last_event(harness)
    assert event.decision == "ImplicitDeny" and event.request_id == body["RequestId"]
    assert event.reason.startswith("No statement allows ecs:DescribeInstance")


def test_explicit_deny_beats_the_allow(harness: Harness) -> None:
    alice = harness.world.signer("alice")
    assert harness.call("DELETE", "/instances/i-2", signer=alice).status == 200
    reply = harness.call("DELETE", "/instances/i-protected", signer=alice)
    assert reply.status == 403
    assert reply.json()["AccessDeniedDetail"]["NoPermissionType"] == "ExplicitDeny"
    event = _last_event(harness)
    assert event.decision == "ExplicitDeny"
    assert event.policy == "custom policy DenyProtected (group OM)"


def test_diagnostic_message_decodes_to_the_explanation(harness: Harness) -> None:
    reply = harness.call("DELETE", "/instances/i-protected", signer=harness.world.signer("alice"))
    encoded = reply.json()["AccessDeniedDetail"]["EncodedDiagnosticMessage"]
    assert "DenyProtected" not in encoded
    decoded = harness.world.ram.authorizer.diagnostics.decode(encoded)
    assert decoded["ExplicitDeny"] is True
    assert decoded["AuthResource"].endswith(":instance/i-protected")
    assert decoded["MatchedPolicies"][0]["PolicyIdentifier"] == "DenyProtected"


# --- authentication failures --------------------------------------------------------------------------------


def test_unknown_access_key(harness: Harness) -> None:
    stranger = RequestSigner("LTAIunknownunknown00000", "s" * 30, clock=harness.world.clock)
    reply = harness.call("GET", "/instances/i-1", signer=stranger)
    assert (reply.status, reply.code) == (404, "InvalidAccessKeyId.NotFound")
    event = _last_event(harness)
    assert event.decision == "Rejected" and event.access_key_id == "LTAIunknownunknown00000"


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_bad_signature(harness: Harness, scheme: str) -> None:
    alice = harness.world.keys["alice"]
    forged = RequestSigner(alice.access_key_id, "not-the-secret", scheme=scheme, clock=harness.world.clock)  # type: ignore[arg-type]
    reply = harness.call("GET", "/instances/i-1", signer=forged)
    assert (reply.status, reply.code) == (400, "SignatureDoesNotMatch")
    assert ":" in reply.json()["Message"]  # aliyun-python-sdk-core splits the message on ':'


def test_no_credential_on_a_protected_route_is_401(harness: Harness) -> None:
    reply = harness.call("GET", "/instances/i-1")
    assert (reply.status, reply.code) == (401, "MissingAuthentication")
    assert reply.headers["www-authenticate"] == "ACS3-HMAC-SHA256"


def test_root_access_key_is_refused(harness: Harness) -> None:
    reply = harness.call("GET", "/instances/i-1", signer=harness.world.signer("root"))
    assert (reply.status, reply.code) == (403, "Forbidden.RootAccessKey")


def test_expired_timestamp_is_refused(harness: Harness) -> None:
    alice = harness.world.keys["alice"]
    late = RequestSigner(
        alice.access_key_id, alice.secret, clock=lambda: harness.world.clock() - timedelta(minutes=20)
    )
    reply = harness.call("GET", "/instances/i-1", signer=late)
    assert (reply.status, reply.code) == (400, "InvalidTimeStamp.Expired")


# --- route declarations -------------------------------------------------------------------------------------


def test_public_route_needs_no_credential(harness: Harness) -> None:
    events_before = len(harness.world.audit.events)
    reply = harness.call("GET", "/health")
    assert reply.status == 200
    assert reply.json() == {"principal": None, "via": None, "ok": True}
    assert len(harness.world.audit.events) == events_before  # not a decision


def test_undeclared_route_is_denied_even_to_a_valid_caller(harness: Harness) -> None:
    reply = harness.call("GET", "/undeclared", signer=harness.world.signer("alice"))
    assert (reply.status, reply.code) == (403, "NoPermission")
    assert _last_event(harness).reason == "Route not declared; undeclared routes are denied"
    assert harness.call("GET", "/no/such/path", signer=harness.world.signer("alice")).status == 403


def test_a_method_the_path_does_not_take_is_decided_by_the_paths_rule_then_405(harness: Harness) -> None:
    # The framework answers 405 before any view runs; the check first decides it as a request for the path
    # (its GET view's rule), so only a caller who may use the path learns which methods it takes. A route
    # table names methods itself: another method is an undeclared route there.
    world = harness.world
    allowed = harness.call("PUT", "/instances/i-1", signer=world.signer("bob"))
    if harness.name == "wsgi-table":
        assert (allowed.status, allowed.code) == (403, "NoPermission")
        return
    assert allowed.status == 405
    assert (_last_event(harness).decision, _last_event(harness).action) == ("Allow", "ecs:DescribeInstance")
    refused = harness.call("PUT", "/instances/i-1", signer=world.signer("eve"))
    assert (refused.status, refused.code) == (403, "NoPermission")
    assert harness.call("PUT", "/instances/i-1").status == 401


# --- HEAD and OPTIONS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_head_is_decided_as_the_get_of_its_route(harness: Harness, scheme: str) -> None:
    # Starlette and Flask run the GET route's endpoint for a HEAD, and a RouteTable's GET covers HEAD: the
    # GET's rule decides it. FastAPI's routes take no HEAD unless they name it: checked alike, then its 405.
    world = harness.world
    served = 405 if harness.name == "fastapi" else 200
    reply = harness.call("HEAD", "/instances/i-1", signer=world.signer("bob", scheme))
    event = _last_event(harness)
    assert reply.status == served
    assert (event.decision, event.action) == ("Allow", "ecs:DescribeInstance")
    assert event.resource == f"acs:ecs:*:{world.account_id}:instance/i-1"
    refused = harness.call("HEAD", "/instances/i-1", signer=world.signer("eve", scheme))
    assert (refused.status, refused.body) == (403, b"")
    assert (_last_event(harness).decision, _last_event(harness).action) == (
        "ImplicitDeny",
        "ecs:DescribeInstance",
    )
    assert harness.call("HEAD", "/instances/i-1").status == 401
    assert harness.call("HEAD", "/undeclared", signer=world.signer("alice", scheme)).status == 403
    rpc = [("Action", "DescribeInstances"), ("RegionId", "cn-hangzhou")]
    assert harness.call("HEAD", "/rpc", signer=world.signer("bob", scheme), query=rpc).status == served
    assert _last_event(harness).action == "ecs:DescribeInstances"


def test_an_options_request_without_a_credential(harness: Harness) -> None:
    # Only Flask answers OPTIONS by itself (provide_automatic_options: the Allow header, no view runs), and
    # that answer is let through as the way CORS preflights get answered there. Elsewhere an OPTIONS a
    # route does not declare is checked like any request: a CORS layer answers preflights outside us.
    events = len(harness.world.audit.events)
    reply = harness.call("OPTIONS", "/instances/i-1")
    if harness.name == "flask":
        assert reply.status == 200 and set(reply.headers["allow"].split(", ")) >= {"GET", "DELETE"}
        assert len(harness.world.audit.events) == events
    else:
        assert (reply.status, reply.code) == (401, "MissingAuthentication")


def test_resource_template_from_path_parameters(harness: Harness) -> None:
    bob = harness.world.signer("bob")  # R&D: ECS read-only
    assert harness.call("GET", "/instances/i-9", signer=bob).status == 200
    reply = harness.call("DELETE", "/instances/i-9", signer=bob)
    assert reply.status == 403
    event = _last_event(harness)
    assert event.resource == f"acs:ecs:*:{harness.world.account_id}:instance/i-9"


def test_resource_template_from_query_parameters(harness: Harness) -> None:
    bob = harness.world.signer("bob")
    ok = harness.call(
        "GET", "/objects", signer=bob, query=[("Bucket", "rnd-bucket"), ("Key", "a b.txt")], peer=OFFICE_IP
    )
    assert ok.status == 200, ok.body
    assert ok.json()["query"] == {"Bucket": "rnd-bucket", "Key": "a b.txt"}
    assert _last_event(harness).resource == f"acs:oss:*:{harness.world.account_id}:rnd-bucket/a b.txt"
    other = harness.call(
        "GET", "/objects", signer=bob, query=[("Bucket", "hr-bucket"), ("Key", "x")], peer=OFFICE_IP
    )
    assert other.status == 403
    missing = harness.call("GET", "/objects", signer=bob, query=[("Bucket", "rnd-bucket")], peer=OFFICE_IP)
    assert (missing.status, missing.code) == (400, "MissingParameter.Key")


def test_account_placeholder_cannot_be_supplied_by_the_caller(harness: Harness) -> None:
    bob = harness.world.signer("bob")
    own = [("Bucket", "rnd-bucket"), ("Key", "k"), ("account", harness.world.account_id)]
    assert harness.call("GET", "/objects", signer=bob, query=own, peer=OFFICE_IP).status == 200
    assert f":{harness.world.account_id}:" in (_last_event(harness).resource or "")
    # Checked in bob's account, the endpoint would receive (and could act in) the account the query names.
    other = [("Bucket", "rnd-bucket"), ("Key", "k"), ("account", "9999999999999999")]
    reply = harness.call("GET", "/objects", signer=bob, query=other, peer=OFFICE_IP)
    assert (reply.status, reply.code) == (400, "InvalidParameter.account")


@pytest.mark.parametrize("scheme", ["v1", "acs3"])
def test_rpc_resolver_takes_the_action_from_the_request(harness: Harness, scheme: str) -> None:
    bob, alice = harness.world.signer("bob", scheme), harness.world.signer("alice", scheme)
    describe = [("Action", "DescribeInstances"), ("RegionId", "cn-hangzhou")]
    reply = harness.call("GET", "/rpc", signer=bob, query=describe)
    assert reply.status == 200 and reply.json()["action"] == "DescribeInstances"
    event = _last_event(harness)
    assert event.action == "ecs:DescribeInstances"
    assert event.resource == f"acs:ecs:cn-hangzhou:{harness.world.account_id}:instance/*"
    stop = [("Action", "StopInstance"), ("RegionId", "cn-hangzhou"), ("InstanceId", "i-7")]
    assert harness.call("GET", "/rpc", signer=bob, query=stop).status == 403
    assert harness.call("GET", "/rpc", signer=alice, query=stop).status == 200
    missing = harness.call("GET", "/rpc", signer=alice, query=[("RegionId", "cn-hangzhou")])
    assert (missing.status, missing.code) == (400, "MissingParameter.Action")


def test_rpc_parameters_cannot_move_the_resource(harness: Harness) -> None:
    alice = harness.world.signer("alice")
    # A region holding ':' would shift the instance into a field a policy's "*" swallows.
    shifted = [("Action", "StopInstance"), ("RegionId", "cn:1:instance/i-7"), ("InstanceId", "i-protected")]
    reply = harness.call("GET", "/rpc", signer=alice, query=shifted)
    assert (reply.status, reply.code) == (400, "InvalidParameter.RegionId")
    # The Action's case does not pick another resource template (policies match actions in any case).
    lower = [("Action", "stopinstance"), ("RegionId", "cn-hangzhou"), ("InstanceId", "i-7")]
    assert harness.call("GET", "/rpc", signer=alice, query=lower).status == 200
    assert _last_event(harness).resource == f"acs:ecs:cn-hangzhou:{harness.world.account_id}:instance/i-7"


def test_a_multipart_request_cannot_fill_the_resource_from_its_query(harness: Harness) -> None:
    # Flask's request.values merges multipart fields, which the check does not read: the body could
    # name another instance than the query the check would use.
    body = b'--b\r\nContent-Disposition: form-data; name="InstanceId"\r\n\r\ni-protected\r\n--b--\r\n'
    query = [("Action", "StopInstance"), ("RegionId", "cn-hangzhou"), ("InstanceId", "i-7")]
    reply = harness.call(
        "POST", "/rpc", signer=harness.world.signer("alice"), query=query, body=body,
        content_type="multipart/form-data; boundary=b",
    )  # fmt: skip
    assert (reply.status, reply.code) == (400, "InvalidParameter.Action")


def test_two_different_action_headers_are_refused(harness: Harness) -> None:
    headers = [("x-acs-action", "DescribeInstances"), ("x-acs-action", "StopInstance")]
    reply = harness.call("POST", "/rpc", signer=harness.world.signer("bob"), headers=headers)
    # ASGI keeps both values, and ACS3 refuses a signed header sent twice; a WSGI environ holds one of them
    # (so the signature, over both, fails).
    expected = "IncompleteSignature" if harness.kind == "asgi" else "SignatureDoesNotMatch"
    assert (reply.status, reply.code) == (400, expected)


def test_rpc_action_from_the_v3_header(harness: Harness) -> None:
    headers = [("x-acs-action", "DescribeInstances"), ("x-acs-version", "2014-05-26")]
    reply = harness.call(
        "POST",
        "/rpc",
        signer=harness.world.signer("bob"),
        query=[("RegionId", "cn-beijing")],
        headers=headers,
    )
    assert reply.status == 200, reply.body
    assert reply.json()["action"] == "DescribeInstances"
    assert _last_event(harness).action == "ecs:DescribeInstances"


@pytest.mark.parametrize("action", [None, ""], ids=["no-action", "empty-action"])
def test_an_rpc_v1_signature_leaves_the_action_headers_open(harness: Harness, action: str | None) -> None:
    # RPC v1 signs parameters only: an x-acs-action/x-acs-version header may repeat the signed Action and
    # Version (the SDKs send both) but never stand in for them, or whoever held an unspent signed request
    # could choose its action.
    bob = harness.world.signer("bob", "v1")
    query = [("RegionId", "cn-beijing"), *([] if action is None else [("Action", action)])]
    headers = [("x-acs-action", "DescribeInstances"), ("x-acs-version", "2014-05-26")]
    reply = harness.call("POST", "/rpc", signer=bob, query=query, headers=headers)
    assert (reply.status, reply.code) == (400, "MissingParameter.Action")
    signed = [("Action", "DescribeInstances"), ("RegionId", "cn-beijing")]
    assert harness.call("POST", "/rpc", signer=bob, query=signed, headers=headers).status == 200


def test_rpc_action_in_a_signed_form_body(harness: Harness) -> None:
    form = b"Action=StopInstance&RegionId=cn-hangzhou&InstanceId=i-8"
    ctype = "application/x-www-form-urlencoded"
    reply = harness.call(
        "POST", "/rpc", signer=harness.world.signer("alice", "v1"), body=form, content_type=ctype
    )
    assert reply.status == 200, reply.body
    assert reply.json()["action"] == "StopInstance"
    assert _last_event(harness).resource == f"acs:ecs:cn-hangzhou:{harness.world.account_id}:instance/i-8"


@pytest.mark.parametrize("repeated", ["Action", "RegionId"])
def test_a_parameter_the_check_reads_may_not_be_repeated_with_another_value(
    harness: Harness, repeated: str
) -> None:
    # Signed in full, but the query says one thing and the form another: the check would use the first
    # while the app may read the second.
    query = [("Action", "DescribeInstances"), ("RegionId", "cn-hangzhou")]
    form = "Action=StopInstance" if repeated == "Action" else "RegionId=cn-beijing"  # the resource's region
    reply = harness.call(
        "POST", "/rpc", signer=harness.world.signer("bob", "v1"), query=query, body=form.encode(),
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert (reply.status, reply.code) == (400, f"InvalidParameter.{repeated}")
    same = harness.call(
        "POST", "/rpc", signer=harness.world.signer("bob", "v1"), query=query,
        body=b"Action=DescribeInstances", content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert same.status == 200, same.body  # repeated with the same value: nothing to disagree on


@pytest.mark.parametrize("scheme", ["v1", "acs3"])
def test_a_form_body_with_a_raw_semicolon_is_refused(harness: Harness, scheme: str) -> None:
    # python-multipart, Starlette's and FastAPI's form parser, splits a url-encoded body on ";" too (0.0.20
    # does): the app would read InstanceId=i-protected, past alice's Deny, where the check read one
    # InstanceId "i-7;InstanceId=i-protected" (matched by her Allow on instance/*, not by the Deny).
    alice, ctype = harness.world.signer("alice", scheme), "application/x-www-form-urlencoded"
    form = b"Action=StopInstance&RegionId=cn-hangzhou&InstanceId=i-7;InstanceId=i-protected"
    reply = harness.call("POST", "/rpc", signer=alice, body=form, content_type=ctype)
    assert (reply.status, reply.code) == (400, "InvalidParameter.Encoding")
    assert _last_event(harness).resource is None
    escaped = b"Action=StopInstance&RegionId=cn-hangzhou&InstanceId=i-7%3Bx"  # what every client sends
    assert harness.call("POST", "/rpc", signer=alice, body=escaped, content_type=ctype).status == 200
    assert _last_event(harness).resource == f"acs:ecs:cn-hangzhou:{harness.world.account_id}:instance/i-7;x"


# --- bodies -------------------------------------------------------------------------------------------------


def test_body_is_verified_and_replayed_unchanged(harness: Harness) -> None:
    body = json.dumps({"name": "report.pdf", "bytes": "é" * 50}).encode() + b"\x00\xff"
    reply = harness.call(
        "POST", "/buckets/rnd-bucket/objects", signer=harness.world.signer("bob"), body=body,
        content_type="application/octet-stream", peer=OFFICE_IP,
    )  # fmt: skip
    assert reply.status == 200, reply.body
    assert reply.json()["body"].encode("latin-1") == body


def test_tampered_body_fails_the_signature(harness: Harness) -> None:
    bob = harness.world.keys["bob"]
    honest = RequestSigner(bob.access_key_id, bob.secret, clock=harness.world.clock)
    url = (
        "http://testserver/buckets/rnd-bucket/objects"
        if harness.kind == "asgi"
        else "http://localhost:80/buckets/rnd-bucket/objects"
    )
    signed = honest.sign("POST", url, [("Content-Type", "text/plain")], b"original")
    headers = [("Content-Type", "text/plain"), *((k, v) for k, v in signed.headers.items() if k != "host")]
    reply = harness.call(
        "POST", "/buckets/rnd-bucket/objects", body=b"tampered", headers=headers, peer=OFFICE_IP
    )
    assert (reply.status, reply.code) == (400, "SignatureDoesNotMatch")


def test_signed_form_body_reaches_the_app_as_a_form(harness: Harness) -> None:
    form = b"title=Q3+plan&owner=bob%40example.com"
    reply = harness.call(
        "POST", "/buckets/rnd-bucket/objects", signer=harness.world.signer("bob", "v1"), body=form,
        content_type="application/x-www-form-urlencoded", peer=OFFICE_IP,
    )  # fmt: skip
    assert reply.status == 200, reply.body
    assert reply.json()["body"].encode() == form
    assert reply.json()["form"] == {"title": "Q3 plan", "owner": "bob@example.com"}


def test_a_form_content_type_with_leading_space_is_still_verified_as_a_form(harness: Harness) -> None:
    bob = harness.world.keys["bob"]
    signer = RequestSigner(bob.access_key_id, bob.secret, clock=harness.world.clock, scheme="v1")
    host = "testserver" if harness.kind == "asgi" else "localhost:80"
    ctype = " application/x-www-form-urlencoded"  # frameworks strip the space and parse a form
    signed = signer.sign(
        "POST", f"http://{host}/buckets/rnd-bucket/objects", [("Content-Type", ctype)], b"owner=bob"
    )
    query = [tuple(pair.split("=", 1)) for pair in signed.url.split("?", 1)[1].split("&")]
    reply = harness.call(
        "POST", "/buckets/rnd-bucket/objects", query=[(k, unquote(v)) for k, v in query],
        body=b"owner=mallory", content_type=ctype, peer=OFFICE_IP,
    )  # fmt: skip
    assert (reply.status, reply.code) == (400, "SignatureDoesNotMatch")


def test_an_rpc_v1_request_with_a_body_it_does_not_sign_is_refused(harness: Harness) -> None:
    reply = harness.call(
        "POST", "/buckets/rnd-bucket/objects", signer=harness.world.signer("bob", "v1"),
        body=b'{"owner": "mallory"}', content_type="application/json", peer=OFFICE_IP,
    )  # fmt: skip
    assert (reply.status, reply.code) == (400, "IncompleteSignature")


class _EscapedMarkerSigner:
    """Signs as ``inner`` does, then spells the SignatureVersion name with an escape (``%65`` is ``e``):
    the signature still verifies, as names are decoded before the string to sign is built."""

    def __init__(self, inner: RequestSigner) -> None:
        self.inner = inner

    def sign(self, *args: Any) -> SignedParts:
        signed = self.inner.sign(*args)
        return replace(signed, url=signed.url.replace("SignatureVersion=", "Signatur%65Version="))


def test_an_rpc_v1_body_is_refused_however_the_query_spells_its_names(harness: Harness) -> None:
    # Rewriting an honest v1 request this way in transit must not let an unsigned body through.
    signer = _EscapedMarkerSigner(harness.world.signer("bob", "v1"))
    alice = _EscapedMarkerSigner(harness.world.signer("alice", "v1"))
    read = harness.call("GET", "/instances/i-1", signer=alice)  # type: ignore[arg-type]
    assert read.status == 200, read.body  # the escaped spelling itself is accepted
    reply = harness.call(
        "POST", "/buckets/rnd-bucket/objects", signer=signer,  # type: ignore[arg-type]
        body=b'{"owner": "mallory"}', content_type="application/json", peer=OFFICE_IP,
    )  # fmt: skip
    assert (reply.status, reply.code) == (400, "IncompleteSignature")


@pytest.mark.parametrize("from_env", [False, True], ids=["argument", "RAM_MAX_BODY"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_body_over_the_cap_is_413(
    world: World, variant: str, from_env: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if from_env:
        monkeypatch.setenv("RAM_MAX_BODY", "64")
    small = make_harness(variant, world, **({} if from_env else {"max_body": 64}))
    reply = small.call(
        "POST", "/buckets/rnd-bucket/objects", signer=world.signer("bob"), body=b"x" * 65,
        content_type="text/plain", peer=OFFICE_IP,
    )  # fmt: skip
    assert (reply.status, reply.code) == (413, "EntityTooLarge")
    assert world.audit.events[-1].code == "EntityTooLarge"
    fits = small.call(
        "POST", "/buckets/rnd-bucket/objects", signer=world.signer("bob"), body=b"x" * 64,
        content_type="text/plain", peer=OFFICE_IP,
    )  # fmt: skip
    assert fits.status == 200


# --- conditions: source IP behind proxies, time windows -----------------------------------------------------


def _get_object(harness: Harness, **options: object) -> int:
    query = [("Bucket", "rnd-bucket"), ("Key", "plan.txt")]
    return harness.call("GET", "/objects", signer=harness.world.signer("bob"), query=query, **options).status  # type: ignore[arg-type]


def test_source_ip_from_the_peer(harness: Harness) -> None:
    assert _get_object(harness, peer=OFFICE_IP) == 200
    assert _get_object(harness, peer=ELSEWHERE) == 403
    event = _last_event(harness)
    assert event.source_ip == ELSEWHERE
    assert "acs:SourceIp" in event.reason and ELSEWHERE in event.reason


def test_forwarded_for_is_believed_from_a_trusted_proxy(harness: Harness) -> None:
    hops = [("X-Forwarded-For", f"10.1.1.1, {OFFICE_IP}")]
    assert _get_object(harness, peer=PROXY_IP, headers=hops) == 200
    assert _last_event(harness).source_ip == OFFICE_IP


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(harness: Harness) -> None:
    spoof = [("X-Forwarded-For", OFFICE_IP)]
    assert _get_object(harness, peer=ELSEWHERE, headers=spoof) == 403
    assert _last_event(harness).source_ip == ELSEWHERE


def test_client_cannot_smuggle_an_address_through_the_trusted_proxy(harness: Harness) -> None:
    # The proxy appends the real client (ELSEWHERE) after what the client sent.
    hops = [("X-Forwarded-For", f"{OFFICE_IP}, {ELSEWHERE}")]
    assert _get_object(harness, peer=PROXY_IP, headers=hops) == 403
    assert _last_event(harness).source_ip == ELSEWHERE


def test_time_window_with_the_injected_clock(harness: Harness) -> None:
    assert _get_object(harness, peer=OFFICE_IP) == 200
    harness.world.clock.now = datetime(2031, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert _get_object(harness, peer=OFFICE_IP) == 403
    event = _last_event(harness)
    assert "acs:CurrentTime" in event.reason and "2031-01-01T00:00:01Z" in event.reason


# --- STS sessions -------------------------------------------------------------------------------------------


def test_assumed_role_is_intersected_with_its_session_policy(harness: Harness) -> None:
    session = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}
    key = harness.world.role_session(session)
    signer = key.signer(harness.world.clock)
    reply = harness.call("GET", "/instances/i-1", signer=signer)
    assert reply.status == 200, reply.body
    assert reply.json()["principal"] == f"acs:ram::{harness.world.account_id}:assumed-role/Deployer/ci-job"
    denied = harness.call("DELETE", "/instances/i-1", signer=signer)
    assert denied.status == 403
    detail = denied.json()["AccessDeniedDetail"]
    assert detail["AuthPrincipalType"] == "AssumedRoleUser"
    assert detail["AuthPrincipalDisplayName"] == "Deployer:ci-job"
    assert detail["PolicyType"] == "SessionPolicy"


# --- audit --------------------------------------------------------------------------------------------------


def test_audit_never_holds_a_secret(harness: Harness) -> None:
    world = harness.world
    session = world.role_session()
    for who in ("alice", "bob", "eve", "root"):
        harness.call("GET", "/instances/i-1", signer=world.signer(who))
    harness.call("GET", "/instances/i-1", signer=session.signer(world.clock))
    lines = "\n".join(event.to_json() for event in world.audit.events)
    assert len(world.audit.events) == 5
    for secret in [*world.secrets(), session.secret, session.security_token or "unused"]:
        assert secret not in lines


# --- failing closed ---------------------------------------------------------------------------------------


def test_unreachable_store_fails_closed_with_503(harness: Harness) -> None:
    world = harness.world
    world.ram.directory.invalidate()  # nothing cached: the next decision must read the store
    world.ram.store.close()
    reply = harness.call("GET", "/instances/i-1", signer=world.signer("alice"))
    assert reply.status == 503
    assert (reply.code or "").startswith("ServiceUnavailable")
    event = _last_event(harness)
    assert (event.decision, event.status) == ("Rejected", 503)
