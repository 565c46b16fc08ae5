"""The official SDKs against protected apps on real servers (127.0.0.1 only).

A Starlette app under uvicorn and a Flask app under wsgiref (stdlib, in a thread) both expose one RPC-style
``ecs`` API at ``/``. aliyun-python-sdk-core signs RPC v1 (CommonRequest), alibabacloud-tea-openapi signs
ACS3 (call_api), botocore signs AWS SigV4; each is allowed or denied by the caller's policies, and a
denial reaches the SDK as its own exception with Code ``NoPermission``. What core, Tea (ACS3, RPC v1, ROA)
and oss2 (V1, V4) send is also caught unserved and sent again with each signed part changed
(:mod:`.tampering`): each change gets its own Code.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import botocore.session
import oss2  # type: ignore[import-untyped]
import pytest
import requests
from alibabacloud_credentials.models import CredentialModel  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import utils_models as tea_models
from alibabacloud_tea_openapi.client import Client as TeaClient
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import CommonRequest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]
from flask import Flask, g
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.adapters.flask import RAM, require
from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.config import Ram
from ram_middleware.context import utc_now
from ram_middleware.routes import RpcApi
from tests.live_server import core_client, core_rpc, sdk_environment, serve_asgi, serve_wsgi

from .tampering import Capture, CaptureAsgi, send, tamperings
from .world import Key, World, make_world

ECS = RpcApi(
    "ecs",
    resources={
        "DescribeInstances": "acs:ecs:{RegionId}:{account}:instance/*",
        "StopInstance": "acs:ecs:{RegionId}:{account}:instance/{InstanceId}",
    },
)
VERSION = "2014-05-26"
NOTE = "acs:ecs:*:{account}:instance/{name}"  # a ROA-style route: the resource comes from the path


def _answer(request_id: str, action: str | None, principal: Any) -> dict[str, Any]:
    return {"RequestId": request_id, "Action": action, "Principal": principal.arn}


def starlette_app(ram: Ram) -> Starlette:
    @ram_route(ECS)
    async def api(request: Request) -> JSONResponse:
        action = request.query_params.get("Action") or request.headers.get("x-acs-action")
        state = request.state
        return JSONResponse(_answer(state.ram_request_id, action, state.principal))

    @ram_route("ecs:DescribeInstances", NOTE)
    async def note(request: Request) -> JSONResponse:
        return JSONResponse({"Name": request.path_params["name"], "Principal": request.state.principal.arn})

    both = ["GET", "POST", "PUT"]
    app = Starlette(routes=[Route("/", api, methods=both), Route("/notes/{name}", note, methods=both)])
    app.add_middleware(RAMMiddleware, ram=ram)
    return app


def flask_app(ram: Ram) -> Flask:
    app = Flask(__name__)
    RAM(app, ram=ram)

    @app.route("/", methods=["GET", "POST"])
    @require(ECS)
    def api() -> dict[str, Any]:
        action = flask_request.values.get("Action") or flask_request.headers.get("x-acs-action")
        return _answer(g._ram.request_id, action, g.principal)

    @app.route("/notes/<name>", methods=["GET", "POST", "PUT"])
    @require("ecs:DescribeInstances", NOTE)
    def note(name: str) -> dict[str, Any]:
        return {"Name": name, "Principal": g.principal.arn}

    return app


@dataclass
class Live:
    world: World
    endpoint: str
    name: str
    capture: Capture | None = None  # around the app: catches a request unserved while armed


SERVERS: dict[
    str, tuple[Callable[[Ram], Any], Callable[[Any], AbstractContextManager[str]], type[Capture]]
] = {
    "starlette-uvicorn": (starlette_app, serve_asgi, CaptureAsgi),
    "flask-wsgiref": (flask_app, serve_wsgi, Capture),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    build_app, serve, capturing = SERVERS[request.param]
    with sdk_environment():
        world = make_world(clock=utc_now)  # the SDKs sign with the real time
        try:
            app = capturing(build_app(world.ram))
            with serve(app) as endpoint:
                yield Live(world, endpoint, request.param, app)
        finally:
            world.ram.close()


def core_call(live: Live, key: Key, action: str, **params: str) -> dict[str, Any]:
    return core_rpc(live.endpoint, key, VERSION, action, params)


def tea_call(live: Live, key: Key, action: str, **params: str) -> dict[str, Any]:
    config = tea_models.Config(
        access_key_id=key.access_key_id, access_key_secret=key.secret, endpoint=live.endpoint,
        protocol="http", read_timeout=10000, connect_timeout=5000,
    )  # fmt: skip
    api = tea_models.Params(
        action=action, version=VERSION, protocol="HTTP", pathname="/", method="POST", auth_type="AK",
        style="RPC", req_body_type="json", body_type="json",
    )  # fmt: skip
    request = tea_models.OpenApiRequest(query={"RegionId": "cn-hangzhou", **params})
    response = TeaClient(config).call_api(api, request, RuntimeOptions())
    return dict(response["body"])


def test_core_sdk_rpc_v1_allowed_and_denied(live: Live) -> None:
    world = live.world
    bob, alice = world.keys["bob"], world.keys["alice"]
    body = core_call(live, bob, "DescribeInstances")
    assert body["Action"] == "DescribeInstances" and body["Principal"] == world.arn("bob")
    event = world.audit.events[-1]
    assert (event.auth_method, event.request_id) == ("rpc-v1", body["RequestId"])
    assert event.resource == f"acs:ecs:cn-hangzhou:{world.account_id}:instance/*"
    with pytest.raises(ServerException) as denied:
        core_call(live, bob, "StopInstance", InstanceId="i-1")
    assert (denied.value.get_error_code(), denied.value.get_http_status()) == ("NoPermission", 403)
    assert core_call(live, alice, "StopInstance", InstanceId="i-1")["Principal"] == world.arn("alice")


def test_tea_openapi_acs3_allowed_and_denied(live: Live) -> None:
    world = live.world
    bob = world.keys["bob"]
    body = tea_call(live, bob, "DescribeInstances")
    assert body["Action"] == "DescribeInstances" and body["Principal"] == world.arn("bob")
    assert world.audit.events[-1].auth_method == "acs3"
    with pytest.raises(TeaException) as denied:
        tea_call(live, world.keys["eve"], "DescribeInstances")
    assert denied.value.code == "NoPermission"
    with pytest.raises(TeaException) as stop:
        tea_call(live, bob, "StopInstance", InstanceId="i-1")
    assert stop.value.code == "NoPermission"
    assert tea_call(live, world.keys["alice"], "StopInstance", InstanceId="i-1")["Principal"] == world.arn(
        "alice"
    )


def test_sdk_errors_for_bad_credentials(live: Live) -> None:
    alice = live.world.keys["alice"]
    with pytest.raises(ServerException) as forged:
        core_call(live, Key(alice.access_key_id, "wrong-secret"), "DescribeInstances")
    # core turns a mismatch whose server string-to-sign it cannot compare into one of these two.
    assert forged.value.get_error_code() in ("SignatureDoesNotMatch", "InvalidAccessKeySecret")
    with pytest.raises(TeaException) as unknown:
        tea_call(live, Key("LTAIdoesnotexist0000000", "x" * 30), "DescribeInstances")
    assert unknown.value.code == "InvalidAccessKeyId.NotFound"


class _IdTokenCredential:
    """A Tea credential of type ``id_token`` (the SDK sends it as ``x-acs-zero-trust-idtoken``, unsigned)."""

    def get_credential(self) -> CredentialModel:
        return CredentialModel(type="id_token", security_token="eyJhbGciOi.id.token", provider_name="oidc")


TEA_STYLES = [("RPC", None), ("ROA", None), ("RPC", "v2"), ("ROA", "v2")]  # (style, signature_algorithm)


def tea_refusal(live: Live, style: str, config: tea_models.Config) -> TeaException:
    """The TeaException of one DescribeInstances call (RPC at ``/``, ROA at ``/notes/abc``) made with
    ``config``, pointed at the live server."""
    config.endpoint, config.protocol = live.endpoint, "http"
    api = tea_models.Params(
        action="DescribeInstances", version=VERSION, protocol="HTTP", method="POST", auth_type="AK",
        pathname="/" if style == "RPC" else "/notes/abc", style=style, req_body_type="json", body_type="json",
    )  # fmt: skip
    request = tea_models.OpenApiRequest(query={"RegionId": "cn-hangzhou"})
    with pytest.raises(TeaException) as refused:
        TeaClient(config).call_api(api, request, RuntimeOptions(autoretry=False, max_attempts=0))
    return refused.value


@pytest.mark.parametrize(("style", "algorithm"), TEA_STYLES, ids=str)
def test_tea_id_token_credential_is_refused_not_anonymous(
    live: Live, style: str, algorithm: str | None
) -> None:
    # Tea sends an ID token in x-acs-zero-trust-idtoken instead of a signature: a credential this service
    # does not take, refused as such rather than read as no credential at all.
    config = tea_models.Config(signature_algorithm=algorithm, credential=_IdTokenCredential())
    refused = tea_refusal(live, style, config)
    assert (refused.code, refused.status_code) == ("IncompleteSignature", 400)


@pytest.mark.parametrize("algorithm", ["ACS3-HMAC-SM3", "ACS3-RSA-SHA256"])
@pytest.mark.parametrize("style", ["RPC", "ROA"])
def test_tea_v3_variants_other_than_hmac_sha256_are_refused(live: Live, style: str, algorithm: str) -> None:
    # Decision: of the V3 algorithms Tea offers, only ACS3-HMAC-SHA256 is verified; the others are refused
    # by name, before any key is looked up (an RSA signature is made with a private key as the "secret").
    key = live.world.keys["alice"]
    secret = key.secret
    if algorithm == "ACS3-RSA-SHA256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        secret = pem.decode().replace("-----BEGIN PRIVATE KEY-----\n", "").split("\n-----END")[0]
    config = tea_models.Config(
        access_key_id=key.access_key_id, access_key_secret=secret, signature_algorithm=algorithm
    )
    refused = tea_refusal(live, style, config)
    assert (refused.code, refused.status_code) == ("InvalidSignatureMethod", 400)
    assert "Only ACS3-HMAC-SHA256" in refused.message


@pytest.mark.parametrize(("style", "algorithm"), TEA_STYLES, ids=str)
def test_tea_bearer_token_is_refused_by_name(live: Live, style: str, algorithm: str | None) -> None:
    # A bearer token travels as BearerToken + SignatureType=BEARERTOKEN in an RPC v1 query (no Signature),
    # else in x-acs-bearer-token: refused as the credential it is, not as a signature lacking "Signature".
    refused = tea_refusal(live, style, tea_models.Config(signature_algorithm=algorithm, bearer_token="tok"))
    if (style, algorithm) == ("RPC", "v2"):
        assert (refused.code, refused.status_code) == ("InvalidSignatureMethod", 400)
        assert "Bearer-token signatures are not supported" in refused.message
    else:
        assert (refused.code, refused.status_code) == ("IncompleteSignature", 400)


@pytest.mark.parametrize("name", ["plain", "a+b", "a*b", "a(b)!", "a@b=c;d,e", "a b", "n\u00f6te"])
def test_tea_roa_v2_with_reserved_characters_in_the_path(live: Live, name: str) -> None:
    # Tea signs the path as it sends it (each segment quoted, only "~" kept). wsgiref hands the app a decoded
    # PATH_INFO and no raw URI, so the path the signature covers must be rebuilt as Tea encoded it.
    body = tea_roa_v2(live, "GET", "/notes/" + quote(name, safe="~"), tea_models.OpenApiRequest())
    assert body == {"Name": name, "Principal": live.world.arn("alice")}


def tea_roa_v2(live: Live, method: str, path: str, request: Any, body_type: str = "json") -> Any:
    """alice's ROA call through tea-openapi, signed v2 (ROA), answered with the JSON body."""
    key = live.world.keys["alice"]
    config = tea_models.Config(
        access_key_id=key.access_key_id, access_key_secret=key.secret, endpoint=live.endpoint,
        protocol="http", signature_algorithm="v2",
    )  # fmt: skip
    api = tea_models.Params(
        action="Note", version=VERSION, protocol="HTTP", pathname=path, method=method, auth_type="AK",
        style="ROA", req_body_type=body_type, body_type="json",
    )  # fmt: skip
    return TeaClient(config).call_api(api, request, RuntimeOptions())["body"]


