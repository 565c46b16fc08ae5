"""AccessKeys: the secret is generated here, returned once, and stored only encrypted.

``user_name=None`` means the account root in :meth:`KeyOps.create_access_key` and
:meth:`KeyOps.list_access_keys`. In the operations that name a key by its id, ``user_name=None`` means
"whoever owns it in this account" (the API passes the caller's name when the request omits UserName);
a given ``user_name`` must own the key, else ``EntityNotExist.AccessKey``.
"""

from __future__ import annotations

from datetime import datetime

from .. import errors
from ..identity import AccessKey, KeyStatus
from ..store.base import Repository
from ..store.records import KeyRecord, key_secret_context, mfa_seed_context
from . import ids
from .base import ServiceBase
from .results import NewAccessKey
from .rules import nameable

__all__ = ["KeyOps"]


def _check_status(status: str) -> KeyStatus:
    if status == "Active":
        return "Active"
    if status == "Inactive":
        return "Inactive"
    raise errors.InvalidParameter("Status", "Status must be Active or Inactive.")


class KeyOps(ServiceBase):
    """CreateAccessKey, UpdateAccessKey, DeleteAccessKey, ListAccessKeys, GetAccessKeyLastUsed."""

    def _key(self, repo: Repository, account_id: str, access_key_id: str, user_name: str | None) -> KeyRecord:
        record = repo.get_access_key(access_key_id) if nameable(access_key_id) else None
        owner_ok = record is not None and (
            user_name is None or (record.key.user_name or "").lower() == user_name.lower()
        )
        if record is None or record.key.account_id != account_id or not owner_ok:
            raise errors.EntityNotExist(
                "AccessKey", f"The access key does not exist: {str(access_key_id)[:32]}"
            )
        return record

    def create_access_key(self, account_id: str, user_name: str | None) -> NewAccessKey:
        """A new Active key for the user (None: the account root); at most ``access_keys_per_user``."""
        with self.store.write() as repo:
            owner = self._user_or_root(repo, account_id, user_name)
            owner_id = None if owner is None else owner.user_id
            if len(repo.list_access_keys(account_id, owner_id)) >= self.limits.access_keys_per_user:
                raise errors.LimitExceeded(
                    "User.AccessKey", "The user already has the maximum number of keys."
                )
            key_id, secret = ids.access_key_id(), ids.access_key_secret()
            key = AccessKey(
                account_id, key_id, None if owner is None else owner.user_name, "Active", self._now()
            )
            ciphertext = self.store.box.encrypt(secret, context=key_secret_context(key_id))
            repo.insert_access_key(KeyRecord(key, owner_id, ciphertext))
        return NewAccessKey(key, secret)

    def update_access_key(
        self, account_id: str, access_key_id: str, status: str, *, user_name: str | None = None
    ) -> AccessKey:
        """Set a key Active or Inactive (``InvalidParameter.Status`` otherwise)."""
        new_status = _check_status(status)
        with self.store.write() as repo:
            record = self._key(repo, account_id, access_key_id, user_name)
            repo.set_access_key_status(access_key_id, new_status)
        return AccessKey(
            account_id, access_key_id, record.key.user_name, new_status, record.key.create_date,
            record.key.last_used_date,
        )  # fmt: skip

    def delete_access_key(self, account_id: str, access_key_id: str, *, user_name: str | None = None) -> None:
        """Delete a key; it stops authenticating at once."""
        with self.store.write() as repo:
            self._key(repo, account_id, access_key_id, user_name)
            repo.delete_access_key(access_key_id)

    def list_access_keys(self, account_id: str, user_name: str | None) -> list[AccessKey]:
        """The keys of a user (None: of the account root), oldest first; secrets are never listed."""
        with self.store.read() as repo:
            owner = self._user_or_root(repo, account_id, user_name)
            return [
                r.key for r in repo.list_access_keys(account_id, None if owner is None else owner.user_id)
            ]

    def get_access_key_last_used(
        self, account_id: str, access_key_id: str, *, user_name: str | None = None
    ) -> datetime | None:
        """When the key last signed a request (None: never). Flushes the directory's batch first."""
        self.directory.flush()
        with self.store.read() as repo:
            return self._key(repo, account_id, access_key_id, user_name).key.last_used_date

    def rotate_master_key(self) -> int:
        """Re-encrypt every AccessKey secret and TOTP seed under the SecretBox's current key.

        Returns how many ciphertexts changed. Run it after putting a new key first in the key list;
        the old key can be removed once this has run.
        """
        box = self.store.box
        changed = 0
        with self.store.write(announce=False) as repo:
            # (id, ciphertext, encryption context, how to store the new ciphertext) of every secret.
            secrets = [
                *((r.key.access_key_id, r.secret_ciphertext, key_secret_context(r.key.access_key_id),
                   repo.set_access_key_secret) for r in repo.all_access_keys()),
                *((d.device.serial_number, d.seed_ciphertext, mfa_seed_context(d.device.serial_number),
                   repo.set_mfa_seed) for d in repo.list_mfa_devices()),
            ]  # fmt: skip
            for secret_id, ciphertext, context, store in secrets:
                if box.needs_rotation(ciphertext):
                    store(secret_id, box.reencrypt(ciphertext, context=context))
                    changed += 1
        return changed
