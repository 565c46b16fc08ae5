"""``ram account …`` and ``ram whoami``: the account itself, and who the command acts as."""

from __future__ import annotations

import click

from . import main
from .backend import Backend, backend_command
from .output import Output

__all__ = ["account", "whoami"]


@main.group("account")
def account() -> None:
    """The account: show (warns when the root lacks MFA or has AccessKeys), set-alias."""


@account.command("show")
@backend_command
def show(out: Output, backend: Backend) -> None:
    """Show the account, whether its root has MFA, and whether it (wrongly) has AccessKeys.

    Through --endpoint, RootAccessKeys is not shown (the RAM API cannot list the root's AccessKeys), nor
    RootMFADevice when the caller lacks ram:ListVirtualMFADevices.
    """
    summary = backend.account_summary()
    out.entity(summary, key="Account")
    if "RootMFADevice" in summary and summary["RootMFADevice"] is None:
        out.warn(f"the account root has no MFA device; {backend.root_mfa_advice()}")
    if summary.get("RootAccessKeys"):
        out.warn("the account root has AccessKeys; delete them and use RAM users instead.")


@account.command("set-alias")
@click.argument("alias")
@backend_command
def set_alias(out: Output, backend: Backend, alias: str) -> None:
    """Set the account alias (users then log on as user@alias)."""
    backend.set_account_alias(alias)
    out.done(f"The account alias is now {alias}.", {"AccountAlias": alias})


@main.command("whoami")
@backend_command
def whoami(out: Output, backend: Backend) -> None:
    """Who the command acts as (GetCallerIdentity through the API; the account owner locally)."""
    out.entity({**backend.caller_identity(), "Via": backend.describe()})
