"""A real ``uvicorn --workers`` deployment on one SQLite file: a signed request is used once across all the
workers, and a per-process (memory) guard beside the shared store is announced at start-up, or refused under
``RAM_PRODUCTION``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.scaleout.cluster import REPO, Instance, World, instance_env, sign

pytestmark = [pytest.mark.slow]

WORKERS = 3


class Workers(Instance):
    """``uvicorn --workers`` on one port: the operating system hands each new connection to one of them."""

    def start(self, timeout: float = 30.0) -> None:
        """Start, and wait until every worker has answered ``/health``."""
        self.launch()
        pids: set[object] = set()
        deadline = time.monotonic() + timeout
        while len(pids) < WORKERS and time.monotonic() < deadline:
            try:
                with httpx.Client() as fresh:  # a new connection: perhaps another worker
                    pids.add(fresh.get(self.base + "/health", timeout=1.0).json()["pid"])
            except httpx.HTTPError:
                time.sleep(0.05)
        assert len(pids) == WORKERS, self.stderr_tail()

    def launch(self) -> None:
        stderr = (Path(self.env["RAM_TEST_TMP"]) / "uvicorn.stderr").open("wb")
        self.stderr_path = Path(stderr.name)
        with stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "tests.scaleout.instance_app:app", "--port", str(self.port),
                 "--workers", str(WORKERS), "--no-proxy-headers", "--log-level", "warning",
                 "--no-access-log"],
                cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip


def _statuses_of_one_request_sent_again(instance: Instance, key: tuple[str, str]) -> list[int]:
    signed = sign("GET", "/instances/i-1", key)
    statuses = []
    for _ in range(6 * WORKERS):
        with httpx.Client() as fresh:
            answer = fresh.request(signed.method, instance.base + signed.target, headers=signed.headers)
            statuses.append(answer.status_code)
    return statuses


def _workers(tmp_path: Path, guard_url: str | None, **extra: str) -> tuple[World, Workers]:
    url = f"sqlite:///{tmp_path}/ram.db"
    world = World(url)
    env = instance_env(url, guard_url or "")
    if guard_url is None:
        del env["RAM_GUARD_URL"]  # the default: a SQLite guard on the store's file
    env.update(RAM_TEST_TMP=str(tmp_path), **extra)
    return world, Workers(env)


def test_the_default_guard_accepts_a_signed_request_once_across_workers(tmp_path: Path) -> None:
    world, workers = _workers(tmp_path, None)
    key = world.user("reader", "dev")
    try:
        workers.start()
        statuses = _statuses_of_one_request_sent_again(workers, key)
        assert statuses[0] == 200 and set(statuses[1:]) == {400}, statuses
        assert "replay" not in workers.stderr_tail()
    finally:
        workers.stop()
        world.close()


def test_a_memory_guard_beside_the_shared_sqlite_store_is_announced_at_start_up(tmp_path: Path) -> None:
    # What the operator is told: each worker remembers only its own nonces, so the same signed request
    # is accepted once by each worker it reaches.
    world, workers = _workers(tmp_path, "memory://")
    key = world.user("reader", "dev")
    try:
        workers.start()
        statuses = _statuses_of_one_request_sent_again(workers, key)
        assert statuses.count(200) >= 2, statuses  # the hole the warning is about
        tail = workers.stderr_tail(20_000)
        assert tail.count("RAM_GUARD_URL=memory://") == WORKERS, tail
        assert "replayed" in tail
    finally:
        workers.stop()
        world.close()


def test_under_ram_production_the_workers_refuse_to_start_on_a_memory_guard(tmp_path: Path) -> None:
    # uvicorn's supervisor starts each worker again as it dies: no worker ever serves a request.
    world, workers = _workers(tmp_path, "memory://", RAM_PRODUCTION="true")
    try:
        workers.launch()
        deadline = time.monotonic() + 30
        while "InvalidParameter.GuardUrl" not in workers.stderr_tail(20_000):
            assert time.monotonic() < deadline, workers.stderr_tail()
            time.sleep(0.1)
        with pytest.raises(httpx.HTTPError):
            httpx.get(workers.base + "/health", timeout=1.0)
    finally:
        workers.stop()
        world.close()
