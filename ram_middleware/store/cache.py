"""The directory: an in-process snapshot of the store for the request path.

A decision must not cost a database round trip, so :class:`Directory` remembers what the request path
asks for — signing keys (secrets decrypted once), principals, login-profile password times, MFA binding
times, compiled policy sets, roles — in a *snapshot* tagged with the store's change counter.

Invalidation:

* A write through the :class:`~ram_middleware.store.base.Store` object this Directory reads announces
  itself (``Store.subscribe``) and the snapshot is dropped before the writing call returns, so the next
  decision sees it — e.g. a user removed from a group has lost that group's permissions. Another Store
  object, even in this process (a second runtime on the same SQLite file), counts as another process.
* Writes by other processes are noticed by reading the change counter (one indexed row, ~10 µs on
  SQLite) at most every ``refresh_interval`` seconds (default 0.5). That is the bound: another process's
  change is felt here within ``refresh_interval`` (plus the lookup that notices it). ``refresh_interval=0``
  checks on every call. A PostgreSQL backend will push changes through the same ``subscribe`` hook
  (LISTEN/NOTIFY), making the poll a fallback.
* An entry is only remembered if it was read at the snapshot's own counter, so a value read just before a
  concurrent write can never be cached after the invalidation.
* A database that went back in time (a PostgreSQL failover to a replica that missed the latest commits, a
  restore) reuses counter values: the store says so (``subscribe``'s ``on_rewind``) and the snapshot is
  dropped whatever its counter. Each rewind (and :meth:`Directory.invalidate`) starts a new *epoch*: a
  lookup or counter check begun before it neither caches what it read nor moves the snapshot, so nothing
  read from the lost past survives.

AccessKey last-used dates are *batched*: :meth:`Directory.note_key_used` records them in memory, and they
are written in one transaction at most every ``flush_interval`` seconds (default 60) by a short-lived
background thread, on :meth:`flush`, on :meth:`close` and at the process's exit (a WSGI server's worker
stopping on a signal it handles: nothing closes the runtime there) — never one write per request, and
never on the thread of the request that happens to find the interval passed (it may be an event loop).
That write is bookkeeping (``announce=False``): it drops no snapshot anywhere. A crash loses at most
``flush_interval`` seconds of last-used dates.

After a change every active principal's next request rebuilds what it needs, so a lookup that misses reads
its answer *and the change counter* in one statement (the counter's row is joined in, so both come from one
snapshot: the answer is tagged with a counter read no later than its rows), whatever the principal's groups
and policies: a key with its owner and the owner's groups, a user's (and its groups') or a role's
attachments with their custom policies' default versions, a role with its revocation (``role`` and
``role_revocation`` share that entry, as an STS request needs both), a user's password and MFA binding
times (``password_changed`` and ``mfa_bound_since`` share one entry, as a console session needs both). A
first decision costs two lookups (a console session's three: the user, its login times, its policies),
each one statement, read through ``Store.lookup`` (on PostgreSQL one round trip with its transaction's
begin and commit, besides the pool's check of the connection).

Memory is bounded: each cache is an LRU of at most ``max_entries`` (unknown AccessKeyIds are cached as
misses too, and an attacker can send arbitrarily many of those).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from .. import errors, forks
from ..identity import (
    MFA_BOUND,
    PASSWORD_CHANGED,
    SESSION_ISSUED,
    Principal,
    Role,
    SessionLink,
    SessionRevocation,
    SigningKey,
    User,
    ram_arn,
    session_chain,
    session_generation,
)
from ..policy import AttachedPolicy, CompiledPolicy, PolicySet, parse_policy, system_policy
from .base import Repository, Store, storable
from .records import AppliedPolicy, Counted, LoginTimes, RoleRecord, key_secret_context

__all__ = ["MFA_CHANGED", "Directory", "root_principal", "user_principal"]

log = logging.getLogger(__name__)

MFA_CHANGED = "The MFA device was changed; sign in again."
"""Why a console session ended when its identity's MFA device was bound or unbound."""

