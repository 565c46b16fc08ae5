"""One writer process for the concurrency test: 200 admin writes from 8 threads against a shared store.

``python -m tests.scaleout.writer <store-url> <account> <tag> <role>`` where role ``adder`` adds each
``victim<k>`` to group ``shared`` and role ``deleter`` deletes them (the two processes race on them).
Per process: 80 CreateUser + 80 AddUserToGroup of its own users, 20 CreateAccessKey for the shared user
``app`` (at most 2 may exist), 20 racing victim operations. Prints one JSON line: outcome counts by
operation and Code, and how many announced writes succeeded.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ram_middleware import errors
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.scaleout.cluster import MASTER_KEY

USERS = 80
KEYS = 20
VICTIMS = 20


def main(url: str, account: str, tag: str, role: str) -> dict[str, Any]:
    store = open_store(url, master_keys=[MASTER_KEY])
    svc = RamService(store)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def record(op: str, run: Any) -> None:
        try:
            run()
            code = "ok"
        except errors.RAMError as exc:
            code = exc.code
        with lock:
            outcomes[f"{op}:{code}"] += 1

    def own_user(i: int) -> None:
        name = f"{tag}-u{i}"
        record("create_user", lambda: svc.create_user(account, name))
        record("add_to_group", lambda: svc.add_user_to_group(account, "shared", name))

    def victim(k: int) -> None:
        name = f"victim{k}"
        if role == "adder":
            record("victim_add", lambda: svc.add_user_to_group(account, "shared", name))
        else:
            record("victim_delete", lambda: svc.delete_user(account, name, force=True))

    def key(_: int) -> None:
        record("create_key", lambda: svc.create_access_key(account, "app"))

    jobs: list[tuple[Callable[[int], None], int]] = [(own_user, i) for i in range(USERS)]
    jobs += [(victim, k) for k in range(VICTIMS)] + [(key, n) for n in range(KEYS)]
    # Interleave the kinds so that every kind runs concurrently with the others.
    random.Random(tag).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(fn, arg) for fn, arg in jobs]:
            future.result()
    svc.directory.close()
    store.close()
    attempted = sum(outcomes.values())
    announced = sum(n for name, n in outcomes.items() if name.endswith(":ok"))
    return {"attempted": attempted, "announced": announced, "outcomes": dict(outcomes)}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
