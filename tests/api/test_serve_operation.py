"""`ram serve` as an operator runs it: a real process, its /healthz, its signals and slow clients."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from ram_middleware.cli.serve_http import RECEIVE_TIMEOUT
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.scaleout.cluster import instance_env
from tests.scaleout.servers import free_port, private_servers

from .live import Key, ram_client

RAM = (sys.executable, "-m", "ram_middleware.cli")


@dataclass
class Serving:
    """A running `ram serve`: its process, endpoint and the file its stderr goes to."""

    process: subprocess.Popen[bytes]
    endpoint: str
    log: Path

    def health(self) -> httpx.Response:
        return httpx.get(f"http://{self.endpoint}/healthz", timeout=10, trust_env=False)


@contextmanager
def ram_serve(env: dict[str, str], log: Path, *args: str) -> Iterator[Serving]:
    """`ram serve --port 0 ARGS` with ``env``, up (its /healthz answers), stopped afterwards."""
    command = [*RAM, "serve", "--port", "0", *args]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stderr=stderr)
    try:
        deadline = time.monotonic() + 20
        while not (found := re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        serving = Serving(process, f"127.0.0.1:{found.group(1)}", log)
        while True:
            try:
                serving.health()
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield serving
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_healthz_reports_the_store_or_guard_being_down(tmp_path: Path) -> None:
    """A load balancer probing /healthz takes out an instance that can only answer 503: its store or guard
    is down. The probe was 200 "ok" whatever happened behind it."""
    with private_servers() as (cluster, redis_server):
        env = instance_env(cluster.url, redis_server.url)
        init = subprocess.run([*RAM, "init"], env=env, capture_output=True)
        assert init.returncode == 0, init.stderr
        with ram_serve(env, tmp_path / "serve.log") as serving:
            assert serving.health().status_code == 200
            assert serving.health().json()["Status"] == "ok"

            redis_server.stop()
            down = serving.health()
            assert down.status_code == 503, down.text
            assert down.json()["Code"].startswith("ServiceUnavailable")
            redis_server.start()
            assert serving.health().status_code == 200

            cluster.stop()
            down = serving.health()
            assert down.status_code == 503, down.text
            assert down.json()["Code"].startswith("ServiceUnavailable")
            cluster.start()
            deadline = time.monotonic() + 20
            while serving.health().status_code != 200:
                assert time.monotonic() < deadline, "the store came back, /healthz did not"
                time.sleep(0.2)


@pytest.mark.slow
def test_a_client_slow_to_send_its_request_is_cut_off(tmp_path: Path) -> None:
    """Slowloris: connections that never finish their request (nothing at all, one header line a second,
    or a form body a byte a second) held a socket and a file descriptor each for as long as the client
    liked; enough of them and the server could accept no one else. Each now has RECEIVE_TIMEOUT seconds,
    then is closed."""
    init = subprocess.run([*RAM, "--store", f"sqlite:///{tmp_path}/ram.db", "init"], capture_output=True)
    assert init.returncode == 0, init.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAM_") and "proxy" not in k.lower()}
    with ram_serve(env, tmp_path / "serve.log", "--store", f"sqlite:///{tmp_path}/ram.db") as serving:
        host, port = serving.endpoint.split(":")
        idle = socket.create_connection((host, int(port)))
        head = socket.create_connection((host, int(port)))
        head.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        # A signed call's form body is read, each part within 30 s of the last (the middleware's bound).
        body = socket.create_connection((host, int(port)))
        body.sendall(
            b"POST /?AccessKeyId=LTAIx&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&Signature=x"
            b" HTTP/1.1\r\n"
            b"Host: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        trickles = {"idle": (idle, b""), "head": (head, b"X-Slow: 1\r\n"), "body": (body, b"a")}
        started = time.monotonic()
        closed: dict[str, float] = {}
        while len(closed) < len(trickles) and time.monotonic() - started < RECEIVE_TIMEOUT + 10:
            for name, (sock, more) in trickles.items():
                if name not in closed and _closed_by_server(sock, more):
                    closed[name] = time.monotonic() - started
        for sock, _ in trickles.values():
            sock.close()
        assert set(closed) == set(trickles), closed
        assert all(RECEIVE_TIMEOUT - 1 <= after <= RECEIVE_TIMEOUT + 5 for after in closed.values()), closed
        assert serving.health().status_code == 200


def _closed_by_server(sock: socket.socket, send: bytes) -> bool:
    """Send ``send`` (if any), wait up to half a second: whether the server has closed the connection."""
    try:
        if send:
            sock.sendall(send)
        sock.settimeout(0.5)
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:  # reset: closed too
        return True


def test_sigterm_lets_the_call_in_flight_finish_writes_what_is_pending_and_exits_0(tmp_path: Path) -> None:
    """systemd, Docker and Kubernetes stop a service with SIGTERM: `ram serve` finished the call in flight
    and wrote its audit event and the key's last-used date, but then died of the signal (exit status
    -15, 143 in a shell), which supervisors report as a failure; Ctrl-C already exited 0."""
    url = f"sqlite:///{tmp_path}/ram.db"
    init = subprocess.run([*RAM, "--store", url, "--json", "init"], capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    created = json.loads(init.stdout)
    admin = Key(created["AccessKeyId"], created["AccessKeySecret"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAM_") and "proxy" not in k.lower()}
    # At the debug level, whose log must not carry the password, the secret or the signatures either.
    with ram_serve(env, tmp_path / "serve.log", "--store", url, "--log-level", "debug") as serving:
        client = ram_client(serving.endpoint, admin, signature="v2")  # RPC v1: signatures in the query
        # A CreateLoginProfile hashes a password (a few tenths of a second): in flight as SIGTERM arrives.
        client.create_user(ram_models.CreateUserRequest(user_name="hire"))
        with ThreadPoolExecutor(1) as pool:
            call = pool.submit(
                client.create_login_profile,
                ram_models.CreateLoginProfileRequest(user_name="hire", password="Correct-Horse-9-battery"),
            )
            time.sleep(0.1)
            serving.process.send_signal(signal.SIGTERM)
            assert call.result(timeout=15).body.login_profile.user_name == "hire"
        assert serving.process.wait(15) == 0, serving.log.read_text()
    log = serving.log.read_text()
    assert "Application shutdown complete." in log
    assert [s for s in (admin.secret, "Correct-Horse-9-battery", "Signature=") if s in log] == []
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert [e["action"] for e in events] == ["ram:CreateUser", "ram:CreateLoginProfile"]
    store = open_store(url)
    try:
        keys = RamService(store).list_access_keys(created["AccountId"], "admin")
        assert keys[0].last_used_date is not None
    finally:
        store.close()


def test_log_level_governs_the_projects_own_warnings_and_labels_them(tmp_path: Path) -> None:
    """The project's warnings (here: the Redis guard not answering) came out as bare lines through Python's
    last-resort handler whatever --log-level said: `--log-level error` did not quiet them, and nothing
    told them apart from the audit log. They are now `WARNING:  …` lines like uvicorn's, at its level."""
    url = f"sqlite:///{tmp_path}/ram.db"
    init = subprocess.run([*RAM, "--store", url, "init"], capture_output=True)
    assert init.returncode == 0, init.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAM_") and "proxy" not in k.lower()}
    env["RAM_GUARD_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    for level in ("warning", "error"):
        with ram_serve(env, tmp_path / f"{level}.log", "--store", url, "--log-level", level) as serving:
            assert serving.health().status_code == 503
        warned = [line for line in serving.log.read_text().splitlines() if "Redis guard" in line]
        if level == "warning":
            assert warned and all(line.startswith("WARNING:  Redis guard redis://") for line in warned), (
                warned
            )
        else:
            assert warned == []


def test_twenty_sdk_clients_at_once_get_answers_and_make_each_user_once(tmp_path: Path) -> None:
    """20 threads of the official SDK (ACS3 and RPC v1) creating users, ten of them the same one, and
    listing them: every call answers (200, or 409 for the same user again), and each user exists once."""
    url = f"sqlite:///{tmp_path}/ram.db"
    init = subprocess.run([*RAM, "--store", url, "--json", "init"], capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    admin = Key(json.loads(init.stdout)["AccessKeyId"], json.loads(init.stdout)["AccessKeySecret"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAM_") and "proxy" not in k.lower()}

    def create_and_list(i: int) -> str:
        client = ram_client(serving.endpoint, admin, signature="v2" if i % 2 else None)
        try:
            client.create_user(ram_models.CreateUserRequest(user_name="same" if i < 10 else f"user-{i}"))
            outcome = "created"
        except TeaException as exc:
            outcome = f"{exc.code} {exc.statusCode}"
        client.list_users(ram_models.ListUsersRequest(max_items=100))
        return outcome

    with ram_serve(env, tmp_path / "serve.log", "--store", url) as serving:
        with ThreadPoolExecutor(20) as pool:
            outcomes = list(pool.map(create_and_list, range(20), timeout=30))
        users = ram_client(serving.endpoint, admin).list_users(ram_models.ListUsersRequest(max_items=100))
    assert sorted(outcomes) == ["EntityAlreadyExists.User 409"] * 9 + ["created"] * 11
    names = [user.user_name for user in users.body.users.user]
    assert sorted(names) == sorted(["admin", "same", *(f"user-{i}" for i in range(10, 20))])