@pytest.mark.parametrize("service", ["ecs", "s3"])  # S3 signs the path as sent, others encode it again
@pytest.mark.parametrize(("name", "safe"), [("n\u00f6te one", "~"), ("a:b+c(d)*", "~"), ("a:b@c", "~:@")])
def test_botocore_sigv4_allowed_and_denied(live: Live, service: str, name: str, safe: str) -> None:
    # boto3 users point botocore at the app with a RAM AccessKey; a refusal is the XML botocore parses.
    signer = S3SigV4Auth if service == "s3" else SigV4Auth

    def call(who: str) -> requests.Response:
        key = live.world.keys[who]
        request = AWSRequest(method="GET", url=f"http://{live.endpoint}/notes/{quote(name, safe=safe)}")
        signer(Credentials(key.access_key_id, key.secret), service, "cn-hangzhou").add_auth(request)
        prepared = request.prepare()
        return requests.get(prepared.url, headers=dict(prepared.headers), timeout=10)

    allowed = call("alice")
    assert allowed.json() == {"Name": name, "Principal": live.world.arn("alice")}
    assert live.world.audit.events[-1].auth_method == "aws-v4"
    denied = call("eve")
    assert denied.status_code == 403
    error = ET.fromstring(denied.content)  # S3's <Error>; the other services' <ErrorResponse><Error>
    code = error.findtext("Code") if service == "s3" else error.findtext("Error/Code")
    assert (error.tag, code) == ("Error" if service == "s3" else "ErrorResponse", "NoPermission")
    assert error.findtext("RequestId") == denied.headers["x-acs-request-id"]


