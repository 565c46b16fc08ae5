"""A small Company X for the console tests, provisioned through RamService, with a clock tests move.

Account alias ``company-x``. Users (password :data:`PASSWORD` unless said otherwise):

* ``alice`` — O&M (AliyunECSFullAccess), virtual MFA bound (seed in ``World.seeds``);
* ``bob`` — R&D (AliyunECSReadOnlyAccess), no MFA device;
* ``carol`` — R&D, login profile with ``MFABindRequired`` (first logon binds a device);
* ``dave`` — R&D, login profile with ``PasswordResetRequired``;
* the account root — password :data:`ROOT_PASSWORD`, virtual MFA bound.

Custom policy ``PayWithMFA`` (attached to alice and bob): ``billing:*`` only when ``acs:MFAPresent`` is true.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ram_middleware.audit import MemorySink
from ram_middleware.config import Ram, RamConfig, build
from ram_middleware.credentials.mfa import code_at, time_step

PASSWORD = "Corr3ct-Horse!"
ROOT_PASSWORD = "R00t-Rests-Quietly!"
ALIAS = "company-x"
START = datetime(2030, 3, 4, 9, 0, 0, tzinfo=UTC)

PAY_WITH_MFA = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "billing:*",
            "Resource": "*",
            "Condition": {"Bool": {"acs:MFAPresent": "true"}},
        }
    ],
}


@dataclass
class Clock:
    """A clock tests move by hand (the runtime's and the service's clock)."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    ram: Ram
    clock: Clock
    audit: MemorySink
    account_id: str
    seeds: dict[str, str] = field(default_factory=dict, repr=False)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def code(self, who: str, steps: int = 0) -> str:
        """The TOTP code of ``who``'s device (``root`` for the root) at the world's clock."""
        return code_at(self.seeds[who], time_step(self.clock.now) + steps)

    def arn(self, user: str) -> str:
        return f"acs:ram::{self.account_id}:user/{user}"


def bind_device(world: World, who: str) -> None:
    """Create and bind a virtual MFA device for ``who`` (a user, or ``root``) with two past codes,
    so the code of the current time step is still unused."""
    service, account = world.ram.service, world.account_id
    created = service.create_virtual_mfa_device(account, f"{who}-phone")
    seed, serial = created.base32_seed, created.device.serial_number
    step = time_step(world.clock.now)
    first, second = code_at(seed, step - 2), code_at(seed, step - 1)
    if who == "root":
        service.bind_root_mfa_device(account, serial, first, second)
    else:
        service.bind_mfa_device(account, serial, who, first, second)
    world.seeds[who] = seed


def make_world(
    trusted_proxies: tuple[str, ...] = (), store_url: str = "memory://", guard_url: str | None = None
) -> World:
    """Company X in a new store (``store_url``; guard ``guard_url``, by default the store's own)."""
    clock = Clock()
    audit = MemorySink()
    config = RamConfig(
        store_url=store_url, guard_url=guard_url, audit=audit, clock=clock, trusted_proxies=trusted_proxies
    )
    ram = build(config)
    service = ram.service
    account = service.create_account(ALIAS).account_id
    world = World(ram, clock, audit, account)
    for group, policy in (("OM", "AliyunECSFullAccess"), ("RnD", "AliyunECSReadOnlyAccess")):
        service.create_group(account, group)
        service.attach_policy_to_group(account, "System", policy, group)
    service.create_policy(account, "PayWithMFA", json.dumps(PAY_WITH_MFA))
    for user, group in (("alice", "OM"), ("bob", "RnD"), ("carol", "RnD"), ("dave", "RnD")):
        service.create_user(account, user)
        service.add_user_to_group(account, group, user)
        service.create_login_profile(
            account, user, PASSWORD,
            mfa_bind_required=user == "carol", password_reset_required=user == "dave",
        )  # fmt: skip
    for user in ("alice", "bob"):
        service.attach_policy_to_user(account, "Custom", "PayWithMFA", user)
    created = service.create_access_key(account, "bob")
    world.keys["bob"] = (created.key.access_key_id, created.secret)
    service.set_root_password(account, ROOT_PASSWORD)
    bind_device(world, "alice")
    bind_device(world, "root")
    return world
