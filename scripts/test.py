"""Run the whole test suite: ``python3 scripts/test.py [pytest args]``.

Creates ./.venv on first use. Tests that need PostgreSQL, Redis or Chromium skip with a reason when those are
missing, except under ``CI=true`` where they must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from _bootstrap import ROOT, ensure_venv


def ensure_chromium() -> None:
    """The console's browser tests drive Debian's Chromium; install it when this machine can.

    Playwright's own browser download is not used. Without root or apt-get the browser tests skip (and
    fail under CI=true), so nothing here is fatal.
    """
    if Path("/usr/bin/chromium").exists() or not shutil.which("apt-get"):
        return
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        print("[setup] /usr/bin/chromium missing and not root: browser tests will skip", flush=True)
        return
    print("[setup] installing Debian's chromium for the browser tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, env=env)


def main() -> int:
    python = ensure_venv("dev")
    ensure_chromium()
    env = dict(os.environ)
    # The official SDKs read proxies and credentials from the environment; tests must not.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    env.setdefault("NO_PROXY", "127.0.0.1,localhost")
    cmd = [str(python), "-m", "pytest", *sys.argv[1:]]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
