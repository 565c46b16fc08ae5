"""Binding a virtual MFA device from the browser: QR code, manual key, two consecutive codes.

Used by the first logon of a user who must bind MFA (``MFABindRequired`` or the security preference) and
by the self-service MFA page. Each user has one console device name (``console-<user>-<hash>``, or
``console-root``), so an abandoned setup is replaced by the next one instead of piling up devices.

The seed is shown once as a QR code and as text; to redraw the page after a mistyped code, the form carries
the seed sealed with the store's :class:`~ram_middleware.crypto.SecretBox` (AES-GCM, bound to the device's
serial number), never in clear.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..credentials.mfa import provisioning_uri, qr_svg
from ..identity import ram_arn
from ..service import RamService
from ..store.records import MFADevice

__all__ = ["Enrolment", "Enrolments", "device_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


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
    sealed_seed: str = field(repr=False)

    def context(self) -> dict[str, Any]:
        """Template variables: the QR code as inline SVG, the key in groups of four, the sealed seed."""
        groups = " ".join(self.seed[i : i + 4] for i in range(0, len(self.seed), 4))
        return {"qr_svg": qr_svg(self.uri), "seed_groups": groups, "binding": self.sealed_seed}


class Enrolments:
    """Creates console MFA devices and binds them with two consecutive codes."""

    def __init__(self, service: RamService) -> None:
        self._service = service

    def start(self, account_id: str, user_name: str | None) -> Enrolment:
        """A fresh device for the user (replacing an earlier unbound console device of theirs)."""
        name = device_name(user_name)
        serial = ram_arn(account_id, f"mfa/{name}")
        with contextlib.suppress(errors.EntityNotExist):
            self._service.delete_virtual_mfa_device(account_id, serial)
        created = self._service.create_virtual_mfa_device(account_id, name)
        return self._enrolment(account_id, user_name, serial, created.base32_seed)

    def resume(self, account_id: str, user_name: str | None, sealed_seed: str) -> Enrolment | None:
        """The enrolment a form carries, or None when it is forged, stale, or its device is gone."""
        serial = ram_arn(account_id, f"mfa/{device_name(user_name)}")
        try:
            seed = self._service.store.box.decrypt(sealed_seed, context=_seal_context(serial))
        except (errors.RAMError, ValueError):
            return None
        unbound = [
            device
            for device in self._service.list_virtual_mfa_devices(account_id)
            if device.serial_number == serial and not device.is_bound
        ]
        return self._enrolment(account_id, user_name, serial, seed) if unbound else None

    def bind(
        self, account_id: str, user_name: str | None, enrolment: Enrolment, code1: str, code2: str
    ) -> MFADevice:
        """Bind the device; ``InvalidAuthenticationCode`` unless the codes are two consecutive ones."""
        code1, code2 = code1.strip()[:16], code2.strip()[:16]
        if user_name is None:
            return self._service.bind_root_mfa_device(account_id, enrolment.serial_number, code1, code2)
        return self._service.bind_mfa_device(account_id, enrolment.serial_number, user_name, code1, code2)

    def _enrolment(self, account_id: str, user_name: str | None, serial: str, seed: str) -> Enrolment:
        account = self._service.get_account(account_id)
        uri = provisioning_uri(
            seed,
            user_name=user_name or "root",
            account=account.alias or account_id,
            issuer=self._service.mfa_issuer,
        )
        sealed = self._service.store.box.encrypt(seed, context=_seal_context(serial))
        return Enrolment(serial, seed, uri, sealed)


def _seal_context(serial: str) -> str:
    return f"ram-console:mfa-enrolment:{serial}"
