"""``ram --endpoint …`` gives up on a server that answers too slowly, within a bound, in one error line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ram_middleware import errors
from ram_middleware.cli.remote import RemoteBackend


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """An HTTP server that sends a 200's head, then its body one byte a second: each read comes in time."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            while not stop.wait(0.5):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def test_a_server_that_trickles_its_answer_is_given_up_on_in_bounded_time(trickling_server: str) -> None:
    # Each byte came before the read timeout, so the command waited for the whole body (here: 500 s).
    outcome: list[BaseException] = []

    def connect() -> None:
        try:
            RemoteBackend(trickling_server, "LTAIexample", "secret", timeout=2.0)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=connect, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "still waiting for the server after 10 s"
    assert time.monotonic() - started < 6
    assert len(outcome) == 1 and isinstance(outcome[0], errors.ServiceUnavailable), outcome
    assert outcome[0].message == f"The RAM API at {trickling_server}/ did not answer within 2 s."
