"""STS against the live control plane: alibabacloud-sts20150401 (ACS3), aliyun-python-sdk-core (RPC v1) and
alibabacloud-credentials' RAM-role-ARN provider (its own RPC v1 signing, HTTPS only)."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider, StaticAKCredentialsProvider  # type: ignore[import-untyped]
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from alibabacloud_sts20150401 import models as sts_models  # type: ignore[import-untyped]
from aliyunsdkcore.acs_exception.exceptions import ServerException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.audit import MemorySink
from ram_middleware.bootstrap import initialise
from ram_middleware.client import RamAuth
from ram_middleware.config import RamConfig, build
from ram_middleware.routes import RpcApi
from tests.live_server import core_rpc, serve_asgi

from .live import (
    RAM_VERSION,
    STS_VERSION,
    Key,
    Live,
    core_call,
    fails,
    ram_client,
    self_signed,
    serving,
    sts_client,
)

TRUST_ACCOUNT = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["{root}"]}}],
}
# Compact on purpose: alibabacloud-credentials canonicalises with quote_plus (space -> "+", not "%20"), so a
# value with spaces signed by its role-ARN provider does not verify against the RPC v1 rules (see report).
ONLY_LIST_USERS = json.dumps(
    {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ram:ListUsers", "Resource": "*"}]},
    separators=(",", ":"),
)


@dataclass
class People:
    deployer: Key
    nobody: Key
    auditor_arn: str


@pytest.fixture(scope="module")
def people(live: Live) -> Iterator[People]:
    service, account = live.ram.service, live.account_id
    trust = json.dumps(TRUST_ACCOUNT).replace("{root}", live.arn("root"))
    service.create_role(account, "RamAuditor", trust, max_session_duration=7200)
    service.attach_policy_to_role(account, "System", "AliyunRAMReadOnlyAccess", "RamAuditor")
    keys = {}
    for name, policies in (("deployer", ["AliyunSTSAssumeRoleAccess"]), ("nobody", [])):
        service.create_user(account, name)
        for policy in policies:
            service.attach_policy_to_user(account, "System", policy, name)
        created = service.create_access_key(account, name)
        keys[name] = Key(created.key.access_key_id, created.secret)
    yield People(keys["deployer"], keys["nobody"], live.arn("role/ramauditor"))


def _assume(live: Live, key: Key, role_arn: str, **extra: object) -> sts_models.AssumeRoleResponseBody:
    request = sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="ci-job", **extra)
    body = sts_client(live, key).assume_role(request).body
    assert body is not None and body.credentials is not None
    return body


def _temporary(body: sts_models.AssumeRoleResponseBody) -> Key:
    c = body.credentials
    return Key(c.access_key_id, c.access_key_secret, c.security_token)


def test_assume_role_with_the_sts_sdk(live: Live, people: People) -> None:
    before = time.time()
    body = _assume(live, people.deployer, people.auditor_arn, duration_seconds=900)
    assert body.assumed_role_user.arn == live.arn("assumed-role/RamAuditor/ci-job")
    assert body.assumed_role_user.assumed_role_id.endswith(":ci-job")
    assert body.credentials.access_key_id.startswith("STS.") and body.credentials.security_token
    expires = calendar.timegm(time.strptime(body.credentials.expiration, "%Y-%m-%dT%H:%M:%SZ"))
    assert before + 890 <= expires <= time.time() + 901
    identity = sts_client(live, _temporary(body)).get_caller_identity().body
    assert identity.arn == live.arn("assumed-role/RamAuditor/ci-job")
    assert identity.identity_type == "AssumedRoleUser" and identity.account_id == live.account_id
    assert identity.role_id and identity.principal_id == body.assumed_role_user.assumed_role_id


def test_get_caller_identity_needs_no_policy(live: Live, people: People) -> None:
    identity = sts_client(live, people.nobody).get_caller_identity().body
    assert (identity.identity_type, identity.arn) == ("RAMUser", live.arn("user/nobody"))
    assert identity.user_id and identity.role_id is None
    # Its one audit event names the action, though no policy decided it.
    [event] = [e for e in live.audit.events if e.request_id == identity.request_id]
    assert (event.decision, event.status, event.principal_arn) == ("Allow", 200, live.arn("user/nobody"))
    assert (event.action, event.policy) == ("sts:GetCallerIdentity", None)
    via_core = core_call(live, people.nobody, STS_VERSION, "GetCallerIdentity")
    assert via_core["Arn"] == live.arn("user/nobody") and "RoleId" not in via_core
    # RPC v1 may send every parameter in a form body (which its signature covers): still no policy needed.
    auth = RamAuth(people.nobody.access_key_id, people.nobody.secret, scheme="v1")
    form = {"Action": "GetCallerIdentity", "Version": STS_VERSION}
    with httpx.Client(base_url=f"http://{live.endpoint}", timeout=10, trust_env=False) as http:
        answer = http.post("/", data=form, auth=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Arn"] == live.arn("user/nobody")


def test_a_role_session_is_told_it_has_no_password(live: Live, people: People) -> None:
    temporary = _temporary(_assume(live, people.deployer, people.auditor_arn))
    with pytest.raises(TeaException) as refused:
        ram_client(live, temporary).change_password(
            ram_models.ChangePasswordRequest(old_password="Old-Passw0rd!", new_password="New-Passw0rd!")
        )
    assert refused.value.code == "InvalidParameter.Caller", refused.value


def test_session_policy_narrows_the_role(live: Live, people: People) -> None:
    full = _temporary(_assume(live, people.deployer, people.auditor_arn))
    narrow = _temporary(_assume(live, people.deployer, people.auditor_arn, policy=ONLY_LIST_USERS))
    for key in (full, narrow):
        users = ram_client(live, key).list_users(ram_models.ListUsersRequest()).body.users.user
        assert "deployer" in {u.user_name for u in users}
    assert ram_client(live, full).list_groups(ram_models.ListGroupsRequest()).body.groups is not None
    with pytest.raises(TeaException) as denied:
        ram_client(live, narrow).list_groups(ram_models.ListGroupsRequest())
    assert denied.value.code == "NoPermission"
    # Read-only role: even the un-narrowed session may not write.
    with pytest.raises(TeaException) as write:
        ram_client(live, full).create_user(ram_models.CreateUserRequest(user_name="intruder"))
    assert write.value.code == "NoPermission"


def test_assume_role_errors(live: Live, people: People) -> None:
    cases: list[tuple[Key, str, dict[str, Any], str, int]] = [
        (people.nobody, people.auditor_arn, {}, "NoPermission", 403),
        (people.deployer, live.arn("role/nosuchrole"), {}, "EntityNotExist.Role", 404),
        (
            people.deployer,
            people.auditor_arn,
            {"duration_seconds": 7201},
            "InvalidParameter.DurationSeconds",
            400,
        ),
        (people.deployer, people.auditor_arn, {"policy": "{not json"}, "InvalidParameter.PolicyGrammar", 400),
        (people.deployer, "arn:aws:iam::1:role/x", {}, "InvalidParameter.RoleArn", 400),
    ]
    for key, arn, extra, code, status in cases:
        with pytest.raises(TeaException) as failed:
            _assume(live, key, arn, **extra)
        assert (failed.value.code, failed.value.statusCode) == (code, status), arn


def test_malformed_integers_are_bad_parameters_not_outages(live: Live, people: People) -> None:
    """Text that only looks numeric ("--900", thousands of digits, " 5 ") is the caller's error: 400, never
    503, and never read as the number."""
    for value in ("--900", "9" * 5000, "\uff19\uff10\uff10", " 1000", "1000 ", "1000\n"):
        with pytest.raises(ServerException) as failed:
            core_call(live, people.deployer, STS_VERSION, "AssumeRole", RoleArn=people.auditor_arn,
                      RoleSessionName="ci-job", DurationSeconds=value)  # fmt: skip
        assert (failed.value.get_error_code(), failed.value.get_http_status()) == (
            "InvalidParameter.DurationSeconds", 400,
        ), value  # fmt: skip
    for items in ("1" * 5000, " 5 ", "\t5"):
        with pytest.raises(ServerException) as listing:
            core_call(live, live.admin, RAM_VERSION, "ListUsers", MaxItems=items)
        assert (listing.value.get_error_code(), listing.value.get_http_status()) == (
            "InvalidParameter.MaxItems",
            400,
        ), items


def test_the_issue_names_the_trust_statement_that_trusted_the_caller(live: Live, people: People) -> None:
    """The trust policy's second statement trusts the deployer: the issuance event names statement 1."""
    service, account = live.ram.service, live.account_id
    statements = [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [live.arn("user/nobody")]}},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [live.arn("user/deployer")]}},
    ]
    service.create_role(account, "SecondTrusts", json.dumps({"Version": "1", "Statement": statements}))
    body = _assume(live, people.deployer, live.arn("role/secondtrusts"))
    issued = [e for e in live.audit.events if e.request_id == body.request_id][-1]
    assert issued.reason.startswith("Issued ")
    assert (issued.policy, issued.statement) == ("trust policy TrustPolicy (role SecondTrusts)", 1)


