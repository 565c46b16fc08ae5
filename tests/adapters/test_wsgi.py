"""WSGI specifics: when the middleware reads the body before the app (PEP 3333 framing)."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest
import webtest
from flask import Flask

from ram_middleware.adapters.wsgi import RAMWSGIMiddleware, needs_body, read_body
from ram_middleware.authorizer import IncompleteBody
from ram_middleware.routes import PUBLIC, RouteRule, RouteTable

from .apps import wsgi_app
from .world import World

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("environ", "needed"),
    [
        ({"SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": FORM}, False),  # no length, no chunking: no body
        ({"SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": FORM, "HTTP_TRANSFER_ENCODING": "chunked"}, True),
        ({"SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": FORM, "CONTENT_LENGTH": "0"}, False),
        # a server that de-chunked the body: no header says so, the terminated stream does
        ({"SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": FORM, "wsgi.input_terminated": True}, True),
        ({"SERVER_PROTOCOL": "HTTP/2", "CONTENT_TYPE": FORM}, True),  # HTTP/2 needs neither header
        ({"SERVER_PROTOCOL": "HTTP/2", "CONTENT_TYPE": FORM, "CONTENT_LENGTH": "0"}, False),
        ({"SERVER_PROTOCOL": "HTTP/2", "CONTENT_TYPE": "application/json"}, False),  # no scheme covers it
    ],
)
def test_the_body_is_read_when_there_may_be_one_and_a_signature_covers_it(
    environ: dict[str, Any], needed: bool
) -> None:
    assert needs_body(environ) is needed


def _http2_post(world: World, signed_body: bytes, sent_body: bytes) -> tuple[str, dict[str, Any]]:
    """A v1-signed form POST as an HTTP/2 WSGI server passes it on: no CONTENT_LENGTH, terminated input."""
    url = "http://testserver/buckets/rnd-bucket/objects"
    signed = world.signer("bob", "v1").sign("POST", url, [("content-type", FORM)], signed_body)
    parts = urlsplit(signed.url)
    environ = {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": parts.path, "QUERY_STRING": parts.query,
        "SERVER_PROTOCOL": "HTTP/2", "SERVER_NAME": "testserver", "SERVER_PORT": "80",
        "REMOTE_ADDR": "203.0.113.7", "CONTENT_TYPE": FORM, "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(sent_body), "wsgi.input_terminated": True, "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }  # fmt: skip
    statuses: list[str] = []
    body = b"".join(wsgi_app(world.ram)(environ, lambda status, headers: statuses.append(status)))
    return statuses[0], json.loads(body)


def test_an_http2_form_body_without_content_length_is_verified(world: World) -> None:
    status, reply = _http2_post(world, b"Acl=private", b"Acl=private")
    assert status.startswith("200") and reply["form"] == {"Acl": "private"}
    status, reply = _http2_post(world, b"", b"Acl=public-read")  # the form was not signed
    assert status.startswith("400") and reply["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("length", ["-1", "+5", "5x", "١"])
def test_a_content_length_that_is_not_digits_is_not_trusted(length: str) -> None:
    # int() takes "-1" (stream.read(-1) reads to the end, past the cap) and "+5"; neither is a length.
    environ: dict[str, Any] = {"CONTENT_LENGTH": length, "wsgi.input": io.BytesIO(b"x" * 100)}
    assert read_body(environ, 64) == b""  # an unterminated stream without a length is not read
    terminated = {
        "CONTENT_LENGTH": length,
        "wsgi.input": io.BytesIO(b"x" * 100),
        "wsgi.input_terminated": True,
    }
    assert read_body(terminated, 64) is None  # read to its end, but never past the cap: 413
    assert read_body({"CONTENT_LENGTH": "5", "wsgi.input": io.BytesIO(b"x" * 100)}, 64) == b"xxxxx"


def test_raw_non_ascii_bytes_in_the_query_are_refused(world: World) -> None:
    # PEP 3333 hands the raw bytes over as Latin-1 text; Werkzeug's request.args decodes them as UTF-8.
    # Read as given, the check would authorize ".../rÃ©sumÃ©" while the app served ".../résumé".
    query = "Bucket=rnd-bucket&Key=" + "résumé".encode().decode("latin-1")
    signed = world.signer("bob").sign("GET", f"http://testserver/objects?{query}", [], b"")
    environ = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/objects", "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "testserver", "SERVER_PORT": "80",
        "REMOTE_ADDR": "203.0.113.7", "HTTP_HOST": "testserver", "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(),
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in signed.headers.items()},
    }  # fmt: skip
    statuses: list[str] = []
    body = b"".join(wsgi_app(world.ram)(environ, lambda status, headers: statuses.append(status)))
    assert statuses[0].startswith("400") and json.loads(body)["Code"] == "InvalidParameter.Encoding"


@pytest.mark.parametrize(
    "path", ["/instances/i-protected", "//instances/i-protected", "///instances/i-protected"]
)
@pytest.mark.parametrize("catch_all", [False, True])
def test_extra_leading_slashes_reach_the_route_the_app_serves(
    world: World, path: str, catch_all: bool
) -> None:
    # Werkzeug (Flask, and Quart over ASGI) routes "//instances/x" to the view of "/instances/x": the table
    # must match it there too, not let the public catch-all (or undeclared="authenticate") take it. A
    # catch-all of the table matches it as sent too, as Starlette's router would: then it is refused.
    app = Flask(__name__)

    @app.delete("/instances/<iid>")
    def delete(iid: str) -> dict[str, str]:
        return {"deleted": iid}

    rule = RouteRule("ecs:DeleteInstance", "acs:ecs:*:{account}:instance/{iid}")
    table = RouteTable([("DELETE", "/instances/{iid}", rule)])
    if catch_all:
        table.add("*", "/{rest:path}", PUBLIC)
    url = f"http://localhost:80{path}"
    signed = world.signer("alice").sign("DELETE", url, [], b"")  # alice: a Deny on instance/i-protected
    client = webtest.TestApp(
        RAMWSGIMiddleware(app, ram=world.ram, rules=table), extra_environ={"REMOTE_ADDR": "203.0.113.7"}
    )
    headers = [(name, value) for name, value in signed.headers.items() if name != "host"]
    reply = client.request(url, method="DELETE", headers=headers, expect_errors=True)
    if catch_all and path.startswith("//"):
        assert reply.status_int == 400 and reply.json["Code"] == "InvalidParameter.Path"
        return
    assert reply.status_int == 403 and reply.json["Code"] == "NoPermission"
    assert world.audit.events[-1].resource == f"acs:ecs:*:{world.account_id}:instance/i-protected"


def test_a_refused_head_sends_no_body_on_a_kept_alive_connection(world: World) -> None:
    # waitress sends whatever the app returns, also for a HEAD: the error's body would then be read, by a
    # client that expects none, as the start of the next response on the connection.
    waitress = pytest.importorskip("waitress.server")
    wasyncore = pytest.importorskip("waitress.wasyncore")
    app = Flask(__name__)
    app.add_url_rule("/up", "up", lambda: "up")
    table = RouteTable(
        [("GET", "/instances/{iid}", RouteRule("ecs:DescribeInstance")), ("GET", "/up", PUBLIC)]
    )
    protected = RAMWSGIMiddleware(app, ram=world.ram, rules=table)
    server = waitress.create_server(protected, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.effective_port), timeout=5) as client:
            client.sendall(
                b"HEAD /instances/i-1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            received = b""
            while chunk := client.recv(65536):
                received += chunk
    finally:
        server.task_dispatcher.shutdown()  # first: a task ending later would pull a closed trigger
        wasyncore.close_all(server._map)  # the listening socket, the trigger, open channels: the loop ends
        thread.join(timeout=5)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 ")
    assert re.search(rb"\r\nContent-Length: [1-9][0-9]*\r\n", head + b"\r\n")  # the error's, as for a GET
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n") and rest.endswith(b"\r\n\r\nup")


def test_a_public_options_entry_lets_the_app_answer_preflights(world: World) -> None:
    # The README's setup for an app that answers CORS preflights itself (Flask's automatic OPTIONS, with
    # flask-cors adding its headers): OPTIONS declared public first, every other method still checked.
    app = Flask(__name__)

    @app.get("/instances/<iid>")
    def describe(iid: str) -> dict[str, str]:
        return {"instance": iid}

    rule = RouteRule("ecs:DescribeInstance", "acs:ecs:*:{account}:instance/{iid}")
    table = RouteTable([("OPTIONS", "/{path:path}", PUBLIC), ("GET", "/instances/{iid}", rule)])
    client = webtest.TestApp(RAMWSGIMiddleware(app, ram=world.ram, rules=table))
    preflight = {"Origin": "https://console.example.com", "Access-Control-Request-Method": "GET"}
    reply = client.options("/instances/i-1", headers=preflight)
    assert reply.status_int == 200 and "GET" in reply.headers["Allow"] and world.audit.events == []
    assert client.get("/instances/i-1", expect_errors=True).status_int == 401
    assert client.head("/instances/i-1", expect_errors=True).status_int == 401


class _Trickle(io.RawIOBase):
    """A wsgi.input that returns at most three bytes a read, as a raw stream may."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(3, len(buffer), len(self._data))
        buffer[:size], self._data = self._data[:size], self._data[size:]
        return size


def test_a_stream_that_returns_less_than_asked_is_read_to_its_content_length() -> None:
    environ: dict[str, Any] = {"CONTENT_LENGTH": "10", "wsgi.input": _Trickle(b"0123456789tail")}
    assert read_body(environ, 64) == b"0123456789" and environ["wsgi.input"].read() == b"0123456789"
    with pytest.raises(IncompleteBody):  # the stream ends first: the client sent less than it announced
        read_body({"CONTENT_LENGTH": "10", "wsgi.input": _Trickle(b"01234")}, 64)
