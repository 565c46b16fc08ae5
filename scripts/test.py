"""Run the whole test suite: ``python3 scripts/test.py [pytest args]``.

Creates ./.venv on first use. Tests that need PostgreSQL, Redis or Chromium skip with a reason when those are
missing, except under ``CI=true`` where they must run.
"""

from __future__ import annotations

import os
import subprocess
import sys

from _bootstrap import ROOT, ensure_venv


def main() -> int:
    python = ensure_venv("dev")
    env = dict(os.environ)
    # The official SDKs read proxies and credentials from the environment; tests must not.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    env.setdefault("NO_PROXY", "127.0.0.1,localhost")
    cmd = [str(python), "-m", "pytest", *sys.argv[1:]]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
