"""Test identities and an in-memory KeyResolver (a fixture, standing in for the store's Directory)."""

from __future__ import annotations

import threading
from datetime import datetime

from ram_middleware import errors
from ram_middleware.identity import Principal, SigningKey

ACCOUNT = "1234567890123456"
# The fixed credentials of tests/vectors (fake).
AK = "LTAI5tTESTACCESSKEYID01"
SECRET = "TESTsecret0123456789abcdefABCDEF"
STS_AK = "STS.NTESTtempAccessKeyId01"
STS_SECRET = "TEMPsecret0123456789abcdefTEMP"
STS_TOKEN = "CAIS+test/Security=Token+with/special==chars"
ROOT_AK = "LTAI5tROOTACCESSKEYID01"
ROOT_SECRET = "ROOTsecret0123456789abcdefROOT"
INACTIVE_AK = "LTAI5tINACTIVEKEYID0001"
INACTIVE_SECRET = "INACTIVEsecret0123456789abcdef"
EXPIRED_TOKEN = "CAIS-expired-token"
REVOKED_TOKEN = "CAIS-revoked-token"

ALICE = Principal(
    kind="user",
    account_id=ACCOUNT,
    name="alice",
    principal_id="203000000000000001",
    arn=f"acs:ram::{ACCOUNT}:user/alice",
    groups=("RnD",),
)
OPS_SESSION = Principal(
    kind="assumed-role",
    account_id=ACCOUNT,
    name="ops",
    principal_id="300000000000000001:alice-session",
    arn=f"acs:ram::{ACCOUNT}:assumed-role/ops/alice-session",
    session_name="alice-session",
)
ROOT = Principal(
    kind="root",
    account_id=ACCOUNT,
    name="root",
    principal_id=ACCOUNT,
    arn=f"acs:ram::{ACCOUNT}:root",
)


class MemoryResolver:
    """KeyResolver over dicts: long-term keys by id, temporary keys by SecurityToken."""

    def __init__(self) -> None:
        self.keys: dict[str, SigningKey] = {
            AK: SigningKey(AK, SECRET, ALICE),
            ROOT_AK: SigningKey(ROOT_AK, ROOT_SECRET, ROOT),
            INACTIVE_AK: SigningKey(INACTIVE_AK, INACTIVE_SECRET, ALICE, status="Inactive"),
        }
        self.tokens: dict[str, SigningKey] = {
            STS_TOKEN: SigningKey(STS_AK, STS_SECRET, OPS_SESSION, security_token=STS_TOKEN),
        }
        self.expired = {EXPIRED_TOKEN}
        self.revoked = {REVOKED_TOKEN}
        self.used: list[tuple[str, datetime]] = []
        self._lock = threading.Lock()

    def signing_key(self, access_key_id: str) -> SigningKey | None:
        return self.keys.get(access_key_id)

    def verify_security_token(self, access_key_id: str, token: str) -> SigningKey:
        if token in self.expired:
            raise errors.InvalidSecurityToken("Expired", "The SecurityToken has expired.")
        if token in self.revoked:
            raise errors.InvalidSecurityToken("Revoked", "The SecurityToken was revoked.")
        key = self.tokens.get(token)
        if key is None:
            raise errors.InvalidSecurityToken("Malformed", "The SecurityToken is malformed.")
        if key.access_key_id != access_key_id:
            raise errors.InvalidSecurityToken(
                "MismatchWithAccessKey", "The token is for another AccessKeyId."
            )
        return key

    def note_key_used(self, access_key_id: str, when: datetime) -> None:
        with self._lock:
            self.used.append((access_key_id, when))
