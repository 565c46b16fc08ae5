"""Revocations made while other threads and processes keep asking: nothing is allowed past its bound.

Every kind of revocation (a group move, a detached policy, a disabled or deleted AccessKey, a deleted user)
is made one after another at random short intervals, while reader threads ask Directories about every
victim and note when each question began. The README's promise, checked on every question:

* in the process that made the change (its own Directory): refused by any question begun after the call
  returned;
* on another PostgreSQL instance: refused by any question begun after its change feed delivered the write,
  which comes within milliseconds (asserted within ``FEED_BOUND``);
* in another process on the same SQLite file: refused by any question begun ``refresh_interval`` (0.5 s)
  after the call returned.

Lookups that straddle a commit, notifications that arrive during a reload and the writer's own announcement
racing the readers are what the hammering is for: a stale value cached as fresh would show as an Allow past
its bound.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import pytest

from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from ram_middleware.store.cache import Directory
from tests.scaleout.cluster import MASTER_KEY, REPO, instance_env
from tests.scaleout.revocations import Seen, Victim, allowed, hammer, revoke, seed, stale
from tests.scaleout.servers import pg_schema_url, require_shared_postgres

VICTIMS = 40
GAP = 0.025  # seconds between revocations, at most (random)
REFRESH = 0.5  # the Directory's refresh_interval: the bound between processes on one SQLite file
FEED_BOUND = 1.0  # seconds: "within milliseconds", generous for a busy machine


def _revoke_all(
    svc: RamService, account: str, victims: list[Victim], told: list[int]
) -> list[tuple[float, int]]:
    """Revoke every victim in turn; for each, when the call returned and the change counter it left."""
    done = []
    for victim in victims:
        time.sleep(random.uniform(0, GAP))
        revoke(svc, account, victim)
        done.append((time.monotonic(), max(told)))
    return done


def _never_stale(seen: list[Seen], since: dict[int, float], where: str) -> None:
    assert any(s.allowed for s in seen), f"{where}: the readers never saw a grant: nothing was tested"
    late = stale(seen, since)
    assert not late, f"{where}: {len(late)} questions allowed past the bound, e.g. {late[:3]}"


def _opened(stack: ExitStack, url: str) -> Store:
    store = open_store(url, master_keys=[MASTER_KEY])
    stack.callback(store.close)
    return store


def _directory(stack: ExitStack, store: Store, account: str, victims: list[Victim]) -> Directory:
    """A Directory on ``store`` that has every victim's grant in its snapshot."""
    directory = Directory(store)
    stack.callback(directory.close)
    assert all(allowed(directory, account, victim.key) for victim in victims)
    return directory


@pytest.mark.postgres
def test_no_postgres_instance_allows_what_was_revoked_once_it_heard_of_it() -> None:
    require_shared_postgres()
    with pg_schema_url() as url, ExitStack() as stack:
        writer, other = _opened(stack, url), _opened(stack, url)  # two instances
        svc = RamService(writer)
        account, victims = seed(svc, VICTIMS)
        told = [writer.change_counter()]
        writer.subscribe(told.append)
        here = _directory(stack, writer, account, victims)
        there = _directory(stack, other, account, victims)
        heard: dict[int, float] = {}

        def hear(counter: int) -> None:
            heard.setdefault(counter, time.monotonic())

        other.subscribe(hear)  # after `there`: it is told first
        stop = threading.Event()
        seen_here, threads = hammer(here, account, victims, stop, threads=2)
        seen_there, more = hammer(there, account, victims, stop, threads=3)
        try:
            done = _revoke_all(svc, account, victims, told)
            time.sleep(0.2)
        finally:
            stop.set()
            for thread in threads + more:
                thread.join()
        returned = {i: at for i, (at, _) in enumerate(done)}
        delivered = {i: min(t for c, t in heard.items() if c >= n) for i, (_, n) in enumerate(done)}
        lag = max(delivered[i] - returned[i] for i in returned)
        print(f"\nfeed lag, worst: {lag * 1000:.1f} ms; questions: {len(seen_here)} + {len(seen_there)}")
        assert lag < FEED_BOUND
        _never_stale(seen_here, returned, "the writing process")
        _never_stale(seen_there, delivered, "the other instance")


def test_no_process_on_a_sqlite_file_allows_what_was_revoked_past_refresh_interval(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    with ExitStack() as stack:
        writer = _opened(stack, url)
        svc = RamService(writer)
        account, victims = seed(svc, VICTIMS)
        told = [writer.change_counter()]
        writer.subscribe(told.append)
        listed = tmp_path / "victims.json"
        listed.write_text(json.dumps([asdict(victim) for victim in victims]))
        reader = subprocess.Popen(
            [sys.executable, "-m", "tests.scaleout.revocation_reader", url, account, str(listed), "2.5"],
            cwd=REPO, env=instance_env(url, "memory://"), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        stack.callback(reader.kill)
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "ready"
        here = _directory(stack, writer, account, victims)
        stop = threading.Event()
        seen_here, threads = hammer(here, account, victims, stop, threads=2)
        try:
            done = _revoke_all(svc, account, victims, told)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        output, _ = reader.communicate(timeout=30)
        assert reader.returncode == 0
        seen_there = [Seen(began, victim, allowed) for began, victim, allowed in json.loads(output)]
        returned = {i: at for i, (at, _) in enumerate(done)}
        assert max(returned.values()) < max(s.began for s in seen_there) - REFRESH, "the reader stopped early"
        print(f"\nquestions: {len(seen_here)} here, {len(seen_there)} in the other process")
        _never_stale(seen_here, returned, "the writing process")
        _never_stale(seen_there, {i: at + REFRESH for i, at in returned.items()}, "the other process")
