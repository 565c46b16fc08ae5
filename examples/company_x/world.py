"""The demo's pretend cloud: ECS instances, RDS instances and OSS buckets, in memory, per account.

Every account starts with the same small estate (``SEED_*``). Changes are idempotent as the demo promises:
starting a running instance, stopping a stopped one, deleting a deleted one, creating an existing database
and putting the same object again all succeed.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

__all__ = ["REGION", "Bucket", "DemoError", "Estate", "Instance", "StoredObject", "World"]

REGION = "cn-hangzhou"
T = TypeVar("T")


class DemoError(Exception):
    """An error of the pretend services, answered as ``{"Code", "Message"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _found(found: T | None, code: str, message: str) -> T:
    """``found``, or a 404 ``DemoError`` with ``code`` and ``message``."""
    if found is None:
        raise DemoError(404, code, message)
    return found


@dataclass
class Instance:
    instance_id: str
    name: str
    status: str  # Running | Stopped
    region: str = REGION
    deleted: bool = False


@dataclass
class DBInstance:
    db_instance_id: str
    description: str
    engine: str
    databases: set[str] = field(default_factory=set)
    region: str = REGION


@dataclass(frozen=True)
class StoredObject:
    key: str
    body: bytes
    modified: datetime

    @property
    def etag(self) -> str:
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest().upper()


@dataclass
class Bucket:
    name: str
    objects: dict[str, StoredObject] = field(default_factory=dict)


def _seed_objects(pairs: dict[str, str]) -> dict[str, StoredObject]:
    now = datetime.now(UTC)
    return {key: StoredObject(key, text.encode(), now) for key, text in pairs.items()}


SEED_INSTANCES = (
    ("i-web-1", "web server 1", "Running"),
    ("i-web-2", "web server 2", "Running"),
    ("i-batch-1", "nightly batch", "Stopped"),
)
SEED_DB_INSTANCES = (("rm-orders", "orders database", "MySQL"),)
SEED_BUCKETS = {
    "rnd-bucket": {"report.txt": "Q2 research report\n", "public/readme.txt": "Welcome, contractors.\n"},
    "company-docs": {"handbook.txt": "Employee handbook\n"},
}
"""Every account's starting estate: instances (id, name, status), DB instances, buckets with objects."""


class Estate:
    """One account's resources."""

    def __init__(self) -> None:
        self.instances = {i: Instance(i, name, status) for i, name, status in SEED_INSTANCES}
        self.db_instances = {d: DBInstance(d, desc, engine) for d, desc, engine in SEED_DB_INSTANCES}
        self.buckets = {name: Bucket(name, _seed_objects(objs)) for name, objs in SEED_BUCKETS.items()}

    def instance(self, instance_id: str) -> Instance:
        return _found(
            self.instances.get(instance_id),
            "InvalidInstanceId.NotFound",
            f"The instance {instance_id[:64]} does not exist.",
        )

    def live_instance(self, instance_id: str) -> Instance:
        found = self.instance(instance_id)
        if found.deleted:
            raise DemoError(
                404, "InvalidInstanceId.NotFound", f"The instance {instance_id[:64]} was deleted."
            )
        return found

    def db_instance(self, db_instance_id: str) -> DBInstance:
        return _found(
            self.db_instances.get(db_instance_id),
            "InvalidDBInstanceId.NotFound",
            f"The DB instance {db_instance_id[:64]} does not exist.",
        )

    def bucket(self, name: str) -> Bucket:
        return _found(self.buckets.get(name), "NoSuchBucket", f"The bucket {name[:64]} does not exist.")

    def object(self, bucket: str, key: str) -> StoredObject:
        return _found(
            self.bucket(bucket).objects.get(key), "NoSuchKey", f"The object {key[:128]} does not exist."
        )

    def put_object(self, bucket: str, key: str, body: bytes) -> StoredObject:
        stored = StoredObject(key, body, datetime.now(UTC))
        self.bucket(bucket).objects[key] = stored
        return stored


class World:
    """Estates by AccountId, created on first use; one lock serialises every change."""

    def __init__(self) -> None:
        self._estates: dict[str, Estate] = {}
        self.lock = threading.Lock()

    def estate(self, account_id: str) -> Estate:
        """The account's estate (call with :attr:`lock` held)."""
        found = self._estates.get(account_id)
        if found is None:
            found = self._estates[account_id] = Estate()
        return found
