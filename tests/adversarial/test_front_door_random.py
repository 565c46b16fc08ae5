"""Random requests at the front door of every adapter variant: never a 5xx, never a bypass, always a
well-formed Alibaba error body from the middleware."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.adapters.harness import VARIANTS, Harness, make_harness
from tests.adapters.world import World, make_world

from .drivers import RawReply, RawRequest
from .fuzzing import (
    Seeds,
    Target,
    check_reply,
    echo_handler_ran,
    fuzz_settings,
    fuzz_timeout,
    make_target,
    near_valid_requests,
    raw_requests,
)

pytestmark = pytest.mark.timeout(fuzz_timeout(240))

PATHS = (
    "/health",
    "/instances/i-1",
    "/instances/i-protected",
    "/objects",
    "/buckets/rnd-bucket/objects",
    "/rpc",
    "/undeclared",
    "/",
    "/ws",
    "/health/",
)


@pytest.fixture(scope="module")
def fuzz_world() -> Iterator[World]:
    made = make_world()
    yield made
    made.ram.close()


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def target(request: pytest.FixtureRequest, fuzz_world: World) -> Iterator[Target]:
    made = make_target(request.param, fuzz_world)
    yield made
    made.driver.close()


def seeds_of(world: World) -> Seeds:
    session = world.role_session()
    tokens = [session.security_token or ""]
    keys = [key.access_key_id for key in world.keys.values()] + [session.access_key_id]
    return Seeds(access_key_ids=keys, tokens=tokens, paths=PATHS)


def test_random_requests(target: Target, fuzz_world: World) -> None:
    seeds = seeds_of(fuzz_world)

    @fuzz_settings(400)
    @given(raw_requests(seeds))
    def run(request: RawRequest) -> None:
        check_reply(target, request, target.send(request), signed=False)

    run()


def test_near_valid_credentials(target: Target, fuzz_world: World) -> None:
    seeds = seeds_of(fuzz_world)

    @fuzz_settings(400)
    @given(near_valid_requests(seeds))
    def run(request: RawRequest) -> None:
        check_reply(target, request, target.send(request), signed=False)

    run()


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
client_headers = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "Authorization",
                "x-acs-date",
                "x-acs-security-token",
                "Cookie",
                "Content-Type",
                "X-Forwarded-For",
                "Forwarded",
                "x-acs-signature-nonce",
                "Date",
                "x-oss-date",
            ]
        ),
        header_text,
    ),
    max_size=6,
)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def client_harness(request: pytest.FixtureRequest, fuzz_world: World) -> Harness:
    return make_harness(request.param, fuzz_world)


def test_random_requests_through_real_clients(client_harness: Harness) -> None:
    """The same invariants through Starlette's TestClient (ASGI) and WebTest (WSGI), signed or not."""
    harness = client_harness
    target = Target(harness.name, None, frozenset({"/health"}), echo_handler_ran)  # type: ignore[arg-type]

    @fuzz_settings(60)
    @given(
        method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
        path=st.sampled_from([p for p in PATHS if p not in ("/ws", "/")]),
        query=st.lists(
            st.tuples(
                st.sampled_from(["Action", "Bucket", "Key", "Signature", "AccessKeyId", "Format"]),
                st.text(max_size=20),
            ),
            max_size=5,
        ),
        headers=client_headers,
        body=st.one_of(st.just(b""), st.binary(max_size=300)),
        who=st.sampled_from([None, "alice", "bob", "eve", "root"]),
        scheme=st.sampled_from(["acs3", "v1"]),
        peer=st.sampled_from(["127.0.0.1", "203.0.113.7", "192.0.2.10"]),
    )
    def run(
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes,
        who: str | None,
        scheme: str,
        peer: str,
    ) -> None:
        signer = harness.world.signer(who, scheme) if who else None
        reply = harness.call(method, path, signer=signer, query=query, body=body, headers=headers, peer=peer)
        sent = RawRequest(
            method,
            path.encode(),
            repr(query).encode(),
            tuple((k.encode(), v.encode()) for k, v in headers),
            body,
            peer,
        )
        check_reply(target, sent, RawReply(reply.status, reply.headers, reply.body), signed=who is not None)

    run()
