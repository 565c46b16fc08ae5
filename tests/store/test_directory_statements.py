"""A first decision's store reads do not grow with the organisation: each attached custom policy costs one
indexed read of its default version, not GetPolicy's attachment count (which grows with every user and group
holding the policy) plus a read of all its versions. Counted with SQLite's trace hook."""

from __future__ import annotations

from pathlib import Path

from ram_middleware.service import RamService
from ram_middleware.store import Store
from ram_middleware.store.cache import Directory

from .backends import open_backend
from .statements import traced

DOC = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:Get*", "Resource": "*"}]}'


def cold_reads(store: Store, custom: bool) -> list[str]:
    """The statements of a first policy-set lookup for a user in three groups, each holding one policy."""
    svc = RamService(store)
    account = svc.create_account().account_id
    svc.create_user(account, "alice")
    for i in range(3):
        svc.create_group(account, f"g{i}")
        svc.add_user_to_group(account, f"g{i}", "alice")
        if custom:
            svc.create_policy(account, f"p{i}", DOC)
            svc.attach_policy_to_group(account, "Custom", f"p{i}", f"g{i}")
        else:
            svc.attach_policy_to_group(account, "System", "AliyunOSSReadOnlyAccess", f"g{i}")
    for n in range(20):  # other holders of the same policies
        svc.create_user(account, f"other{n}")
        if custom:
            svc.attach_policy_to_user(account, "Custom", f"p{n % 3}", f"other{n}")
    directory = Directory(store)
    principal = directory.principal_for_user(account, "alice")
    with traced(store) as statements:
        directory.policy_set(principal)
    directory.close()
    svc.directory.close()
    return statements


def test_each_custom_policy_costs_one_read(tmp_path: Path) -> None:
    reads = {}
    for custom in (False, True):
        for store in open_backend("sqlite", tmp_path / str(custom)):
            reads[custom] = cold_reads(store, custom)
    assert len(reads[True]) == len(reads[False]) + 3
    assert not [s for s in reads[True] if "COUNT(" in s.upper()]