class _Sent(Exception):
    """Stops botocore once it has signed the request (not a network error: it will not retry)."""


def _s3_client(live: Live, endpoint: str, **config: Any) -> Any:
    key = live.world.keys["alice"]
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="cn-hangzhou", aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret, config=BotoConfig(s3={"addressing_style": "path"}, **config),
    )  # fmt: skip


def _s3_error(response: requests.Response) -> tuple[int, str | None, str]:
    error = ET.fromstring(response.content)
    assert error.tag == "Error" and error.findtext("RequestId") == response.headers["x-acs-request-id"]
    return response.status_code, error.findtext("Code"), error.findtext("Message") or ""


@pytest.mark.parametrize("version", [None, "s3v4"])  # by default, botocore presigns S3 with SigV2
def test_botocore_presigned_urls_are_refused_in_s3_xml(live: Live, version: str | None) -> None:
    client = _s3_client(live, f"http://{live.endpoint}", signature_version=version)
    url = client.generate_presigned_url("get_object", Params={"Bucket": "notes", "Key": "a"}, ExpiresIn=60)
    status, code, message = _s3_error(requests.get(url, timeout=10))
    assert (status, code) == (400, "IncompleteSignature")
    assert "AWS presigned URLs" in message


def test_botocore_aws_chunked_upload_is_refused_in_s3_xml(live: Live) -> None:
    # botocore sends aws-chunked (STREAMING-…) uploads over HTTPS unless told "when_required": captured
    # from an HTTPS client, then delivered to the plain-HTTP server as sent.
    client = _s3_client(live, "https://127.0.0.1")
    sent: list[Any] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request)
        raise _Sent

    client.meta.events.register("before-send.s3.PutObject", capture)
    with pytest.raises(_Sent):
        client.put_object(Bucket="notes", Key="a", Body=b"hello")
    (request,) = sent
    assert request.headers["X-Amz-Content-SHA256"].startswith(b"STREAMING-")
    body = request.body.read()
    headers = {name: value for name, value in request.headers.items() if name != "Transfer-Encoding"}
    response = requests.put(f"http://{live.endpoint}/notes/a", data=body, headers=headers, timeout=10)
    status, code, message = _s3_error(response)
    assert (status, code) == (400, "IncompleteSignature")
    assert "aws-chunked" in message and 'request_checksum_calculation="when_required"' in message


