"""``ram users …``: RAM users, their groups and their console logon."""

from __future__ import annotations

import click

from .. import errors
from . import main
from .backend import Backend, attached_policy_names, backend_command
from .output import Output

__all__ = ["users"]

USER_COLUMNS = ("UserName", "DisplayName", "Email", "CreateDate")


@main.group("users")
def users() -> None:
    """RAM users: list, show, create, update, delete, transfer between groups, console logon."""


@users.command("list")
@backend_command
def list_users(out: Output, backend: Backend) -> None:
    """List the account's users."""
    out.table(backend.list_users(), USER_COLUMNS, key="Users")


@users.command("show")
@click.argument("user_name")
@backend_command
def show_user(out: Output, backend: Backend, user_name: str) -> None:
    """Show a user with their groups, policies, AccessKeys and MFA device."""
    user = backend.get_user(user_name)
    name = user["UserName"]
    user["Groups"] = [g["GroupName"] for g in backend.list_groups_for_user(name)]
    user["Policies"] = attached_policy_names(backend, "user", name)
    keys = backend.list_access_keys(name)
    if out.json_output:  # objects scripts can read, as ListAccessKeys gives them
        user["AccessKeys"] = [{"AccessKeyId": k["AccessKeyId"], "Status": k["Status"]} for k in keys]
    else:
        user["AccessKeys"] = [f"{k['AccessKeyId']} ({k['Status']})" for k in keys]
    out.entity(user, key="User")


@users.command("create")
@click.argument("user_name")
@click.option("--display-name", default="", help="Display name (1-128 characters).")
@click.option("--email", default="", help="E-mail address.")
@click.option("--mobile-phone", default="", help="Mobile phone as <country code>-<number>.")
@click.option("--comments", default="", help="Free-text comments.")
@backend_command
def create_user(
    out: Output,
    backend: Backend,
    user_name: str,
    display_name: str,
    email: str,
    mobile_phone: str,
    comments: str,
) -> None:
    """Create a user (no credentials yet: see `ram keys create` and `ram users enable-console`)."""
    user = backend.create_user(
        user_name, display_name=display_name, email=email, mobile_phone=mobile_phone, comments=comments
    )
    out.done(f"Created user {user['UserName']}.", {"User": user})


@users.command("update")
@click.argument("user_name")
@click.option("--new-name", default=None, help="Rename the user.")
@click.option("--display-name", default=None)
@click.option("--email", default=None)
@click.option("--mobile-phone", default=None)
@click.option("--comments", default=None)
@backend_command
def update_user(
    out: Output,
    backend: Backend,
    user_name: str,
    new_name: str | None,
    display_name: str | None,
    email: str | None,
    mobile_phone: str | None,
    comments: str | None,
) -> None:
    """Change a user's name or details (options not given stay as they are)."""
    changes = {
        "new_user_name": new_name,
        "new_display_name": display_name,
        "new_email": email,
        "new_mobile_phone": mobile_phone,
        "new_comments": comments,
    }
    given = {key: value for key, value in changes.items() if value is not None}
    if not given:
        raise click.UsageError("Nothing to change: give at least one option.")
    user = backend.update_user(user_name, **given)
    out.done(f"Updated user {user.get('UserName', user_name)}.", {"User": user})


@users.command("delete")
@click.argument("user_name")
@click.option("--force", is_flag=True, help="Also remove their keys, memberships, policies, logon and MFA.")
@backend_command
def delete_user(out: Output, backend: Backend, user_name: str, force: bool) -> None:
    """Delete a user; their keys stop working at once."""
    backend.delete_user(user_name, force=force)
    out.done(f"Deleted user {user_name}.")


@users.command("groups")
@click.argument("user_name")
@backend_command
def user_groups(out: Output, backend: Backend, user_name: str) -> None:
    """List the groups a user belongs to."""
    out.table(backend.list_groups_for_user(user_name), ("GroupName", "Comments", "JoinDate"), key="Groups")


