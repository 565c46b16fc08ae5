"""Another process asking a Directory about the victims while the test process revokes them.

``python -m tests.scaleout.revocation_reader <store-url> <account> <victims.json> <seconds>``: prints
``ready`` once its Directory is warm, then after ``seconds`` one JSON line: ``[[began, victim, allowed], …]``
(``began`` on ``time.monotonic``, which every process on the machine shares).
"""

from __future__ import annotations

import json
import sys
import threading
import time

from ram_middleware.store import open_store
from ram_middleware.store.cache import Directory
from tests.scaleout.cluster import MASTER_KEY
from tests.scaleout.revocations import Victim, allowed, hammer


def main(url: str, account: str, victims_file: str, seconds: float) -> list[list[object]]:
    with open(victims_file) as file:
        victims = [Victim(**fields) for fields in json.load(file)]
    store = open_store(url, master_keys=[MASTER_KEY])
    directory = Directory(store)
    try:
        for victim in victims:
            assert allowed(directory, account, victim.key), victim
        print("ready", flush=True)
        stop = threading.Event()
        seen, threads = hammer(directory, account, victims, stop)
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        return [[s.began, s.victim, s.allowed] for s in seen]
    finally:
        directory.close()
        store.close()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))))
