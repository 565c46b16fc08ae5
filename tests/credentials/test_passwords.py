"""Logon passwords: hashing, the password policy, expiry, reuse, lock-out and timing of unknown users."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]

from ram_middleware import errors
from ram_middleware.credentials import password as password_module
from ram_middleware.credentials.password import (
    DUMMY_HASH,
    LogonThrottle,
    PasswordPolicy,
    check_reuse,
    hash_password,
    is_expired,
    needs_rehash,
    verify_password,
    verify_password_or_dummy,
)
from ram_middleware.guard import Guard, MemoryGuard, SqliteGuard

GOOD = "Correct-Horse7"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


# --- hashing -----------------------------------------------------------------------------------------------


def test_hash_and_verify() -> None:
    stored = hash_password(GOOD)
    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    assert verify_password(stored, GOOD)
    assert not verify_password(stored, GOOD + "x")
    assert not verify_password(stored, GOOD.lower())
    assert hash_password(GOOD) != stored  # salted
    assert not needs_rehash(stored)


@pytest.mark.parametrize("stored", ["", "plain", "$argon2id$v=19$m=65536,t=3,p=4$broken", "$2b$12$abc"])
def test_verify_never_raises_on_bad_hashes(stored: str) -> None:
    assert verify_password(stored, GOOD) is False


def test_verify_refuses_absurd_input_without_hashing() -> None:
    stored = hash_password(GOOD)
    assert verify_password(stored, "x" * 5000) is False
    assert verify_password(stored, None) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "x" * 1025])
def test_hash_refuses_empty_and_huge(bad: str) -> None:
    with pytest.raises(errors.InvalidParameter):
        hash_password(bad)


def test_dummy_hash_matches_nothing_obvious() -> None:
    assert DUMMY_HASH.startswith("$argon2id$")
    assert verify_password_or_dummy(None, "") is False
    assert verify_password_or_dummy(None, GOOD) is False
    stored = hash_password(GOOD)
    assert verify_password_or_dummy(stored, GOOD) is True
    assert verify_password_or_dummy(stored, "nope") is False


def _timed(stored: str | None) -> float:
    start = time.perf_counter()
    verify_password_or_dummy(stored, "Wrong-Password1")
    return time.perf_counter() - start


def test_unknown_user_costs_the_same_as_a_wrong_password() -> None:
    stored = hash_password(GOOD)
    wrong_samples, unknown_samples = [], []
    for _ in range(20):  # interleaved, so machine load affects both alike
        wrong_samples.append(_timed(stored))
        unknown_samples.append(_timed(None))
    wrong, unknown = statistics.median(wrong_samples), statistics.median(unknown_samples)
    ratio = unknown / wrong
    print(
        f"median wrong password {wrong * 1e3:.1f} ms, unknown user {unknown * 1e3:.1f} ms, ratio {ratio:.2f}",
        end=" ",
    )
    assert 0.5 <= ratio <= 2.0


# --- the policy --------------------------------------------------------------------------------------------


def test_defaults_match_the_spec() -> None:
    assert PasswordPolicy().to_api() == {
        "MinimumPasswordLength": 8,
        "RequireLowercaseCharacters": True,
        "RequireUppercaseCharacters": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "HardExpiry": False,
        "MaxPasswordAge": 0,
        "PasswordReusePrevention": 0,
        "MaxLoginAttemps": 5,
    }


@pytest.mark.parametrize(
    ("policy", "password", "fragment"),
    [
        (PasswordPolicy(), "Ab1-xyz", "at least 8 characters"),
        (PasswordPolicy(minimum_password_length=12), "Abcdef-12345", None),
        (PasswordPolicy(minimum_password_length=12), "Abcdef-1234", "at least 12 characters"),
        (PasswordPolicy(), "ABCDEF-123", "lowercase letter"),
        (PasswordPolicy(), "abcdef-123", "uppercase letter"),
        (PasswordPolicy(), "Abcdef-xyz", "number"),
        (PasswordPolicy(), "Abcdef1234", "symbol"),
        (PasswordPolicy(), "Abc\x07def-123", "control characters"),
        (PasswordPolicy(), "Ab1-" + "x" * 1021, "at most 1024"),
        (PasswordPolicy(require_lowercase=False), "ABCDEF-123", None),
        (PasswordPolicy(require_uppercase=False), "abcdef-123", None),
        (PasswordPolicy(require_numbers=False), "Abcdef-xyz", None),
        (PasswordPolicy(require_symbols=False), "Abcdef1234", None),
        (PasswordPolicy(), "Ünïcødé-123", None),
        (PasswordPolicy(), "Pass word 1", None),  # a space is a symbol
    ],
)
def test_policy_rules(policy: PasswordPolicy, password: str, fragment: str | None) -> None:
    if fragment is None:
        policy.check(password)
        return
    with pytest.raises(errors.InvalidParameter) as info:
        policy.check(password)
    assert info.value.code == "InvalidParameter.PasswordPolicy"
    assert fragment in info.value.message
    assert password not in info.value.message


def test_password_may_not_contain_the_user_name() -> None:
    with pytest.raises(errors.InvalidParameter, match="user name"):
        PasswordPolicy().check("xx-Alice-99", user_name="alice")
    PasswordPolicy().check("xx-Alice-99", user_name="bob")


def test_from_api_parses_text_and_keeps_base() -> None:
    base = PasswordPolicy(minimum_password_length=10, password_reuse_prevention=3)
    policy = PasswordPolicy.from_api(
        {"RequireSymbols": "false", "MaxLoginAttemps": "0", "MaxPasswordAge": 90, "Action": "Set"},
        base=base,
    )
    assert policy == PasswordPolicy(
        minimum_password_length=10,
        password_reuse_prevention=3,
        require_symbols=False,
        max_login_attempts=0,
        max_password_age=90,
    )
    assert PasswordPolicy.from_api({"MaxLoginAttempts": 7}).max_login_attempts == 7
    assert PasswordPolicy.from_api(policy.to_api()) == policy


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"MinimumPasswordLength": 7}, "InvalidParameter.MinimumPasswordLength"),
        ({"MinimumPasswordLength": "33"}, "InvalidParameter.MinimumPasswordLength"),
        ({"MinimumPasswordLength": "ten"}, "InvalidParameter.MinimumPasswordLength"),
        ({"PasswordReusePrevention": 25}, "InvalidParameter.PasswordReusePrevention"),
        ({"MaxPasswordAge": 1096}, "InvalidParameter.MaxPasswordAge"),
        ({"MaxLoginAttemps": -1}, "InvalidParameter.MaxLoginAttemps"),
        ({"RequireNumbers": "yes"}, "InvalidParameter.RequireNumbers"),
        ({"HardExpiry": 1}, "InvalidParameter.HardExpiry"),
        ({"MinimumPasswordLength": True}, "InvalidParameter.MinimumPasswordLength"),
    ],
)
def test_from_api_validates_ranges(params: dict[str, Any], code: str) -> None:
    with pytest.raises(errors.InvalidParameter) as info:
        PasswordPolicy.from_api(params)
    assert info.value.code == code


def test_constructor_validates_too() -> None:
    with pytest.raises(errors.InvalidParameter):
        PasswordPolicy(minimum_password_length=4)


def test_official_sdk_model_reads_to_api() -> None:
    policy = PasswordPolicy(max_login_attempts=3, hard_expiry=True)
    model = ram_models.GetPasswordPolicyResponseBodyPasswordPolicy().from_map(policy.to_api())
    assert model.max_login_attemps == 3 and model.hard_expiry is True
    assert model.minimum_password_length == 8 and model.require_symbols is True


# --- expiry and reuse --------------------------------------------------------------------------------------


def test_expiry() -> None:
    changed = datetime(2024, 1, 1, tzinfo=UTC)
    never = PasswordPolicy()
    assert not is_expired(changed, never, changed + timedelta(days=10_000))
    ninety = PasswordPolicy(max_password_age=90)
    assert not is_expired(changed, ninety, changed + timedelta(days=90) - timedelta(seconds=1))
    assert is_expired(changed, ninety, changed + timedelta(days=90))


def test_reuse_prevention() -> None:
    history = [hash_password(pw) for pw in ("Current-1a", "Previous-2b", "Older-3c")]  # newest first
    two = PasswordPolicy(password_reuse_prevention=2)
    with pytest.raises(errors.InvalidParameter) as info:
        check_reuse("Previous-2b", history, two)
    assert info.value.code == "InvalidParameter.PasswordPolicy" and "last 2 passwords" in info.value.message
    with pytest.raises(errors.InvalidParameter):
        check_reuse("Current-1a", history, two)
    check_reuse("Older-3c", history, two)  # outside the window
    check_reuse("Brand-New-4d", history, two)
    check_reuse("Current-1a", history, PasswordPolicy())  # 0 = reuse allowed


# --- lock-out ----------------------------------------------------------------------------------------------


def test_lockout_after_max_attempts_and_release_after_the_window() -> None:
    clock = FakeClock()
    throttle = LogonThrottle(MemoryGuard(clock=clock), 3)
    for attempt in range(1, 4):
        assert throttle.attempt("acct", "alice") == attempt
        clock.now += 60
    with pytest.raises(errors.LoginLocked) as info:
        throttle.attempt("acct", "alice")
    assert info.value.status == 429
    with pytest.raises(errors.LoginLocked):
        throttle.attempt("acct", "ALICE")  # names are case-insensitive
    throttle.attempt("acct", "bob")
    throttle.attempt("other-acct", "alice")
    clock.now += 3600 - 180 - 1  # one second before the hour since the first attempt
    with pytest.raises(errors.LoginLocked):
        throttle.attempt("acct", "alice")
    clock.now += 1
    throttle.attempt("acct", "alice")


def test_success_resets_the_counter() -> None:
    throttle = LogonThrottle(MemoryGuard(), 2)
    throttle.attempt("acct", "alice")
    throttle.succeeded("acct", "alice")
    throttle.attempt("acct", "alice")
    throttle.attempt("acct", "alice")
    with pytest.raises(errors.LoginLocked):
        throttle.attempt("acct", "alice")


def test_checked_keeps_wrong_answers_counted_and_takes_back_only_a_right_ones_count() -> None:
    guard = MemoryGuard()
    throttle, key = LogonThrottle(guard, 2), LogonThrottle.key("acct", "alice")

    def wrong() -> None:
        raise errors.LoginFailed()

    with pytest.raises(errors.LoginFailed):
        throttle.checked("acct", "alice", wrong)
    assert throttle.checked("acct", "alice", lambda: "right") == "right"
    assert guard.count(key) == 1  # the wrong one stays; the right one cleared nothing
    with pytest.raises(errors.LoginFailed):
        throttle.checked("acct", "alice", wrong)
    checks: list[str] = []
    with pytest.raises(errors.LoginLocked):  # locked: refused before anything is checked
        throttle.checked("acct", "alice", lambda: checks.append("checked"))
    assert checks == []


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_right_answer_takes_back_nothing_from_a_window_opened_while_it_was_checked(
    backend: str, tmp_path: Path
) -> None:
    # A right answer counted at the end of one window and taken back after a wrong one opened the next took
    # that wrong one back: timed at window ends, right answers bought extra guesses.
    clock = FakeClock()
    guard: Guard = MemoryGuard(clock=clock)
    if backend == "sqlite":
        guard = SqliteGuard(tmp_path / "g.db", clock=clock)
    throttle, key = LogonThrottle(guard, 3), LogonThrottle.key("acct", "alice")

    def wrong() -> None:
        raise errors.LoginFailed()

    def right_across_the_window_end() -> str:
        clock.now += 3600  # the window this answer was counted in ends while it is checked ...
        with pytest.raises(errors.LoginFailed):
            throttle.checked("acct", "alice", wrong)  # ... and a wrong guess opens the next one
        return "right"

    assert throttle.checked("acct", "alice", right_across_the_window_end) == "right"
    assert guard.count(key) == 1  # the guess stays counted
    assert throttle.checked("acct", "alice", lambda: "right") == "right"
    assert guard.count(key) == 1  # a right answer within the window is still taken back
    if isinstance(guard, SqliteGuard):
        guard.close()


def test_parallel_attempts_are_each_counted_before_any_is_checked() -> None:
    # Counting after a (slow) password check let every request of a burst through the check uncounted.
    throttle = LogonThrottle(MemoryGuard(), 5)
    start = threading.Barrier(24)
    outcomes: list[str] = []

    def guess() -> None:
        start.wait()
        try:
            throttle.attempt("acct", "alice")
            outcomes.append("checked")
        except errors.LoginLocked:
            outcomes.append("locked")

    threads = [threading.Thread(target=guess) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("checked") == 5 and outcomes.count("locked") == 19


def test_zero_means_unlimited() -> None:
    throttle = LogonThrottle(MemoryGuard(), 0)
    for _ in range(50):
        throttle.attempt("acct", "alice")


def test_unknown_users_are_locked_like_real_ones() -> None:
    throttle = LogonThrottle(MemoryGuard(), 1)
    throttle.attempt("acct", "no-such-user")
    with pytest.raises(errors.LoginLocked):
        throttle.attempt("acct", "no-such-user")
    key_real, key_unknown = LogonThrottle.key("acct", "alice"), LogonThrottle.key("acct", "no-such-user")
    assert len(key_real) == len(key_unknown)
    assert "alice" not in key_real and "no-such-user" not in key_unknown
    assert LogonThrottle.key("acct", "alice", "mfa") != key_real  # MFA codes are counted apart


_PEAK_MEMORY_SCRIPT = """
import threading
from ram_middleware.credentials.password import DUMMY_HASH, verify_password

