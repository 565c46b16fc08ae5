"""RAM API: roles (trust policy, session duration)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors
from ..service.roles import MAX_SESSION, MIN_SESSION
from ..service.rules import MAX_ITEMS
from .base import Action, Backend, Call, account_wide, entity
from .params import Params
from .ram_shapes import page_fields, role_shape, wrap

__all__ = ["ACTIONS"]


def _no_console_logon(params: Params, name: str) -> None:
    # Role console logon is not offered here; accepting `true` and not honouring it would mislead.
    if params.flag(name, False):
        raise errors.InvalidParameter(
            name, f"{name}=true is not supported: roles cannot log on to a console."
        )


def create_role(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    p.reject_tags()
    _no_console_logon(p, "AllowConsoleLogin")
    role = b.service.create_role(
        c.account_id,
        p.required("RoleName"),
        p.required("AssumeRolePolicyDocument"),
        description=p.text("Description"),
        max_session_duration=p.integer("MaxSessionDuration", MIN_SESSION, MIN_SESSION, MAX_SESSION),
    )
    return {"Role": role_shape(role)}


def get_role(b: Backend, c: Call) -> Mapping[str, Any]:
    return {"Role": role_shape(b.service.get_role(c.account_id, c.params.required("RoleName")))}


def update_role(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    _no_console_logon(p, "NewAllowConsoleLogin")
    role = b.service.update_role(
        c.account_id,
        p.required("RoleName"),
        new_assume_role_policy_document=p.optional("NewAssumeRolePolicyDocument"),
        new_description=p.given("NewDescription"),
        new_max_session_duration=p.optional_integer("NewMaxSessionDuration", MIN_SESSION, MAX_SESSION),
    )
    return {"Role": role_shape(role)}


def delete_role(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_role(c.account_id, c.params.required("RoleName"))
    return {}


def list_roles(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    p.reject_tags()
    page = b.service.list_roles(c.account_id, **p.paging(MAX_ITEMS))
    roles = (role_shape(r, document=False) for r in page.items)
    return {**page_fields(page), **wrap("Roles", "Role", roles)}


_ROLE = entity("role")

ACTIONS: tuple[Action, ...] = (
    Action("CreateRole", create_role, _ROLE),
    Action("GetRole", get_role, _ROLE),
    Action("UpdateRole", update_role, _ROLE),
    Action("DeleteRole", delete_role, _ROLE),
    Action("ListRoles", list_roles, account_wide),
)
