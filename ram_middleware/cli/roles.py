"""``ram roles …`` and ``ram assume-role``: RAM roles and STS temporary credentials."""

from __future__ import annotations

import json
from typing import IO

import click

from ..identity import ram_arn
from . import main
from .backend import Backend, attached_policy_names, backend_command
from .output import Output, pretty_document
from .policies import read_document

__all__ = ["assume_role", "roles", "trust_policy"]


def trust_policy(account_id: str, principals: tuple[str, ...], services: tuple[str, ...]) -> str:
    """A trust policy for ``principals`` (ARNs; default: the account root) and ``services``."""
    trusted: dict[str, list[str]] = {}
    if principals or not services:
        trusted["RAM"] = list(principals) or [ram_arn(account_id, "root")]
    if services:
        trusted["Service"] = list(services)
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": trusted}
    return json.dumps({"Version": "1", "Statement": [statement]}, separators=(",", ":"))


def _role_arn(backend: Backend, role: str) -> str:
    # Role ARNs carry the name in lower case (spec decision). A role name holds no ':', so any "acs:" prefix,
    # in whatever case AssumeRole accepts it, makes an ARN.
    return role if role[:4].lower() == "acs:" else ram_arn(backend.account_id, f"role/{role.lower()}")


@main.group("roles")
def roles() -> None:
    """RAM roles: list, show, create, update, delete, revoke-sessions (see also `ram assume-role`)."""


@roles.command("list")
@backend_command
def list_roles(out: Output, backend: Backend) -> None:
    """List the account's roles."""
    out.table(backend.list_roles(), ("RoleName", "Arn", "MaxSessionDuration", "Description"), key="Roles")


@roles.command("show")
@click.argument("role_name")
@backend_command
def show_role(out: Output, backend: Backend, role_name: str) -> None:
    """Show a role, its trust policy and its policies."""
    role = backend.get_role(role_name)
    role["Policies"] = attached_policy_names(backend, "role", role["RoleName"])
    if out.json_output:
        out.data({"Role": role})
        return
    trust = role.pop("AssumeRolePolicyDocument", "{}")
    out.entity(role)
    out.say("Trust policy:")
    out.say(pretty_document(trust))


@roles.command("create")
@click.argument("role_name")
@click.option("--trust", "trust_file", type=click.File("r"), default=None, help="Trust policy JSON file.")
@click.option(
    "--trusted", multiple=True, help="ARN allowed to assume the role (repeatable; default: the account)."
)
@click.option("--trusted-service", multiple=True, help="Service allowed to assume the role (repeatable).")
@click.option("--description", default="")
@click.option(
    "--max-session-duration", type=int, default=3600, show_default=True, help="Seconds, 3600-43200."
)
@backend_command
def create_role(
    out: Output,
    backend: Backend,
    role_name: str,
    trust_file: IO[str] | None,
    trusted: tuple[str, ...],
    trusted_service: tuple[str, ...],
    description: str,
    max_session_duration: int,
) -> None:
    """Create a role; who may assume it comes from --trust, or --trusted/--trusted-service."""
    if trust_file is not None and (trusted or trusted_service):
        raise click.UsageError("Give --trust or --trusted/--trusted-service, not both.")
    if trust_file is not None:
        document, _ = read_document(trust_file, "trust")
    else:
        document = trust_policy(backend.account_id, trusted, trusted_service)
    role = backend.create_role(
        role_name, document, description=description, max_session_duration=max_session_duration
    )
    out.done(f"Created role {role['RoleName']} ({role.get('Arn')}).", {"Role": role})


@roles.command("update")
@click.argument("role_name")
@click.option("--trust", "trust_file", type=click.File("r"), default=None, help="New trust policy JSON file.")
@click.option("--description", default=None)
@click.option("--max-session-duration", type=int, default=None, help="Seconds, 3600-43200.")
@backend_command
def update_role(
    out: Output,
    backend: Backend,
    role_name: str,
    trust_file: IO[str] | None,
    description: str | None,
    max_session_duration: int | None,
) -> None:
    """Change a role's trust policy, description or maximum session duration."""
    document = None if trust_file is None else read_document(trust_file, "trust")[0]
    if document is None and description is None and max_session_duration is None:
        raise click.UsageError("Nothing to change: give --trust, --description or --max-session-duration.")
    role = backend.update_role(
        role_name,
        new_trust_policy=document,
        new_description=description,
        new_max_session_duration=max_session_duration,
    )
    out.done(f"Updated role {role.get('RoleName', role_name)}.", {"Role": role})


@roles.command("delete")
@click.argument("role_name")
@click.option("--force", is_flag=True, help="Detach its policies first.")
@backend_command
def delete_role(out: Output, backend: Backend, role_name: str, force: bool) -> None:
    """Delete a role; its STS sessions end at once (InvalidSecurityToken.Revoked), even if the role is
    created again under its name."""
    backend.delete_role(role_name, force=force)
    out.done(f"Deleted role {role_name}.")


@roles.command("revoke-sessions")
@click.argument("role_name")
@backend_command
def revoke_sessions(out: Output, backend: Backend, role_name: str) -> None:
    """End every STS session of a role issued until now (InvalidSecurityToken.Revoked), on every instance;
    the role and later sessions are untouched. Sessions outlive the user who assumed the role: revoke them
    when that user leaves. Local store only."""
    when = backend.revoke_role_sessions(role_name)
    role = backend.get_role(role_name)
    out.done(
        f"Revoked the sessions of role {role['RoleName']} issued before {when}.",
        {"Role": role, "RevokedBefore": when},
    )


@main.command("assume-role")
@click.argument("role")
@click.option("--session-name", required=True, help="RoleSessionName: 2-64 of A-Z a-z 0-9 . @ _ -")
@click.option("--duration", type=int, default=None, help="DurationSeconds (900 to the role's maximum).")
@click.option("--policy", "policy_file", type=click.File("r"), default=None, help="Session policy JSON file.")
@click.option("--external-id", default=None, help="ExternalId the trust policy may require.")
@click.option("--as-user", default=None, help="Local store only: the RAM user who assumes the role.")
@click.option("--env", "as_env", is_flag=True, help="Print shell `export` lines for the credentials.")
@backend_command
def assume_role(
    out: Output,
    backend: Backend,
    role: str,
    session_name: str,
    duration: int | None,
    policy_file: IO[str] | None,
    external_id: str | None,
    as_user: str | None,
    as_env: bool,
) -> None:
    """Get STS temporary credentials for ROLE (name or ARN), optionally narrowed by a session policy."""
    params = {"RoleSessionName": session_name}
    if duration is not None:
        params["DurationSeconds"] = str(duration)
    if policy_file is not None:
        params["Policy"] = read_document(policy_file, "session")[0]
    if external_id is not None:
        params["ExternalId"] = external_id
    answer = backend.assume_role(_role_arn(backend, role), params, as_user=as_user)
    credentials = answer["Credentials"]
    if out.json_output:
        out.data(answer)
    elif as_env:
        out.say(f"export ALIBABA_CLOUD_ACCESS_KEY_ID={credentials['AccessKeyId']}")
        out.say(f"export ALIBABA_CLOUD_ACCESS_KEY_SECRET={credentials['AccessKeySecret']}")
        out.say(f"export ALIBABA_CLOUD_SECURITY_TOKEN={credentials['SecurityToken']}")
    else:
        out.entity({"AssumedRoleUser": answer["AssumedRoleUser"]["Arn"], **credentials})
