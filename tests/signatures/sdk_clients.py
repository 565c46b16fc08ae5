"""One call through each official SDK (and our own auth classes) against the live test server.

Each client returns the ARN the server authenticated (response header ``x-ram-principal``) or raises the
SDK's own exception; :func:`error_code` reads the Code from that exception the way each SDK exposes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.session
import httpx
import oss2
import requests
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]
from alibabacloud_sts20150401.client import Client as StsClient  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import utils_models as tea_models
from alibabacloud_tea_openapi.client import Client as TeaClient
from aliyunsdkcore.acs_exception.exceptions import ClientException as CoreClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException as CoreServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError as BotoClientError
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.client import RamAuth
from tests.live_server import Key, core_client

from .conftest import LiveServer


@dataclass(frozen=True)
class Creds:
    access_key_id: str
    secret: str
    token: str | None = None


class HttpFailure(Exception):
    """A non-2xx answer to our own requests/httpx clients, with the JSON error Code."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


def error_code(exc: BaseException) -> str:
    """The error Code as each SDK reports it."""
    if isinstance(exc, CoreServerException | CoreClientException):
        return str(exc.get_error_code())
    if isinstance(exc, TeaException):
        return str(exc.code)
    if isinstance(exc, oss2.exceptions.OssError):
        return str(exc.code)
    if isinstance(exc, HttpFailure):
        return exc.code
    if isinstance(exc, BotoClientError):
        return str(exc.response["Error"]["Code"])
    raise AssertionError(f"not an SDK error: {exc!r}")


# --- aliyun-python-sdk-core --------------------------------------------------------------------------------


def _core(creds: Creds) -> AcsClient:
    return core_client(Key(creds.access_key_id, creds.secret, creds.token or None))


def _core_arn(client: AcsClient, request: CommonRequest) -> str:
    return str(json.loads(client.do_action_with_exception(request))["Principal"])


def core_rpc_get(server: LiveServer, creds: Creds) -> str:
    request = CommonRequest(domain=server.endpoint, version="2015-05-01", action_name="GetUser")
    request.set_protocol_type("http")
    request.set_method("GET")
    request.add_query_param("UserName", "alice smith*~+/=&")
    return _core_arn(_core(creds), request)


def core_rpc_post(server: LiveServer, creds: Creds) -> str:
    request = CommonRequest(domain=server.endpoint, version="2015-05-01", action_name="CreateUser")
    request.set_protocol_type("http")
    request.set_method("POST")
    request.add_query_param("UserName", "bob")
    request.add_body_params("DisplayName", "Bob 中文 (R&D) +*~")
    return _core_arn(_core(creds), request)


def core_roa(server: LiveServer, creds: Creds) -> str:
    request = CommonRequest(
        domain=server.endpoint, version="2015-12-15", uri_pattern="/clusters/[ClusterId]/nodes"
    )
    request.set_protocol_type("http")
    request.set_method("GET")
    request.add_path_param("ClusterId", "c123")
    request.add_query_param("state", "running")
    return _core_arn(_core(creds), request)


# --- alibabacloud-tea-openapi and the product SDKs ------------------------------------------------------


def _tea_config(server: LiveServer, creds: Creds, algorithm: str | None = None) -> tea_models.Config:
    return tea_models.Config(
        access_key_id=creds.access_key_id,
        access_key_secret=creds.secret,
        security_token=creds.token,
        endpoint=server.endpoint,
        protocol="http",
        signature_algorithm=algorithm,
        read_timeout=10000,
        connect_timeout=5000,
    )


def _tea_call(server: LiveServer, creds: Creds, algorithm: str | None, style: str = "RPC") -> str:
    client = TeaClient(_tea_config(server, creds, algorithm))
    if style == "ROA":
        params = tea_models.Params(
            action="DescribeClusterNodes", version="2015-12-15", protocol="HTTP",
            pathname="/clusters/c123/nodes", method="GET", auth_type="AK", style="ROA",
            req_body_type="json", body_type="json",
        )  # fmt: skip
        request = tea_models.OpenApiRequest(query={"pageSize": "10", "state": "running"})
    else:
        params = tea_models.Params(
            action="CreateUser", version="2015-05-01", protocol="HTTP", pathname="/", method="POST",
            auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
        )  # fmt: skip
        request = tea_models.OpenApiRequest(
            query={"UserName": "alice x+y"}, body={"Comments": "hello wörld *~ a&b=c"}
        )
    response: dict[str, Any] = client.call_api(params, request, RuntimeOptions())
    return str(response["body"]["Principal"])


