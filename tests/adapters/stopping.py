"""A server process of its own over a seeded SQLite store, for tests that stop it with a signal and then
read what it wrote (audit events, last-used dates)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from examples.starlette_app.seed import seed
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.scaleout.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Seeded:
    """The example organisation in ``tmp_path``'s store, and the environment a server on it runs with."""

    url: str
    account: str
    key_id: str
    secret: str
    audit: Path
    env: dict[str, str]


def seeded(tmp_path: Path) -> Seeded:
    """Seed the example store; the server's audit file gets a 30 s write-behind interval, so what it was
    given is surely still pending when a signal comes."""
    url = f"sqlite:///{tmp_path}/ram.db"
    store = open_store(url)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # seed prints the secret
            account, key_id, secret = seed(RamService(store))
    finally:
        store.close()
    audit = tmp_path / "audit.log"
    env = {name: value for name, value in os.environ.items() if not name.upper().endswith("_PROXY")}
    env.update(RAM_STORE_URL=url, RAM_AUDIT=str(audit), RAM_AUDIT_FLUSH_INTERVAL="30", PYTHONPATH=str(ROOT))
    return Seeded(url, account, key_id, secret, audit, env)


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], ready: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``python <argv>`` (``{port}`` in it filled) until the block ends, once GET ``ready`` (a path) is
    answered; killed if still running then. Yields the process (stderr piped) and its port."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, *(part.format(port=port) for part in argv)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not come up"
                time.sleep(0.05)
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
