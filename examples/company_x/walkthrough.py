"""``python -m examples.company_x walkthrough``: Company X's six steps, replayed with real signed requests.

It creates a temporary directory with a SQLite store, runs ``ram init``, starts ``ram serve`` (the RAM and
STS APIs) and the demo server (:mod:`.server`) on free 127.0.0.1 ports, then tells the story step by step.
Administrators work through the RAM API with the official SDK; employees, the application and a contractor
call the demo APIs with aliyun-python-sdk-core and oss2. The account owner's own actions (binding the root's
MFA device) use the store directly, as the owner's console would. Both servers are stopped on exit, also on
Ctrl-C or an error. Exit status: 0 when every decision was the expected one.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from ram_middleware.organisation import load_organisation
from ram_middleware.service import RamService
from ram_middleware.store import open_store

from . import story
from .callers import Identity
from .narrator import AuditLog, Narrator
from .processes import ServerFailed, Servers, clean_environment, free_port, ram_command

__all__ = ["Demo", "run"]

ORG_FILE = Path(__file__).with_name("organisation.json")


@dataclass
class Demo:
    """Everything the steps share: endpoints, audit logs, the people and their keys, the demo clock."""

    workdir: Path
    account_id: str
    admin: Identity
    ram_endpoint: str
    demo_endpoint: str
    api_audit: AuditLog
    demo_audit: AuditLog
    clock_file: Path
    owner: RamService
    narrator: Narrator
    org: dict[str, Any]
    people: dict[str, Identity] = field(default_factory=dict)
    when: str = "now"

    def arn(self, relative: str) -> str:
        return f"acs:ram::{self.account_id}:{relative}"

    def set_clock(self, iso_time: str, label: str) -> None:
        """Demo only: the time the demo server's policy conditions see (``acs:CurrentTime``)."""
        self.clock_file.write_text(iso_time, encoding="utf-8")
        self.when = label


def _initialise(store_url: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        ram_command("--store", store_url, "--json", "init", "--alias", "company-x"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ServerFailed(f"ram init failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _start(workdir: Path, servers: Servers, store_url: str) -> tuple[str, str]:
    api_port, demo_port = free_port(), free_port()
    servers.start(
        "ram-serve",
        ram_command(
            "--store",
            store_url,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
            "--log-level",
            "warning",
        ),
        api_port,
        "/healthz",
        # Each event written at once: the narrator quotes it right after the call.
        env={"RAM_AUDIT": str(workdir / "ram-api-audit.jsonl"), "RAM_AUDIT_FLUSH_INTERVAL": "0"},
    )
    servers.start(
        "demo-server",
        [
            sys.executable,
            "-m",
            "examples.company_x",
            "serve",
            "--store",
            store_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(demo_port),
            "--trusted-proxy",
            "127.0.0.1",
            "--clock-file",
            str(workdir / "clock"),
            "--audit",
            str(workdir / "demo-audit.jsonl"),
        ],
        demo_port,
        "/health",
    )
    servers.wait()
    return servers.endpoint("ram-serve"), servers.endpoint("demo-server")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(*, keep: bool = False) -> int:
    """Tell the story; 0 when every decision was the expected one, 1 otherwise, 130 when interrupted."""
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="company-x-"))
    store_url = f"sqlite:///{workdir / 'ram.db'}"
    env = clean_environment()
    narrator = Narrator()
    # Ctrl-C and SIGTERM both unwind through the `finally`s that stop the servers (SIGINT is handled
    # explicitly: a shell starting us in the background would otherwise have it ignored).
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"Company X walkthrough: store {store_url}", flush=True)
        created = _initialise(store_url, env)
        with Servers(workdir, env) as servers:
            ram_endpoint, demo_endpoint = _start(workdir, servers, store_url)
            print(
                f"RAM/STS API (ram serve) on http://{ram_endpoint}/, demo APIs on http://{demo_endpoint}/",
                flush=True,
            )
            demo = Demo(
                workdir,
                created["AccountId"],
                Identity("admin", created["AccessKeyId"], created["AccessKeySecret"]),
                ram_endpoint,
                demo_endpoint,
                AuditLog(workdir / "ram-api-audit.jsonl"),
                AuditLog(workdir / "demo-audit.jsonl"),
                workdir / "clock",
                RamService(open_store(store_url)),
                narrator,
                load_organisation(ORG_FILE),
            )
            try:
                story.tell(demo)
            finally:
                demo.owner.directory.close()
                demo.owner.store.close()
    except KeyboardInterrupt:
        print("\nInterrupted: servers stopped.", file=sys.stderr)
        return 130
    except ServerFailed as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return _summary(narrator, time.monotonic() - started)


def _summary(narrator: Narrator, seconds: float) -> int:
    print(f"\n== The end {'=' * 89}")
    if narrator.surprises:
        print(f"{len(narrator.surprises)} of {narrator.requests} decisions were NOT as expected:")
        for note in narrator.surprises:
            print(f"  - {note}")
        print(f"Walkthrough finished in {seconds:.1f} s with surprises.")
        return 1
    print(f"{narrator.requests} signed requests, each decided as expected. Finished in {seconds:.1f} s.")
    return 0