def test_a_trust_policy_refusal_is_audited_as_a_denial(live: Live, people: People) -> None:
    """The middleware allows sts:AssumeRole (the caller's own policy) and audits it; the trust policy then
    refuses. The audit must not leave "Allow" as the last word on that request."""
    service, account = live.ram.service, live.account_id
    trust = json.dumps(TRUST_ACCOUNT).replace("{root}", live.arn("user/nobody"))
    service.create_role(account, "OnlyNobody", trust)
    with pytest.raises(TeaException) as refused:
        _assume(live, people.deployer, live.arn("role/onlynobody"))
    assert (refused.value.code, refused.value.statusCode) == ("NoPermission", 403)
    request_id = refused.value.data["RequestId"]
    events = [e for e in live.audit.events if e.request_id == request_id]
    assert [(e.decision, e.status) for e in events] == [("Allow", 200), ("ImplicitDeny", 403)]
    assert events[-1].action == "sts:AssumeRole" and events[-1].resource == live.arn("role/onlynobody")
    assert events[-1].code == "NoPermission" and "trust policy" in (events[-1].reason or "")


def _decoded(live: Live, encoded: str) -> Any:
    request = ram_models.DecodeDiagnosticMessageRequest(encoded_diagnostic_message=encoded)
    return ram_client(live, live.admin).decode_diagnostic_message(request).body.decoded_diagnostic_message


