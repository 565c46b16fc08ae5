"""``ram keys …``: AccessKeys. A new key's secret is printed once and never again."""

from __future__ import annotations

import click

from . import main
from .backend import Backend, backend_command
from .output import Output

__all__ = ["keys"]


@main.group("keys")
def keys() -> None:
    """AccessKeys of RAM users: list, create, enable, disable, delete, last-used."""


@keys.command("list")
@click.argument("user_name")
@backend_command
def list_keys(out: Output, backend: Backend, user_name: str) -> None:
    """List a user's AccessKeys (ids and status; secrets are never listed)."""
    out.table(backend.list_access_keys(user_name), ("AccessKeyId", "Status", "CreateDate"), key="AccessKeys")


@keys.command("create")
@click.argument("user_name")
@backend_command
def create_key(out: Output, backend: Backend, user_name: str) -> None:
    """Create an AccessKey; its secret is shown this once."""
    key = backend.create_access_key(user_name)
    if out.json_output:
        out.data({"AccessKey": key})
        return
    out.say(f"Created AccessKey for {user_name}.")
    out.say(f"  AccessKeyId:     {key['AccessKeyId']}")
    out.say(f"  AccessKeySecret: {key['AccessKeySecret']}")
    out.say("Store the secret now: it is not shown again and cannot be recovered.")


def _set_status(backend: Backend, user_name: str, access_key_id: str, status: str) -> None:
    backend.update_access_key(user_name, access_key_id, status)


@keys.command("disable")
@click.argument("user_name")
@click.argument("key_id", metavar="ACCESS_KEY_ID")
@backend_command
def disable_key(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """Make a key Inactive (requests signed with it fail at once)."""
    _set_status(backend, user_name, key_id, "Inactive")
    out.done(f"{key_id} is now Inactive.")


@keys.command("enable")
@click.argument("user_name")
@click.argument("key_id", metavar="ACCESS_KEY_ID")
@backend_command
def enable_key(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """Make a key Active again."""
    _set_status(backend, user_name, key_id, "Active")
    out.done(f"{key_id} is now Active.")


@keys.command("delete")
@click.argument("user_name")
@click.argument("key_id", metavar="ACCESS_KEY_ID")
@backend_command
def delete_key(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """Delete a key."""
    backend.delete_access_key(user_name, key_id)
    out.done(f"Deleted {key_id}.")


@keys.command("last-used")
@click.argument("user_name")
@click.argument("key_id", metavar="ACCESS_KEY_ID")
@backend_command
def last_used(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """When a key last signed a request."""
    when = backend.access_key_last_used(user_name, key_id)
    out.done(f"{key_id} last used: {when or 'never'}", {"AccessKeyLastUsed": {"LastUsedDate": when}})
