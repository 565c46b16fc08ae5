"""``ram apply`` and ``ram export``: the organisation as a file (JSON or YAML).

``apply`` prints the plan first and asks before changing anything (``--yes`` skips the question,
``--dry-run`` stops after the plan); a second apply of the same file finds nothing to do. New credentials
(AccessKey secrets, initial console passwords) are printed once, at the end. On the local store the apply is
one transaction, opened once the new passwords are hashed: a change that fails leaves the account as it
was. Through the RAM API each change is made as it runs; a failure names the changes made before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from .. import errors
from ..organisation import (
    ApplyResult,
    NewPasswords,
    OrganisationFileError,
    dump_organisation,
    export,
    load_organisation,
    plan,
    run_changes,
)
from ..organisation.target import Api
from . import main
from .backend import Backend, backend_command
from .output import Output

__all__ = ["apply_command", "export_command"]


def _sign(step: str) -> str:
    """``+`` adds, ``-`` takes away, ``~`` changes in place."""
    verb = step.split(" ", 1)[0]
    return "-" if verb in ("remove", "detach") else "~" if verb in ("update", "set", "new") else "+"


@main.command("apply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@click.option("--dry-run", is_flag=True, help="Show the plan only.")
@backend_command
def apply_command(out: Output, backend: Backend, path: Path, yes: bool, dry_run: bool) -> None:
    """Make the account match an organisation file (idempotent; shows the plan first; on the local store
    all of it or, if a change fails, none of it). Users, groups, policies and roles the file does not name
    are left as they are, and listed: apply never deletes."""
    passwords = NewPasswords(backend)  # made once, hashed before the store transaction opens
    try:
        org = load_organisation(path)
        changes = plan(backend, None, org, passwords=passwords)
    except OrganisationFileError as exc:
        # Named with the file: a script may apply several.
        where = f"{path.name}: {exc.path}" if exc.path else path.name
        raise OrganisationFileError(where, exc.problem) from None
    steps = [change.description for change in changes]
    left = _not_named(backend, org)
    if not changes:
        out.done(
            f"Nothing to change: {backend.describe()} already matches {path.name}.",
            {"Plan": [], "Applied": []},
        )
        _say_left(out, left, path)
        return
    out.say(f"Plan for {backend.describe()}: {_count(len(changes))}", err=True)
    for step in steps:
        out.say(f"  {_sign(step)} {step}", err=True)
    _say_left(out, left, path)
    if dry_run:
        out.data({"Plan": steps, "Applied": []})
        return
    if not yes:
        click.confirm("Apply these changes?", abort=True, err=True)
    # Planned again inside the unit of work: what runs is what was shown, or nothing (PlanChanged).
    result = run_changes(backend, lambda: plan(backend, None, org, passwords=passwords), expected=changes)
    if out.json_output:
        failed = None if result.error is None else {"Step": result.failed, "Code": result.error.code}
        out.data(
            {
                "Plan": steps,
                "Applied": result.applied,
                "Secrets": result.secrets,
                "Failed": failed,
                "RolledBack": result.rolled_back,
                "InDoubt": result.in_doubt,
            }
        )
    elif result.rolled_back:
        out.say("Applied nothing.")
    else:
        unconfirmed = ", which the store did not confirm" if result.in_doubt else ""
        out.say(f"Applied {_count(len(result.applied))}{unconfirmed}.")
        if result.secrets:
            valid = " (valid only if the store committed)" if result.in_doubt else ""
            out.say(f"New credentials{valid} (shown once; store them now):")
            for label, fields in result.secrets.items():
                shown = ", ".join(f"{k}={v}" for k, v in fields.items() if k != "UserName")
                out.say(f"  {label}: {shown}")
    if result.error is not None:
        click.echo(_failure(result), err=True)
        raise result.error


_MAX_LEFT_NAMED = 10


def _not_named(backend: Backend, org: Mapping[str, Any]) -> list[str]:
    """The users, groups, custom policies and roles of the account that the file does not name, which
    apply leaves as they are (it never deletes)."""
    kinds: tuple[tuple[str, str, str, Callable[[], list[Api]]], ...] = (
        ("user", "Users", "UserName", backend.list_users),
        ("group", "Groups", "GroupName", backend.list_groups),
        ("policy", "Policies", "PolicyName", lambda: backend.list_policies("Custom")),
        ("role", "Roles", "RoleName", backend.list_roles),
    )
    left = []
    for word, section, key, listing in kinds:
        named = {str(entry[key]).lower() for entry in org.get(section, [])}
        left += [f"{word} {entity[key]}" for entity in listing() if str(entity[key]).lower() not in named]
    return left


def _say_left(out: Output, left: list[str], path: Path) -> None:
    """Say what apply keeps though the file does not name it: taking an entry out of the file removes
    nothing, and "already matches" alone would suggest otherwise."""
    if not left:
        return
    shown = ", ".join(left[:_MAX_LEFT_NAMED])
    more = f" and {len(left) - _MAX_LEFT_NAMED} more" if len(left) > _MAX_LEFT_NAMED else ""
    out.say(f"Not in {path.name}, so left as they are (apply never deletes): {shown}{more}.", err=True)


def _count(n: int) -> str:
    return f"{n} change{'s' if n != 1 else ''}"


def _failure(result: ApplyResult) -> str:
    """What a failed apply left behind, in words."""
    if result.in_doubt:
        return (
            "The store failed at the commit, so whether the changes were made is unknown; "
            "`ram apply --dry-run` shows what is still to do."
        )
    if isinstance(result.error, errors.StoreTimeout) and result.rolled_back:
        # The step that met the cut is incidental: the whole transaction was too long.
        return (
            f"The apply took longer than {result.error.detail['seconds']:g} s, the store's bound for one "
            "transaction, and was rolled back. Nothing was applied: the account is as it was before. "
            "Split the file and apply the parts in turn."
        )
    if result.rolled_back and result.error is not None and result.error.detail.get("committed") is False:
        # The store lost its connection at the commit and learnt from the database that it was rolled back.
        return "The store's commit failed and was rolled back. Nothing was applied: apply the file again."
    if result.rolled_back or not result.applied:
        return f"Stopped at: {result.failed}. Nothing was applied: the account is as it was before."
    # The RAM API cannot undo: the changes before stay made (the credentials above are real).
    return (
        f"Stopped at: {result.failed}. The {_count(len(result.applied))} before it stay made; "
        "fix the cause and apply again to carry on."
    )


_YAML_SUFFIXES = (".yaml", ".yml")  # as `ram apply` reads them: any other name is read as JSON


@main.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    default=None,
    help="Default: yaml for an --output named *.yaml or *.yml, else json.",
)
@click.option("--output", "-o", "target", type=click.Path(dir_okay=False, path_type=Path), default=None)
@backend_command
def export_command(out: Output, backend: Backend, fmt: str | None, target: Path | None) -> None:
    """Write the account's users, groups, policies, attachments and roles as an organisation file."""
    named_yaml = target is not None and target.suffix.lower() in _YAML_SUFFIXES
    if fmt == "yaml" and target is not None and not named_yaml:
        # `ram apply` would read the file as JSON and refuse it.
        raise errors.InvalidParameter(
            "Output",
            f"YAML goes in a file named *.yaml or *.yml, which ram apply reads as YAML: not {target}.",
        )
    text = dump_organisation(
        export(backend), yaml_format=(fmt or ("yaml" if named_yaml else "json")) == "yaml"
    )
    if target is None:
        click.echo(text, nl=False)
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        # A missing directory, no permission, a full disk: the user's to fix, so a 4xx-style Code.
        raise errors.InvalidParameter("Output", f"Cannot write {target}: {exc.strerror or exc}.") from None
    click.echo(f"Wrote {target}.", err=True)
