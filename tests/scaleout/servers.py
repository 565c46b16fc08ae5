"""Throwaway servers for the scale-out tests: the shared PostgreSQL/Redis, and private ones we may kill.

The machine's shared servers are never stopped. Tests that kill a server start their own: a
``redis-server`` on a free port, and a PostgreSQL cluster in a temporary directory (``initdb`` + ``pg_ctl``;
run as the ``postgres`` user when the tests run as root, since PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.services import port_open, require

SHARED_PG = "postgresql://postgres@127.0.0.1:5432/test"
# Keys are prefixed per test; RAM_TEST_REDIS_DB picks another database on a Redis that others share.
SHARED_REDIS = f"redis://127.0.0.1:6379/{os.environ.get('RAM_TEST_REDIS_DB', '0')}"


def require_shared_postgres() -> None:
    require(port_open("127.0.0.1", 5432), "PostgreSQL at 127.0.0.1:5432")


def require_shared_redis() -> None:
    require(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, *, up: bool, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while port_open("127.0.0.1", port, timeout=0.2) != up:
        if time.monotonic() > deadline:
            raise TimeoutError(f"port {port} did not become {'open' if up else 'closed'}")
        time.sleep(0.05)


def unique_name(stem: str) -> str:
    """A lower-case identifier unique to this test run (schemas, key prefixes)."""
    return f"{stem}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def redis_guard_url() -> Iterator[str]:
    """A guard URL on the shared Redis under a key prefix of its own, whose keys are deleted afterwards."""
    import redis

    require_shared_redis()
    prefix = unique_name("ramtest") + ":"
    try:
        yield f"{SHARED_REDIS}?prefix={prefix}"
    finally:
        client = redis.Redis.from_url(SHARED_REDIS)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@contextlib.contextmanager
def pg_schema_url(base: str = SHARED_PG) -> Iterator[str]:
    """A store URL on ``base`` in a fresh schema of its own, dropped afterwards."""
    import psycopg

    schema = unique_name("ramtest")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


class RedisServer:
    """A private ``redis-server`` on a free port that tests may stop and start again; ``options`` are
    passed on its command line (e.g. ``("--maxmemory", "2mb")``)."""

    def __init__(self, options: tuple[str, ...] = ()) -> None:
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server (to start a private Redis)")
        assert binary is not None
        self.binary = binary
        self.port = free_port()
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", *self.options]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, up=True)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        wait_port(self.port, up=False)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    return shutil.which(name) or name


class PostgresCluster:
    """A private PostgreSQL cluster in a temporary directory, on a free port, that tests may kill."""

    def __init__(self) -> None:
        initdb = _pg_bin("initdb")
        require(os.path.exists(initdb), "PostgreSQL server binaries (initdb, pg_ctl)")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ram-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, user="postgres")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else list(argv)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
                  "start")  # fmt: skip
        wait_port(self.port, up=True)

    def stop(self) -> None:
        """Stop at once (``-m immediate``: like a crash, connections are cut without goodbye)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        wait_port(self.port, up=False)

    def copy_data(self) -> Path:
        """A copy of the (stopped) cluster's data directory: a standby as of now, for :meth:`fail_over_to`."""
        copy = self.root / f"standby-{uuid.uuid4().hex[:8]}"
        self._run("cp", "-a", str(self.data), str(copy))  # as the server's user: it must own the files
        return copy

    def fail_over_to(self, standby: Path) -> None:
        """Crash the server and come back on the same port from ``standby``: like promoting a replica that
        had not received the latest commits (asynchronous replication), or a restore from a backup."""
        self.stop()
        shutil.rmtree(self.data)
        self._run("cp", "-a", str(standby), str(self.data))
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, TimeoutError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_servers() -> Iterator[tuple[PostgresCluster, RedisServer]]:
    """A private PostgreSQL cluster and redis-server, started, and stopped and removed afterwards."""
    cluster = PostgresCluster()
    redis_server = RedisServer()
    try:
        cluster.start()
        redis_server.start()
        yield cluster, redis_server
    finally:
        redis_server.stop()
        cluster.destroy()
