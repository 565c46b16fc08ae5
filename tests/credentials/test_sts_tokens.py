"""The STS token codec: issue, verify, confidentiality, tampering, expiry, key rotation, revocation, and
tokens of the previous (signed-only) format."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.sts import (
    IssuedCredentials,
    SessionClaims,
    StsTokens,
    ensure_not_revoked,
    format_timestamp,
    is_revoked,
    principal_from_claims,
)
from ram_middleware.identity import SESSION_GENERATION, SessionLink, SessionRevocation

KEY_A = b"A" * 16 + b"first-server-key"
KEY_B = "second server key, text form, long enough"
KEY_C = b"C" * 40
START = datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:bücket/*"}],
    },
    ensure_ascii=False,
)


class DateClock:
    """A settable UTC clock for the token codec."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def issue(tokens: StsTokens, **overrides: object) -> IssuedCredentials:
    args: dict[str, object] = {
        "account_id": "1234567890123456",
        "role_name": "EcsOperator",
        "role_id": "300000000000000001",
        "session_name": "alice",
        "duration_seconds": 900,
        "session_policy": POLICY,
        "mfa_present": True,
        "source_identity": "alice-src",
    }
    args.update(overrides)
    return tokens.issue(**args)  # type: ignore[arg-type]


FIXED = StsTokens([KEY_A], clock=DateClock())
FIXED_CREDS = issue(FIXED)
PARENT = SessionLink(
    "1234567890123456", "Deployer", "300000000000000002", datetime(2024, 1, 2, 3, 0, 0, 123_000, tzinfo=UTC)
)

# Issued by the previous release (signed, not sealed) with KEY_A at START: issue(…, chain=(PARENT,)).
LEGACY_KEY_ID = "STS.NlW7qLEHRLGLAdOYL9nYa5Cz"
LEGACY_SECRET = "2zE0gpPNu1IjWf69mRJkIHEsp1D5KUoNUZQv1Z6C-sw"
LEGACY_TOKEN = (
    "v1.eNptkE1PAjEQhv-KmSNZtQvdr96IEjxs3ASMhuxy6JYhWVkotiV-EP6ZN_8YU1Y8qO2h0-d9p9OZPaxAAGMpWy7SLK55jTJhEIAkHPYHPI"
    "qTNGNdRNgQHilbbNFIp40nDaEB-7VCUiwJsm0U-ud8menD9Oq-fUpe8tHdJB_nw0Uxy7PNTEY3H-RppAMRJoyHMY9PhQPAt-2ZRRGPAqAr7Ct4RG"
    "MbvalAXFQQVhDQMXXS4Ro3ztOSTKPlEpXrPMO21a-db6jcT6q2VozRFfXzyenlCVq9Mwo7g1RWeFOPdv31qVbornsVHOYH-vEahDM7pFabc6-X1i"
    "hSFIiy_G-At7ht9Tv6yf0ZWh-C7_Y58xnz-eEIW_lx2w.w4oG4gwG39SVBnXwcSnRFFwjquT1kMOBH6T3qI0M8tQ"
)


def test_round_trip() -> None:
    clock = DateClock()
    tokens = StsTokens([KEY_A], clock=clock)
    creds = issue(tokens)
    assert creds.access_key_id.startswith("STS.") and len(creds.access_key_id) > 20
    claims = tokens.verify(creds.access_key_id, creds.security_token)
    assert claims == creds.claims
    assert (claims.account_id, claims.role_name, claims.role_id) == (
        "1234567890123456",
        "EcsOperator",
        "300000000000000001",
    )
    assert claims.session_name == "alice" and claims.session_policy == POLICY
    assert claims.mfa_present is True and claims.source_identity == "alice-src"
    assert claims.issued_at == START
    assert claims.expiration == datetime(2024, 1, 2, 3, 19, 5, tzinfo=UTC)
    assert claims.assumed_role_arn == "acs:ram::1234567890123456:assumed-role/EcsOperator/alice"
    assert claims.assumed_role_id == "300000000000000001:alice"
    assert claims.role_arn == "acs:ram::1234567890123456:role/ecsoperator"
    assert tokens.secret_for(claims) == creds.access_key_secret
    assert creds.to_api() == {
        "AccessKeyId": creds.access_key_id,
        "AccessKeySecret": creds.access_key_secret,
        "SecurityToken": creds.security_token,
        "Expiration": "2024-01-02T03:19:05Z",
    }


