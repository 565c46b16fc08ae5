"""RAM API: policies, policy versions, attachments and ListEntitiesForPolicy.

Attach/Detach calls are authorized on the user, group or role that gains or loses the policy; reads of a
policy on the policy itself (System policies as ``acs:ram::system:policy/<Name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors
from ..identity import AttachTarget
from ..service.rules import MAX_ITEMS
from .base import Action, Backend, Call, Handler, account_wide, entity, policy_of_type
from .params import Params
from .ram_shapes import (
    attached_policy_shape,
    page_fields,
    policy_entities_shape,
    policy_shape,
    version_shape,
    wrap,
)

__all__ = ["ACTIONS"]


def create_policy(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    p.reject_tags()
    policy = b.service.create_policy(
        c.account_id,
        p.required("PolicyName"),
        p.required("PolicyDocument"),
        description=p.text("Description"),
    )
    return {"Policy": policy_shape(policy)}


def get_policy(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    detail = b.service.get_policy(c.account_id, p.required("PolicyName"), p.required("PolicyType"))
    return {
        "Policy": policy_shape(detail.policy),
        "DefaultPolicyVersion": version_shape(detail.default_version),
    }


def list_policies(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    p.reject_tags()
    page = b.service.list_policies(c.account_id, policy_type=p.optional("PolicyType"), **p.paging(MAX_ITEMS))
    return {**page_fields(page), **wrap("Policies", "Policy", (policy_shape(x) for x in page.items))}


def update_policy_description(b: Backend, c: Call) -> Mapping[str, Any]:
    policy = b.service.update_policy_description(
        c.account_id, c.params.required("PolicyName"), c.params.given("NewDescription")
    )
    return {"Policy": policy_shape(policy)}


def delete_policy(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_policy(
        c.account_id,
        c.params.required("PolicyName"),
        cascading_delete=bool(c.params.flag("CascadingDelete", False)),
    )
    return {}


def create_policy_version(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    version = b.service.create_policy_version(
        c.account_id,
        p.required("PolicyName"),
        p.required("PolicyDocument"),
        set_as_default=bool(p.flag("SetAsDefault", False)),
        rotate_strategy=p.optional("RotateStrategy") or "None",
    )
    return {"PolicyVersion": version_shape(version)}


def get_policy_version(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    version = b.service.get_policy_version(
        c.account_id, p.required("PolicyName"), p.optional("PolicyType") or "Custom", p.required("VersionId")
    )
    return {"PolicyVersion": version_shape(version)}


def list_policy_versions(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    versions = b.service.list_policy_versions(
        c.account_id, p.required("PolicyName"), p.optional("PolicyType") or "Custom"
    )
    return wrap("PolicyVersions", "PolicyVersion", (version_shape(v) for v in versions))


def delete_policy_version(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_policy_version(
        c.account_id, c.params.required("PolicyName"), c.params.required("VersionId")
    )
    return {}


def set_default_policy_version(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.set_default_policy_version(
        c.account_id, c.params.required("PolicyName"), c.params.required("VersionId")
    )
    return {}


# --- attachments ----------------------------------------------------------------------------------------

_TARGET_PARAM: dict[AttachTarget, str] = {"user": "UserName", "group": "GroupName", "role": "RoleName"}


def _account_scope_only(params: Params) -> None:
    """Refuse ``ResourceGroupId``: every attachment here applies to the whole account, so attaching "within a
    resource group" would grant more than asked, and detaching one would name an attachment that cannot
    exist."""
    if params.optional("ResourceGroupId") is not None:
        raise errors.InvalidParameter(
            "ResourceGroupId",
            "Resource group scopes are not supported by this server: attachments apply to the whole account; "
            "omit ResourceGroupId.",
        )


def _attachment(target: AttachTarget, *, attach: bool) -> Handler:
    """AttachPolicyTo<Target> (``attach``) or DetachPolicyFrom<Target>."""

    def handler(b: Backend, c: Call) -> Mapping[str, Any]:
        p = c.params
        _account_scope_only(p)
        change = b.service.attach_policy if attach else b.service.detach_policy
        change(
            c.account_id, target, p.required(_TARGET_PARAM[target]), p.required("PolicyType"),
            p.required("PolicyName"),
        )  # fmt: skip
        return {}

    return handler


def _list_for(target: AttachTarget) -> Handler:
    def handler(b: Backend, c: Call) -> Mapping[str, Any]:
        attached = b.service.list_policies_for(c.account_id, target, c.params.required(_TARGET_PARAM[target]))
        return wrap("Policies", "Policy", (attached_policy_shape(a) for a in attached))

    return handler


def list_entities_for_policy(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    found = b.service.list_entities_for_policy(
        c.account_id, p.required("PolicyType"), p.required("PolicyName")
    )
    entities = policy_entities_shape(found)
    return {
        **wrap("Users", "User", entities["Users"]),
        **wrap("Groups", "Group", entities["Groups"]),
        **wrap("Roles", "Role", entities["Roles"]),
    }


_POLICY = entity("policy")
_TARGETS: tuple[tuple[AttachTarget, str], ...] = (("user", "User"), ("group", "Group"), ("role", "Role"))

ACTIONS: tuple[Action, ...] = (
    Action("CreatePolicy", create_policy, _POLICY),
    Action("GetPolicy", get_policy, policy_of_type),
    Action("ListPolicies", list_policies, account_wide),
    Action("UpdatePolicyDescription", update_policy_description, _POLICY),
    Action("DeletePolicy", delete_policy, _POLICY),
    Action("CreatePolicyVersion", create_policy_version, _POLICY),
    Action("GetPolicyVersion", get_policy_version, policy_of_type),
    Action("ListPolicyVersions", list_policy_versions, policy_of_type),
    Action("DeletePolicyVersion", delete_policy_version, _POLICY),
    Action("SetDefaultPolicyVersion", set_default_policy_version, _POLICY),
    Action("ListEntitiesForPolicy", list_entities_for_policy, policy_of_type),
    *(
        Action(f"AttachPolicyTo{name}", _attachment(kind, attach=True), entity(kind))
        for kind, name in _TARGETS
    ),
    *(
        Action(f"DetachPolicyFrom{name}", _attachment(kind, attach=False), entity(kind))
        for kind, name in _TARGETS
    ),
    *(Action(f"ListPoliciesFor{name}", _list_for(kind), entity(kind)) for kind, name in _TARGETS),
)
