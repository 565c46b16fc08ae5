"""The account's security preference (GetSecurityPreference / SetSecurityPreference).

Field names and defaults follow alibabacloud-ram20150501. Two fields go beyond that SDK model (it ignores
unknown response keys, so they are safe to return): ``EnforceMFAForLogin`` (MFA at console logon for every
user, as in the newer RAM API) and ``MFAEnforcedUsers`` (ours: ``;``-separated user names that must use MFA
at logon — Company X enforces it for its O&M staff).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .. import errors
from ..policy.values import IPNetwork, unmapped_network
from .password import parse_api_bool, parse_api_int

MAX_NETWORK_MASKS = 40
MAX_NETWORK_MASKS_CHARS = 512
MAX_ENFORCED_USERS = 1000


# attribute -> (section of the nested API shape, API field)
_BOOLS: dict[str, tuple[str, str]] = {
    "enable_save_mfa_ticket": ("LoginProfilePreference", "EnableSaveMFATicket"),
    "allow_user_to_change_password": ("LoginProfilePreference", "AllowUserToChangePassword"),
    "enforce_mfa_for_login": ("LoginProfilePreference", "EnforceMFAForLogin"),
    "allow_user_to_manage_access_keys": ("AccessKeyPreference", "AllowUserToManageAccessKeys"),
    "allow_user_to_manage_mfa_devices": ("MFAPreference", "AllowUserToManageMFADevices"),
    "allow_user_to_manage_public_keys": ("PublicKeyPreference", "AllowUserToManagePublicKeys"),
}
_SECTIONS = ("LoginProfilePreference", "AccessKeyPreference", "MFAPreference", "PublicKeyPreference")

__all__ = ["SecurityPreference", "parse_network_masks"]


def _normalise_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network_masks(value: str) -> tuple[str, ...]:
    """``LoginNetworkMasks``: ``;``-separated CIDRs (≤ 40, ≤ 512 chars) → normalised CIDR strings; an IPv4
    network written IPv4-mapped (``::ffff:10.0.0.0/104``) is the IPv4 one, as the source address is read."""
    if len(value) > MAX_NETWORK_MASKS_CHARS:
        raise errors.InvalidParameter("LoginNetworkMasks", "LoginNetworkMasks is longer than 512 characters.")
    parts = [part.strip() for part in value.split(";") if part.strip()]
    if len(parts) > MAX_NETWORK_MASKS:
        raise errors.InvalidParameter("LoginNetworkMasks", "LoginNetworkMasks holds more than 40 masks.")
    masks: list[str] = []
    for part in parts:
        try:
            network = unmapped_network(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise errors.InvalidParameter(
                "LoginNetworkMasks", f"LoginNetworkMasks has an invalid mask: {part[:64]!r}."
            ) from exc
        if str(network) not in masks:
            masks.append(str(network))
    return tuple(masks)


def _parse_user_list(value: str) -> tuple[str, ...]:
    names = [name.strip() for name in value.split(";") if name.strip()]
    if len(names) > MAX_ENFORCED_USERS:
        raise errors.InvalidParameter("MFAEnforcedUsers", "MFAEnforcedUsers lists too many users.")
    for name in names:
        if len(name) > 64 or not all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in name):
            message = f"MFAEnforcedUsers has an invalid name: {name[:64]!r}."
            raise errors.InvalidParameter("MFAEnforcedUsers", message)
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class SecurityPreference:
    """Account-wide settings for RAM users' console logon and self-service.

    ``login_session_duration`` is in hours (1–24). ``login_network_masks`` restricts password/SSO logon (not
    AccessKey calls) to the listed networks; empty = anywhere.
    """

    enable_save_mfa_ticket: bool = False
    allow_user_to_change_password: bool = True
    allow_user_to_manage_access_keys: bool = False
    allow_user_to_manage_mfa_devices: bool = True
    allow_user_to_manage_public_keys: bool = False
    login_session_duration: int = 6
    login_network_masks: tuple[str, ...] = ()
    enforce_mfa_for_login: bool = False
    mfa_enforced_users: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parse_api_int("LoginSessionDuration", self.login_session_duration, 1, 24)
        for attr, (_, api_name) in _BOOLS.items():
            if not isinstance(getattr(self, attr), bool):
                raise errors.InvalidParameter(api_name, f"{api_name} must be true or false.")
        # Validate and normalise, so that an instance never holds a mask the logon check cannot read.
        masks = parse_network_masks(";".join(self.login_network_masks))
        object.__setattr__(self, "login_network_masks", masks)
        object.__setattr__(self, "mfa_enforced_users", _parse_user_list(";".join(self.mfa_enforced_users)))

    @property
    def login_session_seconds(self) -> int:
        """The console session lifetime in seconds."""
        return self.login_session_duration * 3600

    def networks(self) -> tuple[IPNetwork, ...]:
        """The logon networks as ``ipaddress`` objects."""
        return tuple(ipaddress.ip_network(mask) for mask in self.login_network_masks)

    def login_allowed_from(self, source_ip: str | None) -> bool:
        """Whether a password/SSO logon from ``source_ip`` is allowed (always, when no masks are set)."""
        if not self.login_network_masks:
            return True
        if source_ip is None:
            return False
        try:
            address = _normalise_ip(source_ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks() if network.version == address.version)

    def mfa_required_for(self, user_name: str) -> bool:
        """Whether console logon of ``user_name`` must use MFA by this preference (names case-insensitive)."""
        if self.enforce_mfa_for_login:
            return True
        wanted = user_name.casefold()
        return any(name.casefold() == wanted for name in self.mfa_enforced_users)

    def to_api(self) -> dict[str, dict[str, Any]]:
        """The nested ``SecurityPreference`` object of GetSecurityPreference."""
        out: dict[str, dict[str, Any]] = {section: {} for section in _SECTIONS}
        for attr, (section, api_name) in _BOOLS.items():
            out[section][api_name] = getattr(self, attr)
        login = out["LoginProfilePreference"]
        login["LoginSessionDuration"] = self.login_session_duration
        login["LoginNetworkMasks"] = ";".join(self.login_network_masks)
        login["MFAEnforcedUsers"] = ";".join(self.mfa_enforced_users)
        return out

    @classmethod
    def from_api(
        cls, mapping: Mapping[str, Any], *, base: SecurityPreference | None = None
    ) -> SecurityPreference:
        """Build from SetSecurityPreference parameters (flat) or a GetSecurityPreference object (nested).

        Fields not given keep ``base`` (default: the defaults); unknown keys are ignored. Values may be typed
        or text; an empty ``LoginNetworkMasks`` clears the restriction.
        """
        flat: dict[str, Any] = {}
        for key, value in mapping.items():
            if key in _SECTIONS and isinstance(value, Mapping):
                flat.update(value)
            else:
                flat[key] = value
        changes: dict[str, Any] = {}
        for attr, (_, api_name) in _BOOLS.items():
            if flat.get(api_name) is not None:
                changes[attr] = parse_api_bool(api_name, flat[api_name])
        if flat.get("LoginSessionDuration") is not None:
            changes["login_session_duration"] = parse_api_int(
                "LoginSessionDuration", flat["LoginSessionDuration"], 1, 24
            )
        for attr, api_name, parse in (
            ("login_network_masks", "LoginNetworkMasks", parse_network_masks),
            ("mfa_enforced_users", "MFAEnforcedUsers", _parse_user_list),
        ):
            value = flat.get(api_name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise errors.InvalidParameter(api_name, f"{api_name} must be a ';'-separated string.")
            changes[attr] = parse(value)
        return replace(base if base is not None else cls(), **changes)