def test_a_chained_session_round_trips() -> None:
    tokens = StsTokens([KEY_A], clock=DateClock())
    creds = issue(tokens, chain=(PARENT,))
    claims = tokens.verify(creds.access_key_id, creds.security_token)
    assert claims == creds.claims and claims.chain == (PARENT,)


def _readable_forms(token: str) -> list[bytes]:
    """Everything an observer gets from ``token`` by decoding it: the text, each base64url part, and
    whatever inflates (zlib or raw DEFLATE) from any offset of those bytes."""
    forms = [token.encode()]
    for part in token.split("."):
        try:
            raw = _unb64(part)
        except (binascii.Error, ValueError):
            continue
        forms.append(raw)
        for offset in range(len(raw)):
            for wbits in (15, -15):
                with contextlib.suppress(zlib.error):
                    forms.append(zlib.decompressobj(wbits).decompress(raw[offset:]))
    return forms


CLAIM_TEXTS = ["EcsOperator", "alice", POLICY, "oss:GetObject", "bücket", "alice-src", "Deployer"]


def _spellings(text: str) -> set[bytes]:
    """``text`` as it may sit in a token: as is, in lower case, and escaped as a JSON string."""
    return {text.encode(), text.lower().encode(), json.dumps(text, ensure_ascii=False)[1:-1].encode()}


def test_the_token_reveals_no_claim() -> None:
    creds = issue(StsTokens([KEY_A], clock=DateClock()), chain=(PARENT,))
    forms = _readable_forms(creds.security_token)
    for text in [*CLAIM_TEXTS, "1234567890123456", "300000000000000002"]:
        for needle in _spellings(text):
            assert not any(needle in form for form in forms), text
    # The same look at a token of the previous format reads every claim: the search finds what it seeks.
    legacy = _readable_forms(LEGACY_TOKEN)
    for text in CLAIM_TEXTS:
        assert any(needle in form for form in legacy for needle in _spellings(text)), text


def test_sealed_tokens_are_shorter_than_signed_ones_were() -> None:
    creds = issue(StsTokens([KEY_A], clock=DateClock()), chain=(PARENT,))
    assert len(creds.security_token) < len(LEGACY_TOKEN)


def test_optional_claims_may_be_absent() -> None:
    tokens = StsTokens([KEY_A], clock=DateClock())
    creds = issue(tokens, session_policy=None, mfa_present=None, source_identity=None)
    claims = tokens.verify(creds.access_key_id, creds.security_token)
    assert (claims.session_policy, claims.mfa_present, claims.source_identity) == (None, None, None)
    assert principal_from_claims(claims).mfa_present is None


def test_every_session_gets_its_own_key_and_secret() -> None:
    tokens = StsTokens([KEY_A], clock=DateClock())
    first, second = issue(tokens), issue(tokens)
    assert first.access_key_id != second.access_key_id
    assert first.access_key_secret != second.access_key_secret
    assert len(first.access_key_secret) >= 40


def test_secrets_never_leak_into_token_or_repr() -> None:
    creds = FIXED_CREDS
    assert creds.access_key_secret not in creds.security_token
    assert creds.access_key_secret not in repr(creds)
    assert creds.security_token not in repr(creds)
    signing = FIXED.signing_key(creds.access_key_id, creds.security_token)
    assert creds.access_key_secret not in repr(signing) and creds.security_token not in repr(signing)
    assert "first-server-key" not in repr(FIXED)


def test_expiry_follows_the_injected_clock() -> None:
    clock = DateClock()
    tokens = StsTokens([KEY_A], clock=clock)
    creds = issue(tokens, duration_seconds=3600)
    clock.now = creds.expiration - timedelta(seconds=1)
    tokens.verify(creds.access_key_id, creds.security_token)
    clock.now = creds.expiration
    with pytest.raises(errors.InvalidSecurityToken) as info:
        tokens.verify(creds.access_key_id, creds.security_token)
    assert info.value.code == "InvalidSecurityToken.Expired"


def test_token_must_match_its_access_key() -> None:
    other = issue(FIXED)
    with pytest.raises(errors.InvalidSecurityToken) as info:
        FIXED.verify(other.access_key_id, FIXED_CREDS.security_token)
    assert info.value.code == "InvalidSecurityToken.MismatchWithAccessKey"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


