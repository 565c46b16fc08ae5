"""How the walkthrough's people call things: the official SDKs and oss2, signing every request for real.

Demo APIs: aliyun-python-sdk-core ``CommonRequest`` (RPC signature v1, long-term or STS credentials) and
oss2 (OSS signatures on the REST paths). RAM and STS APIs: the official alibabacloud-ram20150501 and
alibabacloud-sts20150401 clients (ACS3). Every call returns an :class:`Answer` instead of raising, so the
story can show refusals as calmly as successes. ``source_ip`` rides in ``X-Forwarded-For``, which the demo
server believes only because it runs with ``--trusted-proxy 127.0.0.1`` (the walkthrough plays the proxy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import oss2
from alibabacloud_ram20150501.client import Client as RamClient  # type: ignore[import-untyped]
from alibabacloud_sts20150401.client import Client as StsClient  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import utils_models as open_api_models
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

__all__ = ["Answer", "Identity", "demo_rpc", "oss_get", "ram_client", "sdk_call", "sts_client"]

REGION = "cn-hangzhou"


@dataclass(frozen=True)
class Identity:
    """Someone in the story and the credentials they sign with (never printed)."""

    label: str
    access_key_id: str
    secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Answer:
    """What came back: success with a body, or the error Code and Message."""

    ok: bool
    body: Any = None
    code: str = ""
    message: str = ""


@cache
def _core_client(who: Identity) -> AcsClient:
    if who.security_token is not None:
        credential = StsTokenCredential(who.access_key_id, who.secret, who.security_token)
        return AcsClient(
            region_id=REGION, credential=credential, auto_retry=False, max_retry_time=0, timeout=10
        )
    return AcsClient(who.access_key_id, who.secret, REGION, auto_retry=False, max_retry_time=0, timeout=10)


def demo_rpc(
    endpoint: str, who: Identity, version: str, action: str, source_ip: str, **params: str
) -> Answer:
    """One RPC call to the demo server with aliyun-python-sdk-core, as sent from ``source_ip``."""
    request = CommonRequest(domain=endpoint, version=version, action_name=action)
    request.set_protocol_type("http")
    request.set_method("POST")
    request.add_header("X-Forwarded-For", source_ip)
    for name, value in params.items():
        request.add_query_param(name, value)
    try:
        return Answer(True, json.loads(_core_client(who).do_action_with_exception(request)))
    except ServerException as exc:
        return Answer(False, code=str(exc.get_error_code()), message=str(exc.get_error_msg()))
    except ClientException as exc:
        return Answer(False, code=str(exc.get_error_code()), message=str(exc.get_error_msg()))


def oss_get(endpoint: str, who: Identity, bucket: str, key: str, source_ip: str) -> Answer:
    """``GET /<bucket>/<key>`` with oss2 (OSS signature V1; StsAuth for temporary credentials)."""
    auth: oss2.Auth | oss2.StsAuth
    if who.security_token is not None:
        auth = oss2.StsAuth(who.access_key_id, who.secret, who.security_token)
    else:
        auth = oss2.Auth(who.access_key_id, who.secret)
    client = oss2.Bucket(auth, f"http://{endpoint}", bucket, connect_timeout=10)
    try:
        data = client.get_object(key, headers={"X-Forwarded-For": source_ip}).read()
    except oss2.exceptions.OssError as exc:
        return Answer(False, code=str(exc.code), message=str(exc.message))
    return Answer(True, data.decode("utf-8", "replace"))


def _config(endpoint: str, who: Identity) -> open_api_models.Config:
    return open_api_models.Config(
        access_key_id=who.access_key_id,
        access_key_secret=who.secret,
        security_token=who.security_token,
        endpoint=endpoint,
        protocol="http",
        region_id=REGION,
        read_timeout=10000,
        connect_timeout=5000,
    )


def ram_client(endpoint: str, who: Identity) -> Any:
    """The official RAM client (alibabacloud-ram20150501), signing as ``who``."""
    return RamClient(_config(endpoint, who))


def sts_client(endpoint: str, who: Identity) -> Any:
    """The official STS client (alibabacloud-sts20150401), signing as ``who``."""
    return StsClient(_config(endpoint, who))


def _tea_message(text: str) -> str:
    # Tea wraps the server's Message as "code: 409, <Message> request id: <id>".
    text = re.sub(r"^code: \d+, ", "", text)
    return re.sub(r" request id: [0-9A-Fa-f-]+$", "", text)


def sdk_call(call: Callable[[], Any]) -> Answer:
    """Run an official-SDK call; its parsed body as a dict, or the error."""
    try:
        response = call()
    except TeaException as exc:
        return Answer(False, code=str(exc.code), message=_tea_message(str(exc.message)))
    body = response.body.to_map() if response.body is not None else None
    return Answer(body is not None, body, code="" if body is not None else "EmptyBody")
