"""RAM API: users, groups and memberships."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..service.rules import MAX_GROUPS_ITEMS, MAX_ITEMS
from .base import Action, Backend, Call, account_wide, entity
from .ram_shapes import (
    group_member_shape,
    group_shape,
    joined_group_shape,
    page_fields,
    user_shape,
    wrap,
)

__all__ = ["ACTIONS"]


def create_user(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    user = b.service.create_user(
        c.account_id,
        p.required("UserName"),
        display_name=p.text("DisplayName"),
        mobile_phone=p.text("MobilePhone"),
        email=p.text("Email"),
        comments=p.text("Comments"),
    )
    return {"User": user_shape(user)}


def get_user(b: Backend, c: Call) -> Mapping[str, Any]:
    return {"User": user_shape(b.service.get_user(c.account_id, c.params.required("UserName")))}


def update_user(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    user = b.service.update_user(
        c.account_id,
        p.required("UserName"),
        new_user_name=p.optional("NewUserName"),
        new_display_name=p.given("NewDisplayName"),
        new_mobile_phone=p.given("NewMobilePhone"),
        new_email=p.given("NewEmail"),
        new_comments=p.given("NewComments"),
    )
    return {"User": user_shape(user)}


def delete_user(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_user(c.account_id, c.params.required("UserName"))
    return {}


def list_users(b: Backend, c: Call) -> Mapping[str, Any]:
    page = b.service.list_users(c.account_id, **c.params.paging(MAX_ITEMS))
    return {**page_fields(page), **wrap("Users", "User", (user_shape(u) for u in page.items))}


def create_group(b: Backend, c: Call) -> Mapping[str, Any]:
    group = b.service.create_group(
        c.account_id, c.params.required("GroupName"), comments=c.params.text("Comments")
    )
    return {"Group": group_shape(group)}


def get_group(b: Backend, c: Call) -> Mapping[str, Any]:
    return {"Group": group_shape(b.service.get_group(c.account_id, c.params.required("GroupName")))}


def update_group(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    group = b.service.update_group(
        c.account_id,
        p.required("GroupName"),
        new_group_name=p.optional("NewGroupName"),
        new_comments=p.given("NewComments"),
    )
    return {"Group": group_shape(group)}


def delete_group(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.delete_group(c.account_id, c.params.required("GroupName"))
    return {}


def list_groups(b: Backend, c: Call) -> Mapping[str, Any]:
    page = b.service.list_groups(c.account_id, **c.params.paging(MAX_GROUPS_ITEMS))
    return {**page_fields(page), **wrap("Groups", "Group", (group_shape(g) for g in page.items))}


def add_user_to_group(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.add_user_to_group(c.account_id, c.params.required("GroupName"), c.params.required("UserName"))
    return {}


def remove_user_from_group(b: Backend, c: Call) -> Mapping[str, Any]:
    b.service.remove_user_from_group(
        c.account_id, c.params.required("GroupName"), c.params.required("UserName")
    )
    return {}


def list_groups_for_user(b: Backend, c: Call) -> Mapping[str, Any]:
    joined = b.service.list_groups_for_user(c.account_id, c.params.required("UserName"))
    return wrap("Groups", "Group", (joined_group_shape(j) for j in joined))


def list_users_for_group(b: Backend, c: Call) -> Mapping[str, Any]:
    p = c.params
    page = b.service.list_users_for_group(c.account_id, p.required("GroupName"), **p.paging(MAX_ITEMS))
    return {**page_fields(page), **wrap("Users", "User", (group_member_shape(j) for j in page.items))}


_USER, _GROUP = entity("user"), entity("group")

ACTIONS: tuple[Action, ...] = (
    Action("CreateUser", create_user, _USER),
    Action("GetUser", get_user, _USER),
    Action("UpdateUser", update_user, _USER),
    Action("DeleteUser", delete_user, _USER),
    Action("ListUsers", list_users, account_wide),
    Action("CreateGroup", create_group, _GROUP),
    Action("GetGroup", get_group, _GROUP),
    Action("UpdateGroup", update_group, _GROUP),
    Action("DeleteGroup", delete_group, _GROUP),
    Action("ListGroups", list_groups, account_wide),
    # Memberships are authorized on the group: that is what changes.
    Action("AddUserToGroup", add_user_to_group, _GROUP),
    Action("RemoveUserFromGroup", remove_user_from_group, _GROUP),
    Action("ListGroupsForUser", list_groups_for_user, _USER),
    Action("ListUsersForGroup", list_users_for_group, _GROUP),
)
