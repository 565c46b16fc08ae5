"""``ram export`` → ``ram apply`` over documents stored before a stricter parse-time check."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .conftest import ORG_FILE, Ram


def _store(ram: Ram) -> sqlite3.Connection:
    return sqlite3.connect(ram.url.removeprefix("sqlite:///"))


def _with_null_sid(document: str) -> str:
    # "Sid": null was accepted before new documents were refused for it; stored ones still decide.
    data = json.loads(document)
    data["Statement"][0]["Sid"] = None
    return json.dumps(data)


def test_apply_of_an_unchanged_export_accepts_stored_documents(ram: Ram, tmp_path: Path) -> None:
    ram.ok("apply", str(ORG_FILE), "--yes")
    with _store(ram) as db:
        versions = db.execute("SELECT policy_id, version_id, document FROM ram_policy_versions").fetchall()
        for policy_id, version_id, document in versions:
            db.execute(
                "UPDATE ram_policy_versions SET document = ? WHERE policy_id = ? AND version_id = ?",
                (_with_null_sid(document), policy_id, version_id),
            )
        roles = db.execute("SELECT role_id, trust_policy FROM ram_roles").fetchall()
        for role_id, trust in roles:
            db.execute(
                "UPDATE ram_roles SET trust_policy = ? WHERE role_id = ?", (_with_null_sid(trust), role_id)
            )
    assert versions and roles
    exported = tmp_path / "org.json"
    ram.ok("export", "--output", str(exported))
    assert ram.json("apply", str(exported), "--yes") == {"Plan": [], "Applied": []}
    # A role whose description changes keeps its stored trust policy; it is not resubmitted as new.
    org = json.loads(exported.read_text())
    org["Roles"][0]["Description"] = "changed"
    exported.write_text(json.dumps(org))
    applied = ram.json("apply", str(exported), "--yes")["Applied"]
    assert applied == [f"update role {org['Roles'][0]['RoleName']}"]
    # A changed document is a new one: the current checks apply to it.
    org["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Sid": None, **org["Policies"][0]["PolicyDocument"]["Statement"][0]}
    )
    exported.write_text(json.dumps(org))
    refused = ram("apply", str(exported), "--yes")
    assert refused.exit_code != 0 and "Sid must be a string" in refused.output
