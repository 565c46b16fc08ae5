"""Audit: one event per authorization decision, written to a pluggable sink.

An :class:`AuditEvent` records who asked (principal ARN, auth method, AccessKeyId, source IP), what for
(action, resource, method, path) and what was decided, with the deciding policy/statement and the reason —
for a denial, which condition failed on which observed value. It has no field that could hold a secret:
events are built from the principal and the decision, never from raw headers, query strings or bodies.

Sinks implement :class:`AuditSink`. :class:`JsonLinesSink` (the default) writes one JSON object per line to
a file or stream, :class:`LoggingSink` hands events to :mod:`logging`, :class:`MemorySink` keeps them for
tests and in-process inspection.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, Literal, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "AuditDecision",
    "AuditEvent",
    "AuditSink",
    "JsonLinesSink",
    "LoggingSink",
    "MemorySink",
    "open_sink",
]

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
_quote: Callable[[str], str] = json.encoder.encode_basestring


@runtime_checkable
class AuditSink(Protocol):
    """Where audit events go. ``emit`` may be called from many threads at once."""

    def emit(self, event: AuditEvent) -> None: ...


class JsonLinesSink:
    """Writes each event as one JSON line to a text stream, flushed per event (an audit trail that a crash
    truncates is worse than a few microseconds per request)."""

    def __init__(self, stream: IO[str], *, close_stream: bool = False) -> None:
        self._stream = stream
        self._close_stream = close_stream
        self._lock = threading.Lock()
        # A file this sink opened itself is written with one os.write per event: the same bytes reach the
        # OS at the same moment as write+flush through the text and buffer layers, without those layers.
        self._fd: int | None = None
        direct = isinstance(stream, io.TextIOWrapper) and stream.encoding == "utf-8" and os.linesep == "\n"
        if close_stream and direct:
            stream.flush()
            self._fd = stream.fileno()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> JsonLinesSink:
        """Append to the file at ``path`` (created if missing); ``-`` means standard error."""
        if os.fspath(path) == "-":
            return cls(sys.stderr)
        return cls(open(path, "a", encoding="utf-8"), close_stream=True)

    def emit(self, event: AuditEvent) -> None:
        line = event.to_json() + "\n"
        if self._fd is not None:
            data = line.encode("utf-8")
            with self._lock:
                fd = self._fd
                if fd is not None:  # else closed meanwhile: fall through to the stream, which refuses
                    written = os.write(fd, data)
                    if written != len(data):  # a short write (e.g. a signal): finish it
                        _write_all(fd, data[written:])
                    return
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        """Close the file if this sink opened it."""
        with self._lock:
            if self._close_stream:
                self._fd = None  # the number may be reused by the next file opened
                self._stream.close()


class LoggingSink:
    """Sends each event to a :mod:`logging` logger as JSON, with the dict in ``extra["ram_audit"]``."""

    def __init__(
        self, logger: logging.Logger | str = "ram_middleware.audit", level: int = logging.INFO
    ) -> None:
        self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._level = level

    def emit(self, event: AuditEvent) -> None:
        if self._logger.isEnabledFor(self._level):
            self._logger.log(self._level, "%s", event.to_json(), extra={"ram_audit": event.to_dict()})


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def open_sink(target: str) -> AuditSink:
    """A sink from a config string: ``-`` (stderr), ``memory:``, ``logging:<logger name>``, or a file path."""
    if target == "memory:":
        return MemorySink()
    if target.startswith("logging:"):
        return LoggingSink(target[len("logging:") :] or "ram_middleware.audit")
    return JsonLinesSink.open(target)
