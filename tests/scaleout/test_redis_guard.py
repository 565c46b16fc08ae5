"""The Redis guard against a real Redis: same semantics as the memory/SQLite guards, shared, fail-closed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from ram_middleware import errors
from ram_middleware.credentials.password import LogonThrottle
from ram_middleware.credentials.session import BrowserSessions
from ram_middleware.guard import Guard, open_guard
from ram_middleware.guard_redis import RedisGuard
from tests.scaleout.servers import SHARED_REDIS, RedisServer, free_port, require_shared_redis, unique_name
from tests.scaleout.stall_proxy import StallProxy

pytestmark = pytest.mark.redis


@pytest.fixture()
def prefix() -> Iterator[str]:
    require_shared_redis()
    name = unique_name("ramtest") + ":"
    yield name
    client = redis.Redis.from_url(SHARED_REDIS)
    keys = list(client.scan_iter(match=name + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture()
def guard(prefix: str) -> Iterator[RedisGuard]:
    opened = open_guard(f"{SHARED_REDIS}?prefix={prefix}")
    assert isinstance(opened, RedisGuard)
    yield opened
    opened.close()


def test_open_guard_selects_redis_and_honours_the_prefix(guard: RedisGuard, prefix: str) -> None:
    assert isinstance(guard, Guard)
    assert guard.prefix == prefix
    assert guard.claim("nonce:AK:1", 60)
    raw = redis.Redis.from_url(SHARED_REDIS)
    assert raw.get(prefix + "nonce:AK:1") == b"1"
    assert 0 < raw.pttl(prefix + "nonce:AK:1") <= 60_000
    raw.close()


def test_claim_is_once_until_redis_expires_it(guard: Guard) -> None:
    assert guard.claim("nonce:AK:1", 0.3) is True
    assert guard.claim("nonce:AK:1", 0.3) is False
    assert guard.claim("nonce:AK:2", 0.3) is True
    time.sleep(0.45)
    assert guard.claim("nonce:AK:1", 0.3) is True
    assert guard.claim("nonce:AK:1", 0.3) is False


def test_reset_releases_a_claim_and_a_counter(guard: Guard) -> None:
    assert guard.claim("k", 60)
    guard.reset("k")
    assert guard.claim("k", 60)
    guard.incr("c", 60)
    guard.reset("c")
    assert guard.count("c") == 0


def test_counter_window_opens_at_first_failure_and_is_not_extended(guard: Guard) -> None:
    assert guard.count("fail:x") == 0
    assert [guard.incr("fail:x", 0.6).value for _ in range(3)] == [1, 2, 3]
    assert guard.count("fail:x") == 3
    time.sleep(0.35)
    assert guard.incr("fail:x", 0.6).value == 4  # a later failure inside the window ...
    time.sleep(0.35)
    assert guard.count("fail:x") == 0  # ... did not push its end back
    assert guard.incr("fail:x", 0.6).value == 1


def test_decr_takes_one_back_keeps_the_window_and_never_goes_below_zero(
    guard: RedisGuard, prefix: str
) -> None:
    guard.decr("fail:x", "any")  # absent: stays absent (a key without a TTL would never expire)
    raw = redis.Redis.from_url(SHARED_REDIS)
    assert raw.exists(prefix + "fail:x") == 0
    counted = [guard.incr("fail:x", 60) for _ in range(3)]
    assert [c.value for c in counted] == [1, 2, 3] and len({c.window for c in counted}) == 1
    window = counted[0].window
    assert raw.get(prefix + "guard:window:fail:x") == window.encode()
    assert abs(raw.pttl(prefix + "guard:window:fail:x") - raw.pttl(prefix + "fail:x")) <= 2
    guard.decr("fail:x", window)
    assert guard.count("fail:x") == 2 and 0 < raw.pttl(prefix + "fail:x") <= 60_000
    for _ in range(3):
        guard.decr("fail:x", window)
    assert guard.count("fail:x") == 0 and raw.pttl(prefix + "fail:x") > 0
    assert guard.incr("fail:x", 60).value == 1
    guard.reset("fail:x")  # the window's name goes with it
    assert raw.exists(prefix + "fail:x", prefix + "guard:window:fail:x") == 0
    raw.close()


def test_decr_after_its_window_ended_leaves_the_next_window_alone(guard: Guard) -> None:
    late = guard.incr("fail:x", 0.3)
    time.sleep(0.35)  # Redis expired that window; the next count opens a new one
    wrong = guard.incr("fail:x", 60)
    assert wrong.value == 1 and wrong.window != late.window
    guard.decr("fail:x", late.window)
    assert guard.count("fail:x") == 1
    right = guard.incr("fail:x", 60)
    guard.decr("fail:x", right.window)
    assert guard.count("fail:x") == 1


def test_a_window_opened_without_a_name_is_named_by_the_next_count(guard: RedisGuard, prefix: str) -> None:
    # A window opened by an earlier release (INCR + PEXPIRE, no name): counts and refunds go on in it.
    raw = redis.Redis.from_url(SHARED_REDIS)
    raw.incr(prefix + "fail:x")
    raw.pexpire(prefix + "fail:x", 60_000)
    counted = guard.incr("fail:x", 60)
    assert counted.value == 2 and raw.get(prefix + "guard:window:fail:x") == counted.window.encode()
    assert 0 < raw.pttl(prefix + "guard:window:fail:x") <= raw.pttl(prefix + "fail:x") + 2
    guard.decr("fail:x", counted.window)
    assert guard.count("fail:x") == 1 and raw.pttl(prefix + "fail:x") > 0
    raw.close()


def test_a_right_answer_takes_back_nothing_from_a_window_opened_while_it_was_checked(guard: Guard) -> None:
    # Redis's own clock expires the window, so this one lasts 0.3 s: the right answer is checked past its end,
    # while a wrong guess opens the next window, and taking it back must not take back that guess.
    throttle, key = LogonThrottle(guard, 3, window_seconds=0.3), LogonThrottle.key("acct", "alice")

    def wrong() -> None:
        raise errors.LoginFailed()

    def right_across_the_window_end() -> str:
        time.sleep(0.35)
        with pytest.raises(errors.LoginFailed):
            throttle.checked("acct", "alice", wrong)
        return "right"

    assert throttle.checked("acct", "alice", right_across_the_window_end) == "right"
    assert guard.count(key) == 1  # the guess stays counted
    assert throttle.checked("acct", "alice", lambda: "right") == "right"
    assert guard.count(key) == 1  # a right answer within the window is still taken back


def test_counters_and_prefixes_are_independent(guard: RedisGuard, prefix: str) -> None:
    other = RedisGuard.from_url(SHARED_REDIS, prefix=prefix + "other:")
    try:
        guard.incr("a", 60)
        guard.incr("a", 60)
        assert guard.count("b") == 0
        assert other.count("a") == 0
        assert other.claim("n", 60) and guard.claim("n", 60)
    finally:
        other.close()


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_bad_durations_are_invalid_parameters(guard: Guard, bad: float) -> None:
    with pytest.raises(errors.InvalidParameter):
        guard.claim("k", bad)
    with pytest.raises(errors.InvalidParameter):
        guard.incr("k", bad)


def test_concurrent_claims_of_one_key_succeed_exactly_once(guard: Guard) -> None:
    barrier = threading.Barrier(16)
    wins: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        for i in range(50):
            won = guard.claim(f"race:{i}", 60)
            with lock:
                wins.append(won)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 16 * 50
    assert sum(wins) == 50


def test_two_processes_share_claims_and_counters(guard: Guard, prefix: str) -> None:
    script = textwrap.dedent(
        f"""
        from ram_middleware.guard import open_guard
        g = open_guard({SHARED_REDIS + "?prefix=" + prefix!r})
        won = sum(g.claim(f"p:{{i}}", 60) for i in range(200))
        for _ in range(100):
            g.incr("shared-counter", 60)
        print(won)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(int(o) for o in outs) == 200
    assert guard.count("shared-counter") == 200


