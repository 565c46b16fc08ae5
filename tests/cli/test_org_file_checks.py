"""What ``ram`` makes of input an operator got wrong (an organisation file, a huge file, a store URL): refused
in one line, exit status 1, before anything is written."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ram_middleware.cli import main
from ram_middleware.crypto import generate_key

from .conftest import CLEAN_ENV, ORG_FILE, ROOT, Ram, dump, write_json

_DENY_THEN_ALLOW = (
    '{"Policies": [{"PolicyName": "P", "PolicyDocument": {"Version": "1",'
    ' "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],'
    ' "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}'
)


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        # The second "Groups" took A out of HR without a word; the first was what the author meant to keep.
        ("org.json", '{"Users": [{"UserName": "A", "Groups": ["HR"], "Groups": []}]}', "Groups"),
        ("org.yaml", "Users:\n  - UserName: A\n    Groups: [HR]\n    Groups: []\n", "Groups"),
        ("org.json", '{"Users": [], "Users": [{"UserName": "Z"}]}', "Users"),
        # An inline document: `ram policies create` refuses the same document for its duplicate key.
        ("org.json", _DENY_THEN_ALLOW, "Statement"),
        ("org.yaml", "Account: {Alias: one-name, Alias: other-name}\n", "Alias"),
    ],
)
def test_a_key_given_twice_in_one_object_is_refused(
    ram: Ram, tmp_path: Path, name: str, text: str, key: str
) -> None:
    ram.ok("apply", str(ORG_FILE), "--yes")
    before = dump(ram.url)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = ram.fails("apply", str(path), "--yes", code="InvalidParameter.OrganisationFile")
    assert f"duplicate key '{key}'" in result.stderr and result.stderr.count("\n") == 1
    assert dump(ram.url) == before


def test_yaml_merge_keys_still_override_what_they_merge(ram: Ram, tmp_path: Path) -> None:
    # `<<: *base` then a key of the mapping's own is how YAML overrides a merged value: not a duplicate.
    text = (
        "Users:\n  - &base {UserName: first, DisplayName: Base, Comments: shared}\n"
        "  - <<: *base\n    UserName: merged\n    DisplayName: Own\n"
    )
    path = tmp_path / "org.yaml"
    path.write_text(text, encoding="utf-8")
    ram.ok("apply", str(path), "--yes")
    merged = ram.service.get_user(ram.account_id, "merged")
    assert (merged.display_name, merged.comments) == ("Own", "shared")


_HUGE = "g" * 100_000


@pytest.mark.parametrize(
    "org",
    [
        {"Users": [{"UserName": "u", "Groups": [_HUGE]}]},
        {"Users": [{"UserName": "u", "Policies": [{"PolicyName": _HUGE}]}]},
        {"Groups": [{"GroupName": "g", "Policies": [{"PolicyType": "System", "PolicyName": _HUGE}]}]},
        {"Users": [{"UserName": "u", _HUGE: True}]},
        {_HUGE: []},
    ],
)
def test_a_giant_name_in_the_file_is_refused_without_echoing_it(
    ram: Ram, tmp_path: Path, org: object
) -> None:
    # Each of these printed the whole 100,000 characters back on stderr.
    result = ram.fails("apply", write_json(tmp_path / "org.json", org), "--yes",
                       code="InvalidParameter.OrganisationFile")  # fmt: skip
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 500, result.stderr[:300]
    assert ram.service.list_users(ram.account_id).items == ()


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["--store", "postgresql://ram@[::1/ram", "users", "list"], {}, "InvalidParameter.StoreUrl"),
        (["--store", "postgresql://ram@[::1/ram", "init"], {}, "InvalidParameter.StoreUrl"),
        (["users", "list"], {"RAM_GUARD_URL": "redis://[::1:6379/0"}, "InvalidParameter.GuardUrl"),
    ],
)
def test_a_store_or_guard_url_with_an_unclosed_ipv6_bracket_is_one_line(
    ram: Ram, tmp_path: Path, args: list[str], env: dict[str, str], code: str
) -> None:
    # urlsplit's ValueError ("Invalid IPv6 URL") ended the command with a traceback.
    shared = {"RAM_MASTER_KEY": generate_key(), "RAM_GUARD_URL": f"sqlite:///{tmp_path}/guard.db"}
    ram.env = {**ram.env, **shared, **env}
    result = ram.runner.invoke(main, ["--store", ram.url, *args], env=ram.env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith(f"Error: {code}: ") and result.stderr.count("\n") == 1, result.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["apply", "{huge}", "--dry-run"], "InvalidParameter.OrganisationFile"),
        (["policies", "validate", "{huge}"], "InvalidParameter.PolicyDocument.Length"),
        (["policies", "create", "P", "--document", "{huge}"], "InvalidParameter.PolicyDocument.Length"),
        (["roles", "create", "R", "--trust", "{huge}"], "InvalidParameter.PolicyDocument.Length"),
    ],
)
def test_a_file_of_gigabytes_is_refused_in_one_line_without_reading_it_whole(
    ram: Ram, tmp_path: Path, args: list[str], code: str
) -> None:
    # A log or a disk image given by mistake was read whole into memory: a MemoryError traceback, or the
    # machine's memory gone. A process of its own, its memory capped, so that the test cannot take the host's.
    huge = tmp_path / "huge.json"
    with huge.open("wb") as sparse:
        sparse.truncate(2 * 1024**3)
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    command = [sys.executable, "-m", "ram_middleware.cli", "--store", ram.url]
    command += [arg.replace("{huge}", str(huge)) for arg in args]

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=cap_memory, check=False)  # fmt: skip
    assert done.returncode == 1, done.stderr[-500:]
    assert done.stderr.startswith(f"Error: {code}: ") and done.stderr.count("\n") == 1, done.stderr[-500:]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("Users: [\n", "line 2, column 1"),
        ("Users:\n  - UserName: a\n   Groups: [HR]\n", "line 3, column 4"),
        ("Users:\n  - {UserName: a\n", "line 3, column 1"),
    ],
)
def test_a_yaml_syntax_error_is_one_line_naming_its_line(
    ram: Ram, tmp_path: Path, text: str, where: str
) -> None:
    # PyYAML's message ran over four lines and placed the error "in '<unicode string>'".
    path = tmp_path / "org.yaml"
    path.write_text(text, encoding="utf-8")
    result = ram.fails("apply", str(path), "--yes", code="InvalidParameter.OrganisationFile")
    assert result.stderr.count("\n") == 1 and "<unicode string>" not in result.stderr, result.stderr
    assert "not valid YAML: " in result.stderr and f"({where})" in result.stderr, result.stderr


def test_init_refuses_a_memory_store_whose_account_and_key_would_vanish_with_it() -> None:
    # It printed an account, an admin and an AccessKey "to store now" that ended with the command.
    result = CliRunner().invoke(main, ["--store", "memory://", "init"], env=CLEAN_ENV)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: InvalidParameter.StoreUrl: ") and result.stderr.count("\n") == 1
    assert "sqlite:///" in result.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"Users": [{"UserName": "a", "Email": "a@"}]}',
            "Users[0].Email: Email is not a valid e-mail address.",
        ),
        (
            '{"Users": [{"UserName": "a", "Groups": ["Ghosts"]}]}',
            "Users[0].Groups[0]: group 'Ghosts' is neither",
        ),
        ('{"Users": [}', "not valid JSON: Expecting value: line 1 column 12"),
    ],
)
def test_a_file_error_names_the_file(ram: Ram, tmp_path: Path, text: str, problem: str) -> None:
    # Applied from a script among several files, the error said what was wrong and where, but not in which.
    path = tmp_path / "department-7.json"
    path.write_text(text, encoding="utf-8")
    result = ram.fails("apply", str(path), "--yes", code="InvalidParameter.OrganisationFile")
    assert result.stderr.startswith(f"Error: InvalidParameter.OrganisationFile: department-7.json: {problem}")


def test_export_writes_what_apply_reads_for_the_file_name_it_is_given(ram: Ram, tmp_path: Path) -> None:
    # `--format yaml -o org.json` wrote YAML that `ram apply org.json` then refused as "not valid JSON".
    ram.ok("apply", str(ORG_FILE), "--yes")
    refused = ram.fails(
        "export", "--format", "yaml", "-o", str(tmp_path / "org.json"), code="InvalidParameter.Output"
    )
    assert refused.stderr.count("\n") == 1 and not (tmp_path / "org.json").exists()
    # The name's suffix chooses the format when --format is not given.
    ram.ok("export", "-o", str(tmp_path / "org.yaml"))
    assert (tmp_path / "org.yaml").read_text(encoding="utf-8").startswith("Account:\n")
    assert ram.json("apply", str(tmp_path / "org.yaml"), "--yes") == {"Plan": [], "Applied": []}
