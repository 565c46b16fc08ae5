"""``replay_signatures``: the signature of a request without a nonce claimed once, so its replay is refused.

Through the official SDKs (oss2 V1/V4, botocore SigV4, aliyun-python-sdk-core ROA) against a live server
with the setting on, and in process with requests signed at a fixed time (OSS V4 and ROA by the shared
signing code, SigV4 by botocore's own signer), with the memory and the Redis guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ram_middleware import errors
from ram_middleware.credentials.authenticate import NONCE_CLOCK_MARGIN, Authenticator
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import Guard, MemoryGuard, open_guard
from tests.live_server import sdk_environment, serve_asgi
from tests.scaleout.servers import redis_guard_url

from .app import SignatureApp
from .conftest import LiveServer
from .identities import AK, ALICE, STS_AK, MemoryResolver
from .sdk_clients import SDKS, Sdk
from .signing import NOW, oss_v4_facts, roa_facts, signed
from .test_aws4 import botocore_facts
from .test_live_sdks import LONG_TERM, TEMPORARY, replay
from .test_oss_presign import url_facts
from .test_oss_presign_v4 import presign

WITHOUT_NONCE = [sdk for sdk in SDKS if not sdk.has_nonce]
WITH_NONCE = [sdk for sdk in SDKS if sdk.name in ("core-rpc-get", "tea-acs3", "tea-v2-roa")]
REPLAYED = errors.NonceReused()


class RecordingGuard(MemoryGuard):
    """A memory guard that also keeps every key it was asked to claim, with its TTL."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[tuple[str, float]] = []

    def claim(self, key: str, ttl_seconds: float) -> bool:
        self.claims.append((key, ttl_seconds))
        return super().claim(key, ttl_seconds)


@pytest.fixture(scope="module")
def replaying_server() -> Iterator[LiveServer]:
    resolver = MemoryResolver()
    app = SignatureApp(resolver, guard=RecordingGuard(), replay_signatures=True)
    with sdk_environment(), serve_asgi(app) as address:
        host, port = address.rsplit(":", 1)
        yield LiveServer(app, resolver, host, int(port))


def _guard(server: LiveServer) -> RecordingGuard:
    guard = server.app.authenticator._guard
    assert isinstance(guard, RecordingGuard)
    return guard


@pytest.mark.parametrize("sdk", WITHOUT_NONCE, ids=lambda sdk: sdk.name)
def test_sdk_requests_without_nonce_are_refused_when_replayed(sdk: Sdk, replaying_server: LiveServer) -> None:
    replaying_server.app.clock_offset = timedelta(0)
    assert sdk.call(replaying_server, LONG_TERM) == ALICE.arn  # the first use is allowed
    response = replay(replaying_server)
    assert response.status_code == 400
    # OSS and S3 errors come as XML, ROA's as JSON: the same Code and Message as a replayed nonce either way.
    assert REPLAYED.code in response.text and REPLAYED.message in response.text


@pytest.mark.parametrize("sdk", WITH_NONCE, ids=lambda sdk: sdk.name)
def test_sdk_requests_with_a_nonce_claim_only_their_nonce(sdk: Sdk, replaying_server: LiveServer) -> None:
    guard = _guard(replaying_server)
    guard.claims.clear()
    sdk.call(replaying_server, TEMPORARY)
    assert [key.split(":")[0] for key, _ in guard.claims] == ["nonce"]
    response = replay(replaying_server)
    assert response.status_code == 400 and response.json()["Code"] == REPLAYED.code
    assert [key.split(":")[0] for key, _ in guard.claims] == ["nonce", "nonce"]


# --- in process, at a fixed time ---------------------------------------------------------------------------


def _authenticator(
    replay_signatures: bool, guard: Guard | None = None, when: datetime = NOW
) -> Authenticator:
    return Authenticator(
        MemoryResolver(),
        MemoryGuard() if guard is None else guard,
        clock=lambda: when,
        replay_signatures=replay_signatures,
    )


