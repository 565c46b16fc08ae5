"""Audit: one event per authorization decision, written to a pluggable sink.

An :class:`AuditEvent` records who asked (principal ARN, auth method, AccessKeyId, source IP), what for
(action, resource, method, path) and what was decided, with the deciding policy/statement and the reason —
for a denial, which condition failed on which observed value. It has no field that could hold a secret:
events are built from the principal and the decision, never from raw headers, query strings or bodies.

Sinks implement :class:`AuditSink`. :class:`JsonLinesSink` (the default) writes one JSON object per line to
a file or stream, :class:`LoggingSink` hands events to :mod:`logging`, :class:`MemorySink` keeps them for
tests and in-process inspection.

Write-behind: a :class:`JsonLinesSink` with ``flush_interval > 0`` (what :func:`open_sink`, and so
``RAM_AUDIT``, gives by default: :data:`DEFAULT_FLUSH_INTERVAL`) only queues each event on the request
path; a writer thread encodes the queued events and writes them in one batch, at most ``flush_interval``
seconds after they were emitted. One ``write`` per batch instead of one per request (the syscall was the
largest single cost of auditing under a loaded server), and no JSON encoding while a caller waits; the
CPU is still spent, by the writer, which encodes in slices and offers the GIL between them so a large
batch never stalls the serving threads for long. Encoding cannot fail (every field is a str, an int or
None, and lines are ASCII), so deferring it loses no error a request should have seen. What this trades:
a process killed without warning (SIGKILL, power loss) loses at most the last interval's events; a normal
exit, :meth:`JsonLinesSink.close` and :meth:`JsonLinesSink.flush` lose nothing; nor does a
:mod:`multiprocessing` worker, which leaves through ``os._exit`` (skipping ``atexit``) but runs
multiprocessing's own exit finalizers first, where the sink registers its flush. A failed write (disk full)
is remembered and every later :meth:`~JsonLinesSink.emit` raises, so the authorizer fails closed from then
on. ``flush_interval=0`` (``RAM_AUDIT_FLUSH_INTERVAL=0``) writes each event before its request is
answered (a request whose event cannot be written is refused; the next one tries again). A line a full
disk cut short is ended before the next write, so later events stay readable.
"""

from __future__ import annotations

import atexit
import io
import json
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import IO, Any, Literal, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_FLUSH_INTERVAL",
    "AuditDecision",
    "AuditEvent",
    "AuditSink",
    "JsonLinesSink",
    "LoggingSink",
    "MemorySink",
    "flush_sink",
    "open_sink",
]

log = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL = 0.2
"""Seconds a line may wait in a write-behind :class:`JsonLinesSink` (see the module docs)."""
# A writer that falls this far behind (a stalled disk) is caught up inline by the emitting requests, so
# memory stays bounded and the stall is felt instead of hidden.
_HIGH_WATER = 10_000
_SLICE = 128  # events encoded between two offers of the GIL (~0.3 ms of work)

AuditDecision = Literal["Allow", "ImplicitDeny", "ExplicitDeny", "Rejected"]
"""``Rejected``: the request never reached a policy decision (bad credential, bad request, fail-closed)."""


class AuditEvent(NamedTuple):
    """One decision. ``status``/``code`` are what the caller received (200/None when allowed).

    A NamedTuple rather than a frozen dataclass: one is built per request, and this is ~5x cheaper.
    """

    time: str
    request_id: str
    decision: AuditDecision
    status: int
    method: str
    path: str
    source_ip: str
    principal_arn: str | None = None
    principal_type: str | None = None
    auth_method: str = "none"
    access_key_id: str | None = None
    action: str | None = None
    resource: str | None = None
    code: str | None = None
    policy: str | None = None
    statement: int | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision == "Allow"

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict (``None`` fields omitted to keep lines short)."""
        return {name: value for name, value in zip(self._fields, self, strict=True) if value is not None}

    def to_json(self) -> str:
        """``to_dict`` as compact JSON. Written out by hand: every field is a str, an int or None, and
        json.dumps of a fresh dict costs twice as much on the request path."""
        return (
            "{"
            + ",".join(
                [
                    key + (_quote(value) if isinstance(value, str) else str(value))
                    for key, value in zip(_KEYS, self)  # noqa: B905 - a NamedTuple: same length
                    if value is not None
                ]
            )
            + "}"
        )


_KEYS = tuple(f'"{name}":' for name in AuditEvent._fields)
# ASCII-only JSON strings (non-ASCII as \uXXXX): a line always encodes, even with a lone surrogate in a
# path, so one odd request can never fail a write-behind batch that holds other requests' events.
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii


@runtime_checkable
class AuditSink(Protocol):
    """Where audit events go. ``emit`` may be called from many threads at once."""

    def emit(self, event: AuditEvent) -> None: ...


def flush_sink(sink: AuditSink | None) -> None:
    """Write what ``sink`` has queued, if it queues (a write-behind :class:`JsonLinesSink`): before a secret
    is handed out, its issue must be on record. Raises what the sink's write raises."""
    flush = getattr(sink, "flush", None)
    if callable(flush):
        flush()


