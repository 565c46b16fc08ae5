"""``ram keys …``: AccessKeys. A new key's secret is printed once and never again."""

from __future__ import annotations

from collections.abc import Callable

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


def _key_command(name: str) -> Callable[[Callable[..., None]], click.Command]:
    """Register ``func(out, backend, user_name, key_id)`` as ``ram keys <name> USER_NAME ACCESS_KEY_ID``."""

    def register(func: Callable[..., None]) -> click.Command:
        command = click.argument("key_id", metavar="ACCESS_KEY_ID")(backend_command(func))
        return keys.command(name)(click.argument("user_name")(command))

    return register


def _set_status(out: Output, backend: Backend, user_name: str, access_key_id: str, status: str) -> None:
    backend.update_access_key(user_name, access_key_id, status)
    out.done(f"{access_key_id} is now {status}.")


@_key_command("disable")
def disable_key(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """Make a key Inactive (requests signed with it fail at once)."""
    _set_status(out, backend, user_name, key_id, "Inactive")


@_key_command("enable")
def enable_key(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """Make a key Active again."""
    _set_status(out, backend, user_name, key_id, "Active")


@_key_command("delete")
def delete_key(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """Delete a key."""
    backend.delete_access_key(user_name, key_id)
    out.done(f"Deleted {key_id}.")


@_key_command("last-used")
def last_used(out: Output, backend: Backend, user_name: str, key_id: str) -> None:
    """When a key last signed a request."""
    when = backend.access_key_last_used(user_name, key_id)
    out.done(f"{key_id} last used: {when or 'never'}", {"AccessKeyLastUsed": {"LastUsedDate": when}})
