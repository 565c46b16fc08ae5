"""``ram policies``: documents from files, validation with JSON paths, versions, attachments."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Ram, write_json

READ_STATEMENT = {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:reports/*"}
READ_BUCKET = {"Version": "1", "Statement": [READ_STATEMENT]}
BAD_CIDR = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "oss:PutObject",
            "Resource": "*",
            "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.300/8"]}},
        },
    ],
}


def test_validate_names_the_json_path(ram: Ram, tmp_path: Path) -> None:
    good = write_json(tmp_path / "good.json", READ_BUCKET)
    assert ram.ok("policies", "validate", good).stdout.strip() == "Valid identity policy: 1 statement."
    assert ram.json("policies", "validate", good) == {"Valid": True, "Statements": 1}
    bad = write_json(tmp_path / "bad.json", BAD_CIDR)
    result = ram.fails("policies", "validate", bad, code="MalformedPolicyDocument")
    assert "Statement[1].Condition.IpAddress.acs:SourceIp[0]: '10.0.0.300/8'" in result.stderr
    typo = write_json(
        tmp_path / "typo.json", {"Version": "1", "Statement": [{**READ_STATEMENT, "Efect": "x"}]}
    )
    assert (
        "Statement[0].Efect" in ram.fails("policies", "validate", typo, code="MalformedPolicyDocument").stderr
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"Version": "1",\n "Statement": [}', encoding="utf-8")
    assert (
        "line 2 column"
        in ram.fails("policies", "validate", str(broken), code="MalformedPolicyDocument").stderr
    )
    trust = write_json(tmp_path / "trust.json", READ_BUCKET)
    message = ram.fails(
        "policies", "validate", "--kind", "trust", trust, code="MalformedPolicyDocument"
    ).stderr
    assert "Statement[0]" in message
    # stdin works too
    assert ram.ok("policies", "validate", "-", input=json.dumps(READ_BUCKET)).exit_code == 0


def test_create_refuses_a_bad_document_before_storing(ram: Ram, tmp_path: Path) -> None:
    bad = write_json(tmp_path / "bad.json", BAD_CIDR)
    ram.fails("policies", "create", "Broken", "--document", bad, code="MalformedPolicyDocument")
    assert ram.json("policies", "list", "--type", "Custom") == {"Policies": []}


def test_custom_policy_versions(ram: Ram, tmp_path: Path) -> None:
    v1 = write_json(tmp_path / "v1.json", READ_BUCKET)
    created = ram.json("policies", "create", "ReadReports", "--document", v1, "--description", "reports")
    assert created["Policy"]["DefaultVersion"] == "v1" and created["Policy"]["PolicyType"] == "Custom"
    v2_doc = {
        "Version": "1",
        "Statement": [{**READ_STATEMENT, "Action": ["oss:GetObject", "oss:ListObjects"]}],
    }
    v2 = write_json(tmp_path / "v2.json", v2_doc)
    ram.ok("policies", "new-version", "ReadReports", "--document", v2)
    rows = ram.json("policies", "versions", "ReadReports")["PolicyVersions"]
    assert [(r["VersionId"], r["IsDefaultVersion"]) for r in rows] == [("v1", True), ("v2", False)]
    ram.ok("policies", "set-default", "ReadReports", "v2")
    shown = ram.json("policies", "show", "ReadReports")
    assert json.loads(shown["DefaultPolicyVersion"]["PolicyDocument"]) == v2_doc
    assert (
        json.loads(
            ram.json("policies", "show-version", "ReadReports", "v1")["PolicyVersion"]["PolicyDocument"]
        )
        == READ_BUCKET
    )
    ram.fails("policies", "delete-version", "ReadReports", "v2", code="DeleteConflict.Policy.Version")
    ram.ok("policies", "delete-version", "ReadReports", "v1")
    human = ram.ok("policies", "show", "ReadReports").stdout
    assert "DefaultVersion: v2" in human and '"oss:ListObjects"' in human


def test_attach_detach_and_listings(ram: Ram, tmp_path: Path) -> None:
    ram.ok("users", "create", "ann")
    ram.ok("groups", "create", "ops")
    ram.ok("roles", "create", "Auditor")
    ram.ok("policies", "create", "ReadReports", "--document", write_json(tmp_path / "p.json", READ_BUCKET))
    assert (
        "Attached System policy AliyunECSFullAccess to group ops."
        in ram.ok("policies", "attach", "AliyunECSFullAccess", "--group", "ops").stdout
    )
    ram.ok("policies", "attach", "ReadReports", "--user", "ann")
    ram.ok("policies", "attach", "ReadReports", "--role", "Auditor")
    ram.fails("policies", "attach", "ReadReports", "--user", "ann", code="EntityAlreadyExists.User.Policy")
    ram.fails("policies", "attach", "NoSuchPolicy", "--user", "ann", code="EntityNotExist.Policy")
    assert ram("policies", "attach", "ReadReports", "--user", "ann", "--group", "ops").exit_code == 2
    attached = ram.json("policies", "attached", "--user", "ann")["Policies"]
    assert [(p["PolicyType"], p["PolicyName"]) for p in attached] == [("Custom", "ReadReports")]
    entities = ram.json("policies", "entities", "ReadReports")
    assert [u["UserName"] for u in entities["Users"]] == ["ann"]
    assert [r["RoleName"] for r in entities["Roles"]] == ["Auditor"]
    table = ram.ok("policies", "entities", "ReadReports").stdout
    assert "User  ann" in table and "Role  Auditor" in table
    system = ram.json("policies", "list", "--type", "System")["Policies"]
    ecs = next(p for p in system if p["PolicyName"] == "AliyunECSFullAccess")
    assert ecs["AttachmentCount"] == 1
    ram.fails("policies", "delete", "ReadReports", code="DeleteConflict.Policy.User")
    ram.ok("policies", "detach", "ReadReports", "--user", "ann")
    ram.fails("policies", "detach", "ReadReports", "--user", "ann", code="EntityNotExist.User.Policy")
    ram.ok("policies", "delete", "ReadReports", "--cascade")
    assert ram.service.list_policies_for_role(ram.account_id, "Auditor") == []


def test_a_document_that_is_not_utf8_is_refused_in_one_line(ram: Ram, tmp_path: Path) -> None:
    """Every command reading a policy file says MalformedPolicyDocument, not a UnicodeDecodeError trace."""
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(json.dumps(READ_BUCKET).encode("utf-16"))
    session = ("--session-policy", str(utf16), "--action", "oss:GetObject", "--resource", "*")
    commands = [
        ("policies", "validate", str(utf16)),
        ("policies", "create", "Reports", "--document", str(utf16)),
        ("roles", "create", "Reader", "--trust", str(utf16)),
        ("simulate", "--role", "Reader", *session),
    ]
    for args in commands:
        result = ram.fails(*args, code="MalformedPolicyDocument")
        assert result.stderr == "Error: MalformedPolicyDocument: The policy document is not UTF-8 text.\n"
    assert ram.json("policies", "list", "--type", "Custom") == {"Policies": []}
    assert ram.json("roles", "list") == {"Roles": []}
