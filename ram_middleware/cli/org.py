"""``ram apply`` and ``ram export``: the organisation as a file (JSON or YAML).

``apply`` prints the plan first and asks before changing anything (``--yes`` skips the question,
``--dry-run`` stops after the plan); a second apply of the same file finds nothing to do. New credentials
(AccessKey secrets, initial console passwords) are printed once, at the end.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..organisation import dump_organisation, export, load_organisation, plan, run_changes
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
    """Make the account match an organisation file (idempotent; shows the plan first)."""
    changes = plan(backend, None, load_organisation(path))
    steps = [change.description for change in changes]
    if not changes:
        out.done(
            f"Nothing to change: {backend.describe()} already matches {path.name}.",
            {"Plan": [], "Applied": []},
        )
        return
    out.say(
        f"Plan for {backend.describe()}: {len(changes)} change{'s' if len(changes) != 1 else ''}", err=True
    )
    for step in steps:
        out.say(f"  {_sign(step)} {step}", err=True)
    if dry_run:
        out.data({"Plan": steps, "Applied": []})
        return
    if not yes:
        click.confirm("Apply these changes?", abort=True, err=True)
    result = run_changes(changes)
    if out.json_output:
        failed = None if result.error is None else {"Step": result.failed, "Code": result.error.code}
        out.data({"Plan": steps, "Applied": result.applied, "Secrets": result.secrets, "Failed": failed})
    else:
        out.say(f"Applied {len(result.applied)} change{'s' if len(result.applied) != 1 else ''}.")
        if result.secrets:
            out.say("New credentials (shown once; store them now):")
            for label, fields in result.secrets.items():
                shown = ", ".join(f"{k}={v}" for k, v in fields.items() if k != "UserName")
                out.say(f"  {label}: {shown}")
    if result.error is not None:
        # The steps before stay applied (the credentials above are real); fix the file and apply again.
        click.echo(f"Stopped at: {result.failed}", err=True)
        raise result.error


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "yaml"]), default="json", show_default=True)
@click.option("--output", "-o", "target", type=click.Path(dir_okay=False, path_type=Path), default=None)
@backend_command
def export_command(out: Output, backend: Backend, fmt: str, target: Path | None) -> None:
    """Write the account's users, groups, policies, attachments and roles as an organisation file."""
    text = dump_organisation(export(backend), yaml_format=fmt == "yaml")
    if target is None:
        click.echo(text, nl=False)
        return
    target.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {target}.", err=True)