def test_a_trust_policy_refusal_carries_an_access_denied_detail(live: Live, people: People) -> None:
    """Like any RAM authorization failure, it names the action and the principal and carries a diagnostic
    the account's administrator decodes; what the trust policy says stays out of the response."""
    service, account = live.ram.service, live.account_id
    trust = json.dumps(TRUST_ACCOUNT).replace("{root}", live.arn("user/nobody"))
    service.create_role(account, "TrustsNobodyElse", trust)
    with pytest.raises(TeaException) as refused:
        _assume(live, people.deployer, live.arn("role/trustsnobodyelse"))
    detail = refused.value.access_denied_detail
    assert refused.value.data["Code"] == "NoPermission" and detail is not None
    deployer = live.ram.directory.principal_for_user(account, "deployer")
    assert detail == {
        "PolicyType": "AssumeRolePolicy",
        "AuthPrincipalOwnerId": account,
        "AuthPrincipalType": "SubUser",
        "AuthPrincipalDisplayName": deployer.principal_id,
        "NoPermissionType": "ImplicitDeny",
        "AuthAction": "sts:AssumeRole",
        "EncodedDiagnosticMessage": detail["EncodedDiagnosticMessage"],
    }
    assert "nobody" not in json.dumps(refused.value.data) and "trust" not in json.dumps(refused.value.data)
    decoded = _decoded(live, detail["EncodedDiagnosticMessage"])
    assert (decoded.auth_action, decoded.auth_resource) == (
        "sts:AssumeRole",
        live.arn("role/trustsnobodyelse"),
    )
    assert (decoded.no_permission_policy_type, decoded.explicit_deny) == ("AssumeRolePolicy", False)
    with pytest.raises(ServerException) as via_core:
        core_call(live, people.deployer, STS_VERSION, "AssumeRole", RoleArn=live.arn("role/trustsnobodyelse"),
                  RoleSessionName="ci-job")  # fmt: skip
    assert (via_core.value.get_error_code(), via_core.value.get_http_status()) == ("NoPermission", 403)
    # A Deny in the trust policy is an explicit one.
    deny_all = {"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": {"RAM": [live.arn("root")]}}
    denying = {"Version": "1", "Statement": [deny_all]}
    service.create_role(account, "DeniesAll", json.dumps(denying))
    with pytest.raises(TeaException) as denied:
        _assume(live, people.deployer, live.arn("role/deniesall"))
    assert denied.value.access_denied_detail["NoPermissionType"] == "ExplicitDeny"
    explicit = _decoded(live, denied.value.access_denied_detail["EncodedDiagnosticMessage"])
    assert explicit.explicit_deny is True and explicit.matched_policies[0].effect == "Deny"
    # A role in another account: the diagnostic the caller's administrator decodes names no statement of
    # that account's trust policy and gives no reason.
    other = initialise(service, alias="trusting-co", new_account=True)
    elsewhere = json.dumps(TRUST_ACCOUNT).replace("{root}", f"acs:ram::{other.account_id}:root")
    service.create_role(other.account_id, "OwnPeopleOnly", elsewhere)
    with pytest.raises(TeaException) as foreign:
        _assume(live, people.deployer, f"acs:ram::{other.account_id}:role/ownpeopleonly")
    sealed = foreign.value.access_denied_detail["EncodedDiagnosticMessage"]
    plain = live.ram.authorizer.diagnostics.decode(sealed)
    assert plain["MatchedPolicies"] == [] and "Reason" not in plain
    assert _decoded(live, sealed).auth_resource == f"acs:ram::{other.account_id}:role/ownpeopleonly"


