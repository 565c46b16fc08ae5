"""An app built before the server forks its workers (gunicorn ``--preload``) on the in-process backends: each
worker gets its own copy of the memory guard, so the operator is told at the worker's first request."""

from __future__ import annotations

import logging

from ram_middleware.audit import MemorySink
from ram_middleware.client import RequestSigner
from ram_middleware.config import RamConfig, build
from ram_middleware.facts import RequestFacts
from ram_middleware.routes import RouteRule
from tests.forking import fork

RULE = RouteRule("ecs:DescribeInstances")


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_memory_guard_used_in_a_forked_worker_is_announced_there() -> None:
    ram = build(RamConfig(store_url="memory://", audit=MemorySink()))
    service = ram.service
    account = service.create_account().account_id
    service.create_user(account, "reader")
    service.attach_policy_to_user(account, "System", "AliyunECSReadOnlyAccess", "reader")
    created = service.create_access_key(account, "reader")
    signed = RequestSigner(created.key.access_key_id, created.secret).sign(
        "GET", "http://api.test/x", [], b""
    )
    facts = RequestFacts("GET", "/x", "", tuple(signed.headers.items()), b"", "127.0.0.1")
    kept = _Kept()
    logging.getLogger("ram_middleware").addHandler(kept)
    try:

        def worker() -> tuple[str | None, list[str]]:
            refused = ram.authorizer.check(facts, RULE).error
            ram.authorizer.check(facts, RULE)
            return None if refused is None else refused.code, kept.messages

        # gunicorn --preload: the app is built in the server's process, which then forks its workers.
        first, second = fork(worker).result(), fork(worker).result()
        assert first[0] is None and second[0] is None  # the hole: each worker's guard has its own nonces
        for _, messages in (first, second):
            (warning,) = [m for m in messages if "--preload" in m]  # once per worker, not per request
            assert "replayed once to each worker" in warning
        assert kept.messages == []  # the process that built the guard keeps quiet
    finally:
        logging.getLogger("ram_middleware").removeHandler(kept)
        ram.close()
