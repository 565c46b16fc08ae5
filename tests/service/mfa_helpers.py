"""Bind a virtual MFA device the way a person with an authenticator app would."""

from __future__ import annotations

from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.service import RamService

from ..store.backends import FakeClock


def consecutive_codes(seed: str, clock: FakeClock) -> tuple[str, str]:
    """The codes an app shows now and 30 seconds later (the second is the current step)."""
    step = time_step(clock.now)
    return code_at(seed, step - 1), code_at(seed, step)


def bind_new_device(
    svc: RamService, acct: str, user_name: str | None, clock: FakeClock, name: str = ""
) -> str:
    """Create a device and bind it to ``user_name`` (None: the root); returns its serial number."""
    created = svc.create_virtual_mfa_device(acct, name or f"dev-{user_name or 'root'}")
    code1, code2 = consecutive_codes(created.base32_seed, clock)
    serial = created.device.serial_number
    if user_name is None:
        svc.bind_root_mfa_device(acct, serial, code1, code2)
    else:
        svc.bind_mfa_device(acct, serial, user_name, code1, code2)
    return serial
