"""``{bucket}`` in a route's resource template for OSS requests addressed by Host (virtual-hosted or
CNAME): the path holds only the key, so the bucket comes from the Host the signature covers. oss2 presigned
URLs (V1 and V4) through RAMMiddleware, with the small Company X world's R&D policy (rnd-bucket only)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import oss2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.routes import RpcApi
from tests.signatures.test_oss_presign import _oss2_clock
from tests.signatures.test_oss_presign_v4 import _oss2_v4_clock

from .harness import client_class
from .world import World, make_world

DOMAIN = "oss.example.com"
CNAME = "files.example.com"
OFFICE_PEER = ("203.0.113.7", 50000)  # inside the R&D policy's office network
TEMPLATE = "acs:oss:*:{account}:{bucket}/{key}"


async def served(request: Request) -> PlainTextResponse:
    """Answers with the RAM resource that was checked (what the route serves, by the app's own reading)."""
    return PlainTextResponse(request.scope["ram.outcome"].resource)


by_host = ram_route("oss:GetObject", TEMPLATE)(served)


@pytest.fixture
def world() -> Iterator[World]:
    world = make_world(oss_domains=(DOMAIN,), oss_cnames={CNAME: "rnd-bucket"})
    yield world
    world.ram.close()


def client(world: World, *routes: Route) -> Any:
    app = Starlette(routes=list(routes) or [Route("/{key:path}", by_host)])
    app.add_middleware(RAMMiddleware, ram=world.ram)
    return client_class()(app, client=OFFICE_PEER)


def oss_code(reply: Any) -> str | None:
    """The Code of a refusal to an OSS-signed request: OSS's XML <Error>, as oss2 reads it."""
    return ET.fromstring(reply.content).findtext("Code")


def signed_url(world: World, version: str, bucket: str, key: str, *, endpoint: str = DOMAIN) -> str:
    """oss2's presigned GET for bob (R&D) at the world's time, virtual-hosted (CNAME when ``endpoint`` is
    the CNAME host)."""
    bob = world.keys["bob"]
    provider = oss2.credentials.StaticCredentialsProvider(bob.access_key_id, bob.secret)
    auth = oss2.ProviderAuthV4(provider) if version == "v4" else oss2.ProviderAuth(provider)
    target = oss2.Bucket(auth, f"http://{endpoint}", bucket, is_cname=endpoint == CNAME, region="cn-hangzhou")
    with _oss2_clock(world.clock.now), _oss2_v4_clock(world.clock.now):
        return str(target.sign_url("GET", key, 300))


@pytest.mark.parametrize("endpoint", [DOMAIN, CNAME], ids=["virtual-hosted", "cname"])
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_the_signed_host_fills_bucket(world: World, version: str, endpoint: str) -> None:
    url = signed_url(world, version, "rnd-bucket", "dir/a.txt", endpoint=endpoint)
    assert "/rnd-bucket/" not in url  # no bucket in the path
    reply = client(world).get(url)
    assert reply.status_code == 200, reply.text
    assert reply.text == f"acs:oss:*:{world.account_id}:rnd-bucket/dir/a.txt"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_the_same_path_in_another_bucket_is_checked_against_that_bucket(world: World, version: str) -> None:
    reply = client(world).get(signed_url(world, version, "other-bucket", "dir/a.txt"))
    assert reply.status_code == 403 and oss_code(reply) == "NoPermission"
    event = world.audit.events[-1]
    assert event.resource == f"acs:oss:*:{world.account_id}:other-bucket/dir/a.txt"
    assert event.auth_method == f"oss-{version}-query"


def test_an_unsigned_bucket_parameter_cannot_replace_the_hosts(world: World) -> None:
    # A V1 link signs only OSS sub-resources, so an added ?bucket= still verifies; it must not be read.
    url = signed_url(world, "v1", "other-bucket", "dir/a.txt") + "&bucket=rnd-bucket"
    reply = client(world).get(url)
    assert reply.status_code == 403 and oss_code(reply) == "NoPermission"
    assert world.audit.events[-1].resource == f"acs:oss:*:{world.account_id}:other-bucket/dir/a.txt"


def test_a_route_bucket_must_agree_with_the_hosts(world: World) -> None:
    # The app reads the bucket from its path, the signature from the Host: two readings must not differ.
    path_style = Route("/{bucket}/{key:path}", ram_route("oss:GetObject", TEMPLATE)(served))
    app = client(world, path_style)
    reply = app.get(signed_url(world, "v1", "other-bucket", "rnd-bucket/a.txt"))
    assert reply.status_code == 400 and oss_code(reply) == "InvalidParameter.bucket"
    reply = app.get(signed_url(world, "v1", "rnd-bucket", "rnd-bucket/a.txt"))
    assert reply.status_code == 200, reply.text
    assert reply.text == f"acs:oss:*:{world.account_id}:rnd-bucket/a.txt"


def test_other_schemes_take_the_hosts_bucket_too(world: World) -> None:
    # An ACS3 request to a bucket's Host: the app serves that bucket, so a ?bucket= must not replace it.
    signed = world.signer("bob").sign(
        "GET", f"http://other-bucket.{DOMAIN}/dir/a.txt?bucket=rnd-bucket", [], b""
    )
    reply = client(world).get(signed.url, headers=signed.headers)
    assert reply.status_code == 403 and reply.json()["Code"] == "NoPermission"
    assert world.audit.events[-1].resource == f"acs:oss:*:{world.account_id}:other-bucket/dir/a.txt"


@pytest.mark.parametrize("host", ["other-bucket.other.example.com", "testserver"])
def test_oss_without_a_host_bucket_never_reads_it_from_the_query(world: World, host: str) -> None:
    # Signed path-style (bucket "dir"), sent to a Host we do not read as a bucket: {bucket} may come only
    # from the route, never from the unsigned ?bucket=.
    url = signed_url(world, "v1", "dir", "a.txt", endpoint="127.0.0.1") + "&bucket=rnd-bucket"
    assert url.startswith("http://127.0.0.1/dir/a.txt?")
    reply = client(world).get(url.replace("127.0.0.1", host, 1))
    assert reply.status_code == 400 and oss_code(reply) == "MissingParameter.bucket", reply.text


def test_parameters_an_oss_v1_signature_leaves_open_decide_nothing(world: World) -> None:
    # OSS V1 signs only the query's sub-resources: an Action added to a URL alice presigned for a download
    # must not turn it into any RPC call alice may make.
    alice = world.keys["alice"]
    provider = oss2.credentials.StaticCredentialsProvider(alice.access_key_id, alice.secret)
    auth = oss2.ProviderAuth(provider)
    with _oss2_clock(world.clock.now):
        url = oss2.Bucket(auth, "http://127.0.0.1", "rpc", region="cn-hangzhou").sign_url("GET", "x", 300)
    rpc = ram_route(RpcApi("ecs", resources={"StopInstance": "acs:ecs:*:{account}:instance/{InstanceId}"}))

    async def rpc_served(request: Request) -> PlainTextResponse:  # its own endpoint: rules live on it
        return await served(request)

    app = client(world, Route("/rpc/{key:path}", rpc(rpc_served)))
    added = url + "&Action=StopInstance&Version=2014-05-26&InstanceId=i-1"
    reply = app.get(added)
    assert (reply.status_code, oss_code(reply)) == (400, "MissingParameter.Action"), reply.text
    # Nor an x-acs-action header, which no OSS signature covers (V4 included).
    with _oss2_v4_clock(world.clock.now):
        v4 = oss2.Bucket(oss2.ProviderAuthV4(provider), "http://127.0.0.1", "rpc", region="cn-hangzhou")
        url4 = v4.sign_url("GET", "x", 300)
    for signed_url_ in (url, url4):
        reply = app.get(signed_url_, headers={"x-acs-action": "StopInstance"})
        assert (reply.status_code, oss_code(reply)) == (400, "MissingParameter.Action"), reply.text


def test_a_host_bucket_needs_a_signature_that_covers_the_host(world: World) -> None:
    # RPC v1 and ROA do not sign the Host: a bucket it names would be anyone's to change on a replay.
    url = f"http://rnd-bucket.{DOMAIN}/dir/a.txt"
    for scheme, expected in (("acs3", 200), ("v1", 400)):
        signed = world.signer("bob", scheme).sign("GET", url, [], b"")
        headers = {k: v for k, v in signed.headers.items() if k != "host"}
        reply = client(world).get(signed.url, headers=headers)
        assert reply.status_code == expected, reply.text
    assert reply.json()["Code"] == "InvalidParameter.bucket"


def test_an_account_parameter_added_to_a_presigned_link_is_refused(world: World) -> None:
    # A V1 link signs only OSS sub-resources, so an added ?account= still verifies; the app would read it
    # while the check stays in bob's account. Naming his own account changes nothing.
    url = signed_url(world, "v1", "rnd-bucket", "dir/a.txt")
    reply = client(world).get(f"{url}&account=9999999999999999")
    assert reply.status_code == 400 and oss_code(reply) == "InvalidParameter.account", reply.text
    reply = client(world).get(f"{url}&account={world.account_id}")
    assert reply.status_code == 200, reply.text
