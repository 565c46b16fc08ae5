"""What service operations return besides the shared identity records."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..credentials.mfa import qr_png
from ..identity import AccessKey, Group, Policy, PolicyVersion, Role, User
from ..store.records import Attached, MFADevice

__all__ = ["Attached", "NewAccessKey", "NewMFADevice", "PolicyDetail", "PolicyEntities"]


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    """CreateAccessKey's result. ``secret`` exists only here: it is stored encrypted and never shown again."""

    key: AccessKey
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class NewMFADevice:
    """CreateVirtualMFADevice's result; the seed (and the URI, which contains it) is returned only once."""

    device: MFADevice
    base32_seed: str = field(repr=False)
    provisioning_uri: str = field(repr=False)

    def qr_code_png(self) -> bytes:
        """The provisioning URI as a PNG QR code (``QRCodePNG`` is its Base64)."""
        return qr_png(self.provisioning_uri)


@dataclass(frozen=True, slots=True)
class PolicyDetail:
    """GetPolicy's result: the policy and its default version (with the document)."""

    policy: Policy
    default_version: PolicyVersion


@dataclass(frozen=True, slots=True)
class PolicyEntities:
    """ListEntitiesForPolicy's result."""

    users: tuple[Attached[User], ...] = ()
    groups: tuple[Attached[Group], ...] = ()
    roles: tuple[Attached[Role], ...] = ()
