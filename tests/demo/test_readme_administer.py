"""The README's "Administer it" commands, run one after another as a reader types them into a new directory.

Each line of the block may hold several commands (set apart by four spaces) and a comment; ``ram serve`` is
left out (serving is other tests' part). Prompts get what a reader would type: ``y`` for the plan, a
password twice, and for ``ram mfa enable`` two codes of the key it prints.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pyotp
import pytest

from tests.readme import ROOT, readme_blocks, run_shell, shell_command, shell_env

HEADING = "Administer it"
PASSWORD = "Readme-Passw0rd!"
POLICY = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "notes:GetNote", "Resource": "*"}]}'
# What a reader types at the prompts of the commands that start so.
TYPED = {
    "ram apply ": "y\n",
    "ram users enable-console ": f"{PASSWORD}\n{PASSWORD}\n",
    "ram users set-password ": f"{PASSWORD}\n{PASSWORD}\n",
}


def _commands() -> list[str]:
    (block,) = readme_blocks(HEADING, "")
    lines = re.sub(r"\\\n\s*", " ", block).splitlines()
    uncommented = [re.split(r"\s+#\s", line, maxsplit=1)[0] for line in lines]
    return [command for line in uncommented for command in re.split(r"\s{4,}", line.strip()) if command]


def _enable_mfa(command: str, cwd: Path) -> str:
    """Run ``ram mfa enable`` and answer its two prompts with the codes of the key it printed."""
    with subprocess.Popen(
        shell_command(command), cwd=cwd, env=shell_env(), text=True, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        printed = ""
        while "by hand:" not in printed and (line := process.stdout.readline()):
            printed += line
        seed = re.search(r"by hand: (\w+)", printed)
        assert seed is not None, printed + process.stderr.read() if process.stderr else printed
        totp, now = pyotp.TOTP(seed[1]), time.time()
        out, err = process.communicate(f"{totp.at(now)}\n{totp.at(now + 30)}\n", timeout=60)
    assert process.returncode == 0, f"{command}\nfailed: {err}"
    return printed + out


@pytest.mark.slow  # a new process per command
def test_the_administer_commands_run_as_printed(tmp_path: Path) -> None:
    commands = _commands()
    assert commands[0] == "ram init --alias company-x --json" and len(commands) > 12, commands
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # `ram apply examples/…` from the checkout
    (tmp_path / "FILE").write_text(POLICY)  # `ram policies validate FILE`
    printed: dict[str, str] = {}
    for command in commands:
        if command.startswith("ram serve "):
            continue
        if command.startswith("ram mfa enable "):
            printed[command] = _enable_mfa(command, tmp_path)
            continue
        answer = next((text for start, text in TYPED.items() if command.startswith(start)), None)
        printed[command] = run_shell(command, tmp_path, input=answer)
    simulate = next(out for command, out in printed.items() if command.startswith("ram simulate "))
    assert "ImplicitDeny" in simulate and "IpAddress acs:SourceIp observed 198.51.100.7" in simulate
    assert "Users:" in (tmp_path / "org.yaml").read_text()
    assume = next(out for command, out in printed.items() if command.startswith("ram assume-role "))
    assert "assumed-role/OSSReader/contractor-1" in assume and "SecurityToken" in assume


def test_a_console_password_for_the_wrong_user_is_refused_before_it_is_typed(tmp_path: Path) -> None:
    # The README once gave `enable-console` a user `ram apply` had already given a logon: the reader typed a
    # password twice to learn that. Nothing is asked for when the answer is known already.
    run_shell("ram init && ram users create B && ram users enable-console B --password " + PASSWORD, tmp_path)
    refusals = {
        "ram users enable-console B": "EntityAlreadyExists.User.LoginProfile",
        "ram users enable-console nobody": "EntityNotExist.User",
        "ram users set-password admin": "EntityNotExist.User.LoginProfile",  # `ram init` gives none
    }
    for command, code in refusals.items():
        done = subprocess.run(
            shell_command(command), cwd=tmp_path, env=shell_env(), input="", capture_output=True, text=True
        )
        assert done.returncode == 1 and f"Error: {code}:" in done.stderr, (command, done.stderr)
        assert "Password" not in done.stderr, (command, done.stderr)
        if command == "ram users enable-console B":
            assert "ram users set-password B" in done.stderr  # what to run instead