SEALED = _unb64(FIXED_CREDS.security_token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "CAIS",
        "v1.",
        "v1..",
        "v1.abc.def",
        "v2" + FIXED_CREDS.security_token[2:],
        "x" * 20_000,
        "v1.ä.",
        FIXED_CREDS.security_token + "=",  # padded: not the canonical spelling
        _b64(SEALED[:5]),  # the clear header alone
        _b64(bytes([3]) + SEALED[1:]),  # an unknown version
        _b64(bytes([1]) + SEALED[1:]),
    ],
)
def test_garbage_is_malformed(token: str) -> None:
    with pytest.raises(errors.InvalidSecurityToken) as info:
        FIXED.verify(FIXED_CREDS.access_key_id, token)
    assert info.value.code == "InvalidSecurityToken.Malformed"
    assert info.value.status < 500


def _flip(token: str, index: int, mask: int) -> str:
    raw = bytearray(token.encode("ascii"))
    raw[index] ^= mask
    return raw.decode("latin-1")


def test_every_single_bit_flip_fails() -> None:
    token = FIXED_CREDS.security_token
    for index in range(len(token)):
        for bit in range(8):
            with pytest.raises(errors.InvalidSecurityToken) as info:
                FIXED.verify(FIXED_CREDS.access_key_id, _flip(token, index, 1 << bit))
            assert info.value.code == "InvalidSecurityToken.Malformed", (index, bit)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_flipped_byte_anywhere_fails(data: st.DataObject) -> None:
    token = FIXED_CREDS.security_token
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    mask = data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(errors.InvalidSecurityToken) as info:
        FIXED.verify(FIXED_CREDS.access_key_id, _flip(token, index, mask))
    assert info.value.code.startswith("InvalidSecurityToken.")


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=400), access_key_id=st.text(max_size=40))
def test_arbitrary_text_gives_a_token_error(token: str, access_key_id: str) -> None:
    with pytest.raises(errors.InvalidSecurityToken):
        FIXED.verify(access_key_id, token)


def test_truncation_and_extension_fail() -> None:
    token = FIXED_CREDS.security_token
    for bad in (token[:-1], token + "A", token[1:], token + "."):
        with pytest.raises(errors.InvalidSecurityToken):
            FIXED.verify(FIXED_CREDS.access_key_id, bad)


def test_the_clear_header_is_authenticated() -> None:
    rotated = StsTokens([KEY_B, KEY_A], clock=DateClock())
    theirs = _unb64(issue(rotated).security_token)
    # FIXED's token with its key id swapped for another listed key's, then spelt canonically.
    swapped = _b64(SEALED[:1] + theirs[1:5] + SEALED[5:])
    for bad in (swapped, _b64(SEALED[:-1]), _b64(SEALED + b"\0"), _b64(SEALED[:5] + SEALED[17:])):
        with pytest.raises(errors.InvalidSecurityToken) as info:
            rotated.verify(FIXED_CREDS.access_key_id, bad)
        assert info.value.code == "InvalidSecurityToken.Malformed"
    assert rotated.verify(FIXED_CREDS.access_key_id, FIXED_CREDS.security_token) == FIXED_CREDS.claims


def test_key_rotation() -> None:
    clock = DateClock()
    old = StsTokens([KEY_A], clock=clock)
    rotated = StsTokens([KEY_B, KEY_A], clock=clock)
    before = issue(old)
    claims = rotated.verify(before.access_key_id, before.security_token)  # old key still verifies
    assert rotated.secret_for(claims) == before.access_key_secret  # ... and yields the same secret
    after = issue(rotated)
    assert after.claims.key_id != before.claims.key_id  # the new key seals
    assert _unb64(after.security_token)[1:5] != _unb64(before.security_token)[1:5]  # and names itself
    with pytest.raises(errors.InvalidSecurityToken) as info:
        old.verify(after.access_key_id, after.security_token)
    assert info.value.code == "InvalidSecurityToken.Malformed"
    retired = StsTokens([KEY_B], clock=clock)
    retired.verify(after.access_key_id, after.security_token)
    with pytest.raises(errors.InvalidSecurityToken):
        retired.verify(before.access_key_id, before.security_token)


