"""A TCP proxy for one test: it forwards until :meth:`StallProxy.stall`, then holds every byte while keeping
the connections open, as a frozen server or a network that silently drops traffic does;
:meth:`StallProxy.slow` instead delays every chunk, as a slow link does."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


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
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self._stalled.set()

    def slow(self, seconds: float) -> None:
        self._delay = seconds

    def close(self) -> None:
        self._closed.set()
        for sock in self._sockets:
            # shutdown() first: close() alone neither wakes a pump blocked in recv() nor sends the FIN, so the
            # server would keep a session (and any locks its transaction holds) open behind us.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> StallProxy:
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

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
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
