"""The README's code blocks, for the tests that run them as a reader would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ``ram`` as this checkout's CLI (the installed script may belong to another checkout).
_SHELL_PRELUDE = 'set -euo pipefail\nram() { "$RAM_PYTHON" -m ram_middleware.cli "$@"; }\n'


def readme_section(heading: str) -> str:
    """The text under the README's ``## heading``, up to the next ``## `` heading."""
    readme = (ROOT / "README.md").read_text()
    return readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def readme_blocks(heading: str, language: str) -> list[str]:
    """The code blocks fenced as ``language`` ("" for a plain shell block) under ``heading``, in order."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", readme_section(heading), re.S | re.M)
    return [code for lang, code in blocks if lang == language]


def shell_env() -> dict[str, str]:
    """The environment the README's shell blocks run in: ``ram`` this checkout's CLI, no ``RAM_*`` or
    ``ALIBABA_CLOUD_*`` variables from the test's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAM_", "ALIBABA_CLOUD_"))}
    env.update(RAM_PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    return env


def shell_command(code: str) -> list[str]:
    """``code`` as bash runs it (stopping at the first failure), with ``ram`` defined as :func:`shell_env`
    expects."""
    return ["bash", "-c", _SHELL_PRELUDE + code]


def run_shell(code: str, cwd: Path, input: str | None = None) -> str:
    """Run ``code`` in bash as printed (stopping at the first failure) with ``ram`` this checkout's CLI and
    no ``RAM_*``/``ALIBABA_CLOUD_*`` variables from the test's environment, ``input`` (what a reader would
    type) on stdin; returns its stdout."""
    command, env = shell_command(code), shell_env()
    done = subprocess.run(command, cwd=cwd, env=env, input=input, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{code}\nfailed: {done.stderr}"
    return done.stdout


def readme_imports() -> dict[str, str]:
    """Each name the README says where to import from, with its module: ``from ram_middleware.x import A,
    B`` (in a block or inline, across a line break too) and notes such as
    ``(`A`, `B`: `ram_middleware.x`; `C`: …)``."""
    readme = (ROOT / "README.md").read_text()
    found: dict[str, str] = {}
    for module, names in re.findall(r"from (ram_middleware[\w.]*)\s+import\s+(\w+(?:,\s*\w+)*)", readme):
        found.update((name.strip(), module) for name in names.split(","))
    for names, module in re.findall(r"(?:\(|;\s)((?:`\w+`,\s*)*`\w+`):\s*`(ram_middleware[\w.]*)`", readme):
        found.update((name, module) for name in re.findall(r"`(\w+)`", names))
    return found
