"""50 threads replay one signed request at the same moment: exactly one is accepted."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from ram_middleware import errors
from ram_middleware.credentials.authenticate import Authenticator
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import Guard, MemoryGuard, SqliteGuard

from .identities import STS_AK, STS_SECRET, STS_TOKEN, MemoryResolver
from .signing import NOW, signed

THREADS = 50


def race(authenticator: Authenticator, original: RequestFacts) -> Counter[str]:
    barrier = threading.Barrier(THREADS)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def replay() -> None:
        # Each thread gets its own copy, as separate HTTP requests would.
        facts = RequestFacts(original.method, original.path, original.query, original.headers, original.body)
        barrier.wait()
        try:
            principal = authenticator.authenticate(facts)
            outcome = "accepted" if principal is not None else "anonymous"
        except errors.RAMError as error:
            outcome = error.code
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=replay) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def make_guard(backend: str, tmp_path: Path) -> Guard:
    return MemoryGuard() if backend == "memory" else SqliteGuard(tmp_path / "guard.db")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@pytest.mark.parametrize("scheme", ["acs3", "v1"])
@pytest.mark.parametrize("sts", [False, True], ids=["long-term", "sts"])
def test_exactly_one_of_fifty_concurrent_replays_is_accepted(
    tmp_path: Path, backend: str, scheme: str, sts: bool
) -> None:
    guard = make_guard(backend, tmp_path)
    resolver = MemoryResolver()
    authenticator = Authenticator(resolver, guard, clock=lambda: NOW)
    if sts:
        facts = signed(scheme, access_key_id=STS_AK, secret=STS_SECRET, token=STS_TOKEN)
    else:
        facts = signed(scheme)
    outcomes = race(authenticator, facts)
    assert outcomes == Counter({"accepted": 1, "SignatureNonceUsed": THREADS - 1})
    assert len(resolver.used) == 1
    if isinstance(guard, SqliteGuard):
        guard.close()
