"""Spoofed client addresses and transport from untrusted peers, and failing closed when the store or the
replay guard cannot be reached — once per adapter variant."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from ram_middleware import errors
from ram_middleware.audit import MemorySink
from ram_middleware.config import RamConfig, build
from ram_middleware.crypto import generate_key
from tests.adapters.harness import VARIANTS, Harness, Reply, make_harness
from tests.adapters.world import make_world

pytestmark = pytest.mark.timeout(60)

OFFICE = "203.0.113.7"
OUTSIDE = "198.51.100.9"
PROXY = "192.0.2.10"
OBJECT = [("Bucket", "rnd-bucket"), ("Key", "a.txt")]
SPOOFS = [
    [("X-Forwarded-For", OFFICE)],
    [("X-Forwarded-For", f"{OFFICE}, {OFFICE}")],
    [("X-Forwarded-For", OFFICE), ("X-Forwarded-For", OFFICE)],
    [("X-Forwarded-For", f"{OFFICE}, {PROXY}")],
    [("Forwarded", f"for={OFFICE}")],
    [("Forwarded", f'for="[::ffff:{OFFICE}]"')],
    [("X-Real-IP", OFFICE)],
    [("True-Client-IP", OFFICE), ("CF-Connecting-IP", OFFICE), ("X-Client-IP", OFFICE)],
    [("X-Forwarded-For", OFFICE), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "office")],
]


def bob_reads(harness: Harness, peer: str, headers: list[tuple[str, str]], scheme: str = "http") -> Reply:
    return harness.call(
        "GET",
        "/objects",
        signer=harness.world.signer("bob"),
        query=OBJECT,
        headers=headers,
        peer=peer,
        scheme=scheme,
    )


@pytest.mark.parametrize("headers", SPOOFS, ids=lambda h: "+".join(name for name, _ in h))
def test_spoofed_address_from_an_untrusted_peer_is_ignored(
    harness: Harness, headers: list[tuple[str, str]]
) -> None:
    reply = bob_reads(harness, OUTSIDE, headers)
    assert (reply.status, reply.code) == (403, "NoPermission"), reply.body
    assert harness.world.audit.events[-1].source_ip == OUTSIDE
    assert bob_reads(harness, OFFICE, []).status == 200  # the policy itself does allow the office


def test_spoofed_hop_before_a_trusted_proxy_is_ignored(harness: Harness) -> None:
    # The client wrote "office" itself; the trusted proxy appended the address it really saw.
    reply = bob_reads(harness, PROXY, [("X-Forwarded-For", f"{OFFICE}, {OUTSIDE}")])
    assert (reply.status, reply.code) == (403, "NoPermission"), reply.body
    assert harness.world.audit.events[-1].source_ip == OUTSIDE
    assert bob_reads(harness, PROXY, [("X-Forwarded-For", OFFICE)]).status == 200


@pytest.mark.parametrize(
    "chain", ["not-an-ip", "", "203.0.113.7:80", "unknown", "[203.0.113.7]", "203.0.113.7\t"]
)
def test_garbage_forwarding_chain_from_the_proxy_never_yields_the_office(
    harness: Harness, chain: str
) -> None:
    reply = bob_reads(harness, PROXY, [("X-Forwarded-For", chain)])
    assert reply.status in (200, 403), reply.body
    if reply.status == 200:  # only if the proxy's hop really was the office address, in some spelling
        assert harness.world.audit.events[-1].source_ip == OFFICE


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_other_forwarding_header_is_ignored(variant: str) -> None:
    world = make_world(forwarded_header="forwarded")
    try:
        harness = make_harness(variant, world)
        reply = bob_reads(harness, PROXY, [("X-Forwarded-For", OFFICE)])
        assert (reply.status, reply.code) == (403, "NoPermission"), reply.body
        assert bob_reads(harness, PROXY, [("Forwarded", f"for={OFFICE}")]).status == 200
    finally:
        world.ram.close()


def test_spoofed_https_from_an_untrusted_peer_is_ignored(harness: Harness) -> None:
    world = harness.world
    tls_only = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs:DescribeInstance",
                "Resource": "*",
                "Condition": {"Bool": {"acs:SecureTransport": "true"}},
            }
        ],
    }
    world.ram.service.create_policy(world.account_id, "TlsOnly", json.dumps(tls_only))
    world.ram.service.attach_policy_to_user(world.account_id, "Custom", "TlsOnly", "eve")
    eve = world.signer("eve")
    spoofed = harness.call(
        "GET",
        "/instances/i-1",
        signer=eve,
        peer=OUTSIDE,
        headers=[("X-Forwarded-Proto", "https"), ("Forwarded", "proto=https")],
    )
    assert (spoofed.status, spoofed.code) == (403, "NoPermission"), spoofed.body
    via_proxy = harness.call(
        "GET", "/instances/i-1", signer=eve, peer=PROXY, headers=[("X-Forwarded-Proto", "https")]
    )
    assert via_proxy.status == 200, via_proxy.body
    assert harness.call("GET", "/instances/i-1", signer=eve, peer=OUTSIDE, scheme="https").status == 200


# --- failing closed -----------------------------------------------------------------------------------------


def unavailable(reply: Reply) -> None:
    assert reply.status == 503, reply.body
    body = reply.json()
    assert str(body["Code"]).startswith("ServiceUnavailable") and body["Message"] and body["RequestId"]
    assert "principal" not in body  # the app never ran


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=sorted(VARIANTS))
def sqlite_harness(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Harness, Path]:
    world = make_world(f"sqlite:///{tmp_path}/ram.db")
    request.addfinalizer(world.ram.close)
    return make_harness(request.param, world), tmp_path / "ram.db"


def test_unreachable_sqlite_store_denies_with_503(sqlite_harness: tuple[Harness, Path]) -> None:
    harness, path = sqlite_harness
    world = harness.world
    assert harness.call("GET", "/instances/i-1", signer=world.signer("alice")).status == 200  # cached now
    world.ram.directory.invalidate()
    world.ram.store.close()
    # The store reopens its connections on demand, so closing alone does not make it unreachable: the
    # database file goes away (a directory in its place, which root cannot open either).
    for suffix in ("", "-wal", "-shm"):
        found = Path(str(path) + suffix)
        if found.exists():
            found.rename(found.with_name(found.name + ".moved"))
    path.mkdir()
    for who in ("alice", "eve", "root"):
        unavailable(harness.call("GET", "/instances/i-1", signer=world.signer(who)))
    event = world.audit.events[-1]
    assert (event.decision, event.status) == ("Rejected", 503)


def test_corrupted_sqlite_file_denies_with_503(sqlite_harness: tuple[Harness, Path]) -> None:
    harness, path = sqlite_harness
    world = harness.world
    assert harness.call("GET", "/instances/i-1", signer=world.signer("alice")).status == 200
    world.ram.directory.invalidate()  # nothing cached: the next decision reads the (broken) file
    for suffix in ("", "-wal", "-shm"):
        target = Path(str(path) + suffix)
        if target.exists():
            target.write_bytes(b"\xde\xad\xbe\xef" * 4096)
    unavailable(harness.call("GET", "/instances/i-1", signer=world.signer("alice")))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_unreachable_redis_guard_denies_with_503(variant: str) -> None:
    world = make_world(guard_url=f"redis://127.0.0.1:{closed_port()}/0")
    try:
        harness = make_harness(variant, world)
        started = time.monotonic()
        unavailable(harness.call("GET", "/instances/i-1", signer=world.signer("alice")))
        assert time.monotonic() - started < 5.0  # refused, not hung
        # A request that fails before the replay check is refused for its own reason, not let through.
        assert harness.call("GET", "/instances/i-1").status == 401
    finally:
        world.ram.close()


def test_postgres_on_a_closed_port_refuses_to_start() -> None:
    started = time.monotonic()
    with pytest.raises(errors.ServiceUnavailable) as caught:
        build(
            RamConfig(
                store_url=f"postgresql://ram:pw@127.0.0.1:{closed_port()}/ram",
                guard_url=f"redis://127.0.0.1:{closed_port()}/0",
                master_keys=(generate_key(),),
                audit=MemorySink(),
            )
        )
    assert time.monotonic() - started < 10.0
    assert "pw" not in str(caught.value)  # the URL's password is not repeated
