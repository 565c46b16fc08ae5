"""``ram rotate-master-key``: the README's rotation, run from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ram_middleware.cli import main
from ram_middleware.crypto import generate_key
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from ram_middleware.store.cache import Directory

from .conftest import CLEAN_ENV


def _ram(url: str, keys: list[str], *args: str) -> tuple[int, str]:
    env = {**CLEAN_ENV, "RAM_MASTER_KEY": ",".join(keys)}
    result = CliRunner().invoke(main, ["--store", url, *args], env=env)
    return result.exit_code, result.output


def test_rotation_from_the_command_line_lets_the_new_key_alone_open_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    old, new = generate_key(), generate_key()
    store = open_store(url, master_keys=[old])
    service = RamService(store)
    account = service.create_account().account_id
    service.create_user(account, "app")
    created = service.create_access_key(account, "app")
    service.create_virtual_mfa_device(account, "phone")
    store.close()

    assert _ram(url, [new, old], "rotate-master-key") == (
        0,
        "Re-encrypted 2 AccessKey secrets and TOTP seeds under the first master key.\n",
    )
    assert _ram(url, [new, old], "rotate-master-key", "--json") == (0, '{"ReEncrypted": 0}\n')
    only_new = open_store(url, master_keys=[new])
    try:
        found = Directory(only_new).signing_key(created.key.access_key_id)
        assert found is not None and found.secret == created.secret
    finally:
        only_new.close()
    code, output = _ram(url, [old], "rotate-master-key")  # the old key alone opens nothing any more
    assert code == 1 and "ServiceUnavailable.MasterKey" in output and old not in output
