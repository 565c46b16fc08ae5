"""The HTTP/1.1 protocol ``ram serve`` runs uvicorn with: its h11 protocol, with a deadline for request heads.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a client takes to
send a request's head: a connection that sends nothing, or one header line now and then (slowloris), is
kept open for as long as the client likes, and enough of them use up the server's file descriptors. Here
a head must be complete :data:`HEAD_TIMEOUT` seconds after the connection opened or the previous response
ended, else the connection is closed. The body is the middleware's to bound (``body_timeout``).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HEAD_TIMEOUT", "HeadTimeoutH11"]

HEAD_TIMEOUT = 10.0
"""Seconds a client has to send a request's head (the request line and headers)."""


class HeadTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not complete in time."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in: the request runs, or the connection ends
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # the next request on this connection (a pipelined one may have begun)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()
