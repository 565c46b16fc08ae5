"""oss2 (V1, V4, presigned URLs) and botocore S3 (SigV4) against an object-store-style app on real servers.

A Starlette app under uvicorn and a Flask app under wsgiref and under Werkzeug serve ``/{bucket}/{key}`` for
every method and answer with the RAM resource checked and the key the app itself read: for every SDK-correct
request the two name the same object. A refusal reaches oss2 with its Code, which oss2 reads only from OSS's
XML ``<Error>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import botocore.session
import oss2  # type: ignore[import-untyped]
import pytest
import requests
from botocore.config import Config as BotoConfig
from flask import Flask, g
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ram_middleware.adapters.flask import RAM, require
from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.config import Ram
from ram_middleware.context import utc_now
from tests.live_server import Key, sdk_environment, serve_asgi, serve_wsgi

from .test_live_sdks import Live
from .test_wsgi_servers import _werkzeug
from .world import make_world

TEMPLATE = "acs:ecs:*:{account}:instance/{bucket}/{key}"  # alice (O&M) may do ecs:* anywhere, eve nothing
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"]
BUCKET = "rnd-bucket"
KEYS = ["a b.txt", "a+b.txt", "100%.txt", "100%25.txt", "\u00fcn\u00ef/c\u00f6d\u00e9.txt", "dir/", "a//b",
        "~!*'();:@&=$,[]", "k" * 1000, "a?b", "#x", "a%2Fb"]  # fmt: skip
ODD_META = "a  b ,c;=:"


def _seen(resource: str, key: str) -> dict[str, str]:
    """The checked resource and the app's key, hex-encoded (any character survives a header)."""
    return {"x-checked": resource.encode().hex(), "x-key": key.encode().hex()}


def starlette_app(ram: Ram) -> Starlette:
    @ram_route("ecs:DescribeInstances", TEMPLATE)
    async def obj(request: Request) -> Response:
        return Response(headers=_seen(request.scope["ram.outcome"].resource, request.path_params["key"]))

    app = Starlette(routes=[Route("/{bucket}/{key:path}", obj, methods=METHODS)])
    app.add_middleware(RAMMiddleware, ram=ram)
    return app


def flask_app(ram: Ram) -> Flask:
    app = Flask(__name__)
    RAM(app, ram=ram)

    @app.route("/<bucket>/<path:key>", methods=METHODS, merge_slashes=False)
    @require("ecs:DescribeInstances", TEMPLATE)
    def obj(bucket: str, key: str) -> Any:
        return b"", 200, _seen(g._ram.resource, key)

    return app


@contextmanager
def serve_werkzeug(app: Any) -> Iterator[str]:
    """``app`` under Werkzeug's development server (what ``flask run`` serves with)."""
    with _werkzeug(app) as (host, port):
        yield f"{host}:{port}"