class JsonLinesSink:
    """Writes each event as one JSON line to a text stream.

    ``flush_interval=0`` (the default for a sink built directly): each line is written and flushed before
    :meth:`emit` returns. ``flush_interval > 0``: write-behind batches, see the module docs.
    """

    def __init__(self, stream: IO[str], *, close_stream: bool = False, flush_interval: float = 0.0) -> None:
        if not 0 <= flush_interval < float("inf"):
            raise ValueError("flush_interval must be a non-negative number of seconds")
        self._stream = stream
        self._close_stream = close_stream
        self._lock = threading.Lock()  # serialises writes to the stream / file descriptor
        # A file this sink opened itself is written with os.write: the same bytes reach the OS at the same
        # moment as write+flush through the text and buffer layers, without those layers.
        self._fd: int | None = None
        self._torn = False  # a failed write (disk full) left the file ending mid-line
        direct = isinstance(stream, io.TextIOWrapper) and stream.encoding == "utf-8" and os.linesep == "\n"
        if close_stream and direct:
            stream.flush()
            self._fd = stream.fileno()
        self._interval = float(flush_interval)
        self._path: str | None = None  # set by open(): the file is reopened when rotated away
        self._pending: deque[AuditEvent] = deque()  # append/popleft are atomic: emit takes no lock
        self._flushing = threading.Lock()  # one flush at a time, so batches reach the file in order
        self._failure: BaseException | None = None
        self._closed = False
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._writer_pid = 0
        self._owner_pid = os.getpid()  # the process whose threads use the locks and the queue above
        if self._interval > 0:
            _write_behind.add(self)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, flush_interval: float = 0.0) -> JsonLinesSink:
        """Append to the file at ``path`` (created if missing); ``-`` means standard error."""
        if os.fspath(path) == "-":
            return cls(sys.stderr, flush_interval=flush_interval)
        stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - the sink owns it and closes it
        sink = cls(stream, close_stream=True, flush_interval=flush_interval)
        sink._path = os.fspath(path)
        return sink

    def emit(self, event: AuditEvent) -> None:
        if self._interval <= 0:
            self._adopt_if_forked()
            self._write(event.to_json() + "\n")
            return
        if self._failure is not None or self._closed:
            raise OSError("the audit sink is closed or failed; refusing to drop events") from self._failure
        if self._writer_pid != os.getpid():  # before queueing: a forked child drops what it inherited
            self._start_writer()
        self._pending.append(event)
        if len(self._pending) >= _HIGH_WATER:
            self.flush()

    def flush(self) -> None:
        """Write every pending line now (write-behind mode; a no-op otherwise)."""
        self._adopt_if_forked()  # e.g. at exit in a forked worker that never emitted
        with self._flushing:
            pending = self._pending
            events = [pending.popleft() for _ in range(len(pending))]
            if not events:
                return
            try:
                lines: list[str] = []
                for start in range(0, len(events), _SLICE):
                    lines += [event.to_json() for event in events[start : start + _SLICE]]
                    time.sleep(0)  # let a serving thread that waits for the GIL have it now
                lines.append("")
                self._write("\n".join(lines))
            except BaseException as exc:
                self._failure = exc
                raise

    def close(self) -> None:
        """Write what is pending, stop the writer thread and close the file if this sink opened it."""
        if self._closed:
            return
        self._adopt_if_forked()
        self._closed = True
        self._wake.set()
        writer = self._writer
        ours = self._writer_pid == os.getpid()
        if writer is not None and ours and writer is not threading.current_thread():
            writer.join(timeout=5)
        try:
            self.flush()
        finally:
            _write_behind.discard(self)
            with self._lock:
                if self._close_stream:
                    self._fd = None  # the number may be reused by the next file opened
                    self._stream.close()

    # --- internals ----------------------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        with self._lock:
            if self._path is not None and self._fd is not None:
                self._reopen_if_rotated()
            fd = self._fd
            if fd is not None:
                self._write_lines(fd, text.encode("utf-8"))
            else:  # a stream (stderr), or a file closed meanwhile (then the stream refuses)
                # Whole lines, at most PIPE_BUF bytes per write: a pipe shared by several worker processes
                # (journald, a container's log) then never interleaves two processes' lines.
                for piece in _pieces(text):
                    self._stream.write(piece)
                    self._stream.flush()

    def _write_lines(self, fd: int, data: bytes) -> None:
        """``data`` (whole lines) to ``fd``. A write the disk cut short (full, over quota) leaves a fragment
        at the end of the file: once there is room again, a newline closes it first, so the next event
        starts its own line instead of being glued to the fragment, where no reader would find it."""
        if self._torn:
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        finally:
            written = len(data) - len(view)
            if written:
                self._torn = data[written - 1] != 0x0A  # 0x0A: "\n"

    def _reopen_if_rotated(self) -> None:
        """logrotate-style rotation (rename, new file): keep writing to the path, not to the renamed file
        (as logging's WatchedFileHandler does). One stat per write; under ``_lock``."""
        assert self._path is not None and self._fd is not None
        try:
            current = os.stat(self._path)
            opened = os.fstat(self._fd)
            if (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino):
                return
        except FileNotFoundError:
            pass
        # An error here fails the write, and so the sink (closed). The sink owns the new file.
        fresh = open(self._path, "a", encoding="utf-8")  # noqa: SIM115
        self._stream.close()
        self._stream, self._fd = fresh, fresh.fileno()
        self._torn = False  # a fragment stays in the renamed file

    def _adopt_if_forked(self) -> None:
        """First use in a forked child. It inherits the parent's pending lines (the parent writes them) but
        not its threads, and a lock the parent's writer held at the fork would stay held here forever: the
        child starts with an empty queue and fresh locks. Checked by pid rather than an at-fork hook, which
        servers that fork from C (uWSGI) never run."""
        if self._owner_pid == os.getpid():
            return
        with _adopting:
            if self._owner_pid == os.getpid():  # another thread of this child did it meanwhile
                return
            self._lock = threading.Lock()
            self._flushing = threading.Lock()
            self._pending = deque()
            self._wake = threading.Event()
            self._writer = None
            self._writer_pid = 0
            self._owner_pid = os.getpid()

    def _start_writer(self) -> None:
        self._adopt_if_forked()
        with self._lock:
            if self._writer_pid == os.getpid():
                return
            self._writer_pid = os.getpid()
            _flush_when_a_multiprocessing_worker_exits()
            self._writer = threading.Thread(
                target=_run_writer, args=(weakref.ref(self),), name="ram-audit-writer", daemon=True
            )
            self._writer.start()

    def _writer_step(self) -> bool:
        """One round of the writer thread; False when it should stop."""
        self._wake.wait(self._interval)
        if self._closed:
            return False
        try:
            self.flush()
        except Exception:
            log.error("audit sink failed; further events are refused", exc_info=True)
            return False
        return True


