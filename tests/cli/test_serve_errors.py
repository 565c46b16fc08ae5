"""``ram serve`` refuses a setup it cannot run with one line naming the problem, never a traceback."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from ram_middleware.cli import main

from .conftest import CLEAN_ENV, Ram


def _serve(ram: Ram, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--store", ram.url, "serve", "--port", "0"], env={**CLEAN_ENV, **env})
    return result.exit_code, result.stderr


def test_serve_without_the_serve_extra_names_it(ram: Ram, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert _serve(ram) == (
        1,
        "Error: MissingDependency: ram serve needs the Python package 'uvicorn', which is not installed: "
        "pip install 'ram-middleware[serve]'.\n",
    )


def test_a_bad_setting_is_not_blamed_on_the_store(ram: Ram) -> None:
    code, stderr = _serve(ram, RAM_UNDECLARED="sometimes")
    assert code == 1
    assert stderr == (
        f"Error: cannot start (store {ram.url}): InvalidParameter.Undeclared: "
        "undeclared must be 'deny', 'allow' or 'authenticate'.\n"
    )