def test_a_token_from_another_key_set_does_not_verify() -> None:
    stranger = StsTokens([KEY_C], clock=DateClock())
    with pytest.raises(errors.InvalidSecurityToken) as info:
        stranger.verify(FIXED_CREDS.access_key_id, FIXED_CREDS.security_token)
    assert info.value.code == "InvalidSecurityToken.Malformed"
    # The same key set in another process (another instance) verifies it: tokens are self-contained.
    twin = StsTokens([KEY_A], clock=DateClock())
    assert twin.verify(FIXED_CREDS.access_key_id, FIXED_CREDS.security_token) == FIXED_CREDS.claims
    assert twin.secret_for(FIXED_CREDS.claims) == FIXED_CREDS.access_key_secret


def test_secret_differs_between_key_sets() -> None:
    stranger = StsTokens([KEY_C, KEY_A])
    other = StsTokens([KEY_C])
    assert stranger.secret_for(FIXED_CREDS.claims) == FIXED_CREDS.access_key_secret
    with pytest.raises(errors.InvalidSecurityToken):
        other.secret_for(FIXED_CREDS.claims)


@pytest.mark.parametrize("keys", [[], [b"short"], [KEY_A, KEY_A]])
def test_bad_key_lists_are_refused(keys: list[bytes]) -> None:
    with pytest.raises(errors.InvalidParameter):
        StsTokens(keys)


def test_revocation() -> None:
    claims = FIXED_CREDS.claims  # issued without a generation: the time rule
    assert claims.generation is None
    assert not is_revoked(claims, None)
    assert is_revoked(claims, SessionRevocation(claims.issued_at + timedelta(milliseconds=1), 0))
    assert not is_revoked(claims, SessionRevocation(claims.issued_at, 7))
    assert not is_revoked(claims, SessionRevocation(claims.issued_at - timedelta(seconds=1), 7))
    assert not is_revoked(claims, SessionRevocation(None, 7))
    ensure_not_revoked(claims, None)
    with pytest.raises(errors.InvalidSecurityToken) as info:
        ensure_not_revoked(claims, SessionRevocation(claims.issued_at + timedelta(seconds=1), 0))
    assert info.value.code == "InvalidSecurityToken.Revoked"


def test_revocation_is_per_issue_time_without_a_generation() -> None:
    clock = DateClock()
    tokens = StsTokens([KEY_A], clock=clock)
    early = issue(tokens)
    clock.now += timedelta(seconds=10)
    revoked = SessionRevocation(clock.now, 1)
    clock.now += timedelta(milliseconds=5)
    late = issue(tokens)
    with pytest.raises(errors.InvalidSecurityToken) as info:
        tokens.signing_key(early.access_key_id, early.security_token, revocation=revoked)
    assert info.value.code == "InvalidSecurityToken.Revoked"
    key = tokens.signing_key(late.access_key_id, late.security_token, revocation=revoked)
    assert key.secret == late.access_key_secret


def test_a_generation_decides_revocation_whatever_the_issuers_clock() -> None:
    """An instance whose clock runs an hour ahead issues a token just before the role's sessions are revoked
    (generation 3 → 4) by one whose clock is right: the token is revoked; one issued after it (generation 4)
    by an instance an hour behind is not."""
    ahead = StsTokens([KEY_A], clock=DateClock(START + timedelta(hours=1)))
    behind = StsTokens([KEY_A], clock=DateClock(START - timedelta(hours=1)))
    verifier = StsTokens([KEY_A], clock=DateClock())
    before = issue(ahead, generation=3, duration_seconds=4 * 3600)
    revocation = SessionRevocation(START, 4)  # the revoker's clock reads START
    after = issue(behind, generation=4, duration_seconds=4 * 3600)
    assert (before.claims.generation, after.claims.generation) == (3, 4)
    assert revocation.before is not None
    assert before.claims.issued_at > revocation.before > after.claims.issued_at  # the time rule would err
    with pytest.raises(errors.InvalidSecurityToken) as info:
        verifier.signing_key(before.access_key_id, before.security_token, revocation=revocation)
    assert info.value.code == "InvalidSecurityToken.Revoked"
    key = verifier.signing_key(after.access_key_id, after.security_token, revocation=revocation)
    assert key.principal.extra[SESSION_GENERATION] == "4"


