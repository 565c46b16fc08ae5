"""The Redis guard: one-time claims and failure counters shared by every instance that uses one Redis.

Each operation is a single atomic Redis command, so no read-then-write race exists between instances:

* ``claim`` — ``SET key 1 NX PX ttl`` (in a script, see below): the first caller creates the key, every
  later one gets nil until Redis expires it;
* ``incr`` — a short Lua script (``INCR``, then ``PEXPIRE`` when the key has no TTL yet) run atomically
  by Redis; the window opens at the first failure and later failures do not extend it, exactly like the
  memory and SQLite guards (Redis < 7 has no ``EXPIRE NX``, hence the script). A window opened by the script
  is named by a random token the caller sends, kept in ``<prefix>guard:window:<key>`` with the same expiry
  (not the key's expiry itself: ``PEXPIRETIME`` needs Redis 7), and returned with the count;
* ``decr`` — a script: ``DECR`` only when the key holds more than zero and its window is still the one
  named (``DECR`` keeps its TTL, a key that expired is not brought back without one, and a count taken
  back late does not come off the next window). A window opened by an older release (no name yet) is named
  by the next ``incr``;
* ``count`` — ``GET`` (in a script, see below); ``reset`` — ``DEL`` of the key and its window's name.

A Redis that restarts without its data (no persistence, a flush, an eviction) forgets every claim: a
request signed a minute ago would pass its nonce check again, and a console session ended by a logout
would come back. So ``claim`` and ``count`` run with a *birth* key (``<prefix>guard:born``, no expiry):
the first of them to find it missing (or :meth:`RedisGuard.from_url`, as an instance starts) writes
Redis's own time (the whole second), and every call returns it; :meth:`RedisGuard.remembers_since`
reports the latest seen. Callers refuse what began before it (a request signed, a console session or
logon issued in an earlier second): a restart costs the requests in flight and the console sessions
open at that moment instead of allowing replays. A Redis short of memory evicts keys without a restart
(``maxmemory`` with any policy but ``noeviction``, the nonces first under ``volatile-*`` and LRU, while the
birth key stays): so the birth key is written again, too, when Redis's ``evicted_keys`` count (``INFO
stats``, kept beside it in ``<prefix>guard:evicted``) has moved since the last call. A count missing beside
a birth key is adopted while Redis has evicted nothing (written by an older release); once it has, the
count may have been evicted with the nonces (``allkeys-*`` spare no key), so the birth key is written
again. What was used in the very second Redis came
back in is not told apart, nor is a Redis restored from an older snapshot (RDB), which brings its birth
key back with it: run it without persistence, or with an append-only file.

Expiry is Redis's own clock: the instances' clocks do not have to agree, and no purge is needed. The
birth time is Redis's clock too, compared with signing times: a Redis host whose clock runs ahead refuses
requests for as long after it is born, one that runs behind lets a replay through for as long: keep it
synchronised like the instances.

Fail closed: every Redis error (refused connection, timeout, a server that went away) becomes
:class:`errors.ServiceUnavailable`, so a request is denied rather than accepted without its replay check.
Sockets have short connect/read timeouts (default 0.5 s / 1 s). A broken connection (refused, reset: a
pooled connection that a Redis restart broke) is retried once on a new one, and so is a write refused as
READONLY (a failover demoted the server the pooled connections reach: they are dropped, and the new
connection finds the new primary at the same address); a timeout is never retried, as
the command may have been applied (a retried ``SET NX`` would refuse a fresh nonce as used, a retried
``INCR`` count one failure twice). So a Redis that is down, unreachable or stops answering costs one
connect timeout plus one read timeout at most — under 2 s with the defaults — never a hang. (redis-py's own
retries are off: nested in each other, they made a silent Redis cost four read timeouts.) The URL's
password never appears in a repr, a log line or an error message.

Fork-safe through redis-py: its pool notices a forked child by pid and opens new connections there, closing
its copies of the parent's sockets without shutting them down. A child whose pool lock a thread of the
parent held at the fork gets redis-py's ChildDeadlockedError (no RedisError) after 5 s: it fails closed too.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import errors, forks
from .guard import Counted
from .redaction import HIDDEN, redacted_url

__all__ = ["DEFAULT_PREFIX", "RedisGuard", "redacted_url"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "ram:guard:"
_RETRY_PAUSE = 0.05  # seconds before the one retry on a new connection

# KEYS[1] = counter key, KEYS[2] = its window's name, ARGV[1] = window in milliseconds, ARGV[2] = a fresh
# token. PTTL < 0: the key is new (or lost its TTL), so the window opens now, named by the token; an existing
# window keeps its expiry and name (a nameless one, from an older release, takes the token for the rest of
# its life). The name may outlive the key by a millisecond: a new window overwrites it. Returns {n, name}.
_INCR_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
  return {n, ARGV[2]}
end
local name = redis.call('GET', KEYS[2])
if not name then
  name = ARGV[2]
  redis.call('SET', KEYS[2], name, 'PX', ttl)
end
return {n, name}
"""