def test_core_sdk_rpc_v1_assume_role_then_caller_identity(live: Live, people: People) -> None:
    body = core_call(
        live,
        people.deployer,
        STS_VERSION,
        "AssumeRole",
        RoleArn=people.auditor_arn,
        RoleSessionName="core-v1",
    )
    temporary = Key(
        body["Credentials"]["AccessKeyId"],
        body["Credentials"]["AccessKeySecret"],
        body["Credentials"]["SecurityToken"],
    )
    identity = core_call(live, temporary, STS_VERSION, "GetCallerIdentity")
    assert identity["Arn"] == live.arn("assumed-role/RamAuditor/core-v1")
    users = core_call(live, temporary, RAM_VERSION, "ListUsers")
    assert isinstance(users["Users"]["User"], list) and users["IsTruncated"] is False
    with pytest.raises(ServerException) as denied:
        core_call(live, temporary, RAM_VERSION, "DeleteUser", UserName="nobody")
    assert denied.value.get_error_code() == "NoPermission"


def test_credentials_ram_role_arn_provider(
    live: Live, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider always calls STS over HTTPS and trusts certifi's bundle: serve TLS with a certificate
    # for 127.0.0.1 and add it to the bundle this test process trusts.
    cert, key = self_signed(tmp_path)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + cert.read_bytes())
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))
    with serving(live.ram, certfile=cert, keyfile=key) as tls_endpoint:
        provider = RamRoleArnCredentialsProvider(
            credentials_provider=StaticAKCredentialsProvider(
                access_key_id=people.deployer.access_key_id, access_key_secret=people.deployer.secret
            ),
            role_arn=people.auditor_arn,
            role_session_name="cred-provider",
            duration_seconds=900,
            # With spaces: this provider signs them as "+" (quote_plus), the other SDKs as %20.
            policy=json.dumps(json.loads(ONLY_LIST_USERS)),
            sts_endpoint=tls_endpoint,
        )
        credentials = provider.get_credentials()
    temporary = Key(
        credentials.get_access_key_id(), credentials.get_access_key_secret(), credentials.get_security_token()
    )
    assert temporary.access_key_id.startswith("STS.")
    identity = sts_client(live, temporary).get_caller_identity().body
    assert identity.arn == live.arn("assumed-role/RamAuditor/cred-provider")
    assert ram_client(live, temporary).list_users(ram_models.ListUsersRequest()).body.users.user
    with pytest.raises(TeaException) as narrowed:
        ram_client(live, temporary).list_roles(ram_models.ListRolesRequest())
    assert narrowed.value.code == "NoPermission"


# --- role chaining -----------------------------------------------------------------------------------------


def _chain(live: Live, outer: str, inner: str) -> tuple[str, str]:
    """Role ``outer`` (trusted by the account, may AssumeRole) and role ``inner`` (trusted by ``outer`` only,
    RAM read-only, 12 h sessions); their ARNs."""
    service, account = live.ram.service, live.account_id
    trust_account = json.dumps(TRUST_ACCOUNT).replace("{root}", live.arn("root"))
    service.create_role(account, outer, trust_account, max_session_duration=7200)
    service.attach_policy_to_role(account, "System", "AliyunSTSAssumeRoleAccess", outer)
    trust_outer = json.dumps(TRUST_ACCOUNT).replace("{root}", live.arn(f"role/{outer.lower()}"))
    service.create_role(account, inner, trust_outer, max_session_duration=43200)
    service.attach_policy_to_role(account, "System", "AliyunRAMReadOnlyAccess", inner)
    return live.arn(f"role/{outer.lower()}"), live.arn(f"role/{inner.lower()}")


def test_a_chained_session_never_outlives_its_parent(live: Live, people: People) -> None:
    outer, inner = _chain(live, "HopShort", "InnerShort")
    parent = _assume(live, people.deployer, outer, duration_seconds=900)
    child = _assume(live, _temporary(parent), inner, duration_seconds=3600)
    assert child.credentials.expiration == parent.credentials.expiration
    longer = _temporary(_assume(live, people.deployer, outer, duration_seconds=7200))
    fails(
        "InvalidParameter.DurationSeconds", 400, lambda: _assume(live, longer, inner, duration_seconds=3601)
    )


