"""``ram groups …``: groups and memberships."""

from __future__ import annotations

import click

from . import main
from .backend import Backend, attached_policy_names, backend_command
from .output import Output

__all__ = ["groups"]


@main.group("groups")
def groups() -> None:
    """Groups and their members: list, show, create, update, delete, add-user, remove-user, members."""


@groups.command("list")
@backend_command
def list_groups(out: Output, backend: Backend) -> None:
    """List the account's groups."""
    out.table(backend.list_groups(), ("GroupName", "Comments", "CreateDate"), key="Groups")


@groups.command("show")
@click.argument("group_name")
@backend_command
def show_group(out: Output, backend: Backend, group_name: str) -> None:
    """Show a group with its members and policies."""
    group = backend.get_group(group_name)
    name = group["GroupName"]
    group["Members"] = [u["UserName"] for u in backend.list_users_for_group(name)]
    group["Policies"] = attached_policy_names(backend, "group", name)
    out.entity(group, key="Group")


@groups.command("create")
@click.argument("group_name")
@click.option("--comments", default="", help="What the group is for (at most 128 characters).")
@backend_command
def create_group(out: Output, backend: Backend, group_name: str, comments: str) -> None:
    """Create a group."""
    group = backend.create_group(group_name, comments=comments)
    out.done(f"Created group {group['GroupName']}.", {"Group": group})


@groups.command("update")
@click.argument("group_name")
@click.option("--new-name", default=None, help="Rename the group.")
@click.option("--comments", default=None)
@backend_command
def update_group(
    out: Output, backend: Backend, group_name: str, new_name: str | None, comments: str | None
) -> None:
    """Rename a group or change its comments."""
    if new_name is None and comments is None:
        raise click.UsageError("Nothing to change: give --new-name and/or --comments.")
    group = backend.update_group(group_name, new_group_name=new_name, new_comments=comments)
    out.done(f"Updated group {group.get('GroupName', group_name)}.", {"Group": group})


@groups.command("delete")
@click.argument("group_name")
@click.option("--force", is_flag=True, help="Also remove its members and detach its policies.")
@backend_command
def delete_group(out: Output, backend: Backend, group_name: str, force: bool) -> None:
    """Delete a group."""
    backend.delete_group(group_name, force=force)
    out.done(f"Deleted group {group_name}.")


@groups.command("add-user")
@click.argument("group_name")
@click.argument("user_name")
@backend_command
def add_user(out: Output, backend: Backend, group_name: str, user_name: str) -> None:
    """Add a user to a group."""
    backend.add_user_to_group(group_name, user_name)
    out.done(f"Added {user_name} to {group_name}.")


@groups.command("remove-user")
@click.argument("group_name")
@click.argument("user_name")
@backend_command
def remove_user(out: Output, backend: Backend, group_name: str, user_name: str) -> None:
    """Remove a user from a group."""
    backend.remove_user_from_group(group_name, user_name)
    out.done(f"Removed {user_name} from {group_name}.")


@groups.command("members")
@click.argument("group_name")
@backend_command
def members(out: Output, backend: Backend, group_name: str) -> None:
    """List a group's members."""
    out.table(backend.list_users_for_group(group_name), ("UserName", "DisplayName", "JoinDate"), key="Users")