def test_tea_roa_v2_with_a_form_body(live: Live) -> None:
    # Tea's ROA v2 sends a form body without Content-MD5, so its signature does not cover it: the request is
    # served, and the rule is resolved without the body (credentials.coverage).
    request = tea_models.OpenApiRequest(body={"name": "other", "text": "x y"})
    body = tea_roa_v2(live, "POST", "/notes/abc", request, body_type="formData")
    assert body == {"Name": "abc", "Principal": live.world.arn("alice")}
    assert live.world.audit.events[-1].resource == f"acs:ecs:*:{live.world.account_id}:instance/abc"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_upload_without_a_content_type(live: Live, version: str) -> None:
    # oss2 sends no Content-Type for a key whose type it cannot guess; wsgiref then reports text/plain.
    key = live.world.keys["alice"]
    provider = oss2.credentials.StaticCredentialsProvider(key.access_key_id, key.secret)
    auth = oss2.ProviderAuthV4(provider) if version == "v4" else oss2.ProviderAuth(provider)
    bucket = oss2.Bucket(auth, f"http://{live.endpoint}", "notes", region="cn-hangzhou", connect_timeout=10)
    result = bucket.put_object("plain", b"hello")
    assert result.status == 200
    assert live.world.audit.events[-1].resource == f"acs:ecs:*:{live.world.account_id}:instance/plain"


# --- every signed part of what each SDK sends, changed in transit -------------------------------------------

QUERY = {"Q": "a b*~+/\u00e9", "E": ""}


