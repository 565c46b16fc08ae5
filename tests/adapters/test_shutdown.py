"""Stopping a server that runs a protected app: what was answered is on record once the process is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from examples.starlette_app.seed import seed
from ram_middleware.client import RamAuth
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.scaleout.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_uvicorn_stopped_by_a_signal_writes_the_audit_events_and_last_used_dates_of_answered_requests(
    tmp_path: Path, stop: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    store = open_store(url)
    try:
        account, key_id, secret = seed(RamService(store))
    finally:
        store.close()
    capsys.readouterr()  # seed prints the secret
    audit = tmp_path / "audit.log"
    env = {name: value for name, value in os.environ.items() if not name.upper().endswith("_PROXY")}
    # A long write-behind interval: the event is surely still pending when the signal comes.
    env.update(RAM_STORE_URL=url, RAM_AUDIT=str(audit), RAM_AUDIT_FLUSH_INTERVAL="30", PYTHONPATH=str(ROOT))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.starlette_app.app:app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "uvicorn did not come up"
                time.sleep(0.05)
        answered = httpx.get(
            f"http://127.0.0.1:{port}/notes/n1", auth=RamAuth(key_id, secret), timeout=5, trust_env=False
        )
        assert answered.status_code == 200
        server.send_signal(stop)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.stderr is not None
    assert "Application shutdown complete." in server.stderr.read()
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    recorded = [(event["access_key_id"], event["decision"], event["path"]) for event in events]
    assert recorded == [(key_id, "Allow", "/notes/n1")]
    store = open_store(url)
    try:
        (key,) = RamService(store).list_access_keys(account, "reader")
        assert key.last_used_date is not None
    finally:
        store.close()
