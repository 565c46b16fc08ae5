"""``ram serve`` refuses a setup it cannot run with one line naming the problem, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from ram_middleware.cli import main
from tests.api.live import self_signed

from .conftest import CLEAN_ENV, ROOT, Ram


def _serve(ram: Ram, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--store", ram.url, "serve", "--port", "0"], env={**CLEAN_ENV, **env})
    return result.exit_code, result.stderr


def test_serve_without_the_serve_extra_names_it(ram: Ram, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert _serve(ram) == (
        1,
        "Error: MissingDependency: ram serve needs the Python package 'uvicorn', which is not installed: "
        "install ram-middleware's 'serve' extra (from a checkout: pip install './ram-middleware[serve]').\n",
    )


def test_a_bad_setting_is_not_blamed_on_the_store(ram: Ram) -> None:
    code, stderr = _serve(ram, RAM_UNDECLARED="sometimes")
    assert code == 1
    assert stderr == (
        f"Error: cannot start (store {ram.url}): InvalidParameter.Undeclared: "
        "undeclared must be 'deny', 'allow' or 'authenticate'.\n"
    )


def test_a_bad_tls_pair_is_one_line_before_anything_starts(ram: Ram, tmp_path: Path) -> None:
    """Junk, or a key of another certificate: `Error: cannot use --tls-cert …`, not an SSLError traceback."""
    cert, key = self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = self_signed(other)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    encrypted = tmp_path / "encrypted.pem"
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    for pair in ((junk, key), (cert, junk), (cert, other_key), (cert, encrypted)):
        tls = ["--tls-cert", str(pair[0]), "--tls-key", str(pair[1])]
        result = CliRunner().invoke(
            main, ["--store", ram.url, "serve", "--port", "0", *tls], env=CLEAN_ENV, input=""
        )
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
        assert str(pair[1]) in result.stderr


def test_a_bad_ram_limits_stops_serve_naming_the_setting(ram: Ram) -> None:
    code, stderr = _serve(ram, RAM_LIMITS="users_per_account=many")
    assert code == 1
    assert stderr == (
        f"Error: cannot start (store {ram.url}): InvalidParameter.RAM_LIMITS: "
        "RAM_LIMITS: users_per_account must be a whole number of at least 1.\n"
    )


def test_serve_refuses_a_sqlite_store_that_is_not_there_rather_than_create_it(tmp_path: Path) -> None:
    # A mistyped --store served an empty new database (every signed call refused) and left it and a new key
    # file behind, where every other command but `ram init` refuses such a store. A process of its own, so
    # that a server that does start is stopped.
    missing = tmp_path / "typo" / "ram.db"
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    command = [
        sys.executable,
        "-m",
        "ram_middleware.cli",
        "--store",
        f"sqlite:///{missing}",
        "serve",
        "--port",
        "0",
    ]
    with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as server:
        try:
            _, stderr = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
            pytest.fail("ram serve started on a store that is not there")
    assert server.returncode == 1
    assert stderr == (
        f"Error: cannot start (store sqlite:///{missing}): EntityNotExist.Store: No store at {missing}: "
        "run `ram init` first, or name yours with --store or $RAM_STORE_URL.\n"
    )
    assert not (tmp_path / "typo").exists()
