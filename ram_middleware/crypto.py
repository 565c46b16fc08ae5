"""Secrets at rest: AES-256-GCM under a rotating list of master keys.

AccessKey secrets must be recoverable (the server recomputes HMACs with them) and TOTP seeds must be
readable to check codes, so both are stored encrypted, never in clear. A :class:`SecretBox` holds a list
of 256-bit master keys: the first (newest) encrypts, every listed key decrypts, so a key is rotated by
putting a new one in front and re-encrypting (:meth:`SecretBox.reencrypt`) at leisure.

Token format: ``rmb1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``. The key id (8 hex digits derived
from the key) picks the decrypting key without trial decryption. Every encryption binds a *context*
string (e.g. ``ak:<AccessKeyId>``) as associated data, so a ciphertext copied onto another row does not
decrypt there. :meth:`SecretBox.seal` / :meth:`SecretBox.unseal` are the same AEAD on bytes, for formats
of their own (the STS SecurityToken); :func:`derive_key` gives such a format a key for its purpose alone.

Where the keys come from (:func:`resolve_secret_box`): explicit configuration, else the
``RAM_MASTER_KEY`` environment variable (comma-separated, newest first), else — for the embedded
SQLite default only — a key file beside the database created with owner-only permissions (0600). The
key file is convenient but keeps key and ciphertext on one disk; production mode logs a warning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import errors

__all__ = [
    "KEY_ENV",
    "MasterKeyError",
    "SecretBox",
    "derive_key",
    "generate_key",
    "key_id",
    "keys_from_env",
    "load_or_create_key_file",
    "resolve_secret_box",
]

KEY_ENV = "RAM_MASTER_KEY"
_PREFIX = "rmb1"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_BYTES = 32

log = logging.getLogger(__name__)


class MasterKeyError(errors.ServiceUnavailable):
    """The master key configuration is unusable, or a stored secret cannot be decrypted with it."""

    default_code = "ServiceUnavailable.MasterKey"
    default_message = "The secret store's master key is missing or does not match the stored secrets."


def generate_key() -> str:
    """A new random master key as URL-safe base64 text (32 bytes of CSPRNG output)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii").rstrip("=")


def _decode_key(key: bytes | str) -> bytes:
    if isinstance(key, bytes) and len(key) == _KEY_BYTES:
        return key
    text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        # Never echo the offending value: it may be a real key with a typo.
        raise MasterKeyError(f"A {_KEY_FORMAT}.")
    return raw


_KEY_FORMAT = "master key must be 32 bytes, given as URL-safe base64 text"


def _checked(keys: list[str], where: str) -> list[str]:
    """``keys`` as read from ``where`` (a file, a variable), each one checked: a malformed one is named by
    its place in the list (never by its value), so the operator knows which line or item to fix."""
    for number, key in enumerate(keys, 1):
        try:
            _decode_key(key)
        except MasterKeyError:
            raise MasterKeyError(f"{where}, key {number} of {len(keys)}: a {_KEY_FORMAT}.") from None
    return keys


def derive_key(key: bytes, purpose: bytes) -> bytes:
    """A 256-bit key for ``purpose`` alone from a configured secret (HKDF-SHA256, ``purpose`` as info), so
    one configured key never serves two purposes."""
    return HKDF(algorithm=SHA256(), length=_KEY_BYTES, salt=None, info=purpose).derive(key)


def key_id(key: bytes) -> str:
    """The 8-hex-digit id a :class:`SecretBox` names ``key`` by (safe to show; reveals nothing of it)."""
    return hashlib.sha256(b"ram-middleware master key id\0" + key).hexdigest()[:8]


