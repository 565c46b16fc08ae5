"""The control plane (the RAM/STS API app ``ram serve`` runs) under fuzz: random requests at its door, and
validly signed administrator calls of every action with random parameters, which run the handlers on
garbage. Every answer is < 500 with a well-formed JSON/XML body; unsigned callers never reach a handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ram_middleware.api import create_app
from ram_middleware.api.ram import ACTIONS as RAM_ACTIONS
from ram_middleware.api.ram import VERSION as RAM_VERSION
from ram_middleware.audit import MemorySink
from ram_middleware.bootstrap import initialise
from ram_middleware.client import RequestSigner
from ram_middleware.config import Ram, RamConfig, build

from .drivers import AsgiDriver, RawRequest
from .fuzzing import (
    Seeds,
    Target,
    check_error_body,
    check_reply,
    control_plane_handler_ran,
    fuzz_settings,
    fuzz_timeout,
    raw_requests,
)

pytestmark = pytest.mark.timeout(fuzz_timeout(240))

STS_VERSION = "2015-04-01"
ADMIN = "fuzz-admin-7f3a"  # never among the fuzzed values, so no call can lock the fuzzer out
TRUST = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{"RAM":["acs:ram::ACCOUNT:root"]}}]}'
)

PARAMS = (
    "UserName",
    "GroupName",
    "RoleName",
    "PolicyName",
    "PolicyType",
    "PolicyDocument",
    "VersionId",
    "SetAsDefault",
    "RotateStrategy",
    "AssumeRolePolicyDocument",
    "NewAssumeRolePolicyDocument",
    "MaxSessionDuration",
    "NewMaxSessionDuration",
    "Description",
    "NewDescription",
    "DisplayName",
    "NewDisplayName",
    "NewUserName",
    "NewGroupName",
    "Comments",
    "NewComments",
    "Email",
    "NewEmail",
    "MobilePhone",
    "NewMobilePhone",
    "Password",
    "OldPassword",
    "NewPassword",
    "PasswordResetRequired",
    "MFABindRequired",
    "UserAccessKeyId",
    "Status",
    "SerialNumber",
    "VirtualMFADeviceName",
    "AuthenticationCode1",
    "AuthenticationCode2",
    "Marker",
    "MaxItems",
    "AccountAlias",
    "EncodedDiagnosticMessage",
    "CascadingDelete",
    "RoleArn",
    "RoleSessionName",
    "DurationSeconds",
    "Policy",
    "ExternalId",
    "SourceIdentity",
    "MinimumPasswordLength",
    "RequireSymbols",
    "MaxLoginAttemps",
    "LoginNetworkMasks",
    "LoginSessionDuration",
    "EnableSaveMFATicket",
    "AllowUserToChangePassword",
    "Tag.1.Key",
    "Tag.1.Value",
    "Format",
    "RegionId",
)


@dataclass
class Plane:
    runtime: Ram
    target: Target
    account_id: str
    admin: RequestSigner


@pytest.fixture(scope="module")
def plane() -> Iterator[Plane]:
    runtime = build(RamConfig(store_url="memory://", audit=MemorySink()))
    boot = initialise(runtime.service, admin_user=ADMIN)
    account = boot.account_id
    service = runtime.service
    service.create_user(account, "alice")
    service.create_group(account, "dev")
    service.create_role(account, "Deployer", TRUST.replace("ACCOUNT", account))
    service.create_policy(
        account,
        "ReadEcs",
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}',
    )
    target = Target(
        "control-plane", AsgiDriver(create_app(runtime)), frozenset({"/healthz"}), control_plane_handler_ran
    )
    admin = RequestSigner(boot.access_key_id, boot.access_key_secret)
    yield Plane(runtime, target, account, admin)
    target.driver.close()
    runtime.close()


def values(account: str) -> st.SearchStrategy[str]:
    documents = st.sampled_from(
        [
            '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:Get*","Resource":"*"}]}',
            TRUST.replace("ACCOUNT", account),
            "{}",
            "[]",
            "null",
            '{"Version":"1"}',
            "{" * 50,
            '{"Version":"1","Statement":[]}',
            '{"Version":"1","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"x"}}}}',
        ]
    )
    plausible = st.sampled_from(
        [
            "alice",
            "dev",
            "Deployer",
            "ReadEcs",
            "AdministratorAccess",
            "AliyunOSSFullAccess",
            "System",
            "Custom",
            "v1",
            "v2",
            "true",
            "false",
            "TRUE",
            "3600",
            "900",
            "43200",
            "0",
            "-1",
            "1e3",
            "99999999999999999999",
            "",
            " ",
            "Active",
            "Inactive",
            f"acs:ram::{account}:role/deployer",
            "acs:ram::1:role/x",
            "acs:ram::",
            f"acs:ram::{account}:mfa/dev",
            "123456",
            "000000",
            "Passw0rd!Passw0rd",
            "company-x",
            "10.0.0.0/8;x",
            "DeleteOldestNonDefaultVersionWhenLimitExceeded",
            "s" * 2000,
            "é" * 70,
            "a.b@c",
            "86-13800000000",
        ]
    )
    text = st.text(max_size=80)
    return st.one_of(
        plausible, plausible, documents, text, st.text(max_size=7000).filter(lambda s: len(s) > 100)
    )


def core_values(account: str) -> dict[str, list[str]]:
    """Plausible values of the parameters most actions require, so many calls get past their first check."""
    return {
        "UserName": ["alice", "bob", "new-user", "x" * 65, "bad name"],
        "GroupName": ["dev", "ops", "-"],
        "RoleName": ["Deployer", "Other", "r" * 70],
        "PolicyName": ["ReadEcs", "AdministratorAccess", "NewPolicy", "bad_name"],
        "PolicyType": ["Custom", "System", "custom", "Nope"],
        "RoleArn": [
            f"acs:ram::{account}:role/deployer",
            f"acs:ram::{account}:role/Other",
            "arn:aws:iam::1:role/x",
        ],
        "RoleSessionName": ["fuzz", "x", "bad session"],
        "PolicyDocument": [
            '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*"}]}',
            "{",
        ],
        "VersionId": ["v1", "v2", "v0", "1"],
        "Password": ["Passw0rd!Passw0rd", "short"],
        "NewPassword": ["Passw0rd!Passw0rd2", ""],
        "OldPassword": ["Passw0rd!Passw0rd", "wrong"],
        "Status": ["Active", "Inactive", "Deleted"],
        "AccountAlias": ["company-x", "-bad-", "UPPER"],
    }


@st.composite
def calls(draw: st.DrawFn, account: str) -> tuple[str, str, list[tuple[str, str]], str]:
    api = draw(st.sampled_from(["ram", "ram", "ram", "sts"]))
    if api == "ram":
        version, action = RAM_VERSION, draw(st.sampled_from(sorted(RAM_ACTIONS)))
    else:
        version, action = STS_VERSION, draw(st.sampled_from(["AssumeRole", "GetCallerIdentity"]))
    params = [
        (
            name,
            draw(
                st.one_of(st.sampled_from(pool), values(account))
                if draw(st.booleans())
                else st.sampled_from(pool)
            ),
        )
        for name, pool in core_values(account).items()
        if draw(st.booleans())
    ]
    names = draw(st.lists(st.sampled_from(PARAMS), max_size=6))
    params += [(name, draw(values(account))) for name in names]
    encoding = draw(st.sampled_from(["acs3-query", "v1-query", "v1-form"]))
    return version, action, params, encoding


def signed_call(
    plane: Plane, version: str, action: str, params: list[tuple[str, str]], encoding: str
) -> RawRequest:
    signer = plane.admin
    body = b""
    headers: list[tuple[str, str]] = []
    if encoding == "acs3-query":
        signer = RequestSigner(signer.access_key_id, signer._secret)
        headers = [("x-acs-action", action), ("x-acs-version", version)]
        query = urlencode(params, quote_via=quote)
    else:
        signer = RequestSigner(signer.access_key_id, signer._secret, scheme="v1")
        common = [("Action", action), ("Version", version), ("Format", "JSON")]
        if encoding == "v1-form":
            body = urlencode(params, quote_via=quote).encode()
            headers = [("content-type", "application/x-www-form-urlencoded")]
            query = urlencode(common, quote_via=quote)
        else:
            query = urlencode(common + params, quote_via=quote)
    signed = signer.sign("POST", f"http://testserver/?{query}", headers, body)
    parts = urlsplit(signed.url)
    all_headers = [*headers, *signed.headers.items()]
    return RawRequest(
        "POST",
        b"/",
        parts.query.encode(),
        tuple((k.encode(), v.encode("utf-8")) for k, v in all_headers),
        body,
    )


def test_random_requests_at_the_control_plane(plane: Plane) -> None:
    seeds = Seeds(
        access_key_ids=[plane.admin.access_key_id, "LTAI-nope"],
        paths=("/", "/healthz", "/?Action=GetUser", "/console", "//"),
        extra_params=("UserName", "PolicyDocument", "RoleArn"),
    )

    @fuzz_settings(400)
    @given(raw_requests(seeds))
    def run(request: RawRequest) -> None:
        check_reply(plane.target, request, plane.target.send(request), signed=False)

    run()


def test_signed_admin_calls_with_random_parameters(plane: Plane) -> None:
    outcomes: dict[str, int] = {"ok": 0, "refused": 0}

    @fuzz_settings(700)
    @given(calls(plane.account_id))
    def run(call: tuple[str, str, list[tuple[str, str]], str]) -> None:
        request = signed_call(plane, *call)
        reply = plane.target.send(request)
        check_reply(plane.target, request, reply, signed=True)
        body = json.loads(reply.body)
        assert isinstance(body, dict) and body.get("RequestId") == reply.headers["x-acs-request-id"], (
            reply.describe()
        )
        if reply.status >= 400:
            fields = check_error_body(reply)
            # The administrator is allowed everything: refusals are about the parameters, not the caller.
            assert fields["Code"] not in ("SignatureDoesNotMatch", "MissingAuthentication"), reply.describe()
            outcomes["refused"] += 1
        else:
            outcomes["ok"] += 1

    run()
    assert outcomes["ok"] > 20, outcomes  # the calls were real: many of them ran to success
