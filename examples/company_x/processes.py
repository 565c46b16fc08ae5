"""Child servers for the walkthrough: start on free loopback ports, wait until healthy, always stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["REPO_ROOT", "ServerFailed", "Servers", "clean_environment", "free_port", "ram_command"]

REPO_ROOT = Path(__file__).resolve().parents[2]
# Settings that would send the SDKs through a proxy or make them pick up someone else's credentials.
_FOREIGN = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_FOREIGN_PREFIXES = ("ALIBABA_CLOUD_", "ALIYUN_", "RAM_")


class ServerFailed(RuntimeError):
    """A server did not come up; the message carries the end of its log."""


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without proxies, cloud credentials or ``RAM_*`` settings."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN and not k.startswith(_FOREIGN_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra or {})
    return env


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ram_command(*args: str) -> list[str]:
    """``ram …`` run with this interpreter (works without the console script on PATH)."""
    return [sys.executable, "-m", "ram_middleware.cli", *args]


@dataclass
class _Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    health: str
    log: Path

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"


class Servers(AbstractContextManager["Servers"]):
    """Starts child servers and stops every one of them on exit — normal, error or Ctrl-C."""

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self.directory = directory
        self.env = dict(env)
        self._servers: dict[str, _Server] = {}

    def start(
        self, name: str, argv: Sequence[str], port: int, health: str, env: Mapping[str, str] | None = None
    ) -> None:
        """Launch ``argv`` (which must listen on ``port``); :meth:`wait` checks ``health``."""
        log = self.directory / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                list(argv),
                cwd=REPO_ROOT,
                env={**self.env, **(env or {})},
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._servers[name] = _Server(name, process, port, health, log)

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every server answers its health path with 200."""
        deadline = time.monotonic() + timeout
        for server in self._servers.values():
            while not self._healthy(server):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    tail = server.log.read_text(errors="replace")[-2000:]
                    raise ServerFailed(f"{server.name} did not start (log {server.log}):\n{tail}")
                time.sleep(0.05)

    @staticmethod
    def _healthy(server: _Server) -> bool:
        try:
            with urllib.request.urlopen(f"http://{server.endpoint}{server.health}", timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def endpoint(self, name: str) -> str:
        """``127.0.0.1:<port>`` of a started server."""
        return self._servers[name].endpoint

    def stop(self) -> None:
        """Terminate every server (SIGTERM, then SIGKILL after 5 s)."""
        for server in self._servers.values():
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in self._servers.values():
            try:
                server.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=5)
        self._servers.clear()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