def _run_writer(ref: weakref.ReferenceType[JsonLinesSink]) -> None:
    # A weak reference: a sink nobody holds any more may be collected (and its writer then ends).
    while (sink := ref()) is not None and sink._writer_step():
        del sink


_write_behind: weakref.WeakSet[JsonLinesSink] = weakref.WeakSet()
# Held only while a forked child adopts a sink (never by a writer thread), so no fork inherits it held
# unless it forks from a child that is adopting one at that very moment.
_adopting = threading.Lock()


_finalizer_pid = 0  # the process that registered _flush_at_exit with multiprocessing


def _flush_when_a_multiprocessing_worker_exits() -> None:
    """In a multiprocessing worker, also flush at its exit: it ends with ``os._exit``, which skips atexit,
    after running the finalizers multiprocessing keeps (a fork child starts with an empty registry)."""
    global _finalizer_pid
    multiprocessing = sys.modules.get("multiprocessing")  # not imported: this is no such worker
    if multiprocessing is None or _finalizer_pid == os.getpid() or multiprocessing.parent_process() is None:
        return
    _finalizer_pid = os.getpid()
    from multiprocessing.util import Finalize

    Finalize(None, _flush_at_exit, exitpriority=10)


@atexit.register
def _flush_at_exit() -> None:
    for sink in list(_write_behind):
        try:
            sink.flush()
        except Exception:
            log.error("audit sink could not write its last events at exit", exc_info=True)


