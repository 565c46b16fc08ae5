"""Bodies the middleware does not read to the end, under uvicorn (127.0.0.1 only): a body too slow (408) or
too large (413), or one no credential covers on a refused request, is answered and the connection closed,
so the client cannot go on holding it with the rest."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from tests.live_server import serve_asgi

from .world import World

FORM = "application/x-www-form-urlencoded"
WAIT = 3.0  # seconds for the server to close; less than uvicorn's keep-alive timeout (5 s)


@ram_route("ecs:StopInstance", "acs:ecs:*:{account}:instance/{InstanceId}")
async def stop(request: Request) -> PlainTextResponse:
    return PlainTextResponse((await request.body()).decode())


def _head(world: World, address: str, length: int | None) -> bytes:
    """A signed form POST's request line and headers, announcing ``length`` bytes of body (None: chunked)."""
    body = b"InstanceId=i-1"
    signed = world.signer("alice").sign("POST", f"http://{address}/stop", [("content-type", FORM)], body)
    lines = [f"POST {signed.url.partition(address)[2]} HTTP/1.1", f"host: {address}", f"content-type: {FORM}"]
    lines += [f"{name}: {value}" for name, value in signed.headers.items() if name != "host"]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _until_closed(connection: socket.socket, then: bytes = b"") -> tuple[bytes, bool]:
    """What the server sends until it closes the connection (False: still open after WAIT seconds);
    ``then`` is sent once the answer has begun, as a client still sending its body would."""
    connection.settimeout(WAIT)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
            if then:
                with contextlib.suppress(OSError):  # closed already
                    connection.sendall(then)
                then = b""
    except TimeoutError:
        return received, False
    except ConnectionResetError:
        pass
    return received, True


@pytest.mark.parametrize("case", ["slow", "declared too large", "too large", "unsigned"])
def test_a_body_left_unread_closes_the_connection_after_the_answer(world: World, case: str) -> None:
    app = Starlette(routes=[Route("/stop", stop, methods=["POST"])])
    app.add_middleware(RAMMiddleware, ram=world.ram, max_body=64, body_timeout=0.5)
    with serve_asgi(app) as address:
        host, _, port = address.partition(":")
        with socket.create_connection((host, int(port))) as connection:
            if case == "slow":  # 14 of 40 bytes, then nothing for longer than body_timeout
                connection.sendall(_head(world, address, 40) + b"InstanceId=i-1")
            elif case == "declared too large":
                connection.sendall(_head(world, address, 10**9))
            elif case == "unsigned":  # a credential no scheme reads: refused without reading the body
                lines = ["POST /stop HTTP/1.1", f"host: {address}", "authorization: x", "content-length: 40"]
                connection.sendall(("\r\n".join(lines) + "\r\n\r\n{").encode())
            else:  # no length announced: a chunk over max_body
                connection.sendall(_head(world, address, None) + b"64\r\n" + b"x" * 100 + b"\r\n")
            started = time.monotonic()
            received, closed = _until_closed(connection, then=b"x")  # a byte more of the body
    status = {"slow": b"408", "declared too large": b"413", "too large": b"413", "unsigned": b"400"}[case]
    assert received.split(b" ", 2)[1] == status, received
    assert closed and time.monotonic() - started < WAIT