SERVERS = {
    "starlette-uvicorn": (starlette_app, serve_asgi),
    "flask-wsgiref": (flask_app, serve_wsgi),
    "flask-werkzeug": (flask_app, serve_werkzeug),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    build, serve = SERVERS[request.param]
    with sdk_environment():
        world = make_world(clock=utc_now)  # the SDKs sign with the real time
        try:
            with serve(build(world.ram)) as endpoint:  # type: ignore[operator]
                yield Live(world, endpoint, request.param)
        finally:
            world.ram.close()


def _bucket(
    live: Live, version: str, who: str = "alice", secret: str | None = None, key: Key | None = None
) -> Any:
    """oss2's Bucket signing as ``who`` (with ``secret`` instead of theirs), or with ``key``."""
    key = key or live.world.keys[who]
    provider = oss2.credentials.StaticCredentialsProvider(
        key.access_key_id, secret or key.secret, key.security_token
    )
    auth = (oss2.ProviderAuth if version == "v1" else oss2.ProviderAuthV4)(provider)
    return oss2.Bucket(auth, f"http://{live.endpoint}", BUCKET, region="cn-hangzhou", connect_timeout=10)


def _served(live: Live, headers: Any) -> tuple[str, str]:
    return bytes.fromhex(headers["x-checked"]).decode(), bytes.fromhex(headers["x-key"]).decode()


def _want(live: Live, key: str) -> tuple[str, str]:
    return f"acs:ecs:*:{live.world.account_id}:instance/{BUCKET}/{key}", key


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_requests_check_the_object_the_app_serves(live: Live, version: str, key: str) -> None:
    bucket = _bucket(live, version)
    assert _served(live, bucket.put_object(key, b"body", headers={"x-oss-meta-odd": ODD_META}).headers) == (
        _want(live, key)
    )
    for call in (bucket.get_object, bucket.head_object, bucket.delete_object):
        assert _served(live, call(key).headers) == _want(live, key)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("slash_safe", [False, True])
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_presigned_urls_serve_one_method(live: Live, version: str, key: str, slash_safe: bool) -> None:
    url = _bucket(live, version).sign_url("GET", key, 60, slash_safe=slash_safe)
    reply = requests.get(url, timeout=10)
    assert reply.status_code == 200, reply.text
    assert _served(live, reply.headers) == _want(live, key)
    reused = requests.put(url, data=b"x", timeout=10)  # the GET link re-sent as an upload
    error = ET.fromstring(reused.content)
    assert (reused.status_code, error.tag, error.findtext("Code")) == (400, "Error", "SignatureDoesNotMatch")
    assert error.findtext("RequestId") == reused.headers["x-acs-request-id"]


def _code(reply: requests.Response) -> tuple[int, str | None]:
    return reply.status_code, ET.fromstring(reply.content).findtext("Code")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_urls_end_when_their_credential_does(live: Live, version: str) -> None:
    # A link is replayable until it expires, unless its AccessKey is disabled or deleted, or its STS
    # session revoked: then it stops at the next request, on every server.
    service, account = live.world.ram.service, live.world.account_id
    created = service.create_access_key(account, "bob")
    bob = Key(created.key.access_key_id, created.secret)
    session = live.world.role_session()
    urls = [_bucket(live, version, key=key).sign_url("GET", "a b.txt", 3600) for key in (bob, session)]
    for url in urls * 2:
        assert requests.get(url, timeout=10).status_code == 200
    service.update_access_key(account, bob.access_key_id, "Inactive", user_name="bob")
    assert _code(requests.get(urls[0], timeout=10)) == (400, "InvalidAccessKeyId.Inactive")
    service.update_access_key(account, bob.access_key_id, "Active", user_name="bob")
    assert requests.get(urls[0], timeout=10).status_code == 200
    service.delete_access_key(account, bob.access_key_id, user_name="bob")
    assert _code(requests.get(urls[0], timeout=10)) == (404, "InvalidAccessKeyId.NotFound")
    # The session was issued at least a millisecond before the revocation time.
    service.revoke_role_sessions(account, "Deployer", before=utc_now() + timedelta(milliseconds=1))
    assert _code(requests.get(urls[1], timeout=10)) == (400, "InvalidSecurityToken.Revoked")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_reads_the_code_of_a_refusal(live: Live, version: str) -> None:
    for who, secret, status, code in (
        ("eve", None, 403, "NoPermission"),
        ("alice", "not-the-secret", 400, "SignatureDoesNotMatch"),
    ):
        with pytest.raises(oss2.exceptions.ServerError) as caught:
            _bucket(live, version, who, secret).get_object("a.txt")
        assert (caught.value.status, caught.value.code) == (status, code)
        assert caught.value.request_id == live.world.audit.events[-1].request_id


@pytest.mark.parametrize("key", KEYS)
def test_botocore_s3_requests_check_the_object_the_app_serves(live: Live, key: str) -> None:
    alice = live.world.keys["alice"]
    config = BotoConfig(
        signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
    )  # fmt: skip
    s3 = botocore.session.get_session().create_client(
        "s3", endpoint_url=f"http://{live.endpoint}", region_name="cn-hangzhou", config=config,
        aws_access_key_id=alice.access_key_id, aws_secret_access_key=alice.secret,
    )  # fmt: skip
    result = s3.put_object(Bucket=BUCKET, Key=key, Body=b"body", Metadata={"odd": ODD_META})
    assert _served(live, result["ResponseMetadata"]["HTTPHeaders"]) == _want(live, key)
    for call in (s3.get_object, s3.head_object, s3.delete_object):
        result = call(Bucket=BUCKET, Key=key)
        assert _served(live, result["ResponseMetadata"]["HTTPHeaders"]) == _want(live, key)


class _Sent(Exception):
    """Stops botocore once it has signed the request."""


def test_a_signed_content_md5_binds_an_unsigned_s3_payload(live: Live) -> None:
    # Over HTTPS botocore sends UNSIGNED-PAYLOAD; a ContentMD5 the caller passes is signed. Captured from an
    # HTTPS client, then delivered to the plain-HTTP server as sent and with another body of the same size.
    alice = live.world.keys["alice"]
    config = BotoConfig(s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
    s3 = botocore.session.get_session().create_client(
        "s3", endpoint_url="https://127.0.0.1", region_name="cn-hangzhou", config=config,
        aws_access_key_id=alice.access_key_id, aws_secret_access_key=alice.secret,
    )  # fmt: skip
    sent: list[Any] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request)
        raise _Sent

    s3.meta.events.register("before-send.s3.PutObject", capture)
    with pytest.raises(_Sent):
        s3.put_object(Bucket=BUCKET, Key="a b", Body=b"data", ContentMD5="jXd/OF09/siBXSD3SWAm3A==")
    (request,) = sent
    assert request.headers["X-Amz-Content-SHA256"] == b"UNSIGNED-PAYLOAD"
    assert b"content-md5" in request.headers["Authorization"]
    url, headers = f"http://{live.endpoint}/{BUCKET}/a%20b", {**request.headers, "Host": "127.0.0.1"}
    sent_as_signed = requests.put(url, data=b"data", headers=headers, timeout=10)
    assert sent_as_signed.status_code == 200, sent_as_signed.text
    tampered = requests.put(url, data=b"evil", headers=headers, timeout=10)
    error = ET.fromstring(tampered.content)
    assert (tampered.status_code, error.tag, error.findtext("Code")) == (400, "Error", "ContentMD5NotMatched")
