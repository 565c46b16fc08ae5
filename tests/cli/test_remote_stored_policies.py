"""Remote ``ram simulate`` over a policy version stored before a stricter parse-time check."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .conftest import simulate_args, write_json
from .test_remote import Remote, remote

__all__ = ["remote"]  # the live-server fixture, shared from test_remote


def test_remote_simulate_reads_a_stored_version_as_the_server_does(remote: Remote, tmp_path: Path) -> None:
    statement = {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"}
    remote.ok("users", "create", "legacy")
    document = write_json(tmp_path / "p.json", {"Version": "1", "Statement": [statement]})
    remote.ok("policies", "create", "LegacyRead", "--document", document)
    remote.ok("policies", "attach", "LegacyRead", "--user", "legacy")
    # Versions stored before "Sid": null was refused still hold it; the server decides with them.
    legacy = json.dumps({"Version": "1", "Statement": [{"Sid": None, **statement}]})
    with sqlite3.connect(remote.store_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE ram_policy_versions SET document = ? WHERE policy_id ="
            " (SELECT policy_id FROM ram_policies WHERE policy_name = 'LegacyRead')",
            (legacy,),
        )
    args = simulate_args("legacy", "oss:GetObject", "acs:oss:*:*:b/k")
    local = json.loads(remote.local(*args, json_output=True).stdout)
    assert local["Effect"] == "Allow"
    assert remote.json(*args) == local
