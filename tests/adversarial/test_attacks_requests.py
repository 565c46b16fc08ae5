"""Targeted attacks on signed requests, once per adapter variant: replay (same nonce, across schemes and
routes), stale and future timestamps, STS token tampering, forgery, expiry and revocation, conflicting
credentials, the root key, and the key of a user who was just deleted or disabled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ram_middleware.audit import MemorySink
from ram_middleware.client import RequestSigner
from ram_middleware.config import RamConfig, build
from tests.adapters.apps import starlette_app
from tests.adapters.harness import Harness, Reply
from tests.adapters.world import Key, World, make_world
from tests.signatures.signing import roa_facts

from .drivers import RawRequest
from .fuzzing import Target, check_error_body, make_target

pytestmark = pytest.mark.timeout(60)


def signer_for(
    world: World, key: Key, scheme: str = "acs3", *, nonce: str | None = None, skew: float = 0.0
) -> RequestSigner:
    return RequestSigner(
        key.access_key_id,
        key.secret,
        security_token=key.security_token,
        scheme=scheme,  # type: ignore[arg-type]
        clock=lambda: world.clock.now + timedelta(seconds=skew),
        **({"nonce": lambda: nonce} if nonce else {}),
    )


def refused(reply: Reply, status: int, code: str) -> None:
    assert (reply.status, reply.code) == (status, code), reply.body
    assert "principal" not in reply.json()  # the app never ran


# --- replay -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_replayed_request_is_refused(harness: Harness, scheme: str) -> None:
    world = harness.world
    signer = signer_for(world, world.keys["alice"], scheme, nonce="0123456789abcdef0123456789abcdef")
    assert harness.call("GET", "/instances/i-1", signer=signer).status == 200
    refused(harness.call("GET", "/instances/i-1", signer=signer), 400, "SignatureNonceUsed")


def test_a_nonce_is_spent_across_schemes_and_routes(harness: Harness) -> None:
    world = harness.world
    nonce = "fedcba9876543210fedcba9876543210"
    alice = world.keys["alice"]
    assert (
        harness.call("GET", "/instances/i-1", signer=signer_for(world, alice, "acs3", nonce=nonce)).status
        == 200
    )
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, alice, "v1", nonce=nonce)),
        400,
        "SignatureNonceUsed",
    )
    refused(
        harness.call("GET", "/instances/i-2", signer=signer_for(world, alice, "acs3", nonce=nonce)),
        400,
        "SignatureNonceUsed",
    )


def test_a_refused_request_does_not_spend_its_nonce(harness: Harness) -> None:
    # Otherwise anyone who saw a nonce could burn it (and the real request) with a garbage signature.
    world = harness.world
    nonce = "00000000000000000000000000000abc"
    eve = signer_for(world, world.keys["eve"], nonce=nonce)
    forged = RequestSigner(
        world.keys["alice"].access_key_id, "wrong-secret", clock=world.clock, nonce=lambda: nonce
    )
    refused(harness.call("GET", "/instances/i-1", signer=forged), 400, "SignatureDoesNotMatch")
    alice = signer_for(world, world.keys["alice"], nonce=nonce)
    assert harness.call("GET", "/instances/i-1", signer=alice).status == 200
    assert harness.call("GET", "/instances/i-1", signer=eve).status == 403  # per key: eve's nonce is her own


def test_replay_of_an_sts_request_is_refused(harness: Harness) -> None:
    world = harness.world
    session = world.role_session()
    signer = signer_for(world, session, nonce="5e55105e55105e55105e55105e55105e")
    assert harness.call("GET", "/instances/i-1", signer=signer).status == 200
    refused(harness.call("GET", "/instances/i-1", signer=signer), 400, "SignatureNonceUsed")


# --- timestamps ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
@pytest.mark.parametrize(
    ("skew", "allowed"),
    [(-899, True), (899, True), (-901, False), (901, False), (-86_400 * 365, False), (86_400 * 3650, False)],
)
def test_stale_and_future_timestamps(harness: Harness, scheme: str, skew: float, allowed: bool) -> None:
    world = harness.world
    reply = harness.call(
        "GET", "/instances/i-1", signer=signer_for(world, world.keys["alice"], scheme, skew=skew)
    )
    if allowed:
        assert reply.status == 200, reply.body
    else:
        refused(reply, 400, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize("skew", [-901, 901])
def test_stale_roa_date_is_refused(harness: Harness, skew: float) -> None:
    world = harness.world
    alice = world.keys["alice"]
    facts = roa_facts(
        path="/instances/i-1",
        query="",
        access_key_id=alice.access_key_id,
        secret=alice.secret,
        when=world.clock.now + timedelta(seconds=skew),
    )
    headers = [(name, value) for name, value in facts.headers if name != "host"]
    refused(harness.call("GET", "/instances/i-1", headers=headers), 400, "InvalidTimeStamp.Expired")
    facts = roa_facts(
        path="/instances/i-1",
        query="",
        access_key_id=alice.access_key_id,
        secret=alice.secret,
        when=world.clock.now,
    )
    headers = [(name, value) for name, value in facts.headers if name != "host"]
    assert harness.call("GET", "/instances/i-1", headers=headers).status == 200  # the same, on time


# --- STS tokens ---------------------------------------------------------------------------------------------


def flipped(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_every_tampered_token_position_is_refused(harness: Harness) -> None:
    world = harness.world
    session = world.role_session(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}
    )
    token = session.security_token or ""
    positions = sorted({0, 1, 2, 3, len(token) - 1, *range(4, len(token), max(1, len(token) // 40))})
    for index in positions:
        forged = Key(session.access_key_id, session.secret, flipped(token, index))
        reply = harness.call("GET", "/instances/i-1", signer=signer_for(world, forged))
        refused(reply, 400, "InvalidSecurityToken.Malformed")
    assert harness.call("GET", "/instances/i-1", signer=signer_for(world, session)).status == 200


def test_a_token_minted_with_another_servers_key_is_refused(harness: Harness) -> None:
    world = harness.world
    other = build(RamConfig(store_url="memory://", audit=MemorySink(), token_keys=("x" * 40,)))
    try:
        role = world.ram.service.get_role(world.account_id, "Deployer")
        issued = other.tokens.issue(
            account_id=world.account_id,
            role_name=role.role_name,
            role_id=role.role_id,
            session_name="forged",
            duration_seconds=3600,
        )
    finally:
        other.close()
    forged = Key(issued.access_key_id, issued.access_key_secret, issued.security_token)
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, forged)),
        400,
        "InvalidSecurityToken.Malformed",
    )


def test_token_and_key_of_different_sessions_do_not_mix(harness: Harness) -> None:
    world = harness.world
    first, second = world.role_session(), world.role_session()
    crossed = Key(first.access_key_id, first.secret, second.security_token)
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, crossed)),
        400,
        "InvalidSecurityToken.MismatchWithAccessKey",
    )
    bare = Key(first.access_key_id, first.secret, None)
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, bare)), 400, "MissingSecurityToken"
    )
    # A long-term key presenting a session token is not promoted to the role either.
    alice = world.keys["alice"]
    mixed = Key(alice.access_key_id, alice.secret, first.security_token)
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, mixed)),
        400,
        "InvalidSecurityToken.MismatchWithAccessKey",
    )


def test_expired_token_is_refused(harness: Harness) -> None:
    world = harness.world
    session = world.role_session()
    world.clock.advance(seconds=3599)
    assert harness.call("GET", "/instances/i-1", signer=signer_for(world, session)).status == 200
    world.clock.advance(seconds=1)
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, session)),
        400,
        "InvalidSecurityToken.Expired",
    )


def test_revoked_sessions_are_refused_at_once(harness: Harness) -> None:
    world = harness.world
    session = world.role_session()
    assert harness.call("GET", "/instances/i-1", signer=signer_for(world, session)).status == 200
    world.clock.advance(seconds=1)
    world.ram.service.revoke_role_sessions(world.account_id, "Deployer")
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, session)),
        400,
        "InvalidSecurityToken.Revoked",
    )
    world.clock.advance(seconds=1)
    fresh = world.role_session()  # issued after the revocation: unaffected
    assert harness.call("GET", "/instances/i-1", signer=signer_for(world, fresh)).status == 200


def test_a_key_disabled_while_its_request_is_decided_never_meets_rights_granted_after(
    harness: Harness,
) -> None:
    # Writes landing between the key lookup and the policy lookup (here: during the nonce claim) once made a
    # decision pair the key as it was (Active) with the rights granted afterwards: a state that never was.
    world = harness.world
    service, account = world.ram.service, world.account_id
    eve = world.keys["eve"]
    guard = world.ram.authenticator._guard
    claim = guard.claim

    def claim_then_change(key: str, ttl_seconds: float) -> bool:
        claimed = claim(key, ttl_seconds)
        guard.claim = claim  # type: ignore[method-assign]
        service.update_access_key(account, eve.access_key_id, "Inactive", user_name="eve")
        service.attach_policy_to_user(account, "System", "AdministratorAccess", "eve")
        return claimed

    guard.claim = claim_then_change  # type: ignore[method-assign]
    reply = harness.call("GET", "/instances/i-1", signer=world.signer("eve"))
    refused(reply, 400, "InvalidAccessKeyId.Inactive")


def test_a_role_session_revoked_while_its_request_is_decided_never_meets_rights_granted_after(
    harness: Harness,
) -> None:
    # The same for STS: the revocation and a new grant land between the token check and the policy lookup.
    world = harness.world
    service, account = world.ram.service, world.account_id
    session = world.role_session()
    world.clock.advance(seconds=1)
    guard = world.ram.authenticator._guard
    claim = guard.claim

    def claim_then_change(key: str, ttl_seconds: float) -> bool:
        claimed = claim(key, ttl_seconds)
        guard.claim = claim  # type: ignore[method-assign]
        service.revoke_role_sessions(account, "Deployer")
        service.attach_policy_to_role(account, "System", "AdministratorAccess", "Deployer")
        return claimed

    guard.claim = claim_then_change  # type: ignore[method-assign]
    query = [("Bucket", "hr-bucket"), ("Key", "payroll.csv")]  # Deployer holds ECS rights only
    reply = harness.call("GET", "/objects", signer=signer_for(world, session), query=query)
    refused(reply, 400, "InvalidSecurityToken.Revoked")


def test_sessions_of_a_deleted_role_are_refused_even_after_it_is_created_again(harness: Harness) -> None:
    world = harness.world
    service, account = world.ram.service, world.account_id
    session = world.role_session()
    assert harness.call("GET", "/instances/i-1", signer=signer_for(world, session)).status == 200
    role = service.get_role(account, "Deployer")
    service.delete_role(account, "Deployer", force=True)
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, session)),
        400,
        "InvalidSecurityToken.Revoked",
    )
    # The same name again is another role (another RoleId): the old session does not come back with it.
    service.create_role(account, "Deployer", role.trust_policy)
    service.attach_policy_to_role(account, "System", "AliyunECSReadOnlyAccess", "Deployer")
    refused(
        harness.call("GET", "/instances/i-1", signer=signer_for(world, session)),
        400,
        "InvalidSecurityToken.Revoked",
    )
    fresh = world.role_session()
    assert harness.call("GET", "/instances/i-1", signer=signer_for(world, fresh)).status == 200


# --- conflicting credentials (two Authorization headers) ----------------------------------------------------


@pytest.fixture(params=["starlette", "fastapi", "flask", "wsgi-table"])
def raw_target(request: pytest.FixtureRequest, world: World) -> Iterator[Target]:
    target = make_target(request.param, world)
    yield target
    target.driver.close()


def _conflicting(world: World) -> RawRequest:
    signed = signer_for(world, world.keys["alice"]).sign("GET", "http://testserver/instances/i-1", [], b"")
    valid = signed.headers["authorization"]
    tampered = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    others = [(k.encode(), v.encode()) for k, v in signed.headers.items() if k != "authorization"]
    return RawRequest(
        "GET",
        b"/instances/i-1",
        b"",
        (*others, (b"authorization", tampered.encode()), (b"authorization", valid.encode())),
    )


def test_two_different_credentials_are_refused(raw_target: Target, world: World) -> None:
    # WSGI servers join the two headers into "tampered,valid"; ASGI keeps them apart. Both must refuse.
    reply = raw_target.send(_conflicting(world))
    assert reply.status == 400, reply.describe()
    assert check_error_body(reply)["Code"] == "IncompleteSignature"


# --- keys that must not work --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_root_access_key_is_refused(harness: Harness, scheme: str) -> None:
    world = harness.world
    reply = harness.call("GET", "/instances/i-1", signer=world.signer("root", scheme))
    refused(reply, 403, "Forbidden.RootAccessKey")
    event = world.audit.events[-1]
    assert (event.decision, event.code) == ("Rejected", "Forbidden.RootAccessKey")


def test_deleted_users_key_is_refused_at_once(harness: Harness) -> None:
    world = harness.world
    assert harness.call("GET", "/instances/i-1", signer=world.signer("alice")).status == 200  # now cached
    world.ram.service.delete_user(world.account_id, "alice", force=True)
    refused(
        harness.call("GET", "/instances/i-1", signer=world.signer("alice")),
        404,
        "InvalidAccessKeyId.NotFound",
    )
    refused(
        harness.call("GET", "/instances/i-1", signer=world.signer("alice", "v1")),
        404,
        "InvalidAccessKeyId.NotFound",
    )


def test_disabled_key_and_lost_group_take_effect_at_once(harness: Harness) -> None:
    world = harness.world
    service = world.ram.service
    assert harness.call("GET", "/instances/i-1", signer=world.signer("alice")).status == 200
    service.remove_user_from_group(world.account_id, "OM", "alice")
    refused(harness.call("GET", "/instances/i-1", signer=world.signer("alice")), 403, "NoPermission")
    service.update_access_key(world.account_id, world.keys["alice"].access_key_id, "Inactive")
    refused(
        harness.call("GET", "/instances/i-1", signer=world.signer("alice")),
        400,
        "InvalidAccessKeyId.Inactive",
    )


def test_another_instance_refuses_a_deleted_key_within_a_second(tmp_path: Path) -> None:
    """Two runtimes on one SQLite file (two server processes on one machine): a delete made through one is
    felt by the other within its refresh interval (0.5 s)."""
    url = f"sqlite:///{tmp_path}/ram.db"
    world = make_world(url)
    other = build(
        RamConfig(store_url=url, audit=MemorySink(), clock=world.clock, trusted_proxies=("192.0.2.0/24",))
    )
    try:
        second = Harness("second", "asgi", starlette_app(other), world)  # the same harness, second runtime
        assert second.call("GET", "/instances/i-1", signer=world.signer("alice")).status == 200
        world.ram.service.delete_user(world.account_id, "alice", force=True)
        started = time.monotonic()
        while True:
            reply = second.call("GET", "/instances/i-1", signer=world.signer("alice"))
            if reply.status != 200 or time.monotonic() - started > 2.0:
                break
            time.sleep(0.05)
        took = time.monotonic() - started
        refused(reply, 404, "InvalidAccessKeyId.NotFound")
        assert took < 1.0, f"the second instance still accepted the key after {took:.2f} s"
        print(f"\nadversarial: deleted key refused by a second instance after {took * 1000:.0f} ms")
    finally:
        other.close()
        world.ram.close()
