"""``ram policies …``: custom policies from JSON files, validation, versions, attach/detach."""

from __future__ import annotations

from typing import IO, Literal

import click

from .. import errors
from ..config import limits_from_env
from ..identity import AttachTarget
from ..policy import SYSTEM_POLICIES, CompiledPolicy, PolicyKind, parse_policy
from . import main
from .backend import Backend, backend_command, output_command
from .output import Output, pretty_document

__all__ = ["MAX_DOCUMENT_READ", "policies", "read_document"]

POLICY_COLUMNS = ("PolicyName", "PolicyType", "DefaultVersion", "AttachmentCount", "Description")
_TYPE = click.Choice(["System", "Custom"])
# No document any RAM call takes comes near this: the RAM API refuses request bodies over 1 MiB.
MAX_DOCUMENT_READ = 1024 * 1024


def read_document(stream: IO[str], kind: PolicyKind = "identity") -> tuple[str, CompiledPolicy]:
    """The document's text and its compiled form; ``MalformedPolicyDocument`` names the JSON path. An
    identity policy is held to CreatePolicy's length quota (``RAM_LIMITS`` ``policy_document_length``)."""
    max_length = limits_from_env().policy_document_length if kind == "identity" else None
    try:
        text = stream.read(MAX_DOCUMENT_READ + 1)  # a huge file given by mistake is not read whole
    except UnicodeDecodeError:
        # A policy document is JSON text, which is UTF-8 (e.g. not a UTF-16 file some editors save).
        raise errors.MalformedPolicyDocument("", "The policy document is not UTF-8 text.") from None
    if len(text) > MAX_DOCUMENT_READ:
        limit = "" if max_length is None else f"; at most {max_length} are allowed"
        raise errors.InvalidParameter(
            "PolicyDocument.Length",
            f"The policy document has more than {MAX_DOCUMENT_READ} characters{limit}.",
        )
    return text, parse_policy(text, kind=kind, max_length=max_length)


def _policy_type(name: str, given: str | None) -> str:
    # System policies have well-known names; anything else is the account's own.
    return given or ("System" if name in SYSTEM_POLICIES else "Custom")


def _target(user: str | None, group: str | None, role: str | None) -> tuple[AttachTarget, str]:
    chosen: list[tuple[AttachTarget, str | None]] = [("user", user), ("group", group), ("role", role)]
    given = [(kind, name) for kind, name in chosen if name]
    if len(given) != 1:
        raise click.UsageError("Name exactly one of --user, --group or --role.")
    return given[0][0], str(given[0][1])


def _target_options(func: click.decorators.FC) -> click.decorators.FC:
    for option in (
        click.option("--role", default=None, help="The role."),
        click.option("--group", default=None, help="The group."),
        click.option("--user", default=None, help="The user."),
    ):
        func = option(func)
    return func


@main.group("policies")
def policies() -> None:
    """Policies: list, show, create, validate, versions, attach, detach."""


@policies.command("list")
@click.option("--type", "policy_type", type=_TYPE, default=None, help="Only System or only Custom policies.")
@backend_command
def list_policies(out: Output, backend: Backend, policy_type: str | None) -> None:
    """List policies (System first, then the account's Custom ones)."""
    out.table(backend.list_policies(policy_type), POLICY_COLUMNS, key="Policies")


@policies.command("show")
@click.argument("policy_name")
@click.option("--type", "policy_type", type=_TYPE, default=None, help="Default: System for a System name.")
@backend_command
def show_policy(out: Output, backend: Backend, policy_name: str, policy_type: str | None) -> None:
    """Show a policy and its default version's document."""
    detail = backend.get_policy(policy_name, _policy_type(policy_name, policy_type))
    if out.json_output:
        out.data(detail)
        return
    out.entity(detail["Policy"])
    out.say(pretty_document(detail["DefaultPolicyVersion"]["PolicyDocument"]))


@policies.command("validate")
@click.argument("document", type=click.File("r"))
@click.option(
    "--kind", type=click.Choice(["identity", "trust", "session"]), default="identity", help="Which grammar."
)
@output_command
def validate(out: Output, document: IO[str], kind: Literal["identity", "trust", "session"]) -> None:
    """Check a policy document; errors name the JSON path (Statement[0].Condition…)."""
    _, compiled = read_document(document, kind)
    count = len(compiled.statements)
    out.done(
        f"Valid {kind} policy: {count} statement{'s' if count != 1 else ''}.",
        {"Valid": True, "Statements": count},
    )


@policies.command("create")
@click.argument("policy_name")
@click.option(
    "--document", type=click.File("r"), required=True, help="The policy document (JSON file, - for stdin)."
)
@click.option("--description", default="", help="What the policy grants.")
@backend_command
def create_policy(
    out: Output, backend: Backend, policy_name: str, document: IO[str], description: str
) -> None:
    """Create a custom policy from a JSON file (validated first)."""
    text, _ = read_document(document)
    policy = backend.create_policy(policy_name, text, description=description)
    out.done(f"Created policy {policy['PolicyName']} (version v1).", {"Policy": policy})


@policies.command("delete")
@click.argument("policy_name")
@click.option("--cascade", is_flag=True, help="Also detach it everywhere and delete its other versions.")
@backend_command
def delete_policy(out: Output, backend: Backend, policy_name: str, cascade: bool) -> None:
    """Delete a custom policy."""
    backend.delete_policy(policy_name, cascade=cascade)
    out.done(f"Deleted policy {policy_name}.")


