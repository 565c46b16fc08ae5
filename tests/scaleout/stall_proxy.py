"""A TCP proxy for one test: it forwards until :meth:`StallProxy.stall`, then holds every byte while keeping
the connections open, as a frozen server or a network that silently drops traffic does;
:meth:`StallProxy.slow` instead delays every chunk, as a slow link does; :meth:`StallProxy.at_commit`
breaks the next COMMIT's connection at a chosen moment."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from types import TracebackType
from typing import Literal, Self

# What the next COMMIT meets (see StallProxy.at_commit).
CommitFault = Literal["lose_answer", "reset_before", "orphan", "hold_answer", "stall"]
# A COMMIT as psycopg sends it: a simple-protocol Query message, or, once a connection has run it five
# times, a prepared statement (Parse names it; each Bind then runs it by that name).
_COMMIT = b"Q" + struct.pack("!i", 4 + len(b"COMMIT\0")) + b"COMMIT\0"
_PREPARE_COMMIT = re.compile(rb"P.{4}([^\x00]+)\x00COMMIT\x00", re.DOTALL)


def _reset(sock: socket.socket) -> None:
    """End ``sock`` with a TCP reset, as a peer that vanished (a restarted server, a failover) does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)  # wakes the pump reading it
    sock.close()


class StallProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``stall()`` stops the flow both ways, connections kept;
    ``slow(seconds)`` holds each chunk that long (each round trip then takes twice as long)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stalled = threading.Event()
        self._delay = 0.0
        self._closed = threading.Event()
        self._fault: CommitFault | None = None
        self._held_answers: set[socket.socket] = set()  # servers whose next answer never reaches the client
        self._lost_answers: set[socket.socket] = set()  # servers whose next answer ends both connections
        self._prepared_commits: dict[socket.socket, set[bytes]] = {}  # each client's COMMIT statement names
        self._writing: set[socket.socket] = set()  # clients in a write transaction
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self._stalled.set()

    def slow(self, seconds: float) -> None:
        self._delay = seconds

    def at_commit(self, fault: CommitFault) -> None:
        """Break the connection of the next COMMIT of a write transaction (one that locked a row ``FOR
        UPDATE``, as the store's writes do; reads' COMMITs pass): ``lose_answer`` forwards it and resets
        the client as the server's answer comes (the commit happened, the client never hears);
        ``reset_before`` resets the client and closes the server side before it reaches the server (which
        rolls back); ``orphan`` resets the client and keeps the server side open without forwarding it (the
        transaction stays in progress); ``hold_answer`` forwards it and holds the answer for ever;
        ``stall`` holds it and stalls the whole proxy (:meth:`stall`)."""
        self._fault = fault

    def close(self) -> None:
        self._closed.set()
        for sock in self._sockets:
            # shutdown() first: close() alone neither wakes a pump blocked in recv() nor sends the FIN, so the
            # server would keep a session (and any locks its transaction holds) open behind us.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _commit_fault(self, source: socket.socket, sink: socket.socket, data: bytes) -> bool:
        """Apply the armed fault if ``data`` (from a client) holds a write's COMMIT; True if the pump must
        stop."""
        names = self._prepared_commits.setdefault(source, set())
        names.update(_PREPARE_COMMIT.findall(data))
        if b"FOR UPDATE" in data:  # the store's write transactions begin by locking its counter row
            self._writing.add(source)
        elif b"ROLLBACK" in data:
            self._writing.discard(source)
        if not (_COMMIT in data or any(b"\x00" + name + b"\x00" in data for name in names)):
            return False
        fault, writing = self._fault, source in self._writing
        self._writing.discard(source)
        if fault is None or not writing:
            return False
        self._fault = None
        if fault == "lose_answer":
            self._lost_answers.add(sink)
        elif fault == "hold_answer":
            self._held_answers.add(sink)
        elif fault == "stall":
            self.stall()
        else:
            _reset(source)
            if fault == "reset_before":
                _reset(sink)
            return True
        return False

    def _answer_fault(self, source: socket.socket, sink: socket.socket) -> bool:
        """Apply a fault armed for this server's answer; True if the pump must stop."""
        if source in self._lost_answers:
            _reset(sink)
            _reset(source)
            return True
        if source in self._held_answers:
            self._closed.wait()
            return True
        return False

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self._commit_fault(source, sink, data) or self._answer_fault(source, sink):
                    return  # the fault ended (or holds) this connection
                while self._stalled.is_set() and not self._closed.is_set():
                    self._closed.wait(0.05)  # hold the bytes: the peer sees an open, silent connection
                if self._delay:
                    self._closed.wait(self._delay)
                sink.sendall(data)
        except OSError:
            pass
        # Pass the end on: a client that cut its connection (a deadline) ends its server session too.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
