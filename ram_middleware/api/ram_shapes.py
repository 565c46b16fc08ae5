"""Response shapes of RAM lists, and (from :mod:`ram_middleware.service.shapes`) of RAM entities.

Strings stay strings, ``IsDefaultVersion``/``PasswordResetRequired``/``IsTruncated`` are JSON booleans,
``MaxSessionDuration``/``AttachmentCount`` integers, dates ``YYYY-MM-DDThh:mm:ssZ``; a None value is dropped
by the renderer. Lists are wrapped twice: ``wrap("Users", "User", items)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..service.shapes import access_key_shape as access_key_shape
from ..service.shapes import attached_policy_shape as attached_policy_shape
from ..service.shapes import group_member_shape as group_member_shape
from ..service.shapes import group_shape as group_shape
from ..service.shapes import joined_group_shape as joined_group_shape
from ..service.shapes import login_profile_shape as login_profile_shape
from ..service.shapes import mfa_device_shape as mfa_device_shape
from ..service.shapes import policy_entities_shape as policy_entities_shape
from ..service.shapes import policy_shape as policy_shape
from ..service.shapes import role_shape as role_shape
from ..service.shapes import user_shape as user_shape
from ..service.shapes import version_shape as version_shape
from ..store.records import Page

__all__ = [
    "access_key_shape",
    "attached_policy_shape",
    "group_member_shape",
    "group_shape",
    "joined_group_shape",
    "login_profile_shape",
    "mfa_device_shape",
    "page_fields",
    "policy_entities_shape",
    "policy_shape",
    "role_shape",
    "user_shape",
    "version_shape",
    "wrap",
]


def wrap(outer: str, inner: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{outer: {inner: [...]}}`` — the double wrapping of every RAM list."""
    return {outer: {inner: list(items)}}


def page_fields(page: Page[Any]) -> dict[str, Any]:
    """``IsTruncated`` and, when there is a next page, ``Marker``."""
    return {"IsTruncated": page.is_truncated, "Marker": page.marker}
