"""Wire behaviour of the control plane: error shapes, XML, unknown actions, bad input is never a 5xx."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from aliyunsdkcore.acs_exception.exceptions import ServerException
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.api.plane import APIS
from ram_middleware.bootstrap import initialise
from ram_middleware.client import RamAuth

from .live import RAM_VERSION, STS_VERSION, Key, Live, core_call, ram_client


@pytest.fixture(scope="module")
def http(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{live.endpoint}", timeout=10, trust_env=False) as client:
        yield client


def signed(http: httpx.Client, key: Key, scheme: str = "acs3", **kwargs: Any) -> httpx.Response:
    auth = RamAuth(key.access_key_id, key.secret, security_token=key.security_token, scheme=scheme)  # type: ignore[arg-type]
    method = "POST" if "data" in kwargs else "GET"
    return http.request(method, "/", auth=auth, **kwargs)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = dict(response.json())
    assert body["Code"] == code and body["Message"]
    assert body["RequestId"] == response.headers["x-acs-request-id"]
    return body


def test_healthz_is_public_and_json(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200 and response.json()["Status"] == "ok"
    assert response.json()["RequestId"] == response.headers["x-acs-request-id"]


def test_unsigned_calls_are_refused(http: httpx.Client) -> None:
    body = assert_error(
        http.get("/", params={"Action": "ListUsers", "Version": RAM_VERSION}), 401, "MissingAuthentication"
    )
    assert "AccessDeniedDetail" not in body
    assert_error(
        http.get("/", params={"Action": "GetCallerIdentity", "Version": STS_VERSION}),
        401,
        "MissingAuthentication",
    )
    assert_error(http.get("/elsewhere"), 401, "MissingAuthentication")


def test_routing_errors(live: Live, http: httpx.Client) -> None:
    admin = live.admin
    assert_error(
        signed(http, admin, params={"Action": "NoSuchThing", "Version": RAM_VERSION}),
        404,
        "InvalidAction.NotFound",
    )
    assert_error(
        signed(http, admin, params={"Action": "ListUsers", "Version": "2014-05-26"}),
        400,
        "InvalidVersion",
    )
    assert_error(signed(http, admin, params={"Version": RAM_VERSION}), 400, "MissingParameter.Action")
    # The Action parameter and the signed x-acs-action header must name the same call.
    disagree = signed(
        http,
        admin,
        params={"Action": "ListUsers", "Version": RAM_VERSION},
        headers={"x-acs-action": "CreateUser"},
    )
    assert_error(disagree, 400, "InvalidParameter.Action")
    with pytest.raises(ServerException) as core_unknown:
        core_call(live, admin, RAM_VERSION, "NoSuchThing")
    assert core_unknown.value.get_error_code() == "InvalidAction.NotFound"


def test_sdks_surface_our_codes(live: Live) -> None:
    with pytest.raises(TeaException) as tea:
        ram_client(live, live.admin).create_user(ram_models.CreateUserRequest(user_name="bad name!"))
    assert (tea.value.code, tea.value.statusCode) == ("InvalidParameter.UserName.InvalidChars", 400)
    with pytest.raises(ServerException) as core:
        core_call(live, live.admin, RAM_VERSION, "GetUser", UserName="ghost")
    assert (core.value.get_error_code(), core.value.get_http_status()) == ("EntityNotExist.User", 404)
    with pytest.raises(TeaException) as missing:
        ram_client(live, live.admin, signature="v2").get_group(ram_models.GetGroupRequest())
    assert missing.value.code == "MissingParameter.GroupName"


def test_v1_signed_tea_client_and_form_bodies(live: Live, http: httpx.Client) -> None:
    v1 = ram_client(live, live.admin, signature="v2")  # tea's switch to RPC v1 HMAC-SHA1
    assert v1.get_user(ram_models.GetUserRequest(user_name="admin")).body.user.user_name == "admin"
    form = signed(
        http, live.admin, scheme="v1", data={"Action": "GetUser", "Version": RAM_VERSION, "UserName": "admin"}
    )
    assert form.status_code == 200 and form.json()["User"]["UserName"] == "admin"


def test_xml_format(live: Live, http: httpx.Client) -> None:
    ok = signed(http, live.admin, params={"Action": "ListUsers", "Version": RAM_VERSION, "Format": "XML"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "text/xml;charset=utf-8"
    root = ET.fromstring(ok.content)
    assert root.tag == "ListUsersResponse" and root.findtext("RequestId") == ok.headers["x-acs-request-id"]
    assert root.findtext("IsTruncated") == "false"
    assert [u.findtext("UserName") for u in root.iter("User")] == ["admin"]
    bad = signed(
        http,
        live.admin,
        params={"Action": "GetUser", "Version": RAM_VERSION, "Format": "XML", "UserName": "x y"},
    )
    assert (
        bad.status_code == 400
        and ET.fromstring(bad.content).findtext("Code") == "InvalidParameter.UserName.InvalidChars"
    )
    # U+FFFF is no XML 1.0 character: stored, it would make every later Format=XML read unparsable.
    unstorable = {"Action": "CreateUser", "Version": RAM_VERSION, "UserName": "ffff", "DisplayName": "\uffff"}
    refused = signed(http, live.admin, params={**unstorable, "Format": "XML"})
    assert refused.status_code == 400
    assert ET.fromstring(refused.content).findtext("Code") == "InvalidParameter.DisplayName.InvalidChars"
    assert_error(
        signed(http, live.admin, params={"Action": "GetUser", "Version": RAM_VERSION, "UserName": "ffff"}),
        404,
        "EntityNotExist.User",
    )
    # A policy document may still hold one; its XML rendering shows U+FFFD and parses.
    document = (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"acs:oss:*:*:a\uffff"}]}'
    )
    create = {
        "Action": "CreatePolicy",
        "Version": RAM_VERSION,
        "PolicyName": "Odd",
        "PolicyDocument": document,
    }
    assert signed(http, live.admin, params=create).status_code == 200
    read = {"Action": "GetPolicy", "Version": RAM_VERSION, "PolicyName": "Odd", "PolicyType": "Custom"}
    got = signed(http, live.admin, params={**read, "Format": "XML"})
    assert got.status_code == 200
    shown = ET.fromstring(got.content).findtext("DefaultPolicyVersion/PolicyDocument")
    assert shown == document.replace("\uffff", "\ufffd")


def test_max_items_refusals_name_the_lists_own_bound(live: Live, http: httpx.Client) -> None:
    for action, bound in (("ListGroups", 100), ("ListUsers", 1000), ("ListRoles", 1000)):
        for value in ("0", str(bound + 1)):
            params = {"Action": action, "Version": RAM_VERSION, "MaxItems": value}
            refused = assert_error(signed(http, live.admin, params=params), 400, "InvalidParameter.MaxItems")
            assert refused["Message"] == f"MaxItems must be an integer from 1 to {bound}.", (action, value)


def test_denial_carries_a_diagnostic_the_admin_can_decode(live: Live, http: httpx.Client) -> None:
    service = live.ram.service
    service.create_user(live.account_id, "nosy")
    created = service.create_access_key(live.account_id, "nosy")
    nosy = Key(created.key.access_key_id, created.secret)
    denied = assert_error(
        signed(http, nosy, params={"Action": "DeleteGroup", "Version": RAM_VERSION, "GroupName": "Finance"}),
        403,
        "NoPermission",
    )
    detail = denied["AccessDeniedDetail"]
    assert (detail["AuthAction"], detail["NoPermissionType"]) == ("ram:DeleteGroup", "ImplicitDeny")
    decoded = (
        ram_client(live, live.admin)
        .decode_diagnostic_message(
            ram_models.DecodeDiagnosticMessageRequest(
                encoded_diagnostic_message=detail["EncodedDiagnosticMessage"]
            )
        )
        .body.decoded_diagnostic_message
    )
    assert decoded.auth_action == "ram:DeleteGroup" and decoded.auth_resource == live.arn("group/Finance")
    assert decoded.auth_principal.auth_principal_type == "SubUser" and decoded.explicit_deny is False
    assert any(c.condition_key == "acs:SourceIp" for c in decoded.auth_conditions)


def test_accounts_in_one_store_are_isolated(live: Live, http: httpx.Client) -> None:
    live.ram.service.create_user(live.account_id, "first-only")
    other = initialise(live.ram.service, alias="other-co", new_account=True)
    other_admin = Key(other.access_key_id, other.access_key_secret)
    listed = ram_client(live, other_admin).list_users(ram_models.ListUsersRequest()).body.users.user
    assert [u.user_name for u in listed] == ["admin"]
    response = signed(
        http, other_admin, params={"Action": "GetUser", "Version": RAM_VERSION, "UserName": "first-only"}
    )
    assert_error(response, 404, "EntityNotExist.User")
    assert live.audit.events[-1].resource == f"acs:ram::{other.account_id}:user/first-only"
    identity = core_call(live, other_admin, STS_VERSION, "GetCallerIdentity")
    assert identity["AccountId"] == other.account_id != live.account_id


ACTIONS = sorted((api.version, name) for api in APIS.values() for name in api.actions)


def test_every_action_is_answered(live: Live, http: httpx.Client) -> None:
    """Each action in the table answers a bare call with JSON (an error for the missing parameters)."""
    codes = {}
    for version, name in ACTIONS:
        response = signed(http, live.admin, params={"Action": name, "Version": version})
        assert response.status_code < 500 and "RequestId" in response.json(), name
        codes[name] = response.json().get("Code")
    assert codes["ListUsers"] is None and codes["GetCallerIdentity"] is None
    assert codes["CreateUser"] == "MissingParameter.UserName"
    assert codes["AssumeRole"] == "MissingParameter.RoleArn"
    assert len(ACTIONS) >= 60
