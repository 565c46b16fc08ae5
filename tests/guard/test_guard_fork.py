"""Guards opened before ``fork()`` (gunicorn --preload, multiprocessing's 'fork'): the child and its parent
each get right answers on connections of their own, and a nonce a child claimed stays claimed for every
other process, also once the parent has closed its guard."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ram_middleware.guard import Guard, open_guard
from tests.forking import fork
from tests.scaleout.servers import redis_guard_url

USE_FOR = 0.8  # seconds the parent and the child use the guard side by side


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def guard_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A guard URL other processes can open too."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/guard.db"
        return
    with redis_guard_url() as url:
        yield url


def _use(guard: Guard, tag: str, seconds: float) -> dict[str, int]:
    """Claim fresh nonces and count failures for ``seconds``; how many answers were right or wrong."""
    outcome: collections.Counter[str] = collections.Counter()
    expected = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        nonce = f"{tag}:nonce:{expected}"
        try:
            first, again = guard.claim(nonce, 60), guard.claim(nonce, 60)
            count = guard.incr(f"{tag}:failures", 60).value
        except Exception as exc:
            outcome[f"{type(exc).__name__}: {exc}"[:120]] += 1
            continue
        expected += 1
        right = first is True and again is False and count == expected
        outcome["right" if right else f"wrong: claims {first}, {again}; count {count} not {expected}"] += 1
    return dict(outcome)


def test_a_forked_child_and_its_parent_each_get_right_answers(guard_url: str) -> None:
    guard = open_guard(guard_url)
    assert set(_use(guard, "warm", 0.05)) == {"right"}  # a connection is open when the fork happens

    def child_work() -> dict[str, int]:
        outcome = _use(guard, "child", USE_FOR)
        guard.close()  # type: ignore[attr-defined]  # as a worker does when it shuts down
        return outcome

    child = fork(child_work)
    in_parent = _use(guard, "parent", USE_FOR)
    in_child = child.result()
    try:
        assert set(in_parent) == {"right"}, in_parent
        assert set(in_child) == {"right"}, in_child
        assert set(_use(guard, "after", 0.1)) == {"right"}  # the parent goes on once its child has gone
    finally:
        guard.close()  # type: ignore[attr-defined]


def test_a_nonce_a_forked_child_claimed_stays_claimed_after_the_parent_closed_its_guard(
    guard_url: str,
) -> None:
    guard = open_guard(guard_url)
    assert guard.claim("warm", 60)

    def child_work() -> tuple[dict[str, int], bool]:
        serving = _use(guard, "child", 0.5)  # meanwhile the parent closes its guard
        claimed = guard.claim("nonce:from-the-child", 60)
        time.sleep(0.6)  # still running (not closed) while another process checks the nonce
        return serving, claimed

    child = fork(child_work)
    time.sleep(0.2)
    guard.close()  # type: ignore[attr-defined]
    time.sleep(0.6)
    other = open_guard(guard_url)  # another process's instance
    try:
        # A replay of the child's nonce is refused everywhere: the claim is in the database, not in a WAL
        # file the parent deleted under the child.
        replayed = other.claim("nonce:from-the-child", 60)
        serving, claimed = child.result()
        assert set(serving) == {"right"}, serving
        assert claimed is True
        assert replayed is False
    finally:
        other.close()  # type: ignore[attr-defined]
