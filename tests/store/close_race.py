"""One process of the close-race test: threads read and write while the main thread closes, many rounds.

``python -m tests.store.close_race <sqlite|memory|guard> <directory> <rounds>`` prints one JSON line:
``outcomes`` counts operations that completed (``ok``), got the closed-store error (``closed``) or
anything else (``other: <error>``, which must not occur); ``lost``/``phantom`` list completed writes a
reopened file does not hold and refused ones it does (both must stay empty). Run in a subprocess, so a
crash of the interpreter (a connection closed under a running statement) fails a test, not pytest.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ram_middleware import errors
from ram_middleware.guard import SqliteGuard
from ram_middleware.identity import Account, User
from ram_middleware.store import Store, open_store
from ram_middleware.store.sql import STORE_CLOSED

THREADS = 4
OPS = 40
ACCOUNT = "1234567890123456"
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
GUARD_CLOSED = "The replay guard is closed; the request was denied."


class _Round:
    """Threads alternating ``write(name)`` and ``read(name)``; which writes completed, which were refused."""

    def __init__(
        self, write: Callable[[str], object], read: Callable[[str], object], closed_message: str
    ) -> None:
        self._ops = (write, read)
        self._closed_message = closed_message
        self.outcomes: Counter[str] = Counter()
        self.written: set[str] = set()
        self.refused: set[str] = set()
        self._lock = threading.Lock()
        self._start = threading.Barrier(THREADS + 1)

    def run(self, close: Callable[[], None]) -> None:
        threads = [threading.Thread(target=self._work, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        self._start.wait()
        time.sleep(random.uniform(0.0, 0.02))  # close at a different moment of the work each round
        close()
        for thread in threads:
            thread.join()

    def _work(self, thread: int) -> None:
        self._start.wait()
        for i in range(OPS):
            name = f"w{thread}-{i}"
            try:
                self._ops[i % 2](name)
                outcome = "ok"
            except errors.RAMError as exc:
                closed = (exc.status, exc.message) == (503, self._closed_message)
                outcome = "closed" if closed else f"other: {exc!r}"[:200]
            except Exception as exc:  # any other outcome is what the test looks for
                outcome = f"other: {exc!r}"[:200]
            with self._lock:
                self.outcomes[outcome] += 1
                if i % 2 == 0:
                    (self.written if outcome == "ok" else self.refused).add(name)


def _store_round(kind: str, path: Path) -> tuple[_Round, set[str], set[str]]:
    url = "memory://" if kind == "memory" else f"sqlite:///{path}"
    store = open_store(url, env={})
    with store.write() as repo:
        repo.insert_account(Account(ACCOUNT, None, NOW))

    def write(name: str) -> None:
        with store.write() as repo:
            repo.insert_user(User(ACCOUNT, name, name, create_date=NOW, update_date=NOW))
            repo.list_users(ACCOUNT, "", 1000)

    def read(name: str) -> None:
        with store.read() as repo:
            repo.list_users(ACCOUNT, "", 1000)

    work = _Round(write, read, STORE_CLOSED)
    work.run(store.close)
    if kind == "memory":
        return work, set(), set()
    reopened: Store = open_store(url, env={})
    try:
        with reopened.read() as repo:
            held = {user.user_name for user in repo.list_users(ACCOUNT, "", 1000)}
    finally:
        reopened.close()
    return work, work.written - held, work.refused & held


def _guard_round(path: Path) -> tuple[_Round, set[str], set[str]]:
    guard = SqliteGuard(path)
    work = _Round(lambda name: guard.claim(name, 600), guard.count, GUARD_CLOSED)
    work.run(guard.close)
    with SqliteGuard(path) as reopened:
        held = {name for name in work.written | work.refused if not reopened.claim(name, 600)}
    return work, work.written - held, work.refused & held


def main(kind: str, directory: Path, rounds: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    lost: set[str] = set()
    phantom: set[str] = set()
    for n in range(rounds):
        path = directory / f"round{n}.db"
        work, missing, extra = _guard_round(path) if kind == "guard" else _store_round(kind, path)
        outcomes.update(work.outcomes)
        lost |= {f"{n}:{name}" for name in missing}
        phantom |= {f"{n}:{name}" for name in extra}
    return {"outcomes": dict(outcomes), "lost": sorted(lost)[:20], "phantom": sorted(phantom)[:20]}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))
