"""``ram apply`` / ``ram export``: plan first, idempotent, and export → apply → export round-trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ram_middleware.organisation import OrganisationFileError, load_organisation, validate_organisation

from .conftest import ORG_FILE, Ram, write_json


def test_apply_shows_the_plan_and_asks_first(ram: Ram) -> None:
    refused = ram("apply", str(ORG_FILE), input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert "+ create user D" in refused.stderr and "+ add user D to group OandM" in refused.stderr
    # D and E must bind MFA at first logon; the plan says so, and not for console users who need not.
    assert "console logon for user D (password to change at first logon, MFA to bind)" in refused.stderr
    assert ram.service.list_users(ram.account_id).items == ()
    dry = ram.json("apply", str(ORG_FILE), "--dry-run")
    assert "create policy RnDOSSOfficeNetworkWorkingHours" in dry["Plan"] and dry["Applied"] == []
    assert ram.service.list_groups(ram.account_id).items == ()
    accepted = ram("apply", str(ORG_FILE), input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Applied 33 changes." in accepted.stdout
    assert (
        "initial password of D: Password=" in accepted.stdout
        and "AccessKey of app: AccessKeyId=" in accepted.stdout
    )
    assert ram.service.get_account(ram.account_id).alias == "company-x"


def test_second_apply_changes_nothing(ram: Ram) -> None:
    first = ram.json("apply", str(ORG_FILE), "--yes")
    assert len(first["Applied"]) == len(first["Plan"]) == 33
    assert set(first["Secrets"]) == {f"initial password of {u}" for u in "ABCDE"} | {"AccessKey of app"}
    again = ram("apply", str(ORG_FILE), "--yes")
    assert again.exit_code == 0 and again.stdout.startswith("Nothing to change")
    assert ram.json("apply", str(ORG_FILE)) == {"Plan": [], "Applied": []}


def test_apply_reconciles_what_the_file_declares(ram: Ram, tmp_path: Path) -> None:
    ram.ok("apply", str(ORG_FILE), "--yes")
    ram.ok("users", "transfer", "B", "--from", "RnD", "--to", "HR")
    ram.ok("policies", "attach", "AdministratorAccess", "--user", "C")
    ram.ok("users", "update", "A", "--display-name", "Someone else")
    steps = ram.json("apply", str(ORG_FILE), "--yes")["Applied"]
    assert sorted(steps) == sorted(
        [
            "update display name of user A",
            "add user B to group RnD",
            "remove user B from group HR",
            "detach System policy AdministratorAccess from user C",
        ]
    )
    # Users the file does not mention survive; credentials are only ever added.
    ram.ok("users", "create", "contractor")
    org = json.loads(ORG_FILE.read_text())
    org["Users"] = [u for u in org["Users"] if u["UserName"] != "app"]
    assert ram.json("apply", write_json(tmp_path / "o.json", org), "--yes") == {"Plan": [], "Applied": []}
    assert ram.service.get_user(ram.account_id, "contractor").user_name == "contractor"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_apply_export_round_trips(
    fmt: str, ram: Ram, ram_factory: Callable[[str | None], Ram], tmp_path: Path
) -> None:
    ram.ok("apply", str(ORG_FILE), "--yes")
    ram.ok(
        "policies",
        "new-version",
        "RnDOSSOfficeNetworkWorkingHours",
        "--set-default",
        "--document",
        write_json(
            tmp_path / "v2.json",
            {
                "Version": "1",
                "Statement": [
                    {"Effect": "Allow", "Action": "oss:Get*", "Resource": "acs:oss:*:*:rnd-bucket/*"}
                ],
            },
        ),
    )
    ram.ok("users", "update", "E", "--email", "e@example.com", "--mobile-phone", "86-13800000000")
    exported = tmp_path / f"org.{fmt}"
    ram.ok("export", "--format", fmt, "--output", str(exported))
    first = ram.ok("export", "--format", fmt).stdout
    assert exported.read_text() == first
    fresh = ram_factory(None)
    plan = fresh.json("apply", str(exported), "--yes")["Applied"]
    assert "create user E" in plan and "set account alias company-x" in plan
    assert fresh.ok("export", "--format", fmt).stdout == first
    assert fresh.json("apply", str(exported), "--yes") == {"Plan": [], "Applied": []}
    data = load_organisation(exported)
    trust = data["Roles"][0]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"RAM": ["acs:ram::${AccountId}:root"]}
    assert fresh.service.get_role(fresh.account_id, "OSSReader").trust_policy.count(fresh.account_id) == 1
    e = next(u for u in data["Users"] if u["UserName"] == "E")
    assert e == {
        "UserName": "E",
        "DisplayName": "Employee E (O&M)",
        "Email": "e@example.com",
        "MobilePhone": "86-13800000000",
        "Groups": ["OandM"],
        "Policies": [],
        "Console": True,
        "MFABindRequired": True,
    }


def _error(org: object) -> OrganisationFileError:
    with pytest.raises(OrganisationFileError) as caught:
        validate_organisation(org)
    return caught.value


def test_file_errors_name_their_path(ram: Ram, tmp_path: Path) -> None:
    assert _error({"Users": [{"UserName": "a", "Group": ["HR"]}]}).path == "Users[0].Group"
    assert _error({"Users": [{"UserName": "a"}, {"UserName": "A"}]}).path == "Users[1].UserName"
    assert _error(
        {"Groups": [{"GroupName": "x", "Policies": [{"PolicyType": "System", "PolicyName": "Nope"}]}]}
    ).path == ("Groups[0].Policies[0].PolicyName")
    assert _error(
        {"Roles": [{"RoleName": "r", "MaxSessionDuration": True, "AssumeRolePolicyDocument": {}}]}
    ).path == ("Roles[0].MaxSessionDuration")
    assert _error({"Users": [{"UserName": "bad name"}]}).path == "Users[0].UserName"
    assert _error({"Policies": [{"PolicyName": "P"}]}).path == "Policies[0].PolicyDocument"
    assert _error([]).path == "(top level)"
    unknown_group = write_json(tmp_path / "g.json", {"Users": [{"UserName": "a", "Groups": ["Ghosts"]}]})
    message = ram.fails("apply", unknown_group, "--yes", code="InvalidParameter.OrganisationFile").stderr
    assert "Users[0].Groups[0]: group 'Ghosts' is neither declared nor in the account" in message
    bad_doc = write_json(
        tmp_path / "d.json",
        {
            "Policies": [
                {
                    "PolicyName": "P",
                    "PolicyDocument": {
                        "Version": "1",
                        "Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}],
                    },
                }
            ]
        },
    )
    message = ram.fails("apply", bad_doc, "--yes", code="InvalidParameter.OrganisationFile").stderr
    assert "Policies[0].PolicyDocument.Statement[0].Effect" in message
    broken = tmp_path / "b.yaml"
    broken.write_text("Users: [unclosed", encoding="utf-8")
    assert (
        "not valid YAML" in ram.fails("apply", str(broken), code="InvalidParameter.OrganisationFile").stderr
    )
    assert ram.service.list_users(ram.account_id).items == ()


def test_a_file_nested_too_deeply_is_a_file_error(ram: Ram, tmp_path: Path) -> None:
    # Both parsers recurse per level: such a file ended `ram apply` with a RecursionError traceback.
    for name, text in (("deep.json", "[" * 5000), ("deep.yaml", "Users: " + "[" * 5000)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(OrganisationFileError, match="nested too deeply"):
            load_organisation(path)
        failed = ram.fails("apply", str(path), "--yes", code="InvalidParameter.OrganisationFile")
        assert "nested too deeply" in failed.stderr and "Traceback" not in failed.output
    assert ram.service.list_users(ram.account_id).items == ()


_FIELD_NAMES = st.sampled_from(
    [
        *("Description", "Account", "Alias", "Policies", "Groups", "Users", "Roles", "PolicyName"),
        *("PolicyDocument", "PolicyType", "GroupName", "UserName", "Email", "MobilePhone", "Console"),
        *("RoleName", "MaxSessionDuration", "AssumeRolePolicyDocument", "Other"),
    ]
)
_SYNTAX = st.sampled_from(["[", "{", "]", "}", ",", ":", " ", "-", "\n", '"', "1", "a", "&x", "*x", "!!set"])
_FILE_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(_SYNTAX, max_size=40).map("".join),
    st.integers(min_value=1, max_value=600).map(lambda depth: "[" * depth + "]" * depth),  # deep: see above
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_FIELD_NAMES, inner, max_size=4),
        max_leaves=20,
    ).map(json.dumps),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_FILE_TEXT, suffix=st.sampled_from([".json", ".yaml"]))
@example(text="[" * 5000, suffix=".json")
@example(text="[" * 1200, suffix=".yaml")
def test_any_file_text_loads_or_is_a_file_error(tmp_path: Path, text: str, suffix: str) -> None:
    path = tmp_path / f"org{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        org = load_organisation(path)
    except OrganisationFileError as refused:
        assert refused.status == 400
    else:
        assert isinstance(org, dict)


def test_the_service_rules_of_each_field_are_checked_before_anything_is_written(
    ram: Ram, tmp_path: Path
) -> None:
    # A role's MaxSessionDuration out of range used to fail halfway, after u1's key and password were made.
    trust = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"RAM": ["acs:ram::${AccountId}:root"]}}]}  # fmt: skip
    org = {
        "Users": [{"UserName": "u1", "AccessKey": True, "Console": True}],
        "Roles": [{"RoleName": "r1", "MaxSessionDuration": 100, "AssumeRolePolicyDocument": trust}],
    }
    message = ram.fails(
        "apply", write_json(tmp_path / "o.json", org), "--yes", code="InvalidParameter.OrganisationFile"
    ).stderr
    assert "Roles[0].MaxSessionDuration: MaxSessionDuration must be 3600 to 43200 seconds." in message
    assert ram.service.list_users(ram.account_id).items == ()
    assert _error({"Users": [{"UserName": "a"}, {"UserName": "b", "Email": "b@"}]}).path == "Users[1].Email"
    assert "MobilePhone must look like" in str(_error({"Users": [{"UserName": "a", "MobilePhone": "12"}]}))
    assert _error({"Groups": [{"GroupName": "g", "Comments": "x" * 129}]}).path == "Groups[0].Comments"
    assert _error({"Account": {"Alias": "Company X"}}).path == "Account.Alias"


def test_export_to_a_path_that_cannot_be_written_is_one_line(ram: Ram, tmp_path: Path) -> None:
    """A missing directory, or a file where a directory should be: `Error: <Code>: …`, not a traceback."""
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    for target in (tmp_path / "no-such-dir" / "org.json", tmp_path / "a-file" / "org.json"):
        result = ram.fails("export", "--output", str(target), code="InvalidParameter.Output")
        assert result.stderr.startswith(f"Error: InvalidParameter.Output: Cannot write {target}: ")
        assert result.stderr.count("\n") == 1
    assert not (tmp_path / "no-such-dir").exists()