def test_revoking_or_deleting_the_parent_role_ends_chained_sessions(live: Live, people: People) -> None:
    service, account = live.ram.service, live.account_id
    outer, inner = _chain(live, "HopRevoked", "InnerRevoked")
    child = _temporary(_assume(live, _temporary(_assume(live, people.deployer, outer)), inner))
    assert sts_client(live, child).get_caller_identity().body.arn == live.arn(
        "assumed-role/InnerRevoked/ci-job"
    )
    service.revoke_role_sessions(account, "HopRevoked")
    fails("InvalidSecurityToken.Revoked", 400, sts_client(live, child).get_caller_identity)
    fails(
        "InvalidSecurityToken.Revoked", 400, ram_client(live, child).list_users, ram_models.ListUsersRequest()
    )
    time.sleep(0.002)  # a parent issued after the revocation chains again
    child = _temporary(_assume(live, _temporary(_assume(live, people.deployer, outer)), inner))
    assert ram_client(live, child).list_users(ram_models.ListUsersRequest()).body.users.user
    service.delete_role(account, "HopRevoked", force=True)
    fails(
        "InvalidSecurityToken.Revoked", 400, ram_client(live, child).list_users, ram_models.ListUsersRequest()
    )


def test_an_issued_session_is_audited_by_name_without_its_secrets(live: Live, people: People) -> None:
    """Later requests of a session are audited under its assumed-role ARN and temporary AccessKeyId; the
    AssumeRole call's events must name both, so that they lead back to the user who assumed the role."""
    body = _assume(live, people.deployer, people.auditor_arn)
    events = [e for e in live.audit.events if e.request_id == body.request_id]
    assert [(e.decision, e.status, e.principal_arn) for e in events] == [
        ("Allow", 200, live.arn("user/deployer")),
        ("Allow", 200, live.arn("user/deployer")),
    ]
    issued = events[-1]
    assert (issued.action, issued.resource) == ("sts:AssumeRole", people.auditor_arn)
    assert live.arn("assumed-role/RamAuditor/ci-job") in issued.reason
    assert body.credentials.access_key_id in issued.reason and body.credentials.expiration in issued.reason
    # It names what trusted the caller: the role's trust policy and its statement.
    assert (issued.policy, issued.statement) == ("trust policy TrustPolicy (role RamAuditor)", 0)
    for event in events:
        line = event.to_json()
        assert body.credentials.access_key_secret not in line and body.credentials.security_token not in line


RAM_READS = RpcApi(
    "ram",
    resources={"ListUsers": "acs:ram:*:{account}:user/*", "ListGroups": "acs:ram:*:{account}:group/*"},
)


def test_an_sdk_session_calls_an_app_another_instance_protects(live: Live, people: People) -> None:
    """AssumeRole through alibabacloud-sts20150401, then aliyun-python-sdk-core calls a Starlette app that a
    second runtime on the same store protects: the sealed token, opaque to its holder, opens there (the
    token keys come from the store's key file) and its session policy still narrows the role."""
    body = _assume(live, people.deployer, people.auditor_arn, policy=ONLY_LIST_USERS)
    session = _temporary(body)
    token = session.security_token or ""
    for claim in ("RamAuditor", "ramauditor", "ci-job", "ram:ListUsers", live.account_id):
        assert claim not in token

    @ram_route(RAM_READS)
    async def api(request: Request) -> JSONResponse:
        return JSONResponse({"Principal": request.state.principal.arn})

    app = Starlette(routes=[Route("/", api, methods=["GET", "POST"])])
    other = build(RamConfig(store_url=live.ram.config.store_url, audit=MemorySink()))
    try:
        app.add_middleware(RAMMiddleware, ram=other)
        with serve_asgi(app) as endpoint:

            def refusal(key: Key, action: str) -> tuple[str, int]:
                with pytest.raises(ServerException) as refused:
                    core_rpc(endpoint, key, RAM_VERSION, action, {})
                return refused.value.get_error_code(), refused.value.get_http_status()

            answer = core_rpc(endpoint, session, RAM_VERSION, "ListUsers", {})
            assert answer["Principal"] == live.arn("assumed-role/RamAuditor/ci-job")
            # The role may list groups; the session policy sealed in the token may not.
            assert refusal(session, "ListGroups") == ("NoPermission", 403)
            middle = len(token) // 2
            flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
            forged = Key(session.access_key_id, session.secret, flipped)
            assert refusal(forged, "ListUsers") == ("InvalidSecurityToken.Malformed", 400)
    finally:
        other.close()
