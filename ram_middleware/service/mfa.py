"""Virtual MFA devices: create (seed shown once), bind with two consecutive codes, unbind, verify.

Seeds are stored only as SecretBox ciphertext. Code checks run inside a write transaction
(``BEGIN IMMEDIATE``) that also stores the accepted time step, so a code is accepted once even when two
processes check it at the same moment. The root identity binds a device like a user does.
"""

from __future__ import annotations

from .. import errors
from ..credentials.mfa import new_secret, provisioning_uri, verify_code, verify_consecutive
from ..identity import ram_arn
from ..store.base import Repository
from ..store.records import ROOT, MFADevice, MFARecord, mfa_seed_context
from .base import ServiceBase
from .results import NewMFADevice
from .rules import check_name, nameable

__all__ = ["MFAOps"]


class MFAOps(ServiceBase):
    """CreateVirtualMFADevice … GetUserMFAInfo, and code verification for the logon flow."""

    def _mfa_subject(
        self, repo: Repository, account_id: str, user_name: str | None
    ) -> tuple[str, str | None]:
        user = self._user_or_root(repo, account_id, user_name)
        return (ROOT, None) if user is None else (user.user_id, user.user_id)

    def _device(self, repo: Repository, account_id: str, serial_number: str) -> MFARecord:
        record = repo.get_mfa_device(account_id, serial_number) if nameable(serial_number) else None
        if record is None:
            raise errors.EntityNotExist(
                "VirtualMFADevice", f"The MFA device does not exist: {str(serial_number)[:160]}"
            )
        return record

    def _bound(self, repo: Repository, account_id: str, user_name: str | None) -> MFARecord:
        subject, _ = self._mfa_subject(repo, account_id, user_name)
        record = repo.mfa_device_for(account_id, subject)
        if record is None:
            raise errors.EntityNotExist("User.MFADevice", f"No MFA device is bound to {user_name or 'root'}.")
        return record

    def create_virtual_mfa_device(self, account_id: str, device_name: str) -> NewMFADevice:
        """A new unbound device; its Base32 seed (and QR code) is returned only here."""
        check_name("VirtualMFADeviceName", device_name)
        seed = new_secret()
        with self.store.write() as repo:
            account = self._account(repo, account_id)
            if repo.find_mfa_device_by_name(account_id, device_name) is not None:
                raise errors.EntityAlreadyExists(
                    "VirtualMFADevice", f"The MFA device already exists: {device_name}"
                )
            serial = ram_arn(account_id, f"mfa/{device_name}")
            device = MFADevice(account_id, serial, device_name, create_date=self._now())
            ciphertext = self.store.box.encrypt(seed, context=mfa_seed_context(serial))
            repo.insert_mfa_device(MFARecord(device, ciphertext))
        uri = provisioning_uri(
            seed, user_name=device_name, account=account.alias or account_id, issuer=self.mfa_issuer
        )
        return NewMFADevice(device, seed, uri)

    def list_virtual_mfa_devices(self, account_id: str) -> list[MFADevice]:
        """Every device of the account, bound or not, in name order."""
        with self.store.read() as repo:
            self._account(repo, account_id)
            return [r.device for r in repo.list_mfa_devices(account_id)]

    def delete_virtual_mfa_device(self, account_id: str, serial_number: str) -> None:
        """Delete an unbound device; a bound one raises ``DeleteConflict.VirtualMFADevice.User``."""
        with self.store.write() as repo:
            record = self._device(repo, account_id, serial_number)
            if record.device.is_bound:
                raise errors.DeleteConflict(
                    "VirtualMFADevice.User", "The MFA device is bound; unbind it first."
                )
            repo.delete_mfa_device(record.device.serial_number)

    def bind_mfa_device(
        self,
        account_id: str,
        serial_number: str,
        user_name: str,
        authentication_code1: str,
        authentication_code2: str,
    ) -> MFADevice:
        """Bind an unbound device to a user who has none, proven by two consecutive codes."""
        return self._bind(account_id, serial_number, user_name, authentication_code1, authentication_code2)

    def bind_root_mfa_device(self, account_id: str, serial_number: str, code1: str, code2: str) -> MFADevice:
        """Bind a device to the account root (its console logon then asks for a code)."""
        return self._bind(account_id, serial_number, None, code1, code2)

    def _bind(
        self, account_id: str, serial_number: str, user_name: str | None, code1: str, code2: str
    ) -> MFADevice:
        with self.store.write() as repo:
            subject, user_id = self._mfa_subject(repo, account_id, user_name)
            record = self._device(repo, account_id, serial_number)
            if repo.mfa_device_for(account_id, subject) is not None:
                raise errors.EntityAlreadyExists(
                    "User.MFADevice", f"{user_name or 'root'} already has an MFA device."
                )
            if record.device.is_bound:
                raise errors.EntityAlreadyExists("User.MFADevice", "The MFA device is bound to someone else.")
            # The stored spelling, not the caller's: the lookup ignores case, the seed's context does not.
            serial = record.device.serial_number
            seed = self.store.box.decrypt(record.seed_ciphertext, context=mfa_seed_context(serial))
            now = self._now()
            # Codes the device gave before an unbinding stay spent (an onlooker may have seen them).
            step = verify_consecutive(seed, code1, code2, now=now, last_used_step=record.last_used_step)
            if step is None:
                raise errors.InvalidAuthenticationCode()
            repo.bind_mfa_device(serial, subject, user_id, now, step)
            bound = repo.get_mfa_device(account_id, serial)
        if bound is None:
            raise errors.EntityNotExist("VirtualMFADevice", "The MFA device vanished while binding.")
        return bound.device

    def unbind_mfa_device(self, account_id: str, user_name: str) -> MFADevice:
        """Unbind the user's device (it stays, unbound); returns it (``MFADevice{SerialNumber}``)."""
        return self._unbind(account_id, user_name)

    def unbind_root_mfa_device(self, account_id: str) -> MFADevice:
        """Unbind the root's device; returns it."""
        return self._unbind(account_id, None)

    def _unbind(self, account_id: str, user_name: str | None) -> MFADevice:
        with self.store.write() as repo:
            record = self._bound(repo, account_id, user_name)
            repo.unbind_mfa_device(record.device.serial_number)
        return record.device

    def get_user_mfa_info(self, account_id: str, user_name: str) -> MFADevice:
        """The device bound to the user; ``EntityNotExist.User.MFADevice`` when none."""
        with self.store.read() as repo:
            return self._bound(repo, account_id, user_name).device

    def get_root_mfa_info(self, account_id: str) -> MFADevice | None:
        """The device bound to the account root, or None (``ram`` warns when root lacks MFA)."""
        with self.store.read() as repo:
            record = repo.mfa_device_for(self._account(repo, account_id).account_id, ROOT)
        return None if record is None else record.device

    def verify_mfa_code(self, account_id: str, user_name: str | None, code: str) -> MFADevice:
        """Accept ``code`` once for the user's (None: the root's) device, else ``InvalidAuthenticationCode``;
        returns the device that accepted it.

        Steps T-1…T+1 are accepted; a step at or before the last accepted one is refused (no replay).
        Bookkeeping write: the accepted step is stored without dropping any cached snapshot.
        """
        with self.store.write(announce=False, request_path=True) as repo:
            record = self._bound(repo, account_id, user_name)
            serial = record.device.serial_number
            seed = self.store.box.decrypt(record.seed_ciphertext, context=mfa_seed_context(serial))
            step = verify_code(seed, code, now=self._now(), last_used_step=record.last_used_step)
            if step is None:
                raise errors.InvalidAuthenticationCode()
            repo.set_mfa_last_step(serial, step)
        return record.device
