"""Behaviour of the replay/attempt guard backends (memory and SQLite)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ram_middleware import errors
from ram_middleware.guard import Guard, MemoryGuard, SqliteGuard, open_guard


class FakeClock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def guard(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Guard]:
    if request.param == "memory":
        yield MemoryGuard(clock=clock)
    else:
        g = SqliteGuard(tmp_path / "guard.db", clock=clock)
        yield g
        g.close()


def test_claim_is_once_until_expiry(guard: Guard, clock: FakeClock) -> None:
    assert guard.claim("nonce:AK:1", 900) is True
    assert guard.claim("nonce:AK:1", 900) is False
    assert guard.claim("nonce:AK:2", 900) is True
    clock.advance(899.9)
    assert guard.claim("nonce:AK:1", 900) is False
    clock.advance(0.1)
    assert guard.claim("nonce:AK:1", 900) is True
    assert guard.claim("nonce:AK:1", 900) is False


def test_reset_releases_a_claim(guard: Guard) -> None:
    assert guard.claim("k", 60)
    guard.reset("k")
    assert guard.claim("k", 60)


def test_counter_counts_within_its_window(guard: Guard, clock: FakeClock) -> None:
    assert guard.count("fail:x") == 0
    assert [guard.incr("fail:x", 3600).value for _ in range(3)] == [1, 2, 3]
    assert guard.count("fail:x") == 3
    clock.advance(3599)
    # The window opened at the first failure; later failures do not extend it.
    assert guard.incr("fail:x", 3600).value == 4
    clock.advance(1)
    assert guard.count("fail:x") == 0
    assert guard.incr("fail:x", 3600).value == 1
    guard.reset("fail:x")
    assert guard.count("fail:x") == 0


def test_decr_takes_one_back_within_the_window_never_below_zero(guard: Guard, clock: FakeClock) -> None:
    guard.decr("fail:x", guard.incr("other", 3600).window)  # absent: stays absent
    first = guard.incr("fail:x", 3600)
    assert first.value == 1
    guard.decr("fail:x", first.window)
    guard.decr("fail:x", first.window)
    assert guard.count("fail:x") == 0
    clock.advance(3000)
    # The window is the first increment's, not reopened by the one taken back.
    counted = [guard.incr("fail:x", 3600) for _ in range(3)]
    assert [c.value for c in counted] == [1, 2, 3] and {c.window for c in counted} == {first.window}
    guard.decr("fail:x", counted[2].window)
    assert guard.count("fail:x") == 2
    clock.advance(600)
    assert guard.count("fail:x") == 0
    guard.decr("fail:x", first.window)  # expired: not brought back
    assert guard.incr("fail:x", 3600).value == 1


def test_decr_after_its_window_ended_leaves_the_next_window_alone(guard: Guard, clock: FakeClock) -> None:
    # A right attempt counted at a window's end, taken back after a wrong one opened the next window, took
    # that wrong one back: timed at window ends, right attempts bought extra guesses.
    late = guard.incr("fail:x", 3600)
    clock.advance(3600)  # that window has ended (a new one opens at the next count) ...
    wrong = guard.incr("fail:x", 3600)
    assert wrong.value == 1 and wrong.window != late.window
    guard.decr("fail:x", late.window)  # ... so the late refund takes nothing
    assert guard.count("fail:x") == 1
    right = guard.incr("fail:x", 3600)
    guard.decr("fail:x", right.window)  # a refund within its window still works
    assert guard.count("fail:x") == 1
    guard.decr("fail:x", "not a window")
    assert guard.count("fail:x") == 1


def test_counters_are_independent(guard: Guard) -> None:
    guard.incr("a", 60)
    guard.incr("a", 60)
    guard.incr("b", 60)
    assert (guard.count("a"), guard.count("b")) == (2, 1)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_durations_are_refused(guard: Guard, bad: float) -> None:
    with pytest.raises(errors.InvalidParameter):
        guard.claim("k", bad)
    with pytest.raises(errors.InvalidParameter):
        guard.incr("k", bad)


def _race(make: Callable[[], Guard], threads: int = 50) -> list[bool]:
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        g = make()
        barrier.wait()
        won = g.claim("nonce:race", 60)
        with lock:
            results.append(won)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def test_fifty_threads_one_winner_memory() -> None:
    shared = MemoryGuard()
    results = _race(lambda: shared)
    assert len(results) == 50 and results.count(True) == 1


def test_fifty_threads_one_winner_sqlite_shared_connection(tmp_path: Path) -> None:
    with SqliteGuard(tmp_path / "g.db") as shared:
        results = _race(lambda: shared)
    assert len(results) == 50 and results.count(True) == 1


def test_fifty_threads_one_winner_sqlite_own_connections(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    SqliteGuard(path).close()  # create the schema first, as a deployment would
    made: list[SqliteGuard] = []

    def make() -> Guard:
        g = SqliteGuard(path)
        made.append(g)
        return g

    results = _race(make)
    for g in made:
        g.close()
    assert len(results) == 50 and results.count(True) == 1


def test_memory_guard_purges_expired_entries(clock: FakeClock) -> None:
    g = MemoryGuard(clock=clock)
    for i in range(10_000):
        g.claim(f"n{i}", 30)
    assert len(g) == 10_000
    clock.advance(31)
    assert len(g) == 0
    assert g.claim("n0", 30)


def test_memory_guard_fails_closed_when_full(clock: FakeClock) -> None:
    g = MemoryGuard(clock=clock, max_entries=3)
    for i in range(3):
        assert g.claim(f"n{i}", 30)
    with pytest.raises(errors.ServiceUnavailable):
        g.claim("n3", 30)
    clock.advance(30)
    assert g.claim("n3", 30)  # expired entries made room again


def test_memory_reclaim_after_expiry_is_not_dropped_by_old_heap_item(clock: FakeClock) -> None:
    g = MemoryGuard(clock=clock)
    assert g.claim("k", 10)
    g.reset("k")
    clock.advance(5)
    assert g.claim("k", 10)  # live until t+15
    clock.advance(6)  # t+11: the first claim's heap item pops now
    assert g.claim("k", 10) is False


def test_sqlite_purge_removes_expired_rows(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "g.db"
    with SqliteGuard(path, clock=clock) as g:
        for i in range(50):
            g.claim(f"n{i}", 10)
        g.incr("live", 100)
        clock.advance(11)
        assert g.purge() == 50
    rows = sqlite3.connect(path).execute("SELECT key FROM ram_guard").fetchall()
    assert rows == [("live",)]


def test_sqlite_locked_database_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    g = SqliteGuard(path, busy_budget=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(errors.ServiceUnavailable):
            g.claim("k", 10)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert g.claim("k", 10)
    g.close()


def test_sqlite_guard_refuses_every_waiting_caller_within_seconds_while_the_file_is_locked(
    tmp_path: Path,
) -> None:
    """Another process holds the write lock for long (an sqlite3 shell, a backup): each of many concurrent
    claims (more than the guard has connections) is refused with 503 within a few seconds, none of them
    queued behind another's wait, and a read of a counter meanwhile answers at once."""
    path = tmp_path / "g.db"
    guard = SqliteGuard(path)  # the defaults, as open_guard builds it
    assert guard.incr("failures", 600).value == 1
    claims: list[tuple[int, float]] = []
    reads: list[tuple[int, float]] = []

    def claim(i: int) -> None:
        began = time.monotonic()
        try:
            guard.claim(f"nonce:{i}", 600)
            status = 200
        except errors.ServiceUnavailable as exc:
            status = exc.status
        claims.append((status, time.monotonic() - began))

    def read() -> None:
        began = time.monotonic()
        reads.append((guard.count("failures"), time.monotonic() - began))

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    callers = [threading.Thread(target=claim, args=(i,)) for i in range(12)]
    reader = threading.Thread(target=read)
    try:
        for caller in callers:
            caller.start()
        time.sleep(0.2)
        reader.start()
        until = time.monotonic() + 15  # the lock is held 15 s at most (before the fix each claim waited 60 s)
        for thread in [reader, *callers]:
            thread.join(timeout=max(0.0, until - time.monotonic()))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for thread in [reader, *callers]:
        thread.join()
    assert reads[0][0] == 1 and reads[0][1] < 1.0
    assert [status for status, _ in claims] == [503] * 12
    assert max(seconds for _, seconds in claims) < 5.0
    # Nothing was half-claimed: each refused nonce can be claimed once the lock is gone.
    assert all(guard.claim(f"nonce:{i}", 600) for i in range(12))
    guard.close()