class SecretBox:
    """Encrypts and decrypts short secrets; the first key encrypts, all keys decrypt."""

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not keys:
            raise MasterKeyError("At least one master key is required.")
        decoded = [_decode_key(k) for k in keys]
        self._current = key_id(decoded[0])
        self._ciphers = {key_id(k): AESGCM(k) for k in reversed(decoded)}

    def __repr__(self) -> str:
        return f"SecretBox(keys={len(self._ciphers)}, current={self._current!r})"

    @property
    def current_key_id(self) -> str:
        """Id of the key that encrypts (safe to log; reveals nothing about the key)."""
        return self._current

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        """``nonce ‖ ciphertext ‖ tag`` of ``plaintext`` under the current key, with a fresh random nonce;
        ``associated`` is authenticated, not stored."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._ciphers[self._current].encrypt(nonce, plaintext, associated)

    def unseal(self, kid: str, sealed: bytes, associated: bytes) -> bytes:
        """What :meth:`seal` sealed under the key with id ``kid``, given the same ``associated`` data."""
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise MasterKeyError(f"No configured master key has id {kid!r}.")
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            raise MasterKeyError("A stored secret is truncated.")
        try:
            return cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated)
        except InvalidTag:
            raise MasterKeyError("A stored secret failed authentication (wrong key or tampered).") from None

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt ``plaintext`` bound to ``context``; returns printable token text."""
        sealed = self.seal(plaintext.encode("utf-8"), context.encode())
        body = base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")
        return f"{_PREFIX}.{self._current}.{body}"

    def decrypt(self, token: str, *, context: str) -> str:
        """Decrypt a token made by :meth:`encrypt` with the same ``context``."""
        return self.unseal(*self._split(token), context.encode()).decode("utf-8")

    def check_key_ids(self, stored: Iterable[str]) -> None:
        """:class:`MasterKeyError` unless every id in ``stored`` (the key ids of a store's ciphertexts) names
        a configured key: a wrong key is refused when the store opens, not at each request that needs it."""
        unknown = sorted(set(stored) - self._ciphers.keys())
        if unknown:
            raise MasterKeyError(
                f"Stored secrets are encrypted with master key id(s) {', '.join(unknown)}, which no "
                f"configured key has: set {KEY_ENV} (or the key file) to the keys they were encrypted with."
            )

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` was not encrypted with the current key."""
        return self._split(token)[0] != self._current

    def reencrypt(self, token: str, *, context: str) -> str:
        """The same secret encrypted under the current key (unchanged if it already is)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    @staticmethod
    def _split(token: str) -> tuple[str, bytes]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise MasterKeyError("A stored secret is not in a recognised format.")
        try:
            blob = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except (binascii.Error, ValueError):
            raise MasterKeyError("A stored secret is not valid base64.") from None
        if len(blob) <= _NONCE_BYTES:
            raise MasterKeyError("A stored secret is truncated.")
        return parts[1], blob


def keys_from_env(env: Mapping[str, str]) -> list[str]:
    """The keys in ``RAM_MASTER_KEY`` (comma-separated, newest first); empty when unset."""
    return [k.strip() for k in env.get(KEY_ENV, "").split(",") if k.strip()]


def load_or_create_key_file(path: Path, *, production: bool = False) -> list[str]:
    """Read the key file at ``path`` (one key per line, newest first), creating it (0600) when missing.

    Creation is atomic across processes: the key is written to a private temporary file which is then
    hard-linked into place, so two processes starting together end up with the same key.
    """
    if production:
        log.warning(
            "Using the master key file %s next to the database; set %s in production so the key "
            "and the encrypted secrets do not share a disk.",
            path,
            KEY_ENV,
        )
    if not path.exists():
        _create_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("Master key file %s is readable by other users (mode %o); chmod 600 it.", path, mode)
    try:
        text = path.read_text("ascii")
    except UnicodeDecodeError:  # e.g. an editor's byte-order mark; the bytes are not echoed
        raise MasterKeyError(f"The master key file {path} must hold ASCII text only.") from None
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise MasterKeyError(f"The master key file {path} is empty.")
    return _checked(keys, f"The master key file {path}")


def _create_key_file(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(generate_key() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            log.info("Created master key file %s (mode 600).", path)
        except FileExistsError:
            pass  # another process won the race; its key is the one everybody uses
    finally:
        tmp.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the new key file's directory entry durable: secrets encrypted under the key reach the disk
    soon after, and a power loss must not keep them while losing the only file that opens them."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform without directory handles (Windows): its rename/link are durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the file itself was synced
    finally:
        os.close(fd)


def resolve_secret_box(
    keys: Sequence[bytes | str] | None = None,
    *,
    key_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    production: bool = False,
) -> SecretBox:
    """The SecretBox for a store: explicit ``keys``, else ``RAM_MASTER_KEY``, else ``key_file``.

    With none of the three (the ``memory://`` store) an ephemeral random key is used: the secrets
    live no longer than the process anyway.
    """
    if keys:
        return SecretBox(keys)
    from_env = keys_from_env(os.environ if env is None else env)
    if from_env:
        return SecretBox(_checked(from_env, KEY_ENV))
    if key_file is not None:
        return SecretBox(load_or_create_key_file(key_file, production=production))
    return SecretBox([generate_key()])