@users.command("transfer")
@click.argument("user_name")
@click.option("--from", "from_group", required=True, help="The group the user leaves.")
@click.option("--to", "to_group", required=True, help="The group the user joins.")
@backend_command
def transfer_user(out: Output, backend: Backend, user_name: str, from_group: str, to_group: str) -> None:
    """Move a user from one group to another (their permissions change with the next request); if either
    step fails, their groups stay as they were."""
    with backend.all_or_nothing() as undoable:
        # Leaving first: should joining fail, the user has fewer permissions for a moment, never both sets.
        backend.remove_user_from_group(from_group, user_name)
        try:
            backend.add_user_to_group(to_group, user_name)
        except errors.RAMError:
            if not undoable:  # the RAM API commits each call: put the user back by hand
                _rejoin(out, backend, from_group, user_name)
            raise
    out.done(f"Moved {user_name} from {from_group} to {to_group}.")


def _rejoin(out: Output, backend: Backend, group_name: str, user_name: str) -> None:
    try:
        backend.add_user_to_group(group_name, user_name)
    except errors.RAMError as exc:
        out.warn(
            f"{user_name} left {group_name} but could not be added back ({exc.code}); "
            f"run `ram groups add-user {group_name} {user_name}`."
        )


_password_option = click.option("--password", default=None, help="Asked for (unechoed, twice) when omitted.")


def _password(given: str | None) -> str:
    """``--password``, else the password asked for unechoed and twice (neither shell history nor the process
    list sees it), on stderr as the other prompts: with --json stdout stays one JSON document."""
    if given is not None:
        return given
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


def _check_before_asking(backend: Backend, user_name: str, password: str | None, *, has_logon: bool) -> None:
    """Refuse before a password is typed twice for nothing: the user must exist and have a console
    password (``has_logon``) or none yet. A caller who may set it but not look: the change itself answers."""
    if password is not None:
        return
    try:
        backend.get_login_profile(user_name)
    except errors.EntityNotExist as exc:
        if has_logon or exc.code != "EntityNotExist.User.LoginProfile":
            raise
        return
    except errors.AuthorizationError:
        return
    if not has_logon:
        raise errors.EntityAlreadyExists(
            "User.LoginProfile",
            f"{user_name} already has a console password; `ram users set-password {user_name}` resets it.",
        )


@users.command("enable-console")
@click.argument("user_name")
@_password_option
@click.option("--password-reset-required", is_flag=True, help="Must change the password at first logon.")
@click.option("--mfa-bind-required", is_flag=True, help="Must bind an MFA device at next logon.")
@backend_command
def enable_console(
    out: Output,
    backend: Backend,
    user_name: str,
    password: str | None,
    password_reset_required: bool,
    mfa_bind_required: bool,
) -> None:
    """Give a user a console password (checked against the password policy)."""
    _check_before_asking(backend, user_name, password, has_logon=False)
    profile = backend.create_login_profile(
        user_name,
        _password(password),
        password_reset_required=password_reset_required,
        mfa_bind_required=mfa_bind_required,
    )
    out.done(f"{user_name} can now log on to the console.", {"LoginProfile": profile})


@users.command("set-password")
@click.argument("user_name")
@_password_option
@click.option(
    "--password-reset-required/--no-password-reset-required",
    default=None,
    help="Must (or need not) change the password at next logon (default: as it was).",
)
@backend_command
def set_password(
    out: Output, backend: Backend, user_name: str, password: str | None, password_reset_required: bool | None
) -> None:
    """Reset the console password of a user who has one (checked against the password policy); it also ends
    a lock-out after too many failed logons. Other settings stay as they are."""
    _check_before_asking(backend, user_name, password, has_logon=True)
    profile = backend.update_login_profile(
        user_name, password=_password(password), password_reset_required=password_reset_required
    )
    out.done(f"Set a new console password for {user_name}.", {"LoginProfile": profile})


@users.command("disable-console")
@click.argument("user_name")
@backend_command
def disable_console(out: Output, backend: Backend, user_name: str) -> None:
    """Remove a user's console password (their AccessKeys keep working)."""
    backend.delete_login_profile(user_name)
    out.done(f"{user_name} can no longer log on to the console.")
