"""Run test code in a forked child beside the parent, as gunicorn --preload and multiprocessing's 'fork' do.

The child inherits everything the parent built before the fork (stores, pools, threads' leftovers); its
return value (JSON-able) comes back over a pipe. It always leaves through ``os._exit``, so it never runs
pytest's teardown or the parent's atexit handlers.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["Child", "fork"]


class Child:
    """A forked child running one function; :meth:`result` waits for what it returned."""

    def __init__(self, pid: int, reader: int) -> None:
        self.pid = pid
        self._reader = reader

    def result(self, timeout: float = 30.0) -> Any:
        """The child's return value; raises AssertionError if it raised, hung or died."""
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._reader], [], [], left)[0]:
                    os.kill(self.pid, signal.SIGKILL)
                    raise AssertionError(f"the forked child did not finish within {timeout} s")
                chunk = os.read(self._reader, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(self._reader)
            os.waitpid(self.pid, 0)
        if not data:
            raise AssertionError("the forked child died without a result")
        outcome = json.loads(data)
        if "error" in outcome:
            raise AssertionError(f"the forked child failed:\n{outcome['error']}")
        return outcome["value"]


def fork(work: Callable[[], Any]) -> Child:
    """Fork; the child runs ``work()`` and exits, the parent gets a :class:`Child` to collect its result."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(writer)
        return Child(pid, reader)
    try:  # the child: whatever happens, it must not return into pytest
        os.close(reader)
        try:
            payload = json.dumps({"value": work()})
        except BaseException:
            payload = json.dumps({"error": traceback.format_exc()[-4000:]})
        view = memoryview(payload.encode())
        while view:
            view = view[os.write(writer, view) :]
    finally:
        os._exit(0)
