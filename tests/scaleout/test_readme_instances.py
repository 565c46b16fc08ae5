"""The README's "Running several instances" setup, run as printed against the shared PostgreSQL and Redis.

The example's values become the machine's servers (a schema of its own, named in the URL the way the README
says, and a Redis key prefix) and fresh keys; the lines up to ``ram init`` run in bash. Serving two
instances is ``test_instances.py``'s part.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ram_middleware.crypto import generate_key
from tests.readme import readme_blocks, readme_section, run_shell

from .servers import SHARED_PG, pg_schema_url, redis_guard_url, require_shared_postgres

HEADING = "Running several instances"
SERVERS = ("uvicorn ", "ram serve ")  # started by other tests of this suite


def test_the_readme_setup_creates_the_account_in_a_shared_schema(tmp_path: Path) -> None:
    require_shared_postgres()
    option = re.search(r"\?options=-csearch_path%3D(\w+)", readme_section(HEADING))
    assert option is not None, "the README names the schema option"
    lines = readme_blocks(HEADING, "")[0].splitlines()
    assert all(line.startswith(("export ", "ram init", *SERVERS)) for line in lines), lines
    with pg_schema_url() as made, redis_guard_url() as guard:
        schema = made.rsplit("%3D", 1)[1]
        values = {
            "RAM_STORE_URL": SHARED_PG + option[0].replace(f"%3D{option[1]}", f"%3D{schema}"),
            "RAM_GUARD_URL": guard,
            "RAM_MASTER_KEY": generate_key(),
            "RAM_TOKEN_KEYS": generate_key(),
        }
        script = []
        for line in lines:
            name = line.removeprefix("export ").split("=", 1)[0]
            if name in values:
                script.append(f"export {name}={shlex.quote(values[name])}")
            elif not line.startswith(SERVERS):
                script.append(line)
        script.append("ram users list")  # a later command finds the account through the same variables
        printed = run_shell("\n".join(script), tmp_path)
    assert re.search(r"Account \d+ (\(.*\) )?created", printed), printed
    assert "Bootstrap administrator" in printed
    assert not list(tmp_path.iterdir())  # nothing fell back to a local SQLite file
