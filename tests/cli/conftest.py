"""Fixtures for the ``ram`` command: a temp SQLite store with one account, and a CliRunner bound to it."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ram_middleware.cli import main
from ram_middleware.service import RamService
from ram_middleware.store import open_store

ROOT = Path(__file__).resolve().parents[2]
ORG_FILE = ROOT / "examples" / "company_x" / "organisation.json"

# Variables that would point the command at a server or another store.
CLEAN_ENV: dict[str, str | None] = {
    "RAM_ENDPOINT": None,
    "ALIBABA_CLOUD_ACCESS_KEY_ID": None,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": None,
    "RAM_STORE_URL": None,
    "RAM_MASTER_KEY": None,
    "RAM_TOKEN_KEYS": None,
}


class Commands(ABC):
    """Runs ``ram …`` in-process (how, and against what, is the subclass's ``__call__``) and checks it."""

    @abstractmethod
    def __call__(self, *args: str, input: str | None = None, json_output: bool = False) -> Result:
        """The command's result, whatever its exit status."""

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run and require exit status 0."""
        result = self(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run with --json, require exit status 0, and parse stdout."""
        result = self(*args, input=input, json_output=True)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def fails(self, *args: str, code: str, input: str | None = None) -> Result:
        """Run, require exit status 1 and ``Error: <code>: …`` on stderr."""
        result = self(*args, input=input)
        assert result.exit_code == 1, result.output
        assert f"Error: {code}: " in result.stderr, result.stderr
        return result


@dataclass
class Ram(Commands):
    """Runs ``ram --store <url> …`` in-process; ``service`` sees the same store. ``env``: the command's
    environment changes (CLEAN_ENV by default)."""

    url: str
    account_id: str
    service: RamService
    runner: CliRunner
    env: dict[str, str | None] = field(default_factory=lambda: dict(CLEAN_ENV))

    def __call__(self, *args: str, input: str | None = None, json_output: bool = False) -> Result:
        prefix = ["--store", self.url, *(["--json"] if json_output else [])]
        return self.runner.invoke(main, [*prefix, *args], input=input, env=self.env, catch_exceptions=False)


def make_ram(path: Path, alias: str | None = None) -> Ram:
    url = f"sqlite:///{path / 'ram.db'}"
    service = RamService(open_store(url))
    account = service.create_account(alias)
    return Ram(url, account.account_id, service, CliRunner())


@pytest.fixture
def ram(tmp_path: Path) -> Ram:
    return make_ram(tmp_path)


@pytest.fixture
def ram_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str | None], Ram]:
    def factory(alias: str | None = None) -> Ram:
        return make_ram(tmp_path_factory.mktemp("store"), alias)

    return factory


def write_json(path: Path, value: object) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def simulate_args(
    user: str, action: str, resource: str, *, ip: str | None = None, when: str | None = None
) -> list[str]:
    """``ram simulate`` arguments: ``user`` doing ``action`` on ``resource``, from ``ip`` at ``when``."""
    args = ["simulate", "--user", user, "--action", action, "--resource", resource]
    if ip is not None:
        args += ["--source-ip", ip]
    if when is not None:
        args += ["--time", when]
    return args


def write_allow(path: Path, action: str, resource: str) -> str:
    """A policy document allowing ``action`` on ``resource``, written to ``path``; returns the path."""
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return write_json(path, {"Version": "1", "Statement": [statement]})
