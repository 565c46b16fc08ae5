"""Revocations of every kind, and readers that hammer a Directory while they are made.

:func:`seed` gives ``n`` users an AccessKey and ECS read access, each through what its revocation takes away:
the ``dev`` group (revoked by moving the user to ``hr``), a policy attached to the user (detached), or
either with the key disabled, deleted or the user deleted. :func:`hammer` asks a Directory, from threads, the
question a request asks (the key, then the policies of its owner) and notes when each question began.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from dataclasses import dataclass

from ram_middleware import errors
from ram_middleware.policy.request import make_request
from ram_middleware.service import RamService
from ram_middleware.store.cache import Directory

KINDS = ("moved", "detached", "key-disabled", "key-deleted", "user-deleted")
ECS_READ = "AliyunECSReadOnlyAccess"


@dataclass(frozen=True)
class Victim:
    """A user whose access is revoked in the test, the AccessKey it signs with and how it is revoked."""

    user: str
    key: str
    kind: str


@dataclass(frozen=True)
class Seen:
    """One question asked of a Directory: when it began (``time.monotonic``), whom about, whether allowed."""

    began: float
    victim: int
    allowed: bool


def seed(svc: RamService, n: int) -> tuple[str, list[Victim]]:
    """A new account with groups ``dev`` (ECS read) and ``hr`` and ``n`` victims of every kind in turn."""
    account = svc.create_account().account_id
    svc.create_group(account, "dev")
    svc.attach_policy_to_group(account, "System", ECS_READ, "dev")
    svc.create_group(account, "hr")
    victims = []
    for i in range(n):
        kind, user = KINDS[i % len(KINDS)], f"victim{i}"
        svc.create_user(account, user)
        if kind == "detached":
            svc.attach_policy_to_user(account, "System", ECS_READ, user)
        else:
            svc.add_user_to_group(account, "dev", user)
        victims.append(Victim(user, svc.create_access_key(account, user).key.access_key_id, kind))
    return account, victims


def revoke(svc: RamService, account: str, victim: Victim) -> None:
    """Take the victim's ECS access away the way its kind says (a move is two writes: the first revokes)."""
    if victim.kind == "moved":
        svc.remove_user_from_group(account, "dev", victim.user)
        svc.add_user_to_group(account, "hr", victim.user)
    elif victim.kind == "detached":
        svc.detach_policy_from_user(account, "System", ECS_READ, victim.user)
    elif victim.kind == "key-disabled":
        svc.update_access_key(account, victim.key, "Inactive", user_name=victim.user)
    elif victim.kind == "key-deleted":
        svc.delete_access_key(account, victim.key, user_name=victim.user)
    else:
        svc.delete_user(account, victim.user, force=True)


def allowed(directory: Directory, account: str, key: str) -> bool:
    """Whether a request signed with ``key`` may describe an ECS instance, as the request path decides it."""
    try:
        found = directory.signing_key(key)
        if found is None or found.status != "Active":
            return False
        principal = dataclasses.replace(found.principal, auth_method="v1", access_key_id=key)
        policies = directory.policy_set(principal)
    except errors.RAMError:
        return False
    request = make_request("ecs:DescribeInstances", f"acs:ecs:*:{account}:instance/i-1")
    return policies.decide(request).allowed


def hammer(
    directory: Directory, account: str, victims: list[Victim], stop: threading.Event, threads: int = 4
) -> tuple[list[Seen], list[threading.Thread]]:
    """Start ``threads`` threads asking about random victims until ``stop``; returns what they saw (filled
    as they go) and the threads."""
    seen: list[Seen] = []

    def ask() -> None:
        pick = random.Random()
        while not stop.is_set():
            i = pick.randrange(len(victims))
            began = time.monotonic()
            seen.append(Seen(began, i, allowed(directory, account, victims[i].key)))

    started = [threading.Thread(target=ask, daemon=True) for _ in range(threads)]
    for thread in started:
        thread.start()
    return seen, started


def stale(seen: list[Seen], since: dict[int, float]) -> list[tuple[Seen, float]]:
    """The questions that began after their victim's revocation was due (``since``) and were still allowed,
    each with how long after that they began."""
    return [
        (s, s.began - since[s.victim])
        for s in seen
        if s.allowed and s.victim in since and s.began > since[s.victim]
    ]
