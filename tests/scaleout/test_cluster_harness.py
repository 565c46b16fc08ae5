"""The scale-out harness itself: an instance that writes a lot to stderr keeps answering."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scaleout.cluster import Instance, World, call, instance_env
from tests.scaleout.servers import free_port

pytestmark = [pytest.mark.slow]


def test_an_instance_that_logs_more_than_a_pipe_holds_keeps_answering(tmp_path: Path) -> None:
    # Nothing listens on the guard's port, so every signed request is refused (503) and logs one warning that
    # names the guard URL; its long prefix makes each ~4 KB, so 40 requests write 2.5 times what a pipe holds.
    store_url = f"sqlite:///{tmp_path}/ram.db"
    world = World(store_url)
    instance = Instance(instance_env(store_url, f"redis://127.0.0.1:{free_port()}/0?prefix={'p' * 4000}:"))
    key = world.user("logger", "dev")
    try:
        instance.start()
        statuses = [call(instance, "GET", f"/instances/i-{i}", key).status_code for i in range(40)]
        assert statuses == [503] * 40
        assert "Redis guard" in instance.stderr_tail(10_000)
    finally:
        instance.stop()
        world.close()
