"""A tiny notes API. Protecting it took the three marked lines plus one decorator per route."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ram_middleware.adapters.starlette import RAMMiddleware, public, ram_route  # (1) import
from ram_middleware.config import build

NOTES = {"n1": "buy milk", "n2": "ship v2"}
ram = build()  # (2) RAM_* environment variables; default store: sqlite:///ram.db


@public
async def index(request: Request) -> JSONResponse:
    return JSONResponse({"service": "notes", "notes": sorted(NOTES)})


@ram_route("notes:GetNote", "acs:notes:*:{account}:note/{note_id}")
async def get_note(request: Request) -> JSONResponse:
    note_id = request.path_params["note_id"]
    return JSONResponse({"id": note_id, "text": NOTES.get(note_id), "reader": request.user.identity})


@ram_route("notes:DeleteNote", "acs:notes:*:{account}:note/{note_id}")
async def delete_note(request: Request) -> JSONResponse:
    NOTES.pop(request.path_params["note_id"], None)
    return JSONResponse({"deleted": request.path_params["note_id"]})


app = Starlette(
    routes=[
        Route("/", index),
        Route("/notes/{note_id}", get_note, methods=["GET"]),
        Route("/notes/{note_id}", delete_note, methods=["DELETE"]),
    ]
)
app.add_middleware(RAMMiddleware, ram=ram)  # (3) protect every route
