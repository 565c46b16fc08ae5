"""Run the Company X demo: ``python3 scripts/demo.py [args for python -m examples.company_x]``.

Creates ./.venv on first use, then runs ``python -m examples.company_x walkthrough`` (or the arguments given).
"""

from __future__ import annotations

import subprocess
import sys

from _bootstrap import ROOT, ensure_venv


def main() -> int:
    python = ensure_venv("dev")
    args = sys.argv[1:] or ["walkthrough"]
    return subprocess.run([str(python), "-m", "examples.company_x", *args], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
