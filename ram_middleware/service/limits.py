"""Quotas, with the real service's values as defaults (spec policy-language.md §4, sts-and-ram-api.md).

A deployment changes them with ``RAM_LIMITS`` (:func:`limits_from`), as one asks Alibaba Cloud to raise a
quota. Decision: any positive whole number is accepted, below the defaults too (a company may want stricter
quotas than Alibaba's); zero, negative, non-integer and unknown names are refused, so that a typo never
silently leaves a quota at its default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from .. import errors

__all__ = ["Limits", "limits_from"]

_WHOLE = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-account quotas; exceeding one raises the matching ``LimitExceeded.*`` error. Each is a whole
    number of at least 1 (``InvalidParameter.Limits`` otherwise)."""

    users_per_account: int = 1000
    groups_per_account: int = 50
    roles_per_account: int = 1000
    custom_policies_per_account: int = 1500
    groups_per_user: int = 5
    access_keys_per_user: int = 2
    custom_policies_per_user: int = 10
    custom_policies_per_group: int = 5
    custom_policies_per_role: int = 5
    system_policies_per_target: int = 20
    policy_versions: int = 5
    policy_document_length: int = 6144
    trust_policy_length: int = 6144
    policy_description_length: int = 1024
    role_description_length: int = 1024

    def __post_init__(self) -> None:
        # Fail closed: a quota of 0, -1 or "1000" would otherwise refuse everything or compare as nonsense.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise errors.InvalidParameter("Limits", f"{f.name} must be a whole number of at least 1.")

    def custom_policies_per(self, target_type: str) -> int:
        """The custom-policy attachment quota for a user, group or role."""
        return {
            "user": self.custom_policies_per_user,
            "group": self.custom_policies_per_group,
            "role": self.custom_policies_per_role,
        }[target_type]


def limits_from(value: Limits | Mapping[str, object] | str | None, setting: str = "RAM_LIMITS") -> Limits:
    """Quotas from a setting: ``users_per_account=5000,groups_per_account=300`` text, a mapping of the same
    names, or a :class:`Limits`; the quotas not named keep their defaults. A bad one raises
    ``InvalidParameter.<setting>`` naming it."""
    if value is None or isinstance(value, Limits):
        return value if value is not None else Limits()
    if isinstance(value, str):
        pairs = [_pair(piece, setting) for piece in value.split(",") if piece.strip()]
    elif isinstance(value, Mapping):
        pairs = [(str(name).strip(), quota) for name, quota in value.items()]
    else:
        raise errors.InvalidParameter(setting, f"{setting} takes name=value pairs or a mapping of them.")
    known = {f.name for f in fields(Limits)}
    chosen: dict[str, int] = {}
    for name, quota in pairs:
        if name not in known:
            names = ", ".join(f.name for f in fields(Limits))
            message = f"{setting} names an unknown quota {name!r} (known: {names})."
            raise errors.InvalidParameter(setting, message)
        if name in chosen:
            raise errors.InvalidParameter(setting, f"{setting} gives {name} more than once.")
        chosen[name] = _whole(setting, name, quota)
    return replace(Limits(), **chosen)


def _pair(piece: str, setting: str) -> tuple[str, object]:
    name, equals, quota = piece.partition("=")
    if not equals:
        raise errors.InvalidParameter(
            setting, f"{setting} takes name=value pairs separated by commas (e.g. users_per_account=5000)."
        )
    return name.strip(), quota.strip()


def _whole(setting: str, name: str, quota: object) -> int:
    if isinstance(quota, str) and _WHOLE.fullmatch(quota):
        quota = int(quota)
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 1:
        raise errors.InvalidParameter(setting, f"{setting}: {name} must be a whole number of at least 1.")
    return quota
