"""Virtual MFA devices: create, bind with consecutive codes, one-time codes, unbind, delete."""

from __future__ import annotations

import base64

from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.service import RamService

from ..store.backends import FakeClock, expect_code
from .mfa_helpers import bind_new_device, consecutive_codes


def test_create_returns_the_seed_once(svc: RamService, acct: str, clock: FakeClock) -> None:
    created = svc.create_virtual_mfa_device(acct, "alice-phone")
    assert created.device.serial_number == f"acs:ram::{acct}:mfa/alice-phone"
    assert len(base64.b32decode(created.base32_seed + "=" * (-len(created.base32_seed) % 8))) == 20
    assert created.provisioning_uri.startswith("otpauth://totp/") and "secret=" in created.provisioning_uri
    assert created.base32_seed not in repr(created)
    assert created.qr_code_png().startswith(b"\x89PNG")
    listed = svc.list_virtual_mfa_devices(acct)
    assert listed == [created.device] and not listed[0].is_bound
    with expect_code("EntityAlreadyExists.VirtualMFADevice"):
        svc.create_virtual_mfa_device(acct, "ALICE-PHONE")
    with expect_code("InvalidParameter.VirtualMFADeviceName.InvalidChars"):
        svc.create_virtual_mfa_device(acct, "alice_phone")


def test_bind_needs_two_consecutive_codes(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "alice")
    created = svc.create_virtual_mfa_device(acct, "dev")
    serial, seed = created.device.serial_number, created.base32_seed
    step = time_step(clock.now)
    for code1, code2 in ((code_at(seed, step), code_at(seed, step - 1)),  # wrong order
                         (code_at(seed, step - 2), code_at(seed, step)),  # not consecutive
                         ("12345", "123456"), ("000000", "000000")):  # fmt: skip
        with expect_code("InvalidAuthenticationCode"):
            svc.bind_mfa_device(acct, serial, "alice", code1, code2)
        assert not svc.list_virtual_mfa_devices(acct)[0].is_bound
    bound = svc.bind_mfa_device(acct, serial, "alice", *consecutive_codes(seed, clock))
    assert (bound.user_name, bound.activate_date, bound.is_bound) == ("alice", clock.now, True)
    assert svc.get_user_mfa_info(acct, "alice").serial_number == serial


def test_one_device_per_user_and_per_device_one_owner(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "alice")
    svc.create_user(acct, "bob")
    serial = bind_new_device(svc, acct, "alice", clock, "first")
    spare = svc.create_virtual_mfa_device(acct, "second")
    with expect_code("EntityAlreadyExists.User.MFADevice"):
        svc.bind_mfa_device(
            acct, spare.device.serial_number, "alice", *consecutive_codes(spare.base32_seed, clock)
        )
    with expect_code("EntityAlreadyExists.User.MFADevice"):
        svc.bind_mfa_device(acct, serial, "bob", "123456", "654321")
    with expect_code("EntityNotExist.VirtualMFADevice"):
        svc.bind_mfa_device(acct, f"acs:ram::{acct}:mfa/none", "bob", "123456", "654321")


def test_codes_are_accepted_once(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "alice")
    created = svc.create_virtual_mfa_device(acct, "dev")
    seed = created.base32_seed
    svc.bind_mfa_device(acct, created.device.serial_number, "alice", *consecutive_codes(seed, clock))
    with expect_code("InvalidAuthenticationCode"):  # the binding codes are used up
        svc.verify_mfa_code(acct, "alice", code_at(seed, time_step(clock.now)))
    clock.advance(30)
    code = code_at(seed, time_step(clock.now))
    svc.verify_mfa_code(acct, "alice", code)
    with expect_code("InvalidAuthenticationCode"):
        svc.verify_mfa_code(acct, "alice", code)  # replay
    clock.advance(30)
    with expect_code("InvalidAuthenticationCode"):
        svc.verify_mfa_code(acct, "alice", "99999x")
    svc.verify_mfa_code(acct, "alice", code_at(seed, time_step(clock.now) + 1))  # +30 s drift accepted
    svc.create_user(acct, "bob")
    with expect_code("EntityNotExist.User.MFADevice"):
        svc.verify_mfa_code(acct, "bob", code)