# KEYS[1] = counter key, KEYS[2] = its window's name, ARGV[1] = the window the count was made in. Only in that
# window, never below zero, never creating the key (it would have no TTL).
_DECR_SCRIPT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

# KEYS[1] = the guard's birth key, KEYS[2] = Redis's evicted_keys count as last seen. The first call to find
# the birth key missing (a new or emptied Redis), or the count moved (keys evicted: ours may be among them),
# records the whole second of Redis's clock it runs in: signing times are whole seconds, and a request
# signed in that second may be the very one making the call (the first request a new deployment serves).
# A count missing beside the birth key is an older release's (adopted) only while Redis has evicted
# nothing: once it has, the count may have been evicted itself (allkeys-*), with nonces.
_BORN = """
local born = redis.call('GET', KEYS[1])
local evicted = string.match(redis.call('INFO', 'stats'), 'evicted_keys:(%d+)') or '0'
local seen = redis.call('GET', KEYS[2])
if not born or (seen or '0') ~= evicted then
  born = redis.call('TIME')[1]
  redis.call('SET', KEYS[1], born)
end
if seen ~= evicted then redis.call('SET', KEYS[2], evicted) end
"""
# KEYS[3] = the claim, ARGV[1] = its lifetime in milliseconds. Returns {1 if claimed now else 0, born}.
_CLAIM_SCRIPT = (
    _BORN
    + """
local claimed = redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1])
if claimed then return {1, born} end
return {0, born}
"""
)
# Only the birth: {false, born}.
_BIRTH_SCRIPT = (
    _BORN
    + """
return {false, born}
"""
)
# KEYS[3] = the counter. Returns {its value, or false when absent, born}.
_COUNT_SCRIPT = (
    _BORN
    + """
return {redis.call('GET', KEYS[3]), born}
"""
)
_BORN_KEYS = ("guard:born", "guard:evicted")
_WINDOW_KEY = "guard:window:"  # + the counter's key: the name of its current window

_OUR_PARAMS = frozenset({"prefix"})
# Python's TypeError for a keyword argument: it names the URL's query option, never its value.
_UNKNOWN_OPTION = re.compile(r"unexpected keyword argument '(\w+)'")


def _milliseconds(name: str, seconds: float) -> int:
    if not 0 < seconds < float("inf"):
        raise errors.InvalidParameter(name, f"{name} must be a positive, finite number of seconds.")
    return max(1, round(seconds * 1000))


# Redis errors that pass (a full Redis, a failover, a script running long, data loading): not a reason to
# refuse to start, unlike the other replies that refuse the guard's commands.
_PASSING = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
_PASSING_REPLIES = ("BUSY", "TRYAGAIN", "MASTERDOWN", "LOADING")
# A password holding @ / ? # reads as something else unless percent-encoded, as in every URL.
_ENCODED = " (@ : / ? # % in a user name or password are written percent-encoded: @ as %40)"
_NEEDED = "GET, SET, INCR, DECR, DEL, PTTL, PEXPIRE, TIME and INFO, run in scripts by EVALSHA and SCRIPT LOAD"


