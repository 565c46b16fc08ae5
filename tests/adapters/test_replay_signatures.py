"""``replay_signatures`` through every adapter: a replayed request without a nonce is refused, and audited,
as a replayed nonce is; without the setting it is allowed as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ram_middleware.audit import AuditEvent
from ram_middleware.client import RequestSigner
from tests.signatures.signing import roa_facts

from .harness import VARIANTS, Harness, Reply, make_harness
from .world import World, make_world


@pytest.fixture
def replaying_world() -> Iterator[World]:
    made = make_world(replay_signatures=True)
    yield made
    made.ram.close()


def _roa_get(harness: Harness, path: str) -> Reply:
    """alice's GET of ``path`` signed ROA (``acs AK:sig``, no nonce) at the world's time."""
    alice = harness.world.keys["alice"]
    facts = roa_facts(
        path=path,
        query="",
        access_key_id=alice.access_key_id,
        secret=alice.secret,
        when=harness.world.clock.now,
    )
    headers = [(name, value) for name, value in facts.headers if name != "host"]
    return harness.call("GET", path, headers=headers)


def _replayed_nonce(harness: Harness) -> tuple[Reply, AuditEvent]:
    """The reply and audit event of an ACS3 request sent twice with one nonce."""
    alice = harness.world.keys["alice"]
    signer = RequestSigner(
        alice.access_key_id, alice.secret, clock=harness.world.clock, nonce=lambda: "3f2a9c1e"
    )
    assert harness.call("GET", "/instances/i-2", signer=signer).status == 200
    reply = harness.call("GET", "/instances/i-2", signer=signer)
    return reply, harness.world.audit.events[-1]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_replayed_roa_request_is_refused_and_audited_as_a_replayed_nonce(
    replaying_world: World, variant: str
) -> None:
    harness = make_harness(variant, replaying_world)
    first = _roa_get(harness, "/instances/i-1")
    assert first.status == 200 and first.json()["principal"] == replaying_world.arn("alice")
    replayed = _roa_get(harness, "/instances/i-1")
    event = replaying_world.audit.events[-1]
    nonce_reply, nonce_event = _replayed_nonce(harness)
    assert (replayed.status, replayed.code) == (nonce_reply.status, nonce_reply.code)
    assert nonce_reply.code == "SignatureNonceUsed"
    assert replayed.json()["Message"] == nonce_reply.json()["Message"]
    assert (event.decision, event.status, event.code, event.reason, event.path) == (
        nonce_event.decision, nonce_event.status, nonce_event.code, nonce_event.reason, "/instances/i-1",
    )  # fmt: skip
    assert (event.auth_method, nonce_event.auth_method) == ("roa (unverified)", "acs3 (unverified)")
    assert event.access_key_id == nonce_event.access_key_id == harness.world.keys["alice"].access_key_id


def test_without_the_setting_the_replay_is_allowed(world: World) -> None:
    harness = make_harness("flask", world)
    assert _roa_get(harness, "/instances/i-1").status == 200
    assert _roa_get(harness, "/instances/i-1").status == 200
