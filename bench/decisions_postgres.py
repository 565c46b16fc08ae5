"""Benchmark: decisions served from the Directory snapshot, SQLite store vs PostgreSQL store.

Run from the repository root: ``python bench/decisions_postgres.py [--store postgresql://…]``. Company X
(DESIGN.md) is written into each store through RamService — groups with system policies, R&D's custom
office-hours OSS policy, users A-E and ``app`` with AccessKeys — and the workload of
``bench/decisions.py`` (a) is decided through :class:`~ram_middleware.store.cache.Directory` as the request
path does it: signing key → principal (with groups) → compiled PolicySet → decide. The snapshot is warm,
so no decision needs a database round trip; the Directory still checks the store's change counter every
0.5 s (SQLite: one indexed read; PostgreSQL: the LISTEN/NOTIFY feed's value, in memory).

Stores are measured in interleaved rounds so a slow spell on a shared machine hits both alike. Without
``--store`` the PostgreSQL store is a fresh schema on ``postgresql://postgres@127.0.0.1:5432/test``,
dropped afterwards. Last line: ``RESULT sqlite_median_us=<a> postgres_median_us=<b> ratio=<b/a>``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from decisions import company_x_requests, timed_batches_us

from ram_middleware.crypto import generate_key
from ram_middleware.policy import Request
from ram_middleware.service import RamService
from ram_middleware.store import Store, open_store
from ram_middleware.store.cache import Directory

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
OFFICE_HOURS = """{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*",
 "Condition": {"IpAddress": {"acs:SourceIp": "203.0.113.0/24"},
  "NumericGreaterThanEquals": {"mw:LocalTimeOfDay/Asia/Shanghai": "0900"},
  "NumericLessThan": {"mw:LocalTimeOfDay/Asia/Shanghai": "1800"},
  "NumericLessThanEquals": {"mw:LocalWeekday/Asia/Shanghai": "5"}}}]}"""
GROUPS = {
    "OandM": ["AliyunECSFullAccess", "AliyunRDSFullAccess"],
    "RandD": ["AliyunECSReadOnlyAccess", "AliyunRDSReadOnlyAccess"],
    "HR": ["AliyunRAMFullAccess"],
}
MEMBERS = {"A": ["HR"], "B": ["RandD"], "C": ["RandD"], "D": ["RandD", "OandM"], "E": ["OandM"], "app": []}


def seed_company_x(store: Store) -> dict[str, str]:
    """Write Company X into ``store``; returns each user's AccessKeyId."""
    svc = RamService(store)
    account = svc.create_account().account_id
    for group, policies in GROUPS.items():
        svc.create_group(account, group)
        for policy in policies:
            svc.attach_policy_to_group(account, "System", policy, group)
    svc.create_policy(account, "RnDOSSOfficeHours", OFFICE_HOURS)
    svc.attach_policy_to_group(account, "Custom", "RnDOSSOfficeHours", "RandD")
    keys = {}
    for user, groups in MEMBERS.items():
        svc.create_user(account, user)
        for group in groups:
            svc.add_user_to_group(account, group, user)
        keys[user] = svc.create_access_key(account, user).key.access_key_id
    svc.attach_policy_to_user(account, "System", "AliyunOSSReadOnlyAccess", "app")
    svc.directory.close()
    return keys


def decider(directory: Directory, keys: dict[str, str]) -> tuple[Callable[[int], object], int]:
    """``call(i)`` decides workload item ``i`` through the Directory, and the workload size."""
    workload: list[tuple[str, Request]] = [(keys[user], request) for user, request in company_x_requests()]

    def decide_one(i: int) -> object:
        key_id, request = workload[i]
        signing = directory.signing_key(key_id)
        assert signing is not None
        return directory.policy_set(signing.principal).decide(request)

    return decide_one, len(workload)


@contextlib.contextmanager
def postgres_url(given: str | None) -> Iterator[str]:
    """``given``, or a fresh schema on the local server (dropped on exit)."""
    if given:
        yield given
        return
    import psycopg

    schema = f"ram_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DEFAULT_PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{DEFAULT_PG}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(DEFAULT_PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def compare(
    urls: dict[str, str], *, rounds: int = 12, batches: int = 25, batch: int = 320
) -> dict[str, float]:
    """Median µs per decision for each store URL, measured in interleaved rounds."""
    master = [generate_key()]
    stores = {name: open_store(url, master_keys=master) for name, url in urls.items()}
    directories: dict[str, Directory] = {}
    try:
        calls = {}
        for name, store in stores.items():
            directories[name] = Directory(store)
            calls[name] = decider(directories[name], seed_company_x(store))
        samples: dict[str, list[float]] = {name: [] for name in stores}
        for call, count in calls.values():  # warm the snapshots (and the PolicySet memos)
            timed_batches_us(call, count, batch, 3)
        for r in range(rounds):
            order = list(calls) if r % 2 == 0 else list(reversed(calls))
            for name in order:
                call, count = calls[name]
                samples[name] += timed_batches_us(call, count, batch, batches, start=r * batch)
        return {name: statistics.median(values) for name, values in samples.items()}
    finally:
        for directory in directories.values():
            directory.close()
        for store in stores.values():
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", help="PostgreSQL URL (default: a fresh schema on the local server)")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; Company X workload, decisions through the Directory snapshot")
    with tempfile.TemporaryDirectory() as tmp, postgres_url(args.store) as pg:
        medians = compare({"sqlite": f"sqlite:///{tmp}/ram.db", "postgres": pg})
    ratio = medians["postgres"] / medians["sqlite"]
    print(f"  SQLite store:     {medians['sqlite']:.2f} µs per decision")
    print(f"  PostgreSQL store: {medians['postgres']:.2f} µs per decision ({(ratio - 1) * 100:+.1f}%)")
    sqlite_us, postgres_us = medians["sqlite"], medians["postgres"]
    print(f"RESULT sqlite_median_us={sqlite_us:.3f} postgres_median_us={postgres_us:.3f} ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
