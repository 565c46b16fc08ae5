"""Fixtures for the ``ram`` command: a temp SQLite store with one account, and a CliRunner bound to it."""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ram_middleware import errors
from ram_middleware.cli import main
from ram_middleware.credentials.password import LogonThrottle, PasswordPolicy
from ram_middleware.crypto import generate_key
from ram_middleware.guard import Guard, SqliteGuard
from ram_middleware.service import RamService
from ram_middleware.store import open_store, sqlite_path
from tests.scaleout.servers import pg_schema_url, require_shared_postgres

ROOT = Path(__file__).resolve().parents[2]
ORG_FILE = ROOT / "examples" / "company_x" / "organisation.json"

# Variables that would point the command at a server or another store.
CLEAN_ENV: dict[str, str | None] = {
    "RAM_ENDPOINT": None,
    "ALIBABA_CLOUD_ACCESS_KEY_ID": None,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": None,
    "ALIBABA_CLOUD_SECURITY_TOKEN": None,
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


@pytest.fixture(params=["sqlite", "postgres"])
def store_ram(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ram]:
    """``ram`` on a fresh store of the given kind with one account (Company X applied)."""
    if request.param == "sqlite":
        ram = make_ram(tmp_path)
        try:
            ram.ok("apply", str(ORG_FILE), "--yes")
            yield ram
        finally:
            ram.service.store.close()
        return
    require_shared_postgres()
    key = generate_key()
    with pg_schema_url() as url:
        store = open_store(url, master_keys=[key], env={})
        try:
            service = RamService(store)
            account = service.create_account(None)
            # A guard file of the test's own: the command refuses a per-process guard on a shared store.
            env = {**CLEAN_ENV, "RAM_MASTER_KEY": key, "RAM_GUARD_URL": f"sqlite:///{tmp_path}/guard.db"}
            ram = Ram(url, account.account_id, service, CliRunner(), env)
            ram.ok("apply", str(ORG_FILE), "--yes")
            yield ram
        finally:
            store.close()


def dump(url: str) -> dict[str, list[str]]:
    """Every row of every table of the store (the change counter too), each table's rows sorted."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for (t,) in names}
    import psycopg

    with psycopg.connect(url) as pg:
        names = pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {str(t): sorted(map(repr, pg.execute(f'SELECT * FROM "{t}"'))) for (t,) in names}


def store_guard(store_url: str) -> SqliteGuard:
    """The guard of a SQLite store by default (its own file), which the command and ``ram serve`` share."""
    path = sqlite_path(store_url)
    assert path is not None
    return SqliteGuard(path)


def lock_out(guard: Guard, account_id: str, user_name: str) -> LogonThrottle:
    """Count failed logons of ``user_name`` (default policy) until the next attempt is refused
    (``LoginLocked``); returns the counter."""
    throttle = LogonThrottle(guard, PasswordPolicy().max_login_attempts)
    with pytest.raises(errors.LoginLocked):
        for _ in range(PasswordPolicy().max_login_attempts + 1):
            throttle.attempt(account_id, user_name)
    return throttle


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


def assume_role_cases(ram: Commands, account_id: str, tmp_path: Path) -> str:
    """Users allowed by their own policy to assume roles, and a role ``Shared`` that trusts only some of
    them: ``trusted`` outright, ``partner`` given ExternalId ``x-123``; ``outsider`` is not trusted and
    ``stranger`` is trusted but has no policy allowing sts:AssumeRole. Returns the role's ARN."""
    for user in ("trusted", "partner", "outsider", "stranger"):
        ram.ok("users", "create", user)
    for user in ("trusted", "partner", "outsider"):
        ram.ok("policies", "attach", "AliyunSTSAssumeRoleAccess", "--user", user)
    arn = f"acs:ram::{account_id}:user/"
    statements = [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": [arn + "trusted", arn + "stranger"]},
        },
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": arn + "partner"},
            "Condition": {"StringEquals": {"sts:ExternalId": "x-123"}},
        },
    ]
    trust = write_json(tmp_path / "shared-trust.json", {"Version": "1", "Statement": statements})
    return str(ram.json("roles", "create", "Shared", "--trust", trust)["Role"]["Arn"])


ASSUME_ROLE_CASES: tuple[tuple[str, str | None], ...] = (
    ("trusted", None),
    ("partner", None),
    ("partner", "x-123"),
    ("outsider", None),
    ("stranger", None),
)
"""(user, ExternalId) of :func:`assume_role_cases`: who asks to assume ``Shared``, with which ExternalId."""
