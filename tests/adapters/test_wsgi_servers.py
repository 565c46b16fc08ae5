"""The WSGI adapters under real WSGI servers, driven over raw sockets: bodies the server cannot hand over.

A signed form body is read by the middleware before the app runs. When the server's ``wsgi.input`` raises
instead (chunked framing it cannot parse, a client that stops sending past the server's socket timeout),
the caller gets the Alibaba-style 4xx and the refusal is audited, not the server's own 500 page.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from werkzeug.serving import make_server as werkzeug_server

from tests.live_server import serving

from .apps import flask_app, wsgi_app
from .world import World

FORM = "application/x-www-form-urlencoded"
BODY = b"Action=DescribeInstances&RegionId=cn-hangzhou"
APPS: dict[str, Callable[..., Any]] = {"flask": flask_app, "wsgi-table": wsgi_app}


@contextmanager
def _werkzeug(app: Any) -> Iterator[tuple[str, int]]:
    """``app`` under Werkzeug's development server (what ``flask run`` serves with)."""
    with serving(werkzeug_server("127.0.0.1", 0, app, threaded=True)) as port:
        yield "127.0.0.1", port


class _QuickTimeoutHandler(WSGIRequestHandler):
    timeout = 0.3  # the connection's socket timeout: a read waiting longer raises TimeoutError

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _wsgiref_with_timeout(app: Any) -> Iterator[tuple[str, int]]:
    """``app`` under the standard library's server, whose reads time out (as a production server's do)."""
    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=_QuickTimeoutHandler)
    with serving(server) as port:
        yield "127.0.0.1", port


def _signed_head(world: World, length_header: str) -> bytes:
    """The request line and headers of alice's RPC v1 form POST of :data:`BODY` to ``/rpc``."""
    signed = world.signer("alice", "v1").sign("POST", "http://localhost/rpc", [("content-type", FORM)], BODY)
    parts = urlsplit(signed.url)
    headers = "".join(f"{name}: {value}\r\n" for name, value in signed.headers.items() if name != "host")
    return (
        f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FORM}\r\n{headers}"
        f"{length_header}\r\nConnection: close\r\n\r\n"
    ).encode()


def _exchange(address: tuple[str, int], data: bytes) -> tuple[bytes, bytes]:
    """Send ``data``, then read the answer until the server closes: (status line, body)."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


@pytest.mark.parametrize("name", sorted(APPS))
def test_a_chunked_signed_form_is_verified_under_werkzeug(world: World, name: str) -> None:
    chunked = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n"
    with _werkzeug(APPS[name](world.ram)) as address:
        status, body = _exchange(address, _signed_head(world, "Transfer-Encoding: chunked") + chunked)
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["action"] == "DescribeInstances"
    assert world.audit.events[-1].principal_arn == world.arn("alice")


@pytest.mark.parametrize("name", sorted(APPS))
def test_chunked_framing_the_server_cannot_read_is_refused_400(world: World, name: str) -> None:
    # Werkzeug's dev server raises OSError from wsgi.input on a chunk size that is not hex (gunicorn raises
    # its own IOError subclasses): that reached the server as an unaudited 500 page.
    framed = b"zz\r\n" + BODY + b"\r\n0\r\n\r\n"
    with _werkzeug(APPS[name](world.ram)) as address:
        status, body = _exchange(address, _signed_head(world, "Transfer-Encoding: chunked") + framed)
    assert status.startswith(b"HTTP/1.1 400 ") and b'"Code":"IncompleteBody"' in body
    event = world.audit.events[-1]
    assert (event.decision, event.status, event.code) == ("Rejected", 400, "IncompleteBody")


@pytest.mark.parametrize("name", sorted(APPS))
def test_a_body_that_stops_arriving_gets_408_when_the_server_times_out(world: World, name: str) -> None:
    # Half the body, then silence, on an open connection: the server's read times out inside the middleware.
    with _wsgiref_with_timeout(APPS[name](world.ram)) as address:
        status, body = _exchange(address, _signed_head(world, f"Content-Length: {len(BODY)}") + BODY[:10])
    assert status.startswith(b"HTTP/1.0 408 ") and b'"Code":"RequestTimeout"' in body
    event = world.audit.events[-1]
    assert (event.decision, event.status, event.code) == ("Rejected", 408, "RequestTimeout")


@pytest.mark.parametrize("serve", [_werkzeug, _wsgiref_with_timeout], ids=["werkzeug", "wsgiref"])
@pytest.mark.parametrize("name", sorted(APPS))
def test_a_body_cut_short_by_the_client_is_incomplete_not_a_bad_signature(
    world: World, name: str, serve: Callable[[Any], Any]
) -> None:
    # These servers hand over the socket: a client that closes its side after part of the body it announced
    # leaves a short read, which was verified as the whole body and blamed on the signature.
    with serve(APPS[name](world.ram)) as address, socket.create_connection(address, timeout=5) as conn:
        conn.sendall(_signed_head(world, f"Content-Length: {len(BODY)}") + BODY[:20])
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"400" and json.loads(body)["Code"] == "IncompleteBody"
    event = world.audit.events[-1]
    assert (event.decision, event.status, event.code) == ("Rejected", 400, "IncompleteBody")


@pytest.mark.parametrize("name", sorted(APPS))
def test_a_content_length_of_thousands_of_digits_is_413_not_a_500(world: World, name: str) -> None:
    # Werkzeug's dev server passes the header on as sent; int() refuses text of over 4300 digits, and that
    # ValueError reached the server as its own unaudited 500 page.
    with _werkzeug(APPS[name](world.ram)) as address:
        status, body = _exchange(address, _signed_head(world, f"Content-Length: {'9' * 5000}") + BODY)
    assert status.startswith(b"HTTP/1.1 413 ") and b'"Code":"EntityTooLarge"' in body
    event = world.audit.events[-1]
    assert (event.decision, event.status, event.code) == ("Rejected", 413, "EntityTooLarge")