def test_the_chain_carries_generations_beside_the_links_earlier_code_reads() -> None:
    """``c`` keeps four items per link (earlier code refuses any other shape); ``cg`` has the generations."""
    clock = DateClock()
    tokens = StsTokens([KEY_A], clock=clock)
    top = replace(PARENT, generation=2)
    chained = issue(tokens, chain=(top, PARENT), generation=0)
    claims = tokens.verify(chained.access_key_id, chained.security_token)
    assert claims.chain == (top, PARENT)
    payload = claims.to_payload()
    assert [len(link) for link in payload["c"]] == [4, 4] and payload["cg"] == [2, None]
    assert "cg" not in issue(tokens, chain=(PARENT,)).claims.to_payload()
    for bad in ([2], [2, "1"], "2", [2, 1.0]):
        with pytest.raises(errors.InvalidSecurityToken) as info:
            SessionClaims.from_payload({**payload, "cg": bad}, claims.key_id)
        assert info.value.code == "InvalidSecurityToken.Malformed"
    with pytest.raises(errors.InvalidSecurityToken):
        SessionClaims.from_payload({**payload, "g": "0"}, claims.key_id)


def test_signing_key_for_the_authenticator() -> None:
    key = FIXED.signing_key(FIXED_CREDS.access_key_id, FIXED_CREDS.security_token)
    assert key.access_key_id == FIXED_CREDS.access_key_id
    assert key.secret == FIXED_CREDS.access_key_secret
    assert key.status == "Active" and key.security_token == FIXED_CREDS.security_token
    principal = key.principal
    assert principal.kind == "assumed-role" and principal.principal_type == "AssumedRoleUser"
    assert principal.arn == "acs:ram::1234567890123456:assumed-role/EcsOperator/alice"
    assert principal.principal_id == "300000000000000001:alice"
    assert principal.name == "EcsOperator" and principal.session_name == "alice"
    assert principal.session_policy == POLICY and principal.mfa_present is True
    assert principal.access_key_id == FIXED_CREDS.access_key_id
    assert principal.extra["source_identity"] == "alice-src"


def test_format_timestamp() -> None:
    assert format_timestamp(datetime(2024, 1, 2, 11, 4, 5, 999_999, tzinfo=UTC)) == "2024-01-02T11:04:05Z"


# --- tokens of the previous format (signed, readable): accepted while their key is listed ---------------


def test_a_previous_format_token_still_verifies_while_its_key_is_listed() -> None:
    clock = DateClock()
    key_lists: list[list[bytes | str]] = [[KEY_A], [KEY_B, KEY_A]]
    for keys in key_lists:
        tokens = StsTokens(keys, clock=clock)
        claims = tokens.verify(LEGACY_KEY_ID, LEGACY_TOKEN)
        assert claims.assumed_role_arn == "acs:ram::1234567890123456:assumed-role/EcsOperator/alice"
        assert (claims.issued_at, claims.expiration) == (START, datetime(2024, 1, 2, 3, 19, 5, tzinfo=UTC))
        assert claims.session_policy == POLICY and claims.mfa_present is True
        assert claims.source_identity == "alice-src" and claims.chain == (PARENT,)
        assert tokens.secret_for(claims) == LEGACY_SECRET
        key = tokens.signing_key(LEGACY_KEY_ID, LEGACY_TOKEN)
        assert key.secret == LEGACY_SECRET and key.principal.session_policy == POLICY


def test_a_previous_format_token_gets_every_check() -> None:
    clock = DateClock()
    tokens = StsTokens([KEY_A], clock=clock)
    failures: list[tuple[Callable[[], object], str]] = [
        (lambda: StsTokens([KEY_B], clock=clock).verify(LEGACY_KEY_ID, LEGACY_TOKEN), "Malformed"),
        (lambda: tokens.verify(FIXED_CREDS.access_key_id, LEGACY_TOKEN), "MismatchWithAccessKey"),
        (lambda: tokens.signing_key(
            LEGACY_KEY_ID, LEGACY_TOKEN, revocation=SessionRevocation(START + timedelta(seconds=1), 0)),
         "Revoked"),
        (lambda: tokens.verify(LEGACY_KEY_ID, LEGACY_TOKEN[:-1]), "Malformed"),
        (lambda: tokens.verify(LEGACY_KEY_ID, _flip(LEGACY_TOKEN, 40, 1)), "Malformed"),
    ]  # fmt: skip
    for call, code in failures:
        with pytest.raises(errors.InvalidSecurityToken) as info:
            call()
        assert info.value.code == f"InvalidSecurityToken.{code}"
    clock.now = datetime(2024, 1, 2, 3, 19, 5, tzinfo=UTC)
    with pytest.raises(errors.InvalidSecurityToken) as expired:
        tokens.verify(LEGACY_KEY_ID, LEGACY_TOKEN)
    assert expired.value.code == "InvalidSecurityToken.Expired"