@policies.command("versions")
@click.argument("policy_name")
@click.option("--type", "policy_type", type=_TYPE, default=None)
@backend_command
def versions(out: Output, backend: Backend, policy_name: str, policy_type: str | None) -> None:
    """List a policy's versions."""
    found = backend.list_policy_versions(policy_name, _policy_type(policy_name, policy_type))
    out.table(found, ("VersionId", "IsDefaultVersion", "CreateDate"), key="PolicyVersions")


@policies.command("show-version")
@click.argument("policy_name")
@click.argument("version_id")
@click.option("--type", "policy_type", type=_TYPE, default=None)
@backend_command
def show_version(
    out: Output, backend: Backend, policy_name: str, version_id: str, policy_type: str | None
) -> None:
    """Show one version's document."""
    version = backend.get_policy_version(policy_name, _policy_type(policy_name, policy_type), version_id)
    if out.json_output:
        out.data({"PolicyVersion": version})
        return
    out.say(f"{policy_name} {version['VersionId']}{' (default)' if version.get('IsDefaultVersion') else ''}")
    out.say(pretty_document(version["PolicyDocument"]))


@policies.command("new-version")
@click.argument("policy_name")
@click.option(
    "--document", type=click.File("r"), required=True, help="The new document (JSON file, - for stdin)."
)
@click.option("--set-default", is_flag=True, help="Make it the version that applies.")
@click.option("--rotate", is_flag=True, help="At 5 versions, delete the oldest non-default one.")
@backend_command
def new_version(
    out: Output, backend: Backend, policy_name: str, document: IO[str], set_default: bool, rotate: bool
) -> None:
    """Add a version to a custom policy."""
    text, _ = read_document(document)
    strategy = "DeleteOldestNonDefaultVersionWhenLimitExceeded" if rotate else "None"
    version = backend.create_policy_version(
        policy_name, text, set_as_default=set_default, rotate_strategy=strategy
    )
    note = " (now the default)" if set_default else ""
    out.done(
        f"Created version {version.get('VersionId')} of {policy_name}{note}.", {"PolicyVersion": version}
    )


@policies.command("delete-version")
@click.argument("policy_name")
@click.argument("version_id")
@backend_command
def delete_version(out: Output, backend: Backend, policy_name: str, version_id: str) -> None:
    """Delete a non-default version."""
    backend.delete_policy_version(policy_name, version_id)
    out.done(f"Deleted version {version_id} of {policy_name}.")


@policies.command("set-default")
@click.argument("policy_name")
@click.argument("version_id")
@backend_command
def set_default(out: Output, backend: Backend, policy_name: str, version_id: str) -> None:
    """Make a version the one that applies."""
    backend.set_default_policy_version(policy_name, version_id)
    out.done(f"{version_id} is now the default version of {policy_name}.")


def _attachment_options(func: click.decorators.FC) -> click.decorators.FC:
    """POLICY_NAME, --user/--group/--role and --type: what ``attach`` and ``detach`` act on."""
    func = click.option(
        "--type", "policy_type", type=_TYPE, default=None, help="Default: System for a System name."
    )(func)
    return click.argument("policy_name")(_target_options(func))


def _attachment(
    policy_name: str, policy_type: str | None, user: str | None, group: str | None, role: str | None
) -> tuple[AttachTarget, str, str]:
    """(target kind, target name, policy type) from the options of ``attach``/``detach``."""
    kind, name = _target(user, group, role)
    return kind, name, _policy_type(policy_name, policy_type)


@policies.command("attach")
@_attachment_options
@backend_command
def attach(
    out: Output, backend: Backend, policy_name: str, user: str | None, group: str | None, role: str | None,
    policy_type: str | None,
) -> None:  # fmt: skip
    """Attach a policy to a user, group or role."""
    kind, name, ptype = _attachment(policy_name, policy_type, user, group, role)
    backend.attach_policy(kind, name, ptype, policy_name)
    out.done(f"Attached {ptype} policy {policy_name} to {kind} {name}.")


@policies.command("detach")
@_attachment_options
@backend_command
def detach(
    out: Output, backend: Backend, policy_name: str, user: str | None, group: str | None, role: str | None,
    policy_type: str | None,
) -> None:  # fmt: skip
    """Detach a policy from a user, group or role."""
    kind, name, ptype = _attachment(policy_name, policy_type, user, group, role)
    backend.detach_policy(kind, name, ptype, policy_name)
    out.done(f"Detached {ptype} policy {policy_name} from {kind} {name}.")


@policies.command("attached")
@_target_options
@backend_command
def attached(out: Output, backend: Backend, user: str | None, group: str | None, role: str | None) -> None:
    """List the policies attached to a user, group or role."""
    kind, name = _target(user, group, role)
    rows = backend.list_policies_for(kind, name)
    out.table(rows, ("PolicyName", "PolicyType", "DefaultVersion", "AttachDate"), key="Policies")


@policies.command("entities")
@click.argument("policy_name")
@click.option("--type", "policy_type", type=_TYPE, default=None)
@backend_command
def entities(out: Output, backend: Backend, policy_name: str, policy_type: str | None) -> None:
    """List the users, groups and roles a policy is attached to."""
    found = backend.list_entities_for_policy(policy_name, _policy_type(policy_name, policy_type))
    if out.json_output:
        out.data(found)
        return
    rows = [
        {"Type": kind[:-1], "Name": entry.get(f"{kind[:-1]}Name"), "AttachDate": entry.get("AttachDate")}
        for kind in ("Users", "Groups", "Roles")
        for entry in found.get(kind, [])
    ]
    out.table(rows, ("Type", "Name", "AttachDate"))
