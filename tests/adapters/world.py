"""A small Company X, provisioned through RamService on a real store, plus a settable clock.

Users: alice (O&M), bob (R&D), eve (no policies). O&M has AliyunECSFullAccess and a custom Deny on
``instance/i-protected``; R&D has AliyunECSReadOnlyAccess and the custom "OSS only from the office network
during 2030" policy. The role Deployer (AliyunECSFullAccess) is used for STS sessions. Trusted proxy:
192.0.2.0/24.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ram_middleware.audit import MemorySink
from ram_middleware.client import RequestSigner
from ram_middleware.config import Ram, RamConfig, build
from tests import live_server

OFFICE_NET = "203.0.113.0/24"
PROXY_NET = "192.0.2.0/24"
START = datetime(2030, 3, 4, 2, 0, 0, tzinfo=UTC)

DENY_PROTECTED = {
    "Version": "1",
    "Statement": [
        {"Effect": "Deny", "Action": "ecs:DeleteInstance", "Resource": "acs:ecs:*:*:instance/i-protected"}
    ],
}
RND_OSS = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:*:rnd-bucket", "acs:oss:*:*:rnd-bucket/*"],
            "Condition": {
                "IpAddress": {"acs:SourceIp": [OFFICE_NET]},
                "DateGreaterThanEquals": {"acs:CurrentTime": "2030-01-01T00:00:00Z"},
                "DateLessThanEquals": {"acs:CurrentTime": "2030-12-31T23:59:59Z"},
            },
        }
    ],
}
TRUST_ACCOUNT = (
    '{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{{"RAM":["acs:ram::{account}:root"]}}}}]}}'
)


@dataclass
class Clock:
    """A clock tests move by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Key(live_server.Key):
    """A test's credentials, which can also sign requests for the in-process harness."""

    def signer(self, clock: Clock, scheme: str = "acs3") -> RequestSigner:
        return RequestSigner(
            self.access_key_id,
            self.secret,
            security_token=self.security_token,
            scheme=scheme,  # type: ignore[arg-type]
            clock=clock,
        )


@dataclass
class World:
    ram: Ram
    audit: MemorySink
    clock: Clock
    account_id: str
    keys: dict[str, Key]

    def signer(self, who: str, scheme: str = "acs3") -> RequestSigner:
        return self.keys[who].signer(self.clock, scheme)

    def arn(self, user: str) -> str:
        return f"acs:ram::{self.account_id}:user/{user}"

    def role_session(self, session_policy: Mapping[str, object] | None = None) -> Key:
        """Temporary credentials of the Deployer role, minted by the runtime's own StsTokens."""
        role = self.ram.service.get_role(self.account_id, "Deployer")
        issued = self.ram.tokens.issue(
            account_id=self.account_id,
            role_name=role.role_name,
            role_id=role.role_id,
            session_name="ci-job",
            duration_seconds=3600,
            session_policy=json.dumps(session_policy) if session_policy else None,
        )
        return Key(issued.access_key_id, issued.access_key_secret, issued.security_token)

    def secrets(self) -> list[str]:
        return [key.secret for key in self.keys.values()]


def make_world(store_url: str = "memory://", **config: object) -> World:
    clock = Clock()
    audit = MemorySink()
    settings: dict[str, object] = {
        "store_url": store_url,
        "audit": audit,
        "clock": clock,
        "trusted_proxies": (PROXY_NET,),
    }
    settings.update(config)
    ram = build(RamConfig(**settings))  # type: ignore[arg-type]
    service = ram.service
    account = service.create_account().account_id
    for group in ("OM", "RnD"):
        service.create_group(account, group)
    service.create_policy(account, "DenyProtected", json.dumps(DENY_PROTECTED))
    service.create_policy(account, "RnDOSSOfficeHours", json.dumps(RND_OSS))
    service.attach_policy_to_group(account, "System", "AliyunECSFullAccess", "OM")
    service.attach_policy_to_group(account, "Custom", "DenyProtected", "OM")
    service.attach_policy_to_group(account, "System", "AliyunECSReadOnlyAccess", "RnD")
    service.attach_policy_to_group(account, "Custom", "RnDOSSOfficeHours", "RnD")
    keys: dict[str, Key] = {}
    for user, groups in (("alice", ("OM",)), ("bob", ("RnD",)), ("eve", ())):
        service.create_user(account, user)
        for group in groups:
            service.add_user_to_group(account, group, user)
        created = service.create_access_key(account, user)
        keys[user] = Key(created.key.access_key_id, created.secret)
    root_key = service.create_access_key(account, None)
    keys["root"] = Key(root_key.key.access_key_id, root_key.secret)
    service.create_role(account, "Deployer", TRUST_ACCOUNT.format(account=account))
    service.attach_policy_to_role(account, "System", "AliyunECSFullAccess", "Deployer")
    return World(ram, audit, clock, account, keys)
