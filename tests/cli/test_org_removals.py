"""What ``ram apply`` does with what the file no longer names: it keeps it, and says so."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import ORG_FILE, Ram, write_json


def test_apply_keeps_users_groups_policies_and_roles_the_file_no_longer_names_and_says_so(
    ram: Ram, tmp_path: Path
) -> None:
    # An operator who took C, OandM, the custom policy and the role out of the file read "already
    # matches", as if they were gone; they were all still there, C still able to log on.
    ram.ok("apply", str(ORG_FILE), "--yes")
    org = json.loads(ORG_FILE.read_text(encoding="utf-8"))
    org["Users"] = [u for u in org["Users"] if u["UserName"] != "C"]
    org["Users"] = [{**u, "Groups": [g for g in u["Groups"] if g != "OandM"]} for u in org["Users"]]
    org["Groups"] = [g for g in org["Groups"] if g["GroupName"] not in ("OandM", "RnD")]
    org["Users"] = [{**u, "Groups": [g for g in u["Groups"] if g != "RnD"]} for u in org["Users"]]
    del org["Policies"], org["Roles"]
    path = write_json(tmp_path / "smaller.json", org)
    result = ram.ok("apply", path, "--yes")
    assert (
        "Not in smaller.json, so left as they are (apply never deletes): user C, group OandM, group RnD, "
        "policy RnDOSSOfficeNetworkWorkingHours, role OSSReader.\n"
    ) in result.stderr
    assert ram.service.get_user(ram.account_id, "C").user_name == "C"
    again = ram.ok("apply", path, "--yes")
    assert again.stdout.startswith("Nothing to change: ")
    assert "so left as they are (apply never deletes): user C, group OandM" in again.stderr


def test_apply_names_at_most_ten_of_what_it_leaves(ram: Ram, tmp_path: Path) -> None:
    for index in range(12):
        ram.ok("users", "create", f"extra{index:02d}")
    result = ram.ok("apply", write_json(tmp_path / "empty.json", {}), "--yes")
    assert "(apply never deletes): user extra00, " in result.stderr
    assert "user extra09 and 2 more.\n" in result.stderr
