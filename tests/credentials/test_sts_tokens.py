"""The STS token codec: issue, verify, tampering, expiry, key rotation, revocation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.sts import (
    IssuedCredentials,
    StsTokens,
    ensure_not_revoked,
    format_timestamp,
    is_revoked,
    principal_from_claims,
)

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


@pytest.mark.parametrize(
    "token",
    ["", "CAIS", "v1.", "v1..", "v1.abc.def", "v2" + FIXED_CREDS.security_token[2:], "x" * 20_000, "v1.ä."],
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


def test_key_rotation() -> None:
    clock = DateClock()
    old = StsTokens([KEY_A], clock=clock)
    rotated = StsTokens([KEY_B, KEY_A], clock=clock)
    before = issue(old)
    claims = rotated.verify(before.access_key_id, before.security_token)  # old key still verifies
    assert rotated.secret_for(claims) == before.access_key_secret  # ... and yields the same secret
    after = issue(rotated)
    assert after.claims.key_id != before.claims.key_id  # the new key signs
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
    claims = FIXED_CREDS.claims
    assert not is_revoked(claims, None)
    assert is_revoked(claims, claims.issued_at + timedelta(milliseconds=1))
    assert not is_revoked(claims, claims.issued_at)
    assert not is_revoked(claims, claims.issued_at - timedelta(seconds=1))
    ensure_not_revoked(claims, None)
    with pytest.raises(errors.InvalidSecurityToken) as info:
        ensure_not_revoked(claims, claims.issued_at + timedelta(seconds=1))
    assert info.value.code == "InvalidSecurityToken.Revoked"


def test_revocation_is_per_issue_time() -> None:
    clock = DateClock()
    tokens = StsTokens([KEY_A], clock=clock)
    early = issue(tokens)
    clock.now += timedelta(seconds=10)
    revoked_at = clock.now
    clock.now += timedelta(milliseconds=5)
    late = issue(tokens)
    with pytest.raises(errors.InvalidSecurityToken) as info:
        tokens.signing_key(early.access_key_id, early.security_token, revoked_before=revoked_at)
    assert info.value.code == "InvalidSecurityToken.Revoked"
    key = tokens.signing_key(late.access_key_id, late.security_token, revoked_before=revoked_at)
    assert key.secret == late.access_key_secret


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