def test_unbind_and_delete(svc: RamService, acct: str, clock: FakeClock) -> None:
    svc.create_user(acct, "alice")
    serial = bind_new_device(svc, acct, "alice", clock)
    with expect_code("DeleteConflict.VirtualMFADevice.User"):
        svc.delete_virtual_mfa_device(acct, serial)
    assert svc.unbind_mfa_device(acct, "alice").serial_number == serial
    with expect_code("EntityNotExist.User.MFADevice"):
        svc.get_user_mfa_info(acct, "alice")
    with expect_code("EntityNotExist.User.MFADevice"):
        svc.unbind_mfa_device(acct, "alice")
    svc.delete_virtual_mfa_device(acct, serial)
    assert svc.list_virtual_mfa_devices(acct) == []
    with expect_code("EntityNotExist.VirtualMFADevice"):
        svc.delete_virtual_mfa_device(acct, serial)


def test_root_mfa(svc: RamService, acct: str, clock: FakeClock) -> None:
    assert svc.get_root_mfa_info(acct) is None
    created = svc.create_virtual_mfa_device(acct, "root-token")
    svc.bind_root_mfa_device(
        acct, created.device.serial_number, *consecutive_codes(created.base32_seed, clock)
    )
    info = svc.get_root_mfa_info(acct)
    assert info is not None and info.bound_to_root and info.user_name is None
    clock.advance(30)
    svc.verify_mfa_code(acct, None, code_at(created.base32_seed, time_step(clock.now)))
    assert svc.unbind_root_mfa_device(acct).serial_number == created.device.serial_number
    assert svc.get_root_mfa_info(acct) is None


def test_serial_numbers_match_case_insensitively(svc: RamService, acct: str, clock: FakeClock) -> None:
    # Device names are unique case-insensitively, so a serial number (an ARN) names its device in any case.
    svc.create_user(acct, "alice")
    created = svc.create_virtual_mfa_device(acct, "Dev1")
    stored = created.device.serial_number
    shouted = f"ACS:RAM::{acct}:MFA/DEV1"
    bound = svc.bind_mfa_device(acct, shouted, "alice", *consecutive_codes(created.base32_seed, clock))
    assert bound.serial_number == stored and svc.get_user_mfa_info(acct, "alice").serial_number == stored
    svc.unbind_mfa_device(acct, "alice")
    svc.delete_virtual_mfa_device(acct, f"acs:ram::{acct}:mfa/dev1")
    assert svc.list_virtual_mfa_devices(acct) == []
    svc.create_virtual_mfa_device(acct, "k")
    with expect_code("EntityNotExist.VirtualMFADevice"):  # KELVIN SIGN folds to "k" but names no device
        svc.delete_virtual_mfa_device(acct, f"acs:ram::{acct}:mfa/\u212a")


def test_codes_spent_before_an_unbinding_cannot_rebind_the_device(
    svc: RamService, acct: str, clock: FakeClock
) -> None:
    svc.create_user(acct, "alice")
    created = svc.create_virtual_mfa_device(acct, "dev")
    seed, serial = created.base32_seed, created.device.serial_number
    svc.bind_mfa_device(acct, serial, "alice", *consecutive_codes(seed, clock))
    clock.advance(30)
    svc.verify_mfa_code(acct, "alice", code_at(seed, time_step(clock.now)))  # a logon someone watched
    svc.unbind_mfa_device(acct, "alice")
    with expect_code("InvalidAuthenticationCode"):  # that code and the one before it are spent
        svc.bind_mfa_device(acct, serial, "alice", *consecutive_codes(seed, clock))
    assert not svc.list_virtual_mfa_devices(acct)[0].is_bound
    clock.advance(60)
    svc.bind_mfa_device(acct, serial, "alice", *consecutive_codes(seed, clock))  # two fresh codes
    with expect_code("InvalidAuthenticationCode"):  # and the binding spent those
        svc.verify_mfa_code(acct, "alice", code_at(seed, time_step(clock.now)))
