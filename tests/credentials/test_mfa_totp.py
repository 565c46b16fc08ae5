"""Virtual MFA: RFC 6238 vectors, the drift window, one-time use, binding, provisioning."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials import mfa

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "totp.json").read_text(encoding="utf-8")
)
RFC_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def at(unix_time: float) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['algorithm']}-{v['unix_time']}")
def test_rfc6238_vectors(vector: dict[str, Any]) -> None:
    step = vector["unix_time"] // 30
    assert step == int(vector["time_step_T_hex"], 16)
    assert mfa.time_step(at(vector["unix_time"])) == step
    seed, algorithm = vector["secret_base32"], vector["algorithm"]
    assert mfa.code_at(seed, step, digits=8, algorithm=algorithm) == vector["totp_8_digits"]
    assert mfa.code_at(seed, step, algorithm=algorithm) == vector["totp_6_digits"]
    assert base64.b32decode(seed).decode("ascii") == vector["secret_ascii"]
    # The same values through pyotp's own time-based API, as an independent path.
    digest = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}[algorithm]
    reference = pyotp.TOTP(seed, digits=8, digest=getattr(hashlib, digest))
    assert reference.at(vector["unix_time"]) == vector["totp_8_digits"]


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS["vectors"] if v["algorithm"] == "SHA1"], ids=lambda v: str(v["unix_time"])
)
def test_ram_codes_verify_at_vector_times(vector: dict[str, Any]) -> None:
    now = at(vector["unix_time"])
    matched = mfa.verify_code(vector["secret_base32"], vector["totp_6_digits"], now=now, last_used_step=None)
    assert matched == vector["unix_time"] // 30


def test_binding_example_from_vectors() -> None:
    example = VECTORS["ram"]["bind_pair_example"]
    code1 = next(v for k, v in example.items() if k.startswith("AuthenticationCode1"))
    code2 = next(v for k, v in example.items() if k.startswith("AuthenticationCode2"))
    step = mfa.verify_consecutive(example["secret_base32"], code1, code2, now=at(1111111111))
    assert step == 1111111111 // 30


def test_window_accepts_one_step_either_side_only() -> None:
    seed = mfa.new_secret()
    t = mfa.time_step(NOW)
    for offset, expected in [(-2, None), (-1, t - 1), (0, t), (1, t + 1), (2, None)]:
        code = mfa.code_at(seed, t + offset)
        assert mfa.verify_code(seed, code, now=NOW, last_used_step=None) == expected, offset


def test_wider_window_when_asked() -> None:
    seed = mfa.new_secret()
    t = mfa.time_step(NOW)
    code = mfa.code_at(seed, t - 2)
    assert mfa.verify_code(seed, code, now=NOW, last_used_step=None, window=2) == t - 2


def test_a_code_is_accepted_once() -> None:
    seed = mfa.new_secret()
    t = mfa.time_step(NOW)
    code = mfa.code_at(seed, t)
    used = mfa.verify_code(seed, code, now=NOW, last_used_step=None)
    assert used == t
    assert mfa.verify_code(seed, code, now=NOW, last_used_step=used) is None
    # The previous step's code is still inside the window but older than the used one.
    assert mfa.verify_code(seed, mfa.code_at(seed, t - 1), now=NOW, last_used_step=used) is None
    # The next step's code is fresh.
    later = NOW + timedelta(seconds=30)
    assert mfa.verify_code(seed, mfa.code_at(seed, t + 1), now=later, last_used_step=used) == t + 1


MALFORMED = ["", "12345", "1234567", "12345a", " 12345", "１２３４５６", "12 456", "+12345", "287082\n"]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_codes_are_refused(bad: str) -> None:
    assert mfa.verify_code(RFC_SEED, bad, now=at(59), last_used_step=None) is None


def test_non_string_code_is_refused() -> None:
    assert mfa.verify_code(RFC_SEED, 287082, now=at(59), last_used_step=None) is None  # type: ignore[arg-type]


def test_binding_needs_consecutive_codes() -> None:
    seed = mfa.new_secret()
    t = mfa.time_step(NOW)
    c = {k: mfa.code_at(seed, t + k) for k in range(-3, 3)}
    assert mfa.verify_consecutive(seed, c[-1], c[0], now=NOW) == t
    assert mfa.verify_consecutive(seed, c[0], c[1], now=NOW) == t + 1
    assert mfa.verify_consecutive(seed, c[-2], c[-1], now=NOW) == t - 1  # a slow typist
    assert mfa.verify_consecutive(seed, c[-1], c[1], now=NOW) is None  # a step skipped
    assert mfa.verify_consecutive(seed, c[0], c[-1], now=NOW) is None  # reversed
    assert mfa.verify_consecutive(seed, c[0], c[0], now=NOW) is None  # the same code twice
    assert mfa.verify_consecutive(seed, c[-3], c[-2], now=NOW) is None  # too old
    assert mfa.verify_consecutive(seed, c[0], "12345", now=NOW) is None


def test_binding_codes_cannot_be_replayed_at_logon() -> None:
    seed = mfa.new_secret()
    t = mfa.time_step(NOW)
    code1, code2 = mfa.code_at(seed, t - 1), mfa.code_at(seed, t)
    last = mfa.verify_consecutive(seed, code1, code2, now=NOW)
    assert last == t
    for code in (code1, code2):
        assert mfa.verify_code(seed, code, now=NOW, last_used_step=last) is None


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=20, max_size=20), unix=st.integers(min_value=0, max_value=2**33))
def test_current_code_verifies_and_a_neighbouring_value_does_not(seed: bytes, unix: int) -> None:
    secret = base64.b32encode(seed).decode().rstrip("=")
    now = at(unix)
    t = mfa.time_step(now)
    assert mfa.verify_code(secret, mfa.code_at(secret, t), now=now, last_used_step=None) == t
    window_codes = {mfa.code_at(secret, s) for s in (t - 1, t, t + 1) if s >= 0}
    other = f"{(int(mfa.code_at(secret, t)) + 1) % 1_000_000:06d}"
    assume(other not in window_codes)
    assert mfa.verify_code(secret, other, now=now, last_used_step=None) is None


def test_new_secret_shape() -> None:
    seeds = {mfa.new_secret() for _ in range(50)}
    assert len(seeds) == 50
    for seed in seeds:
        assert len(seed) == 32 and "=" not in seed
        assert len(base64.b32decode(seed)) == 20


@pytest.mark.parametrize("bad", ["not base32!", "GEZDGNBV", "", "0000000000000000"])
def test_bad_or_short_seeds_are_refused(bad: str) -> None:
    with pytest.raises(errors.InvalidParameter):
        mfa.verify_code(bad, "123456", now=NOW, last_used_step=None)


def test_codes_before_the_epoch_do_not_exist() -> None:
    with pytest.raises(errors.InvalidParameter):
        mfa.code_at(RFC_SEED, -1)
    assert mfa.verify_code(RFC_SEED, mfa.code_at(RFC_SEED, 0), now=at(0), last_used_step=None) == 0


def test_naive_datetime_is_taken_as_utc() -> None:
    assert mfa.time_step(datetime(1970, 1, 1, 0, 0, 59)) == 1


def test_provisioning_uri_round_trips_through_pyotp() -> None:
    seed = mfa.new_secret()
    uri = mfa.provisioning_uri(seed, user_name="alice", account="1234567890123456", issuer="Company X")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Company X:alice@1234567890123456"
    query = parse_qs(parts.query)
    assert query["secret"] == [seed] and query["issuer"] == ["Company X"]
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.at(NOW) == mfa.code_at(seed, mfa.time_step(NOW))


def test_qr_renderings() -> None:
    uri = mfa.provisioning_uri(RFC_SEED, user_name="alice", account="acme")
    png = mfa.qr_png(uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png != mfa.qr_png(uri + "x")
    svg = mfa.qr_svg(uri)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    terminal = mfa.qr_terminal(uri)
    assert len(terminal.splitlines()) > 10 and "█" in terminal