def _core_request(live: Live, style: str, method: str, body: str) -> CommonRequest:
    if style == "RPC":
        request = CommonRequest(domain=live.endpoint, version=VERSION, action_name="DescribeInstances")
    else:
        request = CommonRequest(domain=live.endpoint, version=VERSION, uri_pattern="/notes/[name]")
        request.add_path_param("name", "n1")
    request.set_protocol_type("http")
    request.set_method(method)
    for name, value in {"RegionId": "cn-hangzhou", **QUERY}.items():
        request.add_query_param(name, value)
    if body == "form":
        request.add_body_params("Text", "x y*~")
    elif body == "json":
        request.set_content(b'{"Text": "x"}')
        request.set_content_type("application/json")
    return request


def _core(live: Live, key: Key, style: str, method: str, body: str) -> None:
    core_client(key).do_action_with_exception(_core_request(live, style, method, body))


def _tea(live: Live, key: Key, algorithm: str | None, style: str, method: str, body: str) -> None:
    config = tea_models.Config(
        access_key_id=key.access_key_id, access_key_secret=key.secret, security_token=key.security_token,
        signature_algorithm=algorithm, read_timeout=10000, connect_timeout=5000,
    )  # fmt: skip
    config.endpoint, config.protocol = live.endpoint, "http"
    api = tea_models.Params(
        action="DescribeInstances", version=VERSION, protocol="HTTP", method=method, auth_type="AK",
        pathname="/" if style == "RPC" else "/notes/n1", style=style, body_type="json",
        req_body_type="formData" if body == "form" else "json",
    )  # fmt: skip
    content = {"Text": "x y*~"} if body != "none" else None
    request = tea_models.OpenApiRequest(query={"RegionId": "cn-hangzhou", **QUERY}, body=content)
    TeaClient(config).call_api(api, request, RuntimeOptions(autoretry=False, max_attempts=0))


def _oss(live: Live, key: Key, version: str, method: str) -> None:
    provider = oss2.credentials.StaticCredentialsProvider(key.access_key_id, key.secret, key.security_token)
    auth = oss2.ProviderAuthV4(provider) if version == "v4" else oss2.ProviderAuth(provider)
    bucket = oss2.Bucket(auth, f"http://{live.endpoint}", "notes", region="cn-hangzhou", connect_timeout=10)
    if method == "PUT":
        data = b"hello"
        headers = {"Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(), "x-oss-meta-a": "1"}
        bucket.put_object("n1", data, headers={**headers, "Content-Type": "text/plain"})
    else:
        bucket.get_object("n1", params={"versionId": "v 1", "acl": ""})


# (style, method, body) of the core and Tea calls; Tea's ROA v2 leaves a body unsigned (no Content-MD5).
_CORE_CALLS = [
    ("RPC", "GET", "none"), ("RPC", "POST", "form"), ("ROA", "GET", "none"), ("ROA", "POST", "form"),
    ("ROA", "PUT", "json"),
]  # fmt: skip
_TEA_CALLS = [
    ("RPC", "GET", "none"),
    ("RPC", "POST", "form"),
    ("ROA", "GET", "none"),
    ("ROA", "POST", "json"),
]
SENDERS: dict[str, Callable[[Live, Key], None]] = {
    **{f"core-{s}-{m}-{b}": partial(_core, style=s, method=m, body=b) for s, m, b in _CORE_CALLS},
    **{
        f"tea-{a or 'acs3'}-{s}-{m}-{b}": partial(_tea, algorithm=a, style=s, method=m, body=b)
        for a in (None, "v2")
        for s, m, b in _TEA_CALLS
        if (a, s, b) != ("v2", "ROA", "json")
    },
    **{f"oss2-{v}-{m}": partial(_oss, version=v, method=m) for v in ("v1", "v4") for m in ("GET", "PUT")},
}


@pytest.mark.parametrize("sts", [False, True], ids=["long-term", "sts"])
@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_each_signed_part_changed_in_transit_is_refused(live: Live, sender: str, sts: bool) -> None:
    # What the SDK sends is caught unserved (its nonce unspent); each copy with one signed part changed gets
    # the Code of that part (4xx, never 5xx), and the untouched request is served after all of them.
    key = live.world.role_session() if sts else live.world.keys["alice"]
    assert live.capture is not None
    sent = live.capture.catch(lambda: SENDERS[sender](live, key))
    refusals = {what: send(live.endpoint, changed) for what, changed, _ in tamperings(sent)}
    expected = {what: code for what, _, code in tamperings(sent)}
    assert {what: code for what, (_, code) in refusals.items()} == expected
    assert all(400 <= status < 500 for status, _ in refusals.values())
    assert {"method", "path"} | (set() if sender.startswith("oss2") else {"query Q", "query E"}) <= set(
        refusals
    )
    assert send(live.endpoint, sent) == (200, None)
