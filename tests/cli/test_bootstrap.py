"""scripts/_bootstrap.py on a Python that cannot make a virtual environment with pip."""

from __future__ import annotations

import importlib.util
import subprocess
import venv
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "_bootstrap.py"
_spec = importlib.util.spec_from_file_location("_bootstrap", _SCRIPT)
assert _spec is not None and _spec.loader is not None
_bootstrap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bootstrap)


def test_a_python_without_ensurepip_gets_a_clear_message_and_no_half_made_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / ".venv"

    def create_without_pip(self: venv.EnvBuilder, env_dir: str | Path) -> None:
        Path(env_dir, "bin").mkdir(parents=True)  # what venv leaves before ensurepip fails
        raise subprocess.CalledProcessError(1, ["python", "-m", "ensurepip"])

    monkeypatch.setattr(_bootstrap, "VENV", target)
    monkeypatch.setattr(venv.EnvBuilder, "create", create_without_pip)
    with pytest.raises(SystemExit) as exited:
        _bootstrap.ensure_venv()
    assert "python3-venv" in str(exited.value.code)
    assert not target.exists()  # the next run starts over instead of reusing a .venv without pip
