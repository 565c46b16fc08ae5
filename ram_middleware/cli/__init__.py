"""The `ram` command: one click group; each submodule of this package registers its commands on it."""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import click

DEFAULT_STORE_URL = "sqlite:///ram.db"


@dataclass(frozen=True)
class CliContext:
    """Options shared by every `ram` subcommand (available as `ctx.obj`)."""

    store_url: str
    json_output: bool
    # Given before the subcommand (`ram --endpoint URL users list`); the subcommand's own options win.
    account: str | None = None
    endpoint: str | None = None
    access_key_id: str | None = None
    access_key_secret: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)


pass_cli = click.make_pass_decorator(CliContext)

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """Accept `--store`/`--json` after the subcommand too (`ram serve --store …`) and pass the merged
    CliContext as the command's first argument."""

    def wrapper(*args: Any, sub_store_url: str | None, sub_json: bool, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        base = ctx.obj if isinstance(ctx.obj, CliContext) else _default_context()
        merged = replace(
            base,
            store_url=sub_store_url or base.store_url,
            json_output=base.json_output or sub_json,
        )
        return func(merged, *args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    # Keep the options already declared on `func` (click stores them on the function object).
    wrapper.__click_params__ = list(getattr(func, "__click_params__", []))  # type: ignore[attr-defined]
    decorated = click.option("--json", "sub_json", is_flag=True, help="Machine-readable JSON output.")(
        wrapper
    )
    decorated = click.option(
        "--store", "sub_store_url", default=None, help="Store URL (overrides ram --store)."
    )(decorated)
    return decorated  # type: ignore[return-value]


def _default_context() -> CliContext:
    return CliContext(store_url=os.environ.get("RAM_STORE_URL", DEFAULT_STORE_URL), json_output=False)


@click.group(name="ram")
@click.option(
    "--store",
    "store_url",
    default=lambda: os.environ.get("RAM_STORE_URL", DEFAULT_STORE_URL),
    show_default="$RAM_STORE_URL or sqlite:///ram.db",
    help="Store URL: sqlite:///path, postgresql://…, memory://",
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON output.")
@click.option("--account", default=None, help="Account (id or alias) in the local store.")
@click.option(
    "--endpoint", default=None, help="RAM API endpoint (also after the subcommand, or $RAM_ENDPOINT)."
)
@click.option("--access-key-id", default=None, help="AccessKeyId for --endpoint.")
@click.option(
    "--access-key-secret",
    default=None,
    help="AccessKeySecret for --endpoint (prefer the env; asked for on a terminal when omitted).",
)
@click.option("--security-token", default=None, help="SecurityToken of STS credentials for --endpoint.")
@click.version_option(package_name="ram-middleware")
@click.pass_context
def main(
    ctx: click.Context,
    store_url: str,
    json_output: bool,
    account: str | None,
    endpoint: str | None,
    access_key_id: str | None,
    access_key_secret: str | None,
    security_token: str | None,
) -> None:
    """Administer ram-middleware: users, groups, policies, keys, roles, and the control-plane server."""
    ctx.obj = CliContext(
        store_url, json_output, account, endpoint, access_key_id, access_key_secret, security_token
    )


def _register_submodules() -> None:
    # Each module registers its commands on `main` when imported; a module still being written
    # elsewhere (absent) is simply skipped.
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{info.name}":
                raise


_register_submodules()