def tea_acs3(server: LiveServer, creds: Creds) -> str:
    return _tea_call(server, creds, None)


def tea_v2(server: LiveServer, creds: Creds) -> str:
    return _tea_call(server, creds, "v2")


def tea_v2_roa(server: LiveServer, creds: Creds) -> str:
    return _tea_call(server, creds, "v2", style="ROA")


def sts_get_caller_identity(server: LiveServer, creds: Creds) -> str:
    response = StsClient(_tea_config(server, creds)).get_caller_identity()
    assert response.body is not None and response.body.arn == response.headers["x-ram-principal"]
    return str(response.body.arn)


def ram_get_user(server: LiveServer, creds: Creds) -> str:
    response = RamClient(_tea_config(server, creds)).get_user(ram_models.GetUserRequest(user_name="alice"))
    assert response.body is not None and response.body.user is not None and response.body.user.user_name
    return str(response.headers["x-ram-principal"])


# --- oss2 --------------------------------------------------------------------------------------------------


def _bucket(server: LiveServer, creds: Creds, version: str) -> oss2.Bucket:
    if creds.token:
        auth = oss2.StsAuth(creds.access_key_id, creds.secret, creds.token, auth_version=version)
    else:
        auth = (
            oss2.Auth(creds.access_key_id, creds.secret)
            if version == "v1"
            else oss2.AuthV4(creds.access_key_id, creds.secret)
        )
    return oss2.Bucket(auth, server.url, "examplebucket", region="cn-hangzhou", connect_timeout=10)


def _oss_put(server: LiveServer, creds: Creds, version: str) -> str:
    body = b"hello world"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    result = _bucket(server, creds, version).put_object(
        "dir/hello world.txt", body, headers={"Content-MD5": md5, "x-oss-meta-author": "alice"}
    )
    return str(result.headers["x-ram-principal"])


def _oss_get(server: LiveServer, creds: Creds, version: str) -> str:
    result = _bucket(server, creds, version).get_object("dir/a+b c.txt", params={"versionId": "v 1"})
    assert result.read() == b"hello"
    return str(result.headers["x-ram-principal"])


def oss_v1_put(server: LiveServer, creds: Creds) -> str:
    return _oss_put(server, creds, "v1")


def oss_v1_get(server: LiveServer, creds: Creds) -> str:
    return _oss_get(server, creds, "v1")


def oss_v4_put(server: LiveServer, creds: Creds) -> str:
    return _oss_put(server, creds, "v4")


def oss_v4_get(server: LiveServer, creds: Creds) -> str:
    return _oss_get(server, creds, "v4")


# --- botocore (boto3's core): AWS SigV4 with a RAM AccessKey ---------------------------------------------


def _s3(server: LiveServer, creds: Creds) -> Any:
    config = BotoConfig(
        signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
    )  # fmt: skip
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=server.url, region_name="us-east-1", config=config,
        aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret,
        aws_session_token=creds.token,
    )  # fmt: skip


def botocore_s3_put(server: LiveServer, creds: Creds) -> str:
    result = _s3(server, creds).put_object(
        Bucket="examplebucket", Key="dir/hello world+*~.txt", Body=b"hello world", Metadata={"author": "a"}
    )
    return str(result["ResponseMetadata"]["HTTPHeaders"]["x-ram-principal"])


def botocore_s3_get(server: LiveServer, creds: Creds) -> str:
    result = _s3(server, creds).get_object(Bucket="examplebucket", Key="dir/a+b c.txt", VersionId="v 1")
    assert result["Body"].read() == b"hello"
    return str(result["ResponseMetadata"]["HTTPHeaders"]["x-ram-principal"])


# --- our own auth classes --------------------------------------------------------------------------------


