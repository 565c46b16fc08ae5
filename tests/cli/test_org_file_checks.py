"""What ``ram apply`` makes of an organisation file an operator got wrong: refused whole, in one line, before
anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ram_middleware.cli import main
from ram_middleware.crypto import generate_key

from .conftest import ORG_FILE, Ram, dump, write_json

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
