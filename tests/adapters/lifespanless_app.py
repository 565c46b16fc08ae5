"""A protected ASGI app that does not speak the lifespan protocol (it raises on any scope but HTTP, as
Django's ASGI handler does), for tests that stop its server: ``uvicorn tests.adapters.lifespanless_app:app``.
The routes are the notes example's, declared in a route table."""

from __future__ import annotations

import json

from ram_middleware.adapters.asgi import RAMMiddleware, Receive, Scope, Send
from ram_middleware.config import build
from ram_middleware.routes import RouteRule, RouteTable


async def notes(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise ValueError(f"only HTTP, not {scope['type']}")  # Django's words, nearly
    body = json.dumps({"path": scope["path"]}).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


TABLE = RouteTable(
    [
        ("GET", "/", RouteRule(public=True)),
        ("GET", "/notes/{note_id}", RouteRule("notes:GetNote", "acs:notes:*:{account}:note/{note_id}")),
    ]
)
app = RAMMiddleware(notes, ram=build(), rules=TABLE)