def test_unreachable_redis_fails_closed_quickly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    guard = open_guard(f"redis://:s3cr3t-pw@127.0.0.1:{free_port()}/0")
    assert "s3cr3t-pw" not in repr(guard)
    started = time.monotonic()
    for refusal in _every_call_refused(guard):
        assert "s3cr3t-pw" not in str(refusal)
    assert time.monotonic() - started < 3.0
    assert "Redis guard" in caplog.text and "s3cr3t-pw" not in caplog.text


def test_a_forked_child_whose_pool_stays_locked_fails_closed(
    guard: RedisGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redis-py raises ChildDeadlockedError (no RedisError) when a forked child cannot take its pool's fork
    # lock within 5 s: another thread of the parent held it at the fork.
    def deadlocked(*args: object, **kwargs: object) -> None:
        raise redis.exceptions.ChildDeadlockedError()

    monkeypatch.setattr(guard._client.connection_pool, "get_connection", deadlocked)
    _every_call_refused(guard)


def _every_call_refused(guard: Guard) -> list[errors.ServiceUnavailable]:
    """Each kind of guard call fails closed with 503; the refusals, for further checks."""
    calls: list[Callable[[], object]] = [
        lambda: guard.claim("k", 1),
        lambda: guard.incr("k", 1),
        lambda: guard.count("k"),
    ]
    refusals = []
    for call in calls:
        with pytest.raises(errors.ServiceUnavailable) as caught:
            call()
        assert caught.value.status == 503
        refusals.append(caught.value)
    return refusals


def test_a_redis_that_stops_answering_refuses_each_call_within_two_seconds(prefix: str) -> None:
    """Redis (or the network to it) freezes with connections open: each call is refused with 503 within the
    documented bound, on a pooled connection and on a new one alike (before: ~4 s, redis-py's own retries
    nested in each other)."""
    with StallProxy(("127.0.0.1", 6379)) as proxy:
        url = SHARED_REDIS.replace(":6379/", f":{proxy.port}/") + f"?prefix={prefix}"
        warm, cold = open_guard(url), open_guard(url)
        assert warm.claim("before", 60)  # warm has a pooled connection; cold opens its first one frozen
        proxy.stall()
        calls: list[Callable[[], object]] = [
            lambda: warm.claim("during", 60),
            lambda: warm.incr("failures", 60),
            lambda: warm.count("failures"),
            lambda: cold.claim("during", 60),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(errors.ServiceUnavailable) as refused:
                call()
            assert refused.value.status == 503
            assert time.monotonic() - started < 2.0


def test_malformed_redis_url_is_invalid_parameter() -> None:
    with pytest.raises(errors.InvalidParameter):
        open_guard("redis://127.0.0.1:notaport/0")


def test_killed_redis_denies_then_recovers_without_reopening() -> None:
    server = RedisServer()
    server.start()
    guard = open_guard(server.url)
    try:
        assert guard.claim("before", 60)
        server.stop()
        started = time.monotonic()
        with pytest.raises(errors.ServiceUnavailable):
            guard.claim("during", 60)
        assert time.monotonic() - started < 3.0
        server.start()
        # The same guard object reconnects by itself (the pool replaces the dead connection).
        assert guard.claim("after", 60) is True
        assert guard.claim("after", 60) is False
    finally:
        server.stop()


def test_a_redis_restarted_empty_says_since_when_it_remembers() -> None:
    server = RedisServer()
    server.start()
    guard = open_guard(server.url)
    try:
        assert guard.claim("before", 60)
        first_born = guard.remembers_since()
        assert first_born <= time.time()
        time.sleep(1.1)
        server.stop()
        server.start()  # empty: "before" is forgotten
        assert guard.count("before") == 0
        restarted = guard.remembers_since()
        assert first_born < restarted <= time.time()
        assert guard.claim("before", 60) is True  # what the callers' check on remembers_since() is for
        assert guard.remembers_since() == restarted  # the birth is recorded once, not at every call
    finally:
        server.stop()


def test_a_console_session_logged_out_before_a_redis_restart_stays_ended() -> None:
    server = RedisServer()
    server.start()
    guard = open_guard(server.url)
    sessions = BrowserSessions([b"k" * 32], guard)
    try:
        session, cookie = sessions.issue("1234567890123456", "ivy", lifetime=3600)
        assert sessions.loads(cookie) == session
        sessions.revoke(session)  # logout
        with pytest.raises(errors.SessionRevoked):
            sessions.loads(cookie)
        time.sleep(1.1)
        server.stop()
        server.start()  # the logout is forgotten; a stolen cookie must not come back to life
        with pytest.raises(errors.SessionRevoked):
            sessions.loads(cookie)
        # A logon after the restart is unaffected.
        _, fresh = sessions.issue("1234567890123456", "ivy", lifetime=3600)
        assert sessions.loads(fresh).user_name == "ivy"
    finally:
        server.stop()


def test_after_a_failover_that_demotes_the_old_primary_the_guard_moves_to_the_new_one() -> None:
    old, new = RedisServer(), RedisServer()
    old.start()
    new.start()
    try:
        # The proxy stands for the service address (DNS name, VIP) that the failover moves to the new primary.
        with StallProxy(("127.0.0.1", old.port)) as address:
            guard = open_guard(f"redis://127.0.0.1:{address.port}/0")
            assert guard.claim("before", 60)
            demoted = redis.Redis(port=old.port)
            demoted.replicaof("127.0.0.1", new.port)  # the old primary lives on, read-only
            demoted.close()
            address.target = ("127.0.0.1", new.port)
            # The pooled connection still reaches the old primary, which refuses writes (READONLY): the
            # guard must not stay refused until its process restarts.
            assert guard.claim("after", 60) is True
            assert guard.claim("after", 60) is False
            assert redis.Redis(port=new.port).exists("ram:guard:after") == 1
    finally:
        old.stop()
        new.stop()


def test_a_birth_key_written_before_evictions_were_counted_keeps_its_time(prefix: str) -> None:
    """Upgrading: an older release's birth key has no eviction count beside it, which is no forgetting."""
    raw = redis.Redis.from_url(SHARED_REDIS)
    raw.set(prefix + "guard:born", "1000")
    raw.close()
    with RedisGuard.from_url(f"{SHARED_REDIS}?prefix={prefix}") as upgraded:
        assert upgraded.remembers_since() == 1000.0
        assert upgraded.claim("nonce:AK:upgrade", 60)
        assert upgraded.count("x") == 0 and upgraded.remembers_since() == 1000.0