class LoggingSink:
    """Sends each event to a :mod:`logging` logger as JSON, with the dict in ``extra["ram_audit"]``."""

    def __init__(
        self, logger: logging.Logger | str = "ram_middleware.audit", level: int = logging.INFO
    ) -> None:
        self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._level = level
        if not self._logger.isEnabledFor(level) and self._logger.level == logging.NOTSET:
            # Left at the root's default (WARNING), every event would be dropped without a word.
            self._logger.setLevel(level)
        if not self._logger.hasHandlers():
            # Nothing configured yet: stderr, rather than logging's last resort (WARNING and up only).
            self._logger.addHandler(logging.StreamHandler())

    def emit(self, event: AuditEvent) -> None:
        # Logging configured so that the event reaches no handler (a dictConfig that disables existing
        # loggers, or quiets a parent logger or the handlers at WARNING) would drop every event without a
        # word: refuse instead, so the request fails closed rather than passing unrecorded.
        if not self._logger.isEnabledFor(self._level) or not _reaches_a_handler(self._logger, self._level):
            raise OSError(f"the audit logger {self._logger.name!r} drops events at this level; refusing")
        self._logger.log(self._level, "%s", event.to_json(), extra={"ram_audit": event.to_dict()})


def _reaches_a_handler(logger: logging.Logger, level: int) -> bool:
    """Whether a record of ``level`` from ``logger`` reaches a handler (as ``Logger.callHandlers`` walks)."""
    current: logging.Logger | None = logger
    found = False
    while current is not None:
        for handler in current.handlers:
            found = True
            if level >= handler.level:
                return True
        if not current.propagate:
            break
        current = current.parent
    last_resort = logging.lastResort
    return not found and last_resort is not None and level >= last_resort.level


class MemorySink:
    """Keeps events in a list (tests, the admin console's recent-activity view)."""

    def __init__(self) -> None:
        self._events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def emit(self, event: AuditEvent) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[AuditEvent]:
        """A copy of the events so far, oldest first."""
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


_PIPE_BUF = 4096  # POSIX: writes of at most this many bytes to a pipe are never interleaved with others


def _pieces(text: str) -> list[str]:
    """``text`` (whole lines) cut at line ends into pieces of at most :data:`_PIPE_BUF` bytes where it can
    be (a longer single line stays whole)."""
    if len(text) <= _PIPE_BUF // 4 or len(text.encode("utf-8")) <= _PIPE_BUF:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        length = len(line.encode("utf-8"))
        if current and size + length > _PIPE_BUF:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        pieces.append("".join(current))
    return pieces


def open_sink(target: str, *, flush_interval: float = DEFAULT_FLUSH_INTERVAL) -> AuditSink:
    """A sink from a config string: ``-`` (stderr), ``memory:``, ``logging:<logger name>``, or a file path;
    files and stderr are written behind by ``flush_interval`` seconds (0: every event at once)."""
    if target == "memory:":
        return MemorySink()
    if target.startswith("logging:"):
        return LoggingSink(target[len("logging:") :] or "ram_middleware.audit")
    return JsonLinesSink.open(target, flush_interval=flush_interval)
