"""SecretBox: AES-GCM with context binding, key rotation, key sources and the key file."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from ram_middleware.cli import main
from ram_middleware.crypto import (
    KEY_ENV,
    MasterKeyError,
    SecretBox,
    derive_key,
    generate_key,
    key_id,
    load_or_create_key_file,
    resolve_secret_box,
)
from ram_middleware.service import RamService
from ram_middleware.store import open_store

SECRET = "TESTsecret0123456789abcdefABCDEF"


def test_round_trip_and_ciphertext_hides_the_secret() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRET, context="ak:LTAI1")
    assert SECRET not in token
    assert box.decrypt(token, context="ak:LTAI1") == SECRET
    # Fresh nonce per encryption: the same secret never gives the same ciphertext.
    assert box.encrypt(SECRET, context="ak:LTAI1") != token


def test_a_ciphertext_only_decrypts_in_its_own_context() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRET, context="ak:LTAI1")
    with pytest.raises(MasterKeyError):
        box.decrypt(token, context="ak:LTAI2")


@pytest.mark.parametrize("position", [0, 5, 14, 20, -1])
def test_tampering_is_detected(position: int) -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRET, context="c")
    index = position % len(token)
    flipped = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
    with pytest.raises(MasterKeyError):
        box.decrypt(flipped, context="c")


def test_rotation_newest_encrypts_all_decrypt() -> None:
    old, new = generate_key(), generate_key()
    before = SecretBox([old])
    token = before.encrypt(SECRET, context="c")
    after = SecretBox([new, old])
    assert after.decrypt(token, context="c") == SECRET
    assert after.needs_rotation(token)
    rotated = after.reencrypt(token, context="c")
    assert not after.needs_rotation(rotated)
    assert after.reencrypt(rotated, context="c") == rotated
    assert SecretBox([new]).decrypt(rotated, context="c") == SECRET
    with pytest.raises(MasterKeyError):
        before.decrypt(rotated, context="c")


@pytest.mark.parametrize("bad", ["", "short", "x" * 80, "!!!!" * 11])
def test_bad_keys_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(MasterKeyError) as caught:
        SecretBox([bad] if bad else [])
    if bad:
        assert bad not in str(caught.value)


def test_repr_shows_no_key_material() -> None:
    key = generate_key()
    box = SecretBox([key])
    assert key not in repr(box)
    assert box.current_key_id in repr(box)


def test_raw_32_byte_keys_are_accepted() -> None:
    raw = os.urandom(32)
    box = SecretBox([raw])
    assert box.decrypt(box.encrypt("x", context="c"), context="c") == "x"


def test_seal_binds_its_associated_data_and_names_the_key() -> None:
    old, new = os.urandom(32), os.urandom(32)
    box = SecretBox([new, old])
    sealed = box.seal(b"claims", b"header")
    assert b"claims" not in sealed and box.seal(b"claims", b"header") != sealed  # fresh nonce each time
    assert box.current_key_id == key_id(new)
    assert box.unseal(key_id(new), sealed, b"header") == b"claims"
    assert box.unseal(key_id(old), SecretBox([old]).seal(b"x", b""), b"") == b"x"  # every key opens
    for kid, blob, associated in (
        (key_id(new), sealed, b"headeR"),  # other associated data
        (key_id(old), sealed, b"header"),  # another key
        ("00000000", sealed, b"header"),  # no such key
        (key_id(new), sealed[:-1], b"header"),
        (key_id(new), sealed[:27], b"header"),  # shorter than nonce and tag
    ):
        with pytest.raises(MasterKeyError):
            box.unseal(kid, blob, associated)


def test_derived_keys_are_per_purpose() -> None:
    secret = b"a configured token key of 32+ bytes"
    first = derive_key(secret, b"purpose/one")
    assert len(first) == 32 and first == derive_key(secret, b"purpose/one")
    assert first not in (derive_key(secret, b"purpose/two"), derive_key(secret + b"!", b"purpose/one"))


@pytest.mark.parametrize(
    "token", ["", "rmb1.abc", "rmb2.0000.AAAA", "rmb1.deadbeef.!!!", "rmb1.deadbeef.AAAA"]
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(MasterKeyError):
        SecretBox([generate_key()]).decrypt(token, context="c")


def test_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "ram.db.key"
    first = load_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key_file(path) == first
    assert len(first) == 1


def test_concurrent_key_file_creation_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "ram.db.key"
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(load_or_create_key_file(path))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert [p.name for p in tmp_path.iterdir()] == ["ram.db.key"]  # no temporary files left


def test_production_mode_warns_about_the_key_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ram_middleware.crypto"):
        keys = load_or_create_key_file(tmp_path / "k", production=True)
    assert KEY_ENV in caplog.text
    assert keys[0] not in caplog.text


def test_a_readable_key_file_is_flagged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "k"
    load_or_create_key_file(path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="ram_middleware.crypto"):
        load_or_create_key_file(path)
    assert "chmod 600" in caplog.text


def test_key_sources_in_order_explicit_env_file(tmp_path: Path) -> None:
    explicit, from_env = generate_key(), generate_key()
    file_box = resolve_secret_box(None, key_file=tmp_path / "k", env={})
    env_box = resolve_secret_box(None, key_file=tmp_path / "k", env={KEY_ENV: f" {from_env} , {explicit}"})
    explicit_box = resolve_secret_box([explicit], key_file=tmp_path / "k", env={KEY_ENV: from_env})
    token = SecretBox([from_env]).encrypt("s", context="c")
    assert env_box.decrypt(token, context="c") == "s"
    assert env_box.current_key_id == SecretBox([from_env]).current_key_id  # the first listed key encrypts
    assert explicit_box.current_key_id == SecretBox([explicit]).current_key_id
    assert file_box.current_key_id == SecretBox(load_or_create_key_file(tmp_path / "k")).current_key_id
    ephemeral = resolve_secret_box(None, env={})
    assert ephemeral.current_key_id != file_box.current_key_id


@pytest.mark.parametrize("secret_kind", ["access key", "MFA seed"])
def test_a_lost_key_file_is_never_replaced_while_the_database_holds_secrets(
    tmp_path: Path, secret_kind: str
) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    key_file = tmp_path / "ram.db.key"
    service = RamService(open_store(url, env={}))
    account = service.create_account().account_id
    service.create_user(account, "app")
    if secret_kind == "access key":
        key_id = service.create_access_key(account, "app").key.access_key_id
    else:
        service.create_virtual_mfa_device(account, "app-phone")
    service.store.close()
    key = key_file.read_text().strip()
    key_file.unlink()  # lost with a restored backup, a copied database, a tidy-up

    with pytest.raises(MasterKeyError) as refused:
        open_store(url, env={})
    assert str(key_file) in refused.value.message and KEY_ENV in refused.value.message
    assert not key_file.exists()  # no new key whose secrets would need a key of their own
    result = CliRunner().invoke(main, ["--store", url, "users", "list"], env={KEY_ENV: None})
    assert result.exit_code == 1 and "ServiceUnavailable.MasterKey" in result.stderr, result.output

    store = open_store(url, env={KEY_ENV: key})  # the key it held, from the environment instead
    try:
        if secret_kind == "access key":
            assert RamService(store).directory.signing_key(key_id) is not None
    finally:
        store.close()
    key_file.write_text(key + "\n")  # or the file restored
    open_store(url, env={}).close()


def test_a_key_file_is_still_made_for_a_database_without_secrets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    service = RamService(open_store(url, env={}))
    service.create_user(service.create_account().account_id, "staff")
    service.store.close()
    (tmp_path / "ram.db.key").unlink()
    open_store(url, env={}).close()
    assert stat.S_IMODE((tmp_path / "ram.db.key").stat().st_mode) == 0o600


def test_the_database_file_is_created_owner_only_like_its_key_file(tmp_path: Path) -> None:
    """It holds the password hashes and the ciphertexts: no other local user may copy them away."""
    old_umask = os.umask(0o022)  # a usual umask, which would leave a new file readable by all
    try:
        service = RamService(open_store(f"sqlite:///{tmp_path}/ram.db", env={}))
        account = service.create_account().account_id
        service.create_user(account, "carol")
        service.create_login_profile(account, "carol", "Str0ng!Passw0rd")
        files = sorted(tmp_path.glob("ram.db*"))
        assert {path.name for path in files} >= {"ram.db", "ram.db-wal", "ram.db.key"}
        assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {
            path.name: 0o600 for path in files
        }
        service.store.close()
    finally:
        os.umask(old_umask)


def test_a_new_key_file_s_directory_entry_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Secrets encrypted under the key reach the disk right after; a power loss must not keep them while
    # losing the directory entry of the only file that opens them.
    synced: list[int] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    load_or_create_key_file(tmp_path / "ram.db.key")
    assert tmp_path.stat().st_ino in synced
