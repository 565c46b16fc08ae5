"""An STS session from the official SDKs, used against a protected app, as its role changes and as it expires.

A RAM user assumes a role through alibabacloud-sts20150401 on the live control plane; the temporary
credentials then call a Starlette app the same store protects, through tea-openapi's ``call_api`` (ACS3,
``security_token``) and aliyun-python-sdk-core (``StsTokenCredential``, RPC v1).
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alibabacloud_sts20150401 import models as sts_models  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import utils_models as tea_models
from alibabacloud_tea_openapi.client import Client as TeaClient
from aliyunsdkcore.acs_exception.exceptions import ServerException
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.audit import MemorySink
from ram_middleware.config import Ram, RamConfig, build
from ram_middleware.routes import RpcApi
from tests.live_server import core_rpc, serve_asgi

from .live import Key, Live, sts_client

ECS = RpcApi("ecs", resources={"DescribeInstances": "acs:ecs:*:{account}:instance/*"})
ECS_VERSION = "2014-05-26"
ECS_READ = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}


def _trust(arn: str) -> str:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [arn]}}
    return json.dumps({"Version": "1", "Statement": [statement]})


@pytest.fixture(scope="module")
def operator(live: Live) -> Key:
    """RAM user ``operator``, allowed sts:AssumeRole (AliyunSTSAssumeRoleAccess); its AccessKey."""
    service, account = live.ram.service, live.account_id
    service.create_user(account, "operator")
    service.attach_policy_to_user(account, "System", "AliyunSTSAssumeRoleAccess", "operator")
    service.create_policy(account, "EcsRead", json.dumps(ECS_READ))
    created = service.create_access_key(account, "operator")
    return Key(created.key.access_key_id, created.secret)


def _role(live: Live, name: str) -> str:
    """Role ``name``, trusting ``operator``, allowed ecs:Describe*; its ARN."""
    service, account = live.ram.service, live.account_id
    service.create_role(account, name, _trust(live.arn("user/operator")))
    service.attach_policy_to_role(account, "Custom", "EcsRead", name)
    return live.arn(f"role/{name.lower()}")


def _assume(
    live: Live, key: Key, role_arn: str, **extra: Any
) -> sts_models.AssumeRoleResponseBodyCredentials:
    request = sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="ops-1", **extra)
    body = sts_client(live, key).assume_role(request).body
    assert body is not None and body.credentials is not None
    return body.credentials


def _session(credentials: sts_models.AssumeRoleResponseBodyCredentials) -> Key:
    return Key(credentials.access_key_id, credentials.access_key_secret, credentials.security_token)


@ram_route(ECS)
async def _describe(request: Request) -> JSONResponse:
    return JSONResponse({"Principal": request.state.principal.arn})


def _protected(ram: Ram) -> AbstractContextManager[str]:
    """The app, protected by ``ram``, under uvicorn; yields its endpoint."""
    app = Starlette(routes=[Route("/", _describe, methods=["GET", "POST"])])
    app.add_middleware(RAMMiddleware, ram=ram)
    return serve_asgi(app)


def _tea(endpoint: str, key: Key) -> str:
    """DescribeInstances through tea-openapi (ACS3, the SecurityToken in x-acs-security-token)."""
    config = tea_models.Config(
        access_key_id=key.access_key_id, access_key_secret=key.secret, security_token=key.security_token,
        endpoint=endpoint, protocol="http", read_timeout=10000, connect_timeout=5000,
    )  # fmt: skip
    api = tea_models.Params(
        action="DescribeInstances", version=ECS_VERSION, protocol="HTTP", pathname="/", method="POST",
        auth_type="AK", style="RPC", req_body_type="json", body_type="json",
    )  # fmt: skip
    body = TeaClient(config).call_api(api, tea_models.OpenApiRequest(query={}), RuntimeOptions())["body"]
    return str(body["Principal"])


def _core(endpoint: str, key: Key) -> str:
    """DescribeInstances through aliyun-python-sdk-core (RPC v1, StsTokenCredential)."""
    return str(core_rpc(endpoint, key, ECS_VERSION, "DescribeInstances", {})["Principal"])


def _refused(call: Callable[[str, Key], str], endpoint: str, key: Key) -> tuple[str, int]:
    try:
        call(endpoint, key)
    except TeaException as failed:
        return failed.code, failed.statusCode
    except ServerException as failed:
        return failed.get_error_code(), failed.get_http_status()
    raise AssertionError("the call was not refused")


def test_the_expiration_sdks_are_told_is_when_the_session_ends(live: Live, operator: Key) -> None:
    """Expiration says when the session ends: a protected app whose clock reads one second before it
    accepts the session, and refuses it from that second on, through both SDKs."""
    credentials = _assume(live, operator, _role(live, "Expiring"), duration_seconds=900)
    expiration = datetime.fromtimestamp(
        calendar.timegm(time.strptime(credentials.expiration, "%Y-%m-%dT%H:%M:%SZ")), UTC
    )
    session = _session(credentials)
    now = [expiration - timedelta(seconds=1)]
    # The SDKs sign with the real time, about 15 minutes before the app's clock: its skew window covers it.
    config = RamConfig(
        store_url=live.ram.config.store_url, audit=MemorySink(), max_skew=3600.0, clock=lambda: now[0]
    )
    app_ram = build(config)
    try:
        with _protected(app_ram) as endpoint:
            for call in (_tea, _core):
                now[0] = expiration - timedelta(seconds=1)
                assert call(endpoint, session) == live.arn("assumed-role/Expiring/ops-1")
                for moment in (expiration, expiration + timedelta(seconds=1)):
                    now[0] = moment
                    assert _refused(call, endpoint, session) == ("InvalidSecurityToken.Expired", 400)
    finally:
        app_ram.close()


def test_changes_to_the_role_reach_its_existing_sessions(live: Live, operator: Key) -> None:
    """The role's policies are read per request (a detached policy is gone at once); its trust policy is
    asked only by AssumeRole (a session issued before an edit goes on); deleting the role ends its sessions,
    and a role created again under its name does not bring them back."""
    service, account = live.ram.service, live.account_id
    role_arn = _role(live, "Changing")
    session = _session(_assume(live, operator, role_arn))
    arn = live.arn("assumed-role/Changing/ops-1")
    with _protected(live.ram) as endpoint:
        assert _tea(endpoint, session) == _core(endpoint, session) == arn
        service.update_role(account, "Changing", new_assume_role_policy_document=_trust(live.arn("user/x")))
        with pytest.raises(TeaException) as untrusted:
            _assume(live, operator, role_arn)
        assert (untrusted.value.code, untrusted.value.statusCode) == ("NoPermission", 403)
        assert _tea(endpoint, session) == arn
        service.detach_policy_from_role(account, "Custom", "EcsRead", "Changing")
        for call in (_tea, _core):
            assert _refused(call, endpoint, session) == ("NoPermission", 403)
        service.delete_role(account, "Changing")
        service.create_role(account, "Changing", _trust(live.arn("user/operator")))
        service.attach_policy_to_role(account, "Custom", "EcsRead", "Changing")
        for call in (_tea, _core):
            assert _refused(call, endpoint, session) == ("InvalidSecurityToken.Revoked", 400)
        assert _tea(endpoint, _session(_assume(live, operator, role_arn))) == arn


def test_a_session_outlives_the_user_who_assumed_the_role(live: Live, operator: Key) -> None:
    """A session stands for the role, not for its caller: deleting the user who assumed the role (their
    AccessKey with them) leaves the session working, as on Alibaba Cloud; revoking the role's sessions
    ends it."""
    service, account = live.ram.service, live.account_id
    service.create_user(account, "leaver")
    service.attach_policy_to_user(account, "System", "AliyunSTSAssumeRoleAccess", "leaver")
    created = service.create_access_key(account, "leaver")
    leaver = Key(created.key.access_key_id, created.secret)
    service.create_role(account, "Outliving", _trust(live.arn("user/leaver")))
    service.attach_policy_to_role(account, "Custom", "EcsRead", "Outliving")
    role_arn = live.arn("role/outliving")
    session = _session(_assume(live, leaver, role_arn))
    service.delete_user(account, "leaver", force=True)
    with pytest.raises(TeaException) as gone:
        _assume(live, leaver, role_arn)
    assert (gone.value.code, gone.value.statusCode) == ("InvalidAccessKeyId.NotFound", 404)
    arn = live.arn("assumed-role/Outliving/ops-1")
    with _protected(live.ram) as endpoint:
        assert _tea(endpoint, session) == _core(endpoint, session) == arn
        service.revoke_role_sessions(account, "Outliving")
        for call in (_tea, _core):
            assert _refused(call, endpoint, session) == ("InvalidSecurityToken.Revoked", 400)