def _refusal(exc: BaseException | None) -> errors.InvalidParameter | None:
    """Why the guard cannot work with a Redis that answered ``exc`` at start, or None when it may pass."""
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return errors.InvalidParameter(
            "GuardUrl",
            f"Redis refused the replay guard's login: check the user name and password in its URL{_ENCODED}.",
        )
    if not isinstance(exc, redis.exceptions.ResponseError) or isinstance(exc, _PASSING):
        return None
    reply = str(exc)[:200]  # Redis's own reply: it names no password
    if reply.startswith(_PASSING_REPLIES):
        return None
    if isinstance(exc, redis.exceptions.ClusterError | redis.exceptions.AskError) or "CROSSSLOT" in reply:
        return errors.InvalidParameter(
            "GuardUrl",
            "Redis Cluster is not supported by the replay guard: give it a standalone Redis "
            f"(Redis answered: {reply}).",
        )
    return errors.InvalidParameter(
        "GuardUrl", f"Redis refused a command of the replay guard ({reply}): its user needs {_NEEDED}."
    )


class RedisGuard(forks.LockOwner):
    """A :class:`~ram_middleware.guard.Guard` in Redis; thread-safe (redis-py pools its connections)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        description: str = "redis",
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._description = description
        self._incr = client.register_script(_INCR_SCRIPT)
        self._decr = client.register_script(_DECR_SCRIPT)
        self._claim = client.register_script(_CLAIM_SCRIPT)
        self._count = client.register_script(_COUNT_SCRIPT)
        self._birth = client.register_script(_BIRTH_SCRIPT)
        self._born = float("-inf")  # the latest birth time seen (see the module docstring)
        self._own_lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str | None = None,
        connect_timeout: float = 0.5,
        socket_timeout: float = 1.0,
    ) -> RedisGuard:
        """Open ``redis://[:password@]host:port/db[?prefix=ram:guard:]`` (also ``rediss://``, ``unix://``).

        ``prefix`` (argument or URL query) namespaces the keys, so several deployments can share one Redis.
        """
        try:
            parts = urlsplit(url)  # a ValueError for an unclosed IPv6 bracket
            query = parse_qsl(parts.query, keep_blank_values=True)
            ours = {k: v for k, v in query if k in _OUR_PARAMS}
            theirs = [(k, v) for k, v in query if k not in _OUR_PARAMS]
            # Not urlunsplit: it writes ``unix:///path`` back as ``unix:/path``, which redis-py refuses.
            plain = url.partition("?")[0] + (f"?{urlencode(theirs)}" if theirs else "")
            client = redis.Redis.from_url(
                plain,
                socket_connect_timeout=connect_timeout,
                socket_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 0),  # one attempt per call here; _call decides what to retry
                health_check_interval=30,
            )
            pool = client.connection_pool
            # Made here, not connected: an option redis-py does not know (a typo, a TLS option on redis://)
            # is a TypeError when a connection is made, which would otherwise be the first request's.
            pool.connection_class(**pool.connection_kwargs)
        except TypeError as exc:
            unknown = _UNKNOWN_OPTION.search(str(exc))
            named = f": {unknown.group(1)}" if unknown else ""
            raise errors.InvalidParameter(
                "GuardUrl", f"The redis guard URL has an option the Redis client does not accept{named}."
            ) from exc
        except ValueError as exc:
            raise errors.InvalidParameter("GuardUrl", f"The redis guard URL is malformed{_ENCODED}.") from exc
        chosen = prefix if prefix is not None else ours.get("prefix", DEFAULT_PREFIX)
        guard = cls(client, prefix=chosen, description=redacted_url(url))
        # A new deployment's Redis is born when the instance opens it, before the requests it serves were
        # signed: its first requests are not taken for ones signed before a restart. Best effort: a Redis
        # down now is born at its first call instead. But a Redis that answers and refuses (a wrong
        # password, an ACL user without a command the scripts run, a cluster) would refuse every request:
        # that stops the start, saying why.
        try:
            keys = guard._born_keys()
            guard._noting_birth(guard._call(lambda: guard._birth(keys=keys)))
        except errors.ServiceUnavailable as exc:
            refusal = _refusal(exc.__cause__)
            if refusal is not None:
                guard.close()
                raise refusal from exc.__cause__
        return guard

    def __repr__(self) -> str:
        return f"RedisGuard({self._description!r}, prefix={self._prefix!r})"

    @property
    def prefix(self) -> str:
        """The namespace every key of this guard starts with."""
        return self._prefix

    def claim(self, key: str, ttl_seconds: float) -> bool:
        ttl = _milliseconds("TtlSeconds", ttl_seconds)
        keys = [*self._born_keys(), self._prefix + key]
        return bool(self._noting_birth(self._call(lambda: self._claim(keys=keys, args=[ttl]))))

    def incr(self, key: str, window_seconds: float) -> Counted:
        window = _milliseconds("WindowSeconds", window_seconds)
        keys, token = self._counter_keys(key), secrets.token_hex(8)
        count, name = self._call(lambda: self._incr(keys=keys, args=[window, token]))
        return Counted(int(count), name.decode() if isinstance(name, bytes) else str(name))

    def decr(self, key: str, window: str) -> None:
        keys = self._counter_keys(key)
        self._call(lambda: self._decr(keys=keys, args=[window]))

    def count(self, key: str) -> int:
        keys = [*self._born_keys(), self._prefix + key]
        value = self._noting_birth(self._call(lambda: self._count(keys=keys)))
        return 0 if value is None else int(value)

    def remembers_since(self) -> float:
        """When this Redis began remembering (its birth key), as of the latest ``claim`` or ``count``."""
        return self._born

    def _born_keys(self) -> list[str]:
        return [self._prefix + name for name in _BORN_KEYS]

    def _noting_birth(self, reply: Any) -> Any:
        """The result of a script's ``{result, born}``, after noting ``born`` (kept only if later: a call
        that ran concurrently may have met a newer restart)."""
        result, born = reply
        with self._lock:
            forgot = float("-inf") < self._born < float(born)
            self._born = max(self._born, float(born))
        if forgot:
            # Why requests signed before now and open console sessions are refused: say it once per event.
            log.warning(
                "Redis guard %s forgot keys (a restart, a flush, or evictions: set maxmemory-policy "
                "noeviction); what began before now is refused.", self._description,
            )  # fmt: skip
        return result

    def reset(self, key: str) -> None:
        self._call(lambda: self._client.delete(*self._counter_keys(key)))

    def _counter_keys(self, key: str) -> list[str]:
        """The key and the key naming its window (under ``guard:``, which only the guard's own keys use)."""
        return [self._prefix + key, self._prefix + _WINDOW_KEY + key]

    def ping(self) -> None:
        """Raise :class:`errors.ServiceUnavailable` unless Redis answers."""
        self._call(self._client.ping)

    def close(self) -> None:
        """Release the pooled connections."""
        self._client.close()

    def __enter__(self) -> RedisGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reason(self, exc: BaseException) -> str:
        """The error's type and text (redis-py's or Redis's: the address, the TLS or ACL failure), any
        occurrence of the password hidden all the same."""
        text = f"{type(exc).__name__}: {str(exc)[:300]}"
        password = self._client.connection_pool.connection_kwargs.get("password")
        return text.replace(password, HIDDEN) if isinstance(password, str) and password else text

    def _call(self, op: Callable[[], Any]) -> Any:
        try:
            try:
                return op()
            except redis.exceptions.ConnectionError:
                # A pooled connection broken by a Redis restart: the pool has dropped it, try a new one once.
                # (TimeoutError is not a ConnectionError: a command that timed out may have been applied.)
                time.sleep(_RETRY_PAUSE)
                return op()
            except redis.exceptions.ReadOnlyError:
                # A failover demoted the server our pooled connections reach, and the address now names the
                # new primary: left alone they would be refused for as long as the process lives. READONLY
                # refuses a command before it writes anything, so one retry on a new connection is safe.
                self._client.connection_pool.disconnect(inuse_connections=False)
                return op()
        except (redis.exceptions.RedisError, redis.exceptions.ChildDeadlockedError) as exc:
            # Why, for the operator (a certificate not trusted, NOPERM, a refused connection), in the log:
            # the caller's message names no server.
            log.warning("Redis guard %s failed: %s", self._description, self._reason(exc))
            raise errors.ServiceUnavailable(
                "The replay guard (Redis) is unavailable; the request was denied."
            ) from exc
