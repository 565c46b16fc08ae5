"""Several uvicorn instances of :mod:`tests.scaleout.instance_app` sharing one store and one guard.

:class:`World` seeds an account through :class:`RamService` on the shared store: group ``dev``
(AliyunECSReadOnlyAccess), group ``hr`` (AliyunRAMReadOnlyAccess, nothing on ECS) and ``admin`` with
AliyunRAMFullAccess; each test adds the users it needs. Requests are signed with RPC
signature v1, which does not cover the Host header: a request captured on one instance can be replayed
byte for byte to another, so what refuses it there is the shared nonce guard, not a signature mismatch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

import ram_middleware
from ram_middleware.client import RequestSigner
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from tests.scaleout.servers import free_port

REPO = Path(__file__).resolve().parents[2]
MASTER_KEY = "c2NhbGVvdXQtdGVzdC1tYXN0ZXIta2V5LTMyYnl0ZXM="  # 32 bytes, URL-safe base64
TOKEN_KEY = "scaleout-test-token-key-0123456789abcdef"


def instance_env(store_url: str, guard_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAM_") and "proxy" not in k.lower()}
    package_root = str(Path(ram_middleware.__file__).resolve().parents[1])
    env.update(
        PYTHONPATH=os.pathsep.join(dict.fromkeys([package_root, str(REPO)])),
        RAM_STORE_URL=store_url,
        RAM_GUARD_URL=guard_url,
        RAM_MASTER_KEY=MASTER_KEY,
        RAM_TOKEN_KEYS=TOKEN_KEY,
        RAM_AUDIT="memory:",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


@dataclass
class Instance:
    """One uvicorn process on 127.0.0.1 and a random port.

    Its stderr goes to a temporary file, not a pipe: nobody reads a pipe while the instance runs, and once
    ~64 KiB of warnings fill it every thread that logs blocks and the instance stops answering.
    :meth:`stderr_tail` shows the end of it; a start-up failure includes it and :meth:`stop` prints it
    (pytest shows it with a failed test's report).
    """

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    stderr_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        fd, name = tempfile.mkstemp(prefix=f"ram-instance-{self.port}-", suffix=".stderr")
        self.stderr_path = Path(name)
        with os.fdopen(fd, "wb") as stderr:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "tests.scaleout.instance_app:app", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
                cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"instance exited with {self.proc.returncode}: {self.stderr_tail()}")
            try:
                if httpx.get(self.base + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"instance did not start: {self.stderr_tail()}")

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the instance wrote to stderr."""
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        with self.stderr_path.open("rb") as stderr:
            stderr.seek(max(0, stderr.seek(0, os.SEEK_END) - 4 * limit))
            return stderr.read().decode(errors="replace")[-limit:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        tail = self.stderr_tail()
        if tail:
            # Captured by pytest, and shown with the report of a test that failed.
            print(f"--- stderr of the instance on port {self.port} (tail) ---\n{tail}")
        if self.stderr_path is not None:
            self.stderr_path.unlink(missing_ok=True)
            self.stderr_path = None

    def health(self) -> dict[str, object]:
        body: dict[str, object] = httpx.get(self.base + "/health", timeout=5.0).json()
        return body


@dataclass(frozen=True)
class Signed:
    """A signed request as captured on the wire: method, path + query, headers."""

    method: str
    target: str
    headers: dict[str, str]

    def send(self, instance: Instance, timeout: float = 10.0) -> httpx.Response:
        return httpx.request(self.method, instance.base + self.target, headers=self.headers, timeout=timeout)


def sign(method: str, path: str, key: tuple[str, str]) -> Signed:
    """Sign ``method path`` with RPC v1 (fresh nonce and timestamp every call)."""
    signer = RequestSigner(key[0], key[1], scheme="v1")
    parts = signer.sign(method, "http://ram.example" + path, [("host", "ram.example")], b"")
    url = urlsplit(parts.url)
    return Signed(method, url.path + ("?" + url.query if url.query else ""), dict(parts.headers))


def call(instance: Instance, method: str, path: str, key: tuple[str, str]) -> httpx.Response:
    return sign(method, path, key).send(instance)


class World:
    """The seeded account on a shared store, and the admin façade the test process uses."""

    def __init__(self, store_url: str) -> None:
        self.store: Store = open_store(store_url, master_keys=[MASTER_KEY])
        self.svc = RamService(self.store)
        self.account = self.svc.create_account().account_id
        for group, policy in (("dev", "AliyunECSReadOnlyAccess"), ("hr", "AliyunRAMReadOnlyAccess")):
            self.svc.create_group(self.account, group)
            self.svc.attach_policy_to_group(self.account, "System", policy, group)
        self.admin = self.user("admin")
        self.svc.attach_policy_to_user(self.account, "System", "AliyunRAMFullAccess", "admin")

    def user(self, name: str, group: str | None = None) -> tuple[str, str]:
        """Create a user (optionally in ``group``) with an AccessKey; returns (AccessKeyId, secret)."""
        self.svc.create_user(self.account, name)
        if group is not None:
            self.svc.add_user_to_group(self.account, group, name)
        created = self.svc.create_access_key(self.account, name)
        return created.key.access_key_id, created.secret

    def mfa_user(self, name: str) -> str:
        """Create a user with a bound virtual MFA device; returns a code the service has not used yet."""
        self.svc.create_user(self.account, name)
        device = self.svc.create_virtual_mfa_device(self.account, f"{name}-phone")
        seed = device.base32_seed
        step = time_step(datetime.now(UTC))
        self.svc.bind_mfa_device(
            self.account, device.device.serial_number, name, code_at(seed, step - 1), code_at(seed, step)
        )
        # Binding used steps up to `step`; the next one is inside the ±1 window and still unused.
        return code_at(seed, step + 1)

    def close(self) -> None:
        self.svc.directory.close()
        self.store.close()


def wait_until(check: object, *, timeout: float, interval: float = 0.005) -> float:
    """Seconds until ``check()`` is true (polled every ``interval``); TimeoutError after ``timeout``."""
    assert callable(check)
    started = time.perf_counter()
    while True:
        if check():
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


@contextmanager
def two_instances(world: World, env: dict[str, str]) -> Iterator[tuple[World, Instance, Instance]]:
    """Two instances started with ``env`` beside ``world`` (its store); both stopped, and ``world`` closed,
    when the block ends."""
    first, second = Instance(env), Instance(env)
    try:
        first.start()
        second.start()
        yield world, first, second
    finally:
        first.stop()
        second.stop()
        world.close()