_WORKER = textwrap.dedent(
    """
    import sys, time
    from ram_middleware.guard import SqliteGuard
    path, start = sys.argv[1], float(sys.argv[2])
    g = SqliteGuard(path)
    while time.time() < start:
        time.sleep(0.001)
    won = [i for i in range(200) if g.claim(f"nonce:{i}", 600)]
    for _ in range(200):
        g.incr("failures", 3600)
    print(",".join(map(str, won)))
    """
)


def test_two_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SqliteGuard(path).close()
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    won = [set(map(int, filter(None, out.strip().split(",")))) for out, _ in outputs]
    assert won[0].isdisjoint(won[1])
    assert won[0] | won[1] == set(range(200))
    with SqliteGuard(path) as g:
        assert g.count("failures") == 400


def test_open_guard_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_guard("memory://"), MemoryGuard)
    absolute = open_guard(f"sqlite:///{tmp_path}/abs/guard.db")  # tmp_path is absolute: four slashes
    assert isinstance(absolute, SqliteGuard)
    absolute.close()
    assert (tmp_path / "abs" / "guard.db").exists()
    monkeypatch.chdir(tmp_path)
    relative = open_guard("sqlite:///rel/guard.db")
    assert isinstance(relative, SqliteGuard)
    relative.close()
    assert (tmp_path / "rel" / "guard.db").exists()


@pytest.mark.parametrize(
    "url",
    ["sqlite:///", "ftp://x", "", "memcached://h", "redis+sentinel://h:26379/mymaster", "redis+cluster://h"],
)
def test_open_guard_rejects_bad_urls(url: str) -> None:
    with pytest.raises(errors.InvalidParameter):
        open_guard(url)


def test_open_guard_uses_the_injected_clock(clock: FakeClock) -> None:
    g = open_guard("memory://", clock=clock)
    g.claim("k", 10)
    clock.advance(10)
    assert g.claim("k", 10)


def test_sqlite_guard_shares_a_file_with_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "ram.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE users (name TEXT PRIMARY KEY)")
    other.execute("INSERT INTO users VALUES ('alice')")
    with SqliteGuard(path) as g:
        assert g.claim("k", 60) and not g.claim("k", 60)
    assert other.execute("SELECT name FROM users").fetchall() == [("alice",)]
    other.close()
