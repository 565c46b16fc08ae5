"""A writer process killed (SIGKILL) at random moments, again and again, in the middle of the writes an
administrator makes (``ram apply`` of an organisation, bursts of CreateUser, password changes, MFA binding):
after each kill the SQLite file is intact and every write is there whole or not at all."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from ram_middleware.credentials.password import verify_password
from ram_middleware.service import RamService
from ram_middleware.store import open_store
from tests.scaleout.cluster import REPO, instance_env

from .test_store_unopenable import KEY

USERS_PER_ORG = 200  # its apply is one transaction of ~70 ms, as long as a password's hashing

# Prints each write once it returned (committed); the kill may land anywhere, a print included.
_WRITER = """
import sys
from datetime import UTC, datetime
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.organisation import apply
from ram_middleware.service import RamService
from ram_middleware.store import open_store
url, key, main, run, password, users = sys.argv[1:7]
svc = RamService(open_store(url, master_keys=[key], env={}))
org = {"Users": [{"UserName": f"u{n}", "Groups": ["G"], "AccessKey": True} for n in range(int(users))],
       "Groups": [{"GroupName": "G"}]}
print("ready", flush=True)
for i in range(1000):
    tag = f"r{run}i{i}"
    account = svc.create_account().account_id
    print("org", account, flush=True)
    apply(svc, account, org)
    for n in range(3):
        svc.create_user(main, f"b{tag}n{n}")
        print("user", f"b{tag}n{n}", flush=True)
    print("password", f"{password}{tag}", flush=True)
    svc.update_login_profile(main, "pw", password=f"{password}{tag}")
    print("changed", f"{password}{tag}", flush=True)
    svc.create_user(main, f"m{tag}")
    device = svc.create_virtual_mfa_device(main, f"d{tag}")
    step, seed = time_step(datetime.now(UTC)), device.base32_seed
    codes = code_at(seed, step - 1), code_at(seed, step)
    svc.bind_mfa_device(main, device.device.serial_number, f"m{tag}", *codes)
    print("bound", f"d{tag}", flush=True)
"""


@dataclass
class Seen:
    """What the killed writers said: started and finished orgs, made users, passwords, bound devices."""

    orgs: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    passwords: list[str] = field(default_factory=lambda: ["Passw0rd!start"])
    changed: str = "Passw0rd!start"
    bound: set[str] = field(default_factory=set)

    def read(self, lines: list[str]) -> None:
        for kind, value in (line.split() for line in lines if line.strip()):
            if kind == "org":
                self.orgs.add(value)
            elif kind == "user":
                self.users.add(value)
            elif kind == "password":
                self.passwords.append(value)
            elif kind == "changed":
                self.changed = value
            elif kind == "bound":
                self.bound.add(value)


def writers_account(url: str) -> str:
    """A new account of the store at ``url`` with what :func:`start_writer` needs; its AccountId."""
    store = open_store(url, master_keys=[KEY], env={})
    try:
        svc = RamService(store)
        main = svc.create_account().account_id
        svc.create_user(main, "pw")
        svc.create_login_profile(main, "pw", "Passw0rd!start")
    finally:
        store.close()
    return main


def start_writer(url: str, main: str, run: int) -> subprocess.Popen[str]:
    """A process writing to the store at ``url`` (master key :data:`KEY`) until killed; ``main`` must have a
    user ``pw`` with a console password. Returns once it has opened the store."""
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, url, KEY, main, str(run), "Passw0rd!", str(USERS_PER_ORG)],
        cwd=REPO, env=instance_env(url, "memory://"), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
    except BaseException:
        child.kill()
        child.wait(10)
        raise
    return child


def _kill_at_random(url: str, main: str, run: int, rng: random.Random) -> list[str]:
    """Run a writer, kill it at a random moment of its first round or two, and return what it printed."""
    child = start_writer(url, main, run)
    assert child.stdout is not None
    try:
        time.sleep(rng.uniform(0.0, 0.4))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    return child.stdout.readlines()


def _check(path: Path, url: str, main: str, seen: Seen) -> None:
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        users = {
            row[0] for row in raw.execute("SELECT user_name FROM ram_users WHERE account_id = ?", (main,))
        }
        per_org = dict(
            raw.execute("SELECT account_id, count(*) FROM ram_users GROUP BY account_id").fetchall()
        )
        keys = dict(
            raw.execute("SELECT account_id, count(*) FROM ram_access_keys GROUP BY account_id").fetchall()
        )
        joined = dict(
            raw.execute(
                "SELECT g.account_id, count(*) FROM ram_memberships m JOIN ram_groups g USING (group_id) "
                "GROUP BY g.account_id"
            ).fetchall()
        )
        bound = {
            row[0]
            for row in raw.execute("SELECT device_name FROM ram_mfa_devices WHERE bound_subject IS NOT NULL")
        }
    for org in seen.orgs:  # an organisation applied whole or not at all
        assert (per_org.get(org, 0), keys.get(org, 0), joined.get(org, 0)) in {
            (0, 0, 0),
            (USERS_PER_ORG,) * 3,
        }
    assert seen.users <= users
    assert seen.bound <= bound
    store = open_store(url, master_keys=[KEY], env={})
    try:
        with store.read() as repo:
            profile = repo.get_login_profile(main, RamService(store).get_user(main, "pw").user_id)
        assert profile is not None
        # The last change confirmed, or the one the kill interrupted (which may have committed).
        assert any(verify_password(profile.password_hash, p) for p in {seen.changed, seen.passwords[-1]})
    finally:
        store.close()


def test_writers_killed_at_random_moments_leave_every_write_whole_or_absent(tmp_path: Path) -> None:
    path = tmp_path / "ram.db"
    url = f"sqlite:///{path}"
    main = writers_account(url)
    rng = random.Random(7)
    seen = Seen()
    for run in range(6):
        seen.read(_kill_at_random(url, main, run, rng))
        _check(path, url, main, seen)
    assert seen.orgs and seen.users  # the kills did land among the writes
