"""The README's demo: ``python -m examples.company_x walkthrough`` end to end, as a subprocess."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from examples.company_x.processes import clean_environment

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "examples.company_x", "walkthrough"]


def _closed(endpoints: list[str]) -> bool:
    for endpoint in endpoints:
        host, port = endpoint.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return False
        except OSError:
            continue
    return True


def _endpoints(output: str) -> list[str]:
    return re.findall(r"http://(127\.0\.0\.1:\d+)/", output)


def test_walkthrough_tells_the_six_steps_in_under_a_minute() -> None:
    started = time.monotonic()
    done = subprocess.run(
        COMMAND, cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=120
    )
    seconds = time.monotonic() - started
    print(f"walkthrough took {seconds:.1f} s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seconds < 60
    out = done.stdout
    for number in range(1, 7):
        assert f"== Step {number}: " in out
    key_lines = [
        "refused with InvalidAuthenticationCode (a code works once)",
        "AccessKeys of the root identity: none.",
        "Allowed by statement 0 of system policy AdministratorAccess (user admin)",
        "IpAddress acs:SourceIp observed 198.51.100.7",
        "mw:LocalTimeOfDay/Asia/Shanghai observed 2000",
        "Allowed by statement 0 of system policy AliyunRAMFullAccess (group HR)",
        "No statement allows ram:CreateUser",
        # The demo server is another process on the SQLite file: the story says how soon it feels a change.
        "the demo server, another process on the same SQLite file, feels a change within 0.5 s",
        "(DeleteConflict.User.AccessKey)",
        "(InvalidAccessKeyId.NotFound)",
        "The session policy does not allow it",
        "(Forbidden.RootAccessKey)",
        '"decision":"Rejected"',
        "each decided as expected",
    ]
    flat = " ".join(out.split())  # the story wraps its sentences
    for line in key_lines:
        assert line in flat, line
    assert "UNEXPECTED" not in out
    # The root's refusal is quoted from the audit log with the time it really happened, not the demo's
    # Tuesday (the audit events take the conditions' clock).
    quoted = json.loads(out.split("audit log: ", 1)[1].splitlines()[0])
    tried = datetime.fromisoformat(quoted["time"].replace("Z", "+00:00"))
    assert abs(tried - datetime.now(UTC)) < timedelta(minutes=5), quoted["time"]
    requests = int(re.search(r"(\d+) signed requests", out).group(1))  # type: ignore[union-attr]
    assert requests >= 60
    # Its servers are gone and its temporary directory removed.
    assert _closed(_endpoints(out))
    store = re.search(r"store sqlite:///(\S+)/ram\.db", out)
    assert store is not None and not Path(store.group(1)).exists()


def test_ctrl_c_stops_the_servers() -> None:
    child = subprocess.Popen(
        COMMAND, cwd=ROOT, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    seen = ""
    while "== Step 2" not in seen:
        line = child.stdout.readline()
        assert line, "the walkthrough ended early"
        seen += line
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130
    assert "Interrupted: servers stopped." in err
    assert _closed(_endpoints(seen))