def _nonceless(when: datetime = NOW) -> dict[str, RequestFacts]:
    return {
        "oss-v4": oss_v4_facts(when=when),
        "aws-v4": botocore_facts("GET", "/examplebucket/a.txt", service="s3", when=when),
        "roa": roa_facts(when=when),
    }


SCHEMES = sorted(_nonceless())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_replay_without_nonce_is_refused_when_on(scheme: str) -> None:
    facts = _nonceless()[scheme]
    auth = _authenticator(True)
    principal = auth.authenticate(facts)
    assert principal is not None and principal.auth_method == scheme
    with pytest.raises(errors.NonceReused) as caught:
        auth.authenticate(facts)
    assert (caught.value.code, caught.value.message, caught.value.status) == (
        REPLAYED.code, REPLAYED.message, 400,
    )  # fmt: skip


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_replay_without_nonce_is_allowed_when_off(scheme: str) -> None:
    facts = _nonceless()[scheme]
    auth = _authenticator(False)
    assert auth.authenticate(facts) == auth.authenticate(facts) is not None


def test_the_signature_is_claimed_for_as_long_as_a_nonce() -> None:
    guard = RecordingGuard()
    auth = _authenticator(True, guard)
    auth.authenticate(oss_v4_facts())
    [(key, ttl)] = guard.claims
    assert key.startswith("signature:") and ttl == 2 * 900 + NONCE_CLOCK_MARGIN


def test_another_request_or_signing_time_is_another_claim() -> None:
    auth = _authenticator(True)
    auth.authenticate(oss_v4_facts())
    auth.authenticate(oss_v4_facts(path="/examplebucket/b.txt"))
    auth.authenticate(oss_v4_facts(when=NOW + timedelta(seconds=1)))


def test_a_roa_request_with_a_nonce_claims_its_nonce_only() -> None:
    guard = RecordingGuard()
    auth = _authenticator(True, guard)
    facts = roa_facts(extra={"x-acs-signature-nonce": "f3c8a1"})
    auth.authenticate(facts)
    assert [key for key, _ in guard.claims] == [f"nonce:{AK}:f3c8a1"]
    with pytest.raises(errors.NonceReused):
        auth.authenticate(facts)


def test_acs3_and_rpc_claim_their_nonce_only() -> None:
    guard = RecordingGuard()
    auth = _authenticator(True, guard)
    auth.authenticate(signed("acs3"))
    auth.authenticate(signed("v1"))
    assert [key.split(":")[0] for key, _ in guard.claims] == ["nonce", "nonce"]


def test_a_presigned_url_stays_replayable_until_it_expires() -> None:
    # Decision: a link is made to be fetched again (a reload, a player's range requests); never claimed.
    guard = RecordingGuard()
    auth = _authenticator(True, guard)
    facts = url_facts(presign(LONG_TERM))
    assert auth.authenticate(facts) == auth.authenticate(facts) is not None
    assert guard.claims == []


def test_sts_credentials_are_claimed_too() -> None:
    facts = botocore_facts("GET", "/", token=TEMPORARY.token, secret=TEMPORARY.secret, key=STS_AK)
    auth = _authenticator(True)
    auth.authenticate(facts)
    with pytest.raises(errors.NonceReused):
        auth.authenticate(facts)


@pytest.mark.redis
def test_the_redis_guard_refuses_replays_across_instances() -> None:
    # Two instances sharing one Redis: a request used on one is refused on the other. Signed now: the
    # Redis guard refuses what was signed before its birth key, which this fresh prefix writes now.
    now = datetime.now(UTC)
    with redis_guard_url() as url:
        first, second = open_guard(url), open_guard(url)
        try:
            facts = _nonceless(now)
            for scheme in SCHEMES:
                assert _authenticator(True, first, now).authenticate(facts[scheme]) is not None
                with pytest.raises(errors.NonceReused) as caught:
                    _authenticator(True, second, now).authenticate(facts[scheme])
                assert caught.value.message == REPLAYED.message
        finally:
            for guard in (first, second):
                guard.close()  # type: ignore[attr-defined]