_MISSING = object()

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# The account root is not subject to identity policies (spec §3.5); simulate() and any caller that asks
# for the root's PolicySet get this single allow-everything statement, which also names why in audits.
_OWNER = AttachedPolicy(
    "AccountOwner",
    "Owner",
    "",
    "user",
    "root",
    parse_policy('{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'),
)


class _Lru(Generic[K, V]):
    """A size-bounded mapping that forgets the least recently used entry first (not thread-safe)."""

    def __init__(self, max_size: int) -> None:
        self._max = max_size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        if key not in self._data:
            return False, None
        self._data.move_to_end(key)
        return True, self._data[key]

    def __len__(self) -> int:
        return len(self._data)

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


@dataclass
class _Snapshot:
    """Everything remembered at one value of the change counter.

    ``hot`` mirrors the signing keys, policy sets, password and MFA binding times of ``entries`` in a plain
    dict that the request path reads without taking the lock (a dict lookup is atomic); it holds only values
    that ``entries`` held at this counter, and at most ``max_entries`` of them.
    """

    counter: int
    max_entries: int
    entries: _Lru[Hashable, object] = field(init=False)
    hot: dict[Hashable, object] = field(init=False)

    def __post_init__(self) -> None:
        self.entries = _Lru(self.max_entries)
        self.hot = {}


def user_principal(user: User, groups: tuple[str, ...]) -> Principal:
    """The Principal of a RAM user (before authentication details are filled in)."""
    return Principal(
        kind="user", account_id=user.account_id, name=user.user_name, principal_id=user.user_id,
        arn=user.arn, groups=groups,
    )  # fmt: skip


def root_principal(account_id: str) -> Principal:
    """The Principal of an account's root identity."""
    return Principal(
        kind="root", account_id=account_id, name=account_id, principal_id=account_id,
        arn=ram_arn(account_id, "root"),
    )  # fmt: skip


_UNREADABLE_POLICY = (
    "A policy that decides this request cannot be read by this instance; the request was denied."
)
_CLOSE_WAIT = 10.0  # seconds close() waits for a background last-used write
_moment = functools.lru_cache(maxsize=4096)(datetime.fromisoformat)  # an STS token's issue time, per request
# A principal, its policy-set cache key and its credential re-check (None: nothing to re-check).
_Plan = tuple[Principal, tuple[object, ...], Callable[[Principal], None] | None]
_CONSISTENT_TRIES = 50  # snapshot swaps tolerated within one policy lookup before giving up (503)


_open_directories: weakref.WeakSet[Directory] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """Write the last-used dates every Directory not closed still holds, as the process exits."""
    for directory in list(_open_directories):
        try:
            directory.flush()
        except Exception:  # one store's failure must not keep the others' dates from being written
            log.warning("Could not record AccessKey last-used dates at exit.", exc_info=True)


