"""Create (or refresh) the project's virtual environment in ./.venv and return its Python.

Used by ``scripts/test.py`` and ``scripts/demo.py`` so that a fresh clone needs nothing but Python >= 3.11 and
pip. The environment is reinstalled only when ``pyproject.toml`` changes (a hash stamp in the venv).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(extras: str = "dev") -> Path:
    """Make sure ./.venv exists with ``pip install -e .[extras]`` done for the current pyproject.toml."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs under whatever python3 the user has
        sys.exit(f"ram-middleware needs Python >= 3.11 (this is {sys.version.split()[0]})")
    python = venv_python()
    if not python.exists():
        _create()
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".ram-middleware-installed"
    if not stamp.exists() or stamp.read_text().strip() != digest:
        print(f"[setup] installing ram-middleware[{extras}] into .venv (first run: a minute)", flush=True)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        if subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True).returncode != 0:
            _create()  # a .venv left without pip (an earlier run's failed creation): make it again
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[{extras}]"], check=True)
        stamp.write_text(digest)
    return python


def _create() -> None:
    """A fresh ./.venv with pip; a clear message, and no half-made .venv left, when Python cannot make one
    (Debian and Ubuntu ship ``venv`` without ``ensurepip`` unless python3-venv is installed)."""
    print("[setup] creating .venv", flush=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        sys.exit(
            f"[setup] could not create .venv with pip ({exc}). This Python cannot make virtual environments "
            f"with pip: on Debian or Ubuntu install the python3-venv package (python{sys.version_info[0]}."
            f"{sys.version_info[1]}-venv), then run this command again."
        )
