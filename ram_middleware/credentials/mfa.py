"""Virtual MFA devices: TOTP (RFC 6238) as RAM uses it — HMAC-SHA1, 6 digits, 30-second steps, T0 = 0.

The store keeps the seed (encrypted) and the last accepted time step per device; this module only computes.
:func:`verify_code` returns the step it matched so the caller can persist it, and refuses any step at or
before the stored one, which makes every code single-use (a replayed or older code fails).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import math
import secrets
from datetime import UTC, datetime

import pyotp
import segno

from .. import errors

PERIOD = 30
DIGITS = 6
SECRET_BYTES = 20
MIN_SECRET_BYTES = 16

__all__ = [
    "code_at",
    "new_secret",
    "provisioning_uri",
    "qr_png",
    "qr_svg",
    "qr_terminal",
    "time_step",
    "verify_code",
    "verify_consecutive",
]


def new_secret() -> str:
    """A fresh seed: 20 random bytes as RFC 4648 Base32 without padding (``Base32StringSeed``)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _totp(secret: str, *, digits: int = DIGITS, algorithm: str = "SHA1") -> pyotp.TOTP:
    try:
        padded = secret.upper() + "=" * (-len(secret) % 8)
        raw = base64.b32decode(padded, casefold=False)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidParameter("Base32StringSeed", "The MFA seed is not valid Base32.") from exc
    if len(raw) < MIN_SECRET_BYTES:  # RFC 4226 §4: at least 128 bits
        raise errors.InvalidParameter("Base32StringSeed", "The MFA seed is shorter than 128 bits.")
    digest = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}.get(algorithm.upper())
    if digest is None:
        raise errors.InvalidParameter("Algorithm", "TOTP algorithm must be SHA1, SHA256 or SHA512.")
    return pyotp.TOTP(secret.upper(), digits=digits, digest=digest, interval=PERIOD)


def time_step(now: datetime) -> int:
    """The RFC 6238 counter for ``now``: floor(unix time / 30). A naive datetime is taken as UTC."""
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return math.floor(moment.timestamp() / PERIOD)


def code_at(secret: str, step: int, *, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    """The code for time step ``step`` (RAM uses the defaults; other values serve the RFC vectors)."""
    if step < 0:
        raise errors.InvalidParameter("TimeStep", "TOTP time steps start at the Unix epoch.")
    return str(_totp(secret, digits=digits, algorithm=algorithm).generate_otp(step))


def _code(totp: pyotp.TOTP, step: int) -> bytes:
    # Steps before the epoch only arise around t=0 (tests); they match nothing.
    return totp.generate_otp(step).encode() if step >= 0 else b""


def _well_formed(code: object) -> bool:
    return isinstance(code, str) and len(code) == DIGITS and code.isascii() and code.isdigit()


def verify_code(
    secret: str, code: str, *, now: datetime, last_used_step: int | None, window: int = 1
) -> int | None:
    """Check a 6-digit code against steps ``T-window … T+window``; return the matched step or None.

    Steps at or before ``last_used_step`` are refused (one-time use). Every candidate is computed and
    compared in constant time, so the timing does not reveal which step (if any) matched.
    """
    totp = _totp(secret)
    given = code if _well_formed(code) else "\0" * DIGITS  # still do the work for malformed input
    current = time_step(now)
    matched: int | None = None
    for step in range(current - window, current + window + 1):
        equal = hmac.compare_digest(_code(totp, step), given.encode())
        fresh = last_used_step is None or step > last_used_step
        if equal and fresh and matched is None:
            matched = step
    return matched if _well_formed(code) else None


def verify_consecutive(
    secret: str,
    code1: str,
    code2: str,
    *,
    now: datetime,
    window: int = 1,
    last_used_step: int | None = None,
) -> int | None:
    """Binding check: ``code1`` at step s and ``code2`` at s+1, with s+1 within ±``window`` steps of now.

    Returns the step of ``code2`` (s+1) — the value to store as the device's last used step, so that
    neither binding code can be used again to log on — or None.
    """
    totp = _totp(secret)
    ok_format = _well_formed(code1) and _well_formed(code2)
    first = (code1 if ok_format else "\0" * DIGITS).encode()
    second = (code2 if ok_format else "\0" * DIGITS).encode()
    current = time_step(now)
    matched: int | None = None
    for step in range(current - window - 1, current + window):
        equal = hmac.compare_digest(_code(totp, step), first) & hmac.compare_digest(
            _code(totp, step + 1), second
        )
        fresh = last_used_step is None or step > last_used_step
        if equal and fresh and matched is None:
            matched = step + 1
    return matched if ok_format else None


def provisioning_uri(secret: str, *, user_name: str, account: str, issuer: str = "ram-middleware") -> str:
    """The ``otpauth://totp/<issuer>:<user>@<account>?secret=…&issuer=…`` URI authenticator apps scan."""
    return str(_totp(secret).provisioning_uri(name=f"{user_name}@{account}", issuer_name=issuer))


def qr_terminal(uri: str) -> str:
    """The QR code of ``uri`` drawn with block characters for a terminal."""
    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an inline SVG document (for the console)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4))


def qr_png(uri: str) -> bytes:
    """The QR code of ``uri`` as PNG bytes (``QRCodePNG`` is their Base64)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="png", scale=4)
    return out.getvalue()
