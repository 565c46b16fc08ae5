"""Binding a virtual MFA device from the browser: QR code, manual key, two consecutive codes.

Used by the first logon of a user who must bind MFA (``MFABindRequired`` or the security preference) and
by the self-service MFA page. Each user has one console device name (``console-<user>-<hash>``, or
``console-root``), so an abandoned setup is replaced by the next one instead of piling up devices. Anyone
allowed to create and bind devices may take that name for a device bound to someone else; the console then
uses the name with a random suffix (``console-root-1a2b3c``), replacing an earlier unbound one of those, so
that nobody can keep a user (or the root) from binding a device. The form names the suffix.

The seed is shown once as a QR code and as text; to redraw the page after a mistyped code, the form carries
the seed sealed with the store's :class:`~ram_middleware.crypto.SecretBox` (AES-GCM, bound to the device's
serial number), never in clear.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..credentials.mfa import provisioning_uri, qr_svg
from ..identity import ram_arn
from ..service import RamService
from ..store.records import MFADevice

__all__ = ["Enrolment", "Enrolments", "device_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
_SUFFIX = re.compile(r"[0-9a-f]{6}")  # a spare name's suffix: device_name() is at most 57 characters of 64
_SUFFIX_MARK = "~"  # between the suffix and the sealed seed in the form (in neither a name nor a token)


def device_name(user_name: str | None) -> str:
    """The console's device name for a user (a VirtualMFADeviceName: 1–64 of ``[A-Za-z0-9.-]``)."""
    if user_name is None:
        return "console-root"
    digest = hashlib.sha256(user_name.lower().encode()).hexdigest()[:8]
    return f"console-{_UNSAFE.sub('-', user_name)[:40]}-{digest}"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A created, not yet bound device and what the page shows to set it up."""

    serial_number: str
    seed: str = field(repr=False)
    uri: str = field(repr=False)
    binding: str = field(repr=False)  # the form's value: the sealed seed (after the name's suffix, if any)

    def context(self) -> dict[str, Any]:
        """Template variables: the QR code as inline SVG, the key in groups of four, the sealed seed."""
        groups = " ".join(self.seed[i : i + 4] for i in range(0, len(self.seed), 4))
        return {"qr_svg": qr_svg(self.uri), "seed_groups": groups, "binding": self.binding}


class Enrolments:
    """Creates console MFA devices and binds them with two consecutive codes."""

    def __init__(self, service: RamService) -> None:
        self._service = service

    def start(self, account_id: str, user_name: str | None) -> Enrolment:
        """A fresh device for the user (replacing an earlier unbound console device of theirs)."""
        suffix = ""
        try:
            self._service.delete_virtual_mfa_device(account_id, _serial(account_id, user_name, ""))
        except errors.EntityNotExist:
            pass
        except errors.DeleteConflict:  # the name is taken by a device bound to someone else
            suffix = self._spare_suffix(account_id, user_name)
        created = self._service.create_virtual_mfa_device(account_id, _name(user_name, suffix))
        return self._enrolment(account_id, user_name, suffix, created.base32_seed)

    def _spare_suffix(self, account_id: str, user_name: str | None) -> str:
        """A new suffix for the user's device name, once the user's earlier unbound spare devices are gone."""
        spare = re.compile(re.escape(device_name(user_name)) + "-" + _SUFFIX.pattern)
        for device in self._service.list_virtual_mfa_devices(account_id):
            if spare.fullmatch(device.device_name) and not device.is_bound:
                self._service.delete_virtual_mfa_device(account_id, device.serial_number)
        return secrets.token_hex(3)

    def resume(self, account_id: str, user_name: str | None, binding: str) -> Enrolment | None:
        """The enrolment a form carries, or None when it is forged, stale, or its device is gone."""
        suffix, _, sealed_seed = binding.rpartition(_SUFFIX_MARK)  # no mark: the console's own name
        if suffix and not _SUFFIX.fullmatch(suffix):
            return None
        serial = _serial(account_id, user_name, suffix)
        try:
            seed = self._service.store.box.decrypt(sealed_seed, context=_seal_context(serial))
        except (errors.RAMError, ValueError):
            return None
        unbound = [
            device
            for device in self._service.list_virtual_mfa_devices(account_id)
            if device.serial_number == serial and not device.is_bound
        ]
        return self._enrolment(account_id, user_name, suffix, seed) if unbound else None

    def bind(
        self, account_id: str, user_name: str | None, enrolment: Enrolment, code1: str, code2: str
    ) -> MFADevice:
        """Bind the device; ``InvalidAuthenticationCode`` unless the codes are two consecutive ones."""
        code1, code2 = code1.strip()[:16], code2.strip()[:16]
        if user_name is None:
            return self._service.bind_root_mfa_device(account_id, enrolment.serial_number, code1, code2)
        return self._service.bind_mfa_device(account_id, enrolment.serial_number, user_name, code1, code2)

    def _enrolment(self, account_id: str, user_name: str | None, suffix: str, seed: str) -> Enrolment:
        serial = _serial(account_id, user_name, suffix)
        account = self._service.get_account(account_id)
        uri = provisioning_uri(
            seed,
            user_name=user_name or "root",
            account=account.alias or account_id,
            issuer=self._service.mfa_issuer,
        )
        sealed = self._service.store.box.encrypt(seed, context=_seal_context(serial))
        return Enrolment(serial, seed, uri, f"{suffix}{_SUFFIX_MARK}{sealed}" if suffix else sealed)


def _name(user_name: str | None, suffix: str) -> str:
    """The user's console device name, with ``suffix`` when the plain one is taken."""
    return f"{device_name(user_name)}-{suffix}" if suffix else device_name(user_name)


def _serial(account_id: str, user_name: str | None, suffix: str) -> str:
    return ram_arn(account_id, f"mfa/{_name(user_name, suffix)}")


def _seal_context(serial: str) -> str:
    return f"ram-console:mfa-enrolment:{serial}"