class Directory(forks.LockOwner):
    """Read-mostly view of the store for the request path; see the module docstring for invalidation."""

    def __init__(
        self,
        store: Store,
        *,
        refresh_interval: float = 0.5,
        flush_interval: float = 60.0,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._refresh_interval = refresh_interval
        self._flush_interval = flush_interval
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._own_lock()
        self._snap = _Snapshot(store.change_counter(), max_entries)
        self._epoch = 0  # how many rewinds the store has reported (see the module docstring)
        self._plans: dict[int, _Plan] = {}  # id(principal) -> its _Plan (see _plan)
        self._checked_at = monotonic()
        self._compiled: _Lru[str, CompiledPolicy] = _Lru(4 * max_entries)
        self._pending: dict[str, datetime] = {}
        self._flushed_at = monotonic()
        self._flusher: threading.Thread | None = None
        self._flusher_pid = 0
        self._unsubscribe = store.subscribe(self._on_change, on_rewind=self._on_rewind)
        _open_directories.add(self)

    @property
    def cached_entries(self) -> int:
        """How many lookups the current snapshot remembers (at most ``max_entries``)."""
        with self._lock:
            return len(self._snap.entries)

    # --- invalidation -------------------------------------------------------------------------------

    def _on_change(self, counter: int, epoch: int | None = None) -> None:
        """Move to a newer counter; ``epoch``: only if no rewind came since the counter was read."""
        with self._lock:
            if counter > self._snap.counter and epoch in (None, self._epoch):
                self._snap = _Snapshot(counter, self._max_entries)

    def _on_rewind(self, counter: int) -> None:
        with self._lock:
            self._epoch += 1
            self._snap = _Snapshot(counter, self._max_entries)

    def invalidate(self) -> None:
        """Drop everything remembered (the next lookups read the store).

        A new epoch, as after a rewind: a lookup begun before this call (it may have read rows changed by
        hand since, which no counter tells apart) caches nothing. Never back to an older counter than the
        snapshot's: a write announced while the counter was read would not be announced again."""
        counter = self._store.change_counter()
        with self._lock:
            self._epoch += 1
            self._snap = _Snapshot(max(counter, self._snap.counter), self._max_entries)
            self._checked_at = self._monotonic()

    def renew_locks(self) -> None:
        """In a forked child: a new lock, and the change counter checked at the first lookup. The snapshot and
        the time of the last check are the parent's; the parent's own writes after the fork, and on
        PostgreSQL everyone's (the child's feed starts at its first store call), never reach this copy."""
        super().renew_locks()
        self._checked_at = float("-inf")

    def _snapshot(self) -> _Snapshot:
        now = self._monotonic()
        if now - self._checked_at >= self._refresh_interval:
            epoch = self._epoch
            self._on_change(self._store.change_counter(), epoch)
            self._checked_at = now
        return self._snap

    def _cached(self, key: tuple[object, ...], load: Callable[[Repository], Counted[object]]) -> object:
        """``load``'s answer for ``key`` (a tuple of its kind and the names looked up), from the snapshot or
        the store (one statement that reads the change counter too); None, without asking the store, when a
        name is text no store can hold."""
        if not all(storable(part) for part in key if isinstance(part, str)):
            return None
        snap = self._snapshot()
        with self._lock:
            found, value = snap.entries.get(key)
        if found:
            return value
        epoch = self._epoch
        with self._store.lookup() as repo:
            counted = load(repo)
        counter, value = counted.counter, counted.value
        self._on_change(counter, epoch)
        with self._lock:
            if self._snap.counter == counter and self._epoch == epoch:
                self._snap.entries.put(key, value)
        return value

    def _cached_hot(self, key: tuple[object, ...], load: Callable[[Repository], Counted[object]]) -> object:
        """:meth:`_cached` for lookups on every request: a hit costs one lock-free dict lookup."""
        snap = self._snapshot()
        found = snap.hot.get(key, _MISSING)
        if found is _MISSING:
            found = self._cached(key, load)
            self._remember_hot(snap, key, found)
        return found

    def _remember_hot(self, snap: _Snapshot, key: Hashable, value: object) -> None:
        """Mirror ``value`` into ``snap.hot`` if ``snap`` (still current) cached exactly it at its counter."""
        with self._lock:
            if self._snap is not snap or len(snap.hot) >= self._max_entries:
                return
            found, cached = snap.entries.get(key)
            if found and cached is value:
                snap.hot[key] = value

    # --- lookups ------------------------------------------------------------------------------------

    def signing_key(self, access_key_id: str) -> SigningKey | None:
        """The key's decrypted secret, status and owner (root keys: kind="root"); None when unknown."""
        found = self._cached_hot(("key", access_key_id), lambda repo: self._load_key(repo, access_key_id))
        return found if isinstance(found, SigningKey) else None

    def _load_key(self, repo: Repository, access_key_id: str) -> Counted[SigningKey | None]:
        counted = repo.access_key_owner(access_key_id)
        found = counted.value
        if found is None:
            return Counted(counted.counter, None)
        record, key = found.record, found.record.key
        if record.user_id is None:
            principal = root_principal(key.account_id)
        elif found.user is None:
            return Counted(counted.counter, None)
        else:
            principal = user_principal(found.user.user, found.user.groups)
        secret = self._store.box.decrypt(
            record.secret_ciphertext, context=key_secret_context(key.access_key_id)
        )
        return Counted(counted.counter, SigningKey(key.access_key_id, secret, principal, key.status))

    def principal_for_user(self, account_id: str, user_name: str) -> Principal:
        """The user's Principal with their groups; ``EntityNotExist.User`` when there is no such user."""
        found = self._cached(
            ("user", account_id, user_name.lower()), lambda r: self._load_user(r, account_id, user_name)
        )
        if not isinstance(found, Principal):
            raise errors.EntityNotExist("User", f"The user does not exist: {user_name[:64]}")
        return found

    @staticmethod
    def _load_user(repo: Repository, account_id: str, user_name: str) -> Counted[Principal | None]:
        counted = repo.user_with_groups(account_id, user_name)
        found = counted.value
        return Counted(counted.counter, None if found is None else user_principal(found.user, found.groups))

    def password_changed(self, account_id: str, user_name: str | None) -> datetime | None:
        """When the user's (None: the root's) current console password was set; None when there is no
        login profile (no such user, or console access removed). Console sessions compare against it."""
        times = self._login_times(account_id, user_name)
        return None if times is None else times.password_changed

    def mfa_bound_since(self, account_id: str, user_name: str | None) -> datetime | None:
        """When the MFA device now bound to the user (None: the root) was bound (its ActivateDate); None when
        no device is bound (or there is no such user). Console sessions compare against it."""
        times = self._login_times(account_id, user_name)
        return None if times is None else times.mfa_bound

    def _login_times(self, account_id: str, user_name: str | None) -> LoginTimes | None:
        # Both times are read together, cached hot: a console session checks both on every request.
        key = ("login", account_id, None if user_name is None else user_name.lower())
        found = self._cached_hot(key, lambda repo: repo.login_times(account_id, user_name))
        return found if isinstance(found, LoginTimes) else None

    def role(self, account_id: str, role_name: str) -> Role | None:
        """The role record (trust policy, MaxSessionDuration); None when unknown."""
        found = self._role_record(account_id, role_name)
        return None if found is None else found.role

    def role_revocation(self, account_id: str, role_name: str) -> SessionRevocation | None:
        """Which sessions of this role are revoked (None: no such role). Read on every STS request, twice:
        one lock-free lookup in the current snapshot. A revocation is a write, so it reaches other
        instances as any change does (see the module docs)."""
        found = self._role_record(account_id, role_name)
        return None if found is None else found.revocation

    def _role_record(self, account_id: str, role_name: str) -> RoleRecord | None:
        # The role and its revocation are read together: an STS request needs both.
        key = ("role", account_id, role_name.lower())
        found = self._cached_hot(key, lambda repo: repo.role_with_revocation(account_id, role_name))
        return found if isinstance(found, RoleRecord) else None

    def check_session_chain(self, chain: Iterable[SessionLink]) -> None:
        """``InvalidSecurityToken.Revoked`` when a role session up a chain is void: its role deleted (or
        created again under its name) or its sessions revoked. A session assumed through it is void too."""
        for link in chain:
            role = self.role(link.account_id, link.role_name)
            revocation = self.role_revocation(link.account_id, link.role_name)
            if role is None or role.role_id != link.role_id:
                raise errors.InvalidSecurityToken(
                    "Revoked", "A role this session was assumed through is gone."
                )
            if revocation is not None and revocation.revokes(link.issued_at, link.generation):
                raise errors.InvalidSecurityToken("Revoked", "The security token has been revoked.")

    def policy_set(self, principal: Principal) -> PolicySet:
        """The identity policies that apply to ``principal``, compiled once per snapshot.

        Users: their own attachments plus those of every group they belong to *now* (read from the
        store, not from ``principal.groups``). Assumed roles: the role's attachments (the session policy
        is the caller's to intersect). A principal whose user or role no longer exists (or was re-created
        with another id) gets an empty set: everything is implicitly denied.
        """
        if principal.kind == "root":
            return PolicySet([_OWNER])
        plan = self._plans.get(id(principal))
        if plan is None or plan[0] is not principal:
            plan = self._plan(principal)
        _, key, check = plan
        if check is None:
            return self._policy_set_at(key, principal)
        for _ in range(_CONSISTENT_TRIES):
            snap = self._snap  # the lookups below refresh it when due (then the loop goes round again)
            found = self._policy_set_at(key, principal)
            # The caller's credential was checked in an earlier lookup, perhaps in an earlier snapshot: it is
            # checked again in the snapshot these policies come from, so that a decision never pairs a key,
            # token or logon session valid before a change with the rights granted by it (nor the other way
            # round). A credential found void is refused, as the next request would be.
            check(principal)
            if self._snap is snap:
                return found
        raise errors.ServiceUnavailable("The identity store kept changing during the decision; try again.")

    def _plan(self, principal: Principal) -> _Plan:
        """The cache key of ``principal``'s policy set and how to re-check its credential: worked out once
        per principal object (authenticated principals are cached, so they recur)."""
        # Every session of a role shares the role's set: key by RoleId, not by the per-session principal id.
        identity = principal.principal_id if principal.kind == "user" else principal.extra.get("role_id")
        key = ("policies", principal.kind, principal.account_id, principal.name.lower(), identity)
        plan = (principal, key, self._credential_check(principal))
        if len(self._plans) >= self._max_entries:
            self._plans.clear()
        self._plans[id(principal)] = plan  # holding the principal keeps its id from being reused
        return plan

    def _credential_check(self, principal: Principal) -> Callable[[Principal], None] | None:
        """How to re-check the credential ``principal`` authenticated with (None: nothing to re-check)."""
        if principal.kind == "assumed-role":
            return self._check_role_session if SESSION_ISSUED in principal.extra else None
        if principal.kind != "user":
            return None
        if principal.auth_method == "session":
            return self._check_logon_session if PASSWORD_CHANGED in principal.extra else None
        key_id = principal.access_key_id
        return None if key_id is None or key_id.startswith("STS.") else self._check_access_key

    def _check_access_key(self, principal: Principal) -> None:
        current = self.signing_key(principal.access_key_id or "")
        if current is None or current.principal.principal_id != principal.principal_id:
            raise errors.UnknownAccessKey()
        if current.status != "Active":
            raise errors.InactiveAccessKey()

    def _check_role_session(self, principal: Principal) -> None:
        # The role's existence under the same RoleId is already part of the policy set (empty otherwise).
        revocation = self.role_revocation(principal.account_id, principal.name)
        issued = _moment(principal.extra[SESSION_ISSUED])
        if revocation is not None and revocation.revokes(issued, session_generation(principal)):
            raise errors.InvalidSecurityToken("Revoked", "The security token has been revoked.")
        self.check_session_chain(session_chain(principal))

    def _check_logon_session(self, principal: Principal) -> None:
        changed = self.password_changed(principal.account_id, principal.name)
        if changed is None:
            raise errors.SessionRevoked("Console access was removed; the logon session has ended.")
        if changed.isoformat() != principal.extra[PASSWORD_CHANGED]:
            raise errors.SessionRevoked("The password was changed; sign in again.")
        if MFA_BOUND in principal.extra:
            bound = self.mfa_bound_since(principal.account_id, principal.name)
            if ("" if bound is None else bound.isoformat()) != principal.extra[MFA_BOUND]:
                raise errors.SessionRevoked(MFA_CHANGED)

    def _policy_set_at(self, key: tuple[object, ...], principal: Principal) -> PolicySet:
        found = self._cached_hot(key, lambda repo: self._load_policies(repo, principal))
        if not isinstance(found, PolicySet):
            raise TypeError("policy set cache holds a foreign object")
        return found

    def _load_policies(self, repo: Repository, principal: Principal) -> Counted[PolicySet]:
        # One statement whatever the groups and policies (a first request after a change pays it). The
        # stored user must still have the principal's id, and a role the session's RoleId (if it names one).
        kind, account_id, name = principal.kind, principal.account_id, principal.name
        if kind == "user":
            applied = repo.applied_policies("user", account_id, name, principal.principal_id)
        else:
            applied = repo.applied_policies("role", account_id, name, principal.extra.get("role_id"))
        return Counted(applied.counter, PolicySet(self._attached(a) for a in applied.value))

    def _attached(self, applied: AppliedPolicy) -> AttachedPolicy:
        attachment = applied.attachment
        if attachment.policy_type == "System":
            compiled, version = system_policy(attachment.policy_name), "v1"
        else:
            if applied.version is None:
                raise errors.ServiceUnavailable("An attached custom policy is missing its default version.")
            compiled, version = self._compile(applied.version.document), applied.version.version_id
        return AttachedPolicy(
            attachment.policy_name, attachment.policy_type, version, attachment.target_type,
            attachment.target_name, compiled,
        )  # fmt: skip

    def _compile(self, document: str) -> CompiledPolicy:
        # Stored documents were validated on write and versions are immutable, so text → compiled
        # policy is a pure function worth remembering across snapshots.
        with self._lock:
            found, compiled = self._compiled.get(document)
        if found and compiled is not None:
            return compiled
        try:
            compiled = parse_policy(document, stored=True)
        except errors.MalformedPolicyDocument as exc:
            # Validated when written, so this instance lacks what the writer had: a newer release's
            # operator, a time zone this host has no data for. The server's problem, not the caller's (and
            # the parser's message would show them the stored document's structure): fail closed, 503.
            log.error("A stored policy document cannot be compiled on this instance: %s", exc.message)
            raise errors.ServiceUnavailable(_UNREADABLE_POLICY) from exc
        with self._lock:
            self._compiled.put(document, compiled)
        return compiled

    # --- last-used batching -------------------------------------------------------------------------

    def note_key_used(self, access_key_id: str, when: datetime) -> None:
        """Remember that the key signed a request at ``when``; written in batches (see module doc)."""
        with self._lock:
            previous = self._pending.get(access_key_id)
            if previous is None or when > previous:
                self._pending[access_key_id] = when
            # A flusher recorded by another pid is the parent's (a forked worker inherits the record, not
            # the thread): this process starts its own.
            idle = self._flusher is None or self._flusher_pid != os.getpid()
            due = idle and self._monotonic() - self._flushed_at >= self._flush_interval
            if due:
                self._flusher_pid = os.getpid()
                # Written off the caller's thread: it may be an event loop, and a SQLite write waits up to
                # its busy timeout while another process writes.
                self._flusher = threading.Thread(target=self._flush_behind, name="ram-last-used", daemon=True)
                self._flusher.start()

    def _flush_behind(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._flusher = None

    def flush(self) -> None:
        """Write pending last-used dates now (one transaction). On failure they stay pending."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flushed_at = self._monotonic()
        if not pending:
            return
        try:
            # Bounded as the request path's own bookkeeping writes are, not by the administrative budget:
            # close() and the exit wait on it while the lock is held elsewhere. Pending dates are kept.
            with self._store.write(announce=False, request_path=True) as repo:
                repo.set_keys_last_used(pending)
        except errors.RAMError:
            log.warning("Could not record AccessKey last-used dates; will retry at the next flush.")
            with self._lock:
                for key_id, when in pending.items():
                    if key_id not in self._pending or self._pending[key_id] < when:
                        self._pending[key_id] = when

    def close(self) -> None:
        """Flush pending last-used dates and stop listening to the store."""
        flusher = self._flusher
        if flusher is not None and self._flusher_pid == os.getpid():
            flusher.join(timeout=_CLOSE_WAIT)  # a store that hangs must not hang the shutdown too
        _open_directories.discard(self)
        self.flush()
        self._unsubscribe()
