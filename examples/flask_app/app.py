"""A tiny notes API. Protecting it took the two marked lines plus one decorator per route."""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from ram_middleware.adapters.flask import RAM, public, require  # (1) import

NOTES = {"n1": "buy milk", "n2": "ship v2"}

app = Flask(__name__)
ram = RAM(app)  # (2) RAM_* config keys / environment; default store: sqlite:///ram.db


@app.get("/")
@public
def index() -> dict[str, Any]:
    return {"service": "notes", "notes": sorted(NOTES)}


@app.get("/notes/<note_id>")
@require("notes:GetNote", "acs:notes:*:{account}:note/{note_id}")
def get_note(note_id: str) -> dict[str, Any]:
    return {"id": note_id, "text": NOTES.get(note_id), "reader": g.principal.arn}


@app.delete("/notes/<note_id>")
@require("notes:DeleteNote", "acs:notes:*:{account}:note/{note_id}")
def delete_note(note_id: str) -> dict[str, Any]:
    NOTES.pop(note_id, None)
    return {"deleted": note_id}
