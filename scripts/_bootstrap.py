"""Create (or refresh) the project's virtual environment in ./.venv and return its Python.

Used by ``scripts/test.py`` and ``scripts/demo.py`` so that a fresh clone needs nothing but Python >= 3.11 and
pip. The environment is reinstalled only when ``pyproject.toml`` changes (a hash stamp in the venv).
"""

from __future__ import annotations

import hashlib
import os
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
        print("[setup] creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".ram-middleware-installed"
    if not stamp.exists() or stamp.read_text().strip() != digest:
        print(f"[setup] installing ram-middleware[{extras}] into .venv (first run: a minute)", flush=True)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[{extras}]"], check=True)
        stamp.write_text(digest)
    return python