def peak_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

before = peak_kib()
threads = [threading.Thread(target=verify_password, args=(DUMMY_HASH, "guess")) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(peak_kib() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
def test_many_logon_attempts_at_once_do_not_each_take_a_hash_s_memory() -> None:
    """Each argon2id verification fills 64 MiB: sixteen unauthenticated attempts at once must not make the
    process hold a GiB (more hashes at once than cores only queue inside the CPU anyway)."""
    grown = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_SCRIPT], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    slots = password_module.HASH_CONCURRENCY
    print(f"peak memory grew by {int(grown) // 1024} MiB with 16 verifications at once ({slots} slots)")
    assert int(grown) < (slots + 2) * 64 * 1024


def test_a_hash_that_cannot_get_a_slot_in_time_is_refused_as_unavailable() -> None:
    held = threading.Semaphore(0)
    release = threading.Event()

    def hold() -> None:
        with password_module.hashing_slot():
            held.release()
            release.wait()

    holders = [threading.Thread(target=hold) for _ in range(password_module.HASH_CONCURRENCY)]
    for holder in holders:
        holder.start()
    for _ in holders:
        assert held.acquire(timeout=10)
    try:
        with pytest.raises(errors.ServiceUnavailable) as refused, password_module.hashing_slot(wait=0.05):
            pass
        assert refused.value.status == 503 and "password" in refused.value.message
    finally:
        release.set()
        for holder in holders:
            holder.join()
