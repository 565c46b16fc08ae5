"""The HTTP/1.1 protocol ``ram serve`` runs uvicorn with: its h11 protocol, with a deadline for each request.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a client takes to
send a request: a connection that sends nothing, one header line now and then, or a body a byte at a time
(slowloris; the middleware's ``body_timeout`` bounds only the gap between two parts) is kept open for as
long as the client likes, and enough of them use up the server's file descriptors. Here a request, head
and body, must be in :data:`RECEIVE_TIMEOUT` seconds after the connection opened or the previous response
ended, else the connection is closed. RAM and STS calls are small, and one whose body came later than
that would find its store budget (``CALL_BUDGET`` from its head) nearly spent anyway.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["RECEIVE_TIMEOUT", "ReceiveTimeoutH11"]

RECEIVE_TIMEOUT = 10.0
"""Seconds a client has to send a whole request (its head and body)."""

_RECEIVING = (h11.IDLE, h11.SEND_BODY)  # the client's states while its request is not all in


class ReceiveTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request is not all received in time."""

    _receive_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state not in _RECEIVING:  # all in (or the connection ends): the request runs
            self._cancel_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state in _RECEIVING:
            self._await_request()  # the next request on this connection (a pipelined one may have begun)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def _await_request(self) -> None:
        self._cancel_timer()
        self._receive_timer = self.loop.call_later(RECEIVE_TIMEOUT, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._receive_timer is not None:
            self._receive_timer.cancel()
            self._receive_timer = None

    def _timed_out(self) -> None:
        self._receive_timer = None
        # Not a connection handed on to another protocol (a websocket upgrade): that one is not ours.
        ours = self.transport.get_protocol() is self
        if ours and not self.transport.is_closing() and self.conn.their_state in _RECEIVING:
            self.transport.close()
