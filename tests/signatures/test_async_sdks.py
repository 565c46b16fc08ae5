"""The async side of the Tea SDKs (``call_api_async``, the product clients' ``*_async`` methods) against the
live uvicorn server.

They send through aiohttp, which adds ``Content-Type: application/octet-stream`` (unsigned) to every
request without a body, where the sync side (requests) sends none.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alibabacloud_sts20150401.client import Client as StsClient  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import utils_models as tea_models
from alibabacloud_tea_openapi.client import Client as TeaClient
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from .conftest import LiveServer
from .identities import AK, ALICE, OPS_SESSION, SECRET, STS_AK, STS_SECRET, STS_TOKEN
from .sdk_clients import Creds, _tea_config

LONG_TERM = Creds(AK, SECRET)


def call_async(
    server: LiveServer,
    style: str,
    method: str,
    *,
    algorithm: str | None = None,
    creds: Creds = LONG_TERM,
    body: dict[str, str] | bytes | None = None,
    body_type: str = "json",
) -> str:
    """One ``call_api_async`` (ACS3 unless ``algorithm``); the ARN the server authenticated."""
    pathname = "/clusters/c%201/nodes" if style == "ROA" else "/"
    params = tea_models.Params(
        action="CreateUser", version="2015-05-01", protocol="HTTP", pathname=pathname, method=method,
        auth_type="AK", style=style, req_body_type=body_type, body_type="json",
    )  # fmt: skip
    request = tea_models.OpenApiRequest(query={"UserName": "alice x+y", "Empty": ""}, body=body)
    client = TeaClient(_tea_config(server, creds, algorithm))
    runtime = RuntimeOptions(autoretry=False, max_attempts=0)
    response: dict[str, Any] = asyncio.run(client.call_api_async(params, request, runtime))
    return str(response["body"]["Principal"])


@pytest.mark.parametrize(
    ("style", "method"), [("RPC", "POST"), ("RPC", "GET"), ("ROA", "GET"), ("ROA", "DELETE")]
)
def test_acs3_without_a_body(server: LiveServer, style: str, method: str) -> None:
    assert call_async(server, style, method) == ALICE.arn
    received = server.app.recorded[-1]
    assert not received.body and received.header("content-type") == "application/octet-stream"
    assert "content-type" not in (received.header("authorization") or "")


def test_acs3_with_a_body_still_signs_its_content_type(server: LiveServer) -> None:
    assert call_async(server, "ROA", "PUT", body={"Comments": "a b"}) == ALICE.arn
    assert "content-type" in (server.app.recorded[-1].header("authorization") or "")


@pytest.mark.parametrize("style", ["RPC", "ROA"])
def test_acs3_byte_body(server: LiveServer, style: str) -> None:
    # The SDK sends a "byte" body without a Content-Type; aiohttp adds application/octet-stream, unsigned.
    assert call_async(server, style, "POST", body=b"\x00\xffbinary", body_type="byte") == ALICE.arn
    assert server.app.recorded[-1].header("content-type") == "application/octet-stream"


def test_product_client_async(server: LiveServer) -> None:
    for creds, arn in [(LONG_TERM, ALICE.arn), (Creds(STS_AK, STS_SECRET, STS_TOKEN), OPS_SESSION.arn)]:
        response = asyncio.run(StsClient(_tea_config(server, creds)).get_caller_identity_async())
        assert response.body is not None and response.body.arn == arn


def test_wrong_secret_is_still_refused(server: LiveServer) -> None:
    with pytest.raises(TeaException) as caught:
        call_async(server, "RPC", "POST", creds=Creds(AK, SECRET[:-1] + "x"))
    assert (caught.value.code, caught.value.status_code) == ("SignatureDoesNotMatch", 400)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_roa_v2_without_a_body(server: LiveServer, method: str) -> None:
    # Tea's ROA string to sign holds a Content-Type line: it signed an empty one.
    assert call_async(server, "ROA", method, algorithm="v2") == ALICE.arn
    assert server.app.recorded[-1].header("content-type") == "application/octet-stream"


def test_roa_v2_with_a_body(server: LiveServer) -> None:
    assert call_async(server, "ROA", "PUT", algorithm="v2", body={"Comments": "a b"}) == ALICE.arn
    assert server.app.recorded[-1].header("content-type") == "application/json; charset=utf-8"
