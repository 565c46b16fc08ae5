"""What an operator types wrong at the ``ram`` command: one ``Error: Code: Message`` line, exit status 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ram_middleware.cli import main
from ram_middleware.credentials.password import PasswordPolicy

from .conftest import CLEAN_ENV, Ram, dump, simulate_args, write_json


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_simulate_at_a_time_outside_the_calendar_in_utc_is_one_line(ram: Ram, when: str) -> None:
    # Valid ISO 8601, but in UTC a day before year 1 or after year 9999: no acs:CurrentTime to give.
    ram.ok("users", "create", "B")
    result = ram.fails(*simulate_args("B", "oss:GetObject", "acs:oss:*:*:bucket/a", when=when),
                       code="InvalidParameter.Time")  # fmt: skip
    assert "Traceback" not in result.output
    assert "--time must be ISO 8601" in result.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("org.json", '{"Roles": [{"RoleName": "r", "MaxSessionDuration": ' + "9" * 5000 + "}]}"),
        ("org.yaml", "Users:\n  - UserName: u\n    Comments: 2024-13-45\n"),  # a date YAML reads, no month 13
        ("org.yaml", "Users:\n  - UserName: u\n    Comments: !!int abc\n"),
        ("org.yaml", "Users:\n  - UserName: u\n    Comments: !!timestamp soon\n"),
        ("org.yaml", "Roles:\n  - RoleName: r\n    MaxSessionDuration: " + "9" * 5000 + "\n"),
    ],
)
def test_an_organisation_file_with_a_value_its_parser_cannot_read_is_a_file_error(
    ram: Ram, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    ram.ok("users", "list")  # the command's first run makes the store's guard table
    before = dump(ram.url)
    result = ram.fails("apply", str(path), "--yes", code="InvalidParameter.OrganisationFile")
    assert "not valid" in result.stderr and result.stderr.count("\n") == 1
    assert dump(ram.url) == before


_ALLOW_ALL = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}
_TRUST_ROOT = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
               "Principal": {"RAM": ["acs:ram::${AccountId}:root"]}}]}  # fmt: skip


@pytest.mark.parametrize(
    ("org", "where"),
    [
        (
            {"Policies": [{"PolicyName": "P1", "PolicyDocument": _ALLOW_ALL},
                          {"PolicyName": "P2", "Description": "line one\nline two",
                           "PolicyDocument": _ALLOW_ALL}]},
            "Policies[1].Description",
        ),
        (
            {"Policies": [{"PolicyName": "P1", "PolicyDocument": _ALLOW_ALL}],
             "Roles": [{"RoleName": "R1", "Description": "tab\there",
                        "AssumeRolePolicyDocument": _TRUST_ROOT}]},
            "Roles[0].Description",
        ),
    ],
)  # fmt: skip
def test_a_description_the_service_would_refuse_is_named_in_the_file_before_anything_is_written(
    ram: Ram, tmp_path: Path, org: dict[str, object], where: str
) -> None:
    # A multi-line YAML description, say: the service refuses control characters in any Description.
    result = ram.fails(
        "apply", write_json(tmp_path / "o.json", org), "--yes", code="InvalidParameter.OrganisationFile"
    )
    assert f"{where}: Description must not contain control characters" in result.stderr
    assert "Plan for" not in result.stderr
    assert ram.service.list_policies(ram.account_id, policy_type="Custom").items == ()


@pytest.mark.parametrize("endpoint", ["http://[::1", "http://", "http://admin:Hunter2-pw@127.0.0.1:9"])
def test_an_endpoint_that_is_no_usable_url_is_one_line_without_its_password(endpoint: str) -> None:
    # A URL httpx cannot parse used to be a traceback; one with a password was printed back in the error.
    env = {**CLEAN_ENV, "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIexample", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    result = CliRunner().invoke(main, ["users", "list", "--endpoint", endpoint], env=env)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (
        result.stderr
        == "Error: InvalidParameter.Endpoint: The endpoint is a URL such as http://127.0.0.1:8080.\n"
    )
    assert "Hunter2" not in result.output


def test_apply_makes_console_passwords_the_strictest_policy_accepts(ram: Ram, tmp_path: Path) -> None:
    # MinimumPasswordLength may be up to 32; the generated passwords had 24 characters, so with a strict
    # policy no apply could give anyone a console logon (and "aa1" was always in its own "Aa1!…").
    ram.service.set_password_policy(ram.account_id, PasswordPolicy(minimum_password_length=32))
    org = {"Users": [{"UserName": "B", "Console": True}, {"UserName": "aa1", "Console": True}]}
    applied = ram.json("apply", write_json(tmp_path / "o.json", org), "--yes")
    for user in ("B", "aa1"):
        password = applied["Secrets"][f"initial password of {user}"]["Password"]
        assert len(password) == 32 and "aa1" not in password.casefold()
        assert ram.service.get_login_profile(ram.account_id, user).password_reset_required


def test_export_writes_a_documents_numbers_as_written_so_its_file_applies_unchanged(
    ram: Ram, ram_factory: Callable[[str | None], Ram], tmp_path: Path
) -> None:
    # Export read documents into floats: 1e309 (a number the policy language accepts) was written as
    # Infinity, which no JSON reader takes, and 2.50 as 2.5, which String operators compare differently.
    document = tmp_path / "p.json"
    document.write_text(
        '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*",'
        ' "Condition": {"NumericLessThan": {"oss:Size": 1e309}, "StringEquals": {"oss:Tag": 2.50}}}]}',
        encoding="utf-8",
    )
    ram.ok("policies", "create", "Numbers", "--document", str(document))
    exported = tmp_path / "org.json"
    ram.ok("export", "--output", str(exported))
    assert '"oss:Size": 1e309' in exported.read_text() and '"oss:Tag": 2.50' in exported.read_text()
    fresh = ram_factory(None)
    fresh.ok("apply", str(exported), "--yes")
    stored = fresh.service.get_policy(fresh.account_id, "Numbers", "Custom").default_version.document
    assert '"oss:Size":1e309' in stored and '"oss:Tag":2.50' in stored
    assert fresh.ok("export").stdout == exported.read_text()
    assert fresh.json("apply", str(exported), "--yes") == {"Plan": [], "Applied": []}


def test_a_document_with_a_very_long_integer_is_shown_and_simulated(ram: Ram, tmp_path: Path) -> None:
    # The policy language takes any integer that fits the document; Python's JSON refuses to read one of
    # more than 4,300 digits, which made show, show-version and simulate tracebacks.
    long = "9" * 4400
    condition = '"Condition": {"NumericLessThan": {"oss:Size": ' + long + "}}"
    allow = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*", '
    (tmp_path / "p.json").write_text(allow + condition + "}]}", encoding="utf-8")
    trust = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", '
    trust += '"Principal": {"RAM": ["acs:ram::' + ram.account_id + ':root"]}, ' + condition + "}]}"
    (tmp_path / "t.json").write_text(trust, encoding="utf-8")
    ram.ok("users", "create", "B")
    ram.ok("policies", "create", "Long", "--document", str(tmp_path / "p.json"))
    ram.ok("policies", "attach", "Long", "--user", "B")
    ram.ok("roles", "create", "R", "--trust", str(tmp_path / "t.json"))
    assert long in ram.ok("policies", "show", "Long").stdout
    assert long in ram.ok("policies", "show-version", "Long", "v1").stdout
    assert long in ram.ok("roles", "show", "R").stdout
    args = simulate_args("B", "oss:GetObject", "acs:oss:*:*:bucket/a")
    assert "Decision:  Allow" in ram.ok(*[*args, "--context", "oss:Size=5"]).stdout
    assert ram.json(*[*args, "--context", "oss:Size=5"])["Effect"] == "Allow"


@pytest.mark.parametrize("bad", [["--alias", "Company X"], ["--admin", "the admin"]])
def test_init_refuses_a_bad_alias_or_admin_name_before_making_the_store(
    tmp_path: Path, bad: list[str]
) -> None:
    # It used to make the database and its key file first: the next command found an empty store.
    store = tmp_path / "ram.db"
    result = CliRunner().invoke(main, ["--store", f"sqlite:///{store}", "init", *bad], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: InvalidParameter.")
    assert list(tmp_path.iterdir()) == []