def _checked(status: int, text: str, headers: Any) -> str:
    if status >= 300:
        raise HttpFailure(status, json.loads(text)["Code"])
    return str(headers["x-ram-principal"])


def _ours(creds: Creds, scheme: str) -> RamAuth:
    return RamAuth(creds.access_key_id, creds.secret, security_token=creds.token, scheme=scheme)  # type: ignore[arg-type]


def requests_acs3(server: LiveServer, creds: Creds) -> str:
    response = requests.post(
        f"{server.url}/?UserName=alice%20smith",
        data={"Comments": "a&b=c ü"},
        headers={"x-acs-action": "CreateUser", "x-acs-version": "2015-05-01"},
        auth=_ours(creds, "acs3"),
        timeout=10,
    )
    return _checked(response.status_code, response.text, response.headers)


def requests_v1(server: LiveServer, creds: Creds) -> str:
    response = requests.post(
        f"{server.url}/?Action=CreateUser&Version=2015-05-01",
        data={"UserName": "alice smith", "Comments": "ü*~"},
        auth=_ours(creds, "v1"),
        timeout=10,
    )
    return _checked(response.status_code, response.text, response.headers)


def httpx_acs3(server: LiveServer, creds: Creds) -> str:
    with httpx.Client(auth=_ours(creds, "acs3"), timeout=10) as client:
        response = client.post(
            f"{server.url}/?UserName=alice",
            content=b'{"Comments": "json body"}',
            headers={"content-type": "application/json", "x-acs-action": "CreateUser"},
        )
    return _checked(response.status_code, response.text, response.headers)


def httpx_v1(server: LiveServer, creds: Creds) -> str:
    with httpx.Client(auth=_ours(creds, "v1"), timeout=10) as client:
        response = client.post(
            f"{server.url}/?Action=CreateUser&Version=2015-05-01",
            data={"UserName": "bob", "DisplayName": "Bob 中文"},
        )
    return _checked(response.status_code, response.text, response.headers)


Call = Callable[[LiveServer, Creds], str]


@dataclass(frozen=True)
class Sdk:
    name: str
    call: Call
    scheme: str  # what the SDK signs with, as detect_scheme names it
    sends_body: bool = False
    has_nonce: bool = True
    body_error: str = "SignatureDoesNotMatch"  # the Code a body changed in transit gets


SDKS = [
    Sdk("core-rpc-get", core_rpc_get, "rpc-v1"),
    Sdk("core-rpc-post", core_rpc_post, "rpc-v1", sends_body=True),
    Sdk("core-roa", core_roa, "roa", has_nonce=False),
    Sdk("tea-acs3", tea_acs3, "acs3", sends_body=True),
    Sdk("tea-v2-rpc", tea_v2, "rpc-v1", sends_body=True),
    Sdk("tea-v2-roa", tea_v2_roa, "roa"),
    Sdk("sts-GetCallerIdentity", sts_get_caller_identity, "acs3"),
    Sdk("ram-GetUser", ram_get_user, "acs3"),
    Sdk(
        "oss2-v1-put",
        oss_v1_put,
        "oss-v1",
        sends_body=True,
        has_nonce=False,
        body_error="ContentMD5NotMatched",
    ),
    Sdk("oss2-v1-get", oss_v1_get, "oss-v1", has_nonce=False),
    Sdk(
        "oss2-v4-put",
        oss_v4_put,
        "oss-v4",
        sends_body=True,
        has_nonce=False,
        body_error="ContentMD5NotMatched",
    ),
    Sdk("oss2-v4-get", oss_v4_get, "oss-v4", has_nonce=False),
    Sdk("botocore-s3-put", botocore_s3_put, "aws-v4", sends_body=True, has_nonce=False),
    Sdk("botocore-s3-get", botocore_s3_get, "aws-v4", has_nonce=False),
    Sdk("requests-acs3", requests_acs3, "acs3", sends_body=True),
    Sdk("requests-v1", requests_v1, "rpc-v1", sends_body=True),
    Sdk("httpx-acs3", httpx_acs3, "acs3", sends_body=True),
    Sdk("httpx-v1", httpx_v1, "rpc-v1", sends_body=True),
]
