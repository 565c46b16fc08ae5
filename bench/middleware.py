"""What the ASGI middleware costs: in-process per request, and requests/s under uvicorn.

Setup (both parts): Company X on a SQLite store in a temporary directory (groups O&M and R&D with their
system policies, a custom Deny, and the R&D "OSS from the office network during the date range" policy
with IpAddress and Date conditions); user dave is in both groups and calls ``GET
/buckets/rnd-bucket/objects/{key}`` (``oss:GetObject`` on ``acs:oss:*:{account}:rnd-bucket/{key}``),
allowed through the conditional policy. Replay guard: memory; audit: JSON lines to a file. Requests are
RPC v1-signed up front in a batch with fresh nonces; signing is never timed.

1. In-process: each pre-built ASGI scope is sent through a trivial Starlette endpoint with and without
   the middleware; median per-request time of each, and the difference (target < 40 µs). Also shown:
   the same with the decision forced onto a worker thread (``offload=True``).
2. uvicorn: the bare and the protected app each in its own server process on 127.0.0.1 (one worker, the
   same uvicorn options: h11, asyncio loop), driven by a raw asyncio HTTP/1.1 keep-alive client in this
   process for a bounded time. Rounds alternate between the sides (after a warm-up) and in each round both
   receive the very same freshly signed requests. Requests/s of each, the server's CPU time per request
   (from /proc), and the median over the rounds of the ratio protected/bare (target >= 0.8).

Run from the repo root: ``python bench/middleware.py`` (``--time-check`` also prints the medians of
``Authorizer.check`` and ``authenticate`` measured inside the protected server). Last line:
``RESULT overhead_median_us=<float> uvicorn_ratio=<float>``.

``--bound auth`` / ``--bound check`` measure an upper bound instead: what both figures would be if
authentication (``Authenticator.authenticate``), or the whole check (authentication, decision, audit event),
cost nothing, by answering every call with the first call's result. The last line is then
``BOUND <what> overhead_median_us=<float> uvicorn_ratio=<float>``, never a RESULT line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ram_middleware.adapters.starlette import RAMMiddleware, ram_route
from ram_middleware.client import RequestSigner
from ram_middleware.config import Ram, RamConfig, build
from ram_middleware.facts import RequestFacts
from ram_middleware.routes import declared_rule

# One process on each side: the start-up warning about a memory guard beside a SQLite store that several
# workers share does not apply, and would only clutter the figures.
logging.getLogger("ram_middleware.deployment").setLevel(logging.ERROR)

IN_PROCESS_N = 20_000
WARM_UP = 1_000
UVICORN_SECONDS = 5.0
UVICORN_ROUNDS = 3
WARM_UP_SECONDS = 1.0
POOL_PER_ROUND = 80_000  # more than either side serves in a round (checked: a dry pool fails the run)
CONNECTIONS = 16
# Identical on both sides. h11 is named explicitly (httptools would be picked when installed).
UVICORN_OPTIONS = {
    "host": "127.0.0.1", "http": "h11", "loop": "asyncio", "log_level": "warning", "access_log": False,
    "lifespan": "off",
}  # fmt: skip
PEER = "203.0.113.7"
PATH = "/buckets/rnd-bucket/objects/{key:path}"

COMPANY_POLICIES = {
    "DenyProtected": {
        "Version": "1",
        "Statement": [
            {"Effect": "Deny", "Action": "ecs:DeleteInstance", "Resource": "acs:ecs:*:*:instance/i-protected"}
        ],
    },
    "RnDOSSOffice": {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["oss:*"],
                "Resource": ["acs:oss:*:*:rnd-bucket", "acs:oss:*:*:rnd-bucket/*"],
                "Condition": {
                    # 127.0.0.0/8 stands for the office network in the uvicorn part (loopback only).
                    "IpAddress": {"acs:SourceIp": ["203.0.113.0/24", "10.0.0.0/8", "127.0.0.0/8"]},
                    "DateGreaterThanEquals": {"acs:CurrentTime": "2020-01-01T00:00:00Z"},
                    "DateLessThanEquals": {"acs:CurrentTime": "2099-12-31T23:59:59Z"},
                },
            }
        ],
    },
}
ATTACHMENTS = [
    ("System", "AliyunECSFullAccess", "OM"),
    ("System", "AliyunRDSFullAccess", "OM"),
    ("Custom", "DenyProtected", "OM"),
    ("System", "AliyunECSReadOnlyAccess", "RnD"),
    ("System", "AliyunRDSReadOnlyAccess", "RnD"),
    ("Custom", "RnDOSSOffice", "RnD"),
]


def config_for(directory: Path) -> RamConfig:
    return RamConfig(
        store_url=f"sqlite:///{directory}/ram.db",
        guard_url="memory://",
        audit=str(directory / "audit.jsonl"),
    )


def provision(directory: Path) -> tuple[str, str]:
    """Company X in a fresh store; returns dave's AccessKeyId and secret."""
    ram = build(config_for(directory))
    try:
        service = ram.service
        account = service.create_account().account_id
        for group in ("OM", "RnD", "HR"):
            service.create_group(account, group)
        for name, document in COMPANY_POLICIES.items():
            service.create_policy(account, name, json.dumps(document))
        for policy_type, policy, group in ATTACHMENTS:
            service.attach_policy_to_group(account, policy_type, policy, group)
        service.create_user(account, "dave")
        for group in ("OM", "RnD"):
            service.add_user_to_group(account, group, "dave")
        key = service.create_access_key(account, "dave")
        return key.key.access_key_id, key.secret
    finally:
        ram.close()


@ram_route("oss:GetObject", "acs:oss:*:{account}:rnd-bucket/{key}")
async def get_object(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def make_app(ram: Ram | None, **options: Any) -> Starlette:
    app = Starlette(routes=[Route(PATH, get_object)])
    if ram is not None:
        app.add_middleware(RAMMiddleware, ram=ram, **options)
    return app


def signed_targets(access_key_id: str, secret: str, count: int, host: str) -> list[str]:
    """``count`` request targets (path?query), RPC v1-signed with fresh nonces."""
    signer = RequestSigner(access_key_id, secret, scheme="v1")
    targets = []
    for i in range(count):
        url = f"http://{host}/buckets/rnd-bucket/objects/reports/{i % 97}.txt"
        targets.append(signer.sign("GET", url, [], b"").url.split(host, 1)[1])
    return targets


# --- 1. in-process ------------------------------------------------------------------------------------------


def _scope(target: str) -> dict[str, Any]:
    path, _, query = target.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver"), (b"user-agent", b"bench")], "client": (PEER, 50000),
        "server": ("testserver", 80),
    }  # fmt: skip


async def _timed(app: Any, targets: list[str]) -> list[int]:
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scopes = [_scope(target) for target in targets]
    clock = time.perf_counter_ns
    timings = []
    for scope in scopes:
        start = clock()
        await app(scope, receive, send)
        timings.append(clock() - start)
    if any(code != 200 for code in status):
        raise SystemExit(f"in-process: {sum(code != 200 for code in status)} requests were not allowed")
    return timings


def apply_bound(ram: Ram, bound: str | None) -> None:
    """``--bound``: replace ``authenticate`` or ``check`` by a function that returns the first result."""
    if bound is None:
        return
    owner: Any = ram.authenticator if bound == "auth" else ram.authorizer
    name = "authenticate" if bound == "auth" else "check"
    call, first = getattr(owner, name), []

    def free(*args: Any) -> Any:
        if not first:
            first.append(call(*args))
        return first[0]

    setattr(owner, name, free)


def in_process(
    directory: Path, access_key_id: str, secret: str, bound: str | None = None
) -> tuple[float, float, float]:
    """Median µs per request: bare, protected (inline), protected (offloaded to a thread)."""
    ram = build(config_for(directory))
    apply_bound(ram, bound)
    try:
        bare, inline = make_app(None), make_app(ram)
        offloaded = make_app(ram, offload=True)
        targets = signed_targets(access_key_id, secret, 3 * (IN_PROCESS_N + WARM_UP), "testserver")
        per_side = IN_PROCESS_N + WARM_UP

        async def measure() -> list[list[int]]:
            results: list[list[int]] = [[], [], []]
            # Interleave the three in blocks so drift (frequency scaling, GC) hits them alike.
            blocks = 10
            size = per_side // blocks
            for block in range(blocks):
                for index, app in enumerate((bare, inline, offloaded)):
                    start = (index * per_side) + block * size
                    results[index] += await _timed(app, targets[start : start + size])
            return results

        bare_ns, inline_ns, offload_ns = asyncio.run(measure())
        return tuple(statistics.median(t[WARM_UP:]) / 1000 for t in (bare_ns, inline_ns, offload_ns))  # type: ignore[return-value]
    finally:
        ram.close()


def breakdown(directory: Path, access_key_id: str, secret: str) -> dict[str, float]:
    """Median µs of the parts, each on fresh signed requests: facts, authenticate, the whole check."""
    ram = build(config_for(directory))
    rule, params = declared_rule(get_object), {"key": "reports/1.txt"}
    clock = time.perf_counter_ns

    def median_of(call: Any, count: int = 5_000) -> float:
        facts = [
            RequestFacts.from_asgi(_scope(t))
            for t in signed_targets(access_key_id, secret, count, "testserver")
        ]
        timings = []
        for item in facts:
            start = clock()
            call(item)
            timings.append(clock() - start)
        return statistics.median(timings[500:]) / 1000

    try:
        scopes = [_scope(t) for t in signed_targets(access_key_id, secret, 5_000, "testserver")]
        timings = []
        for scope in scopes:
            start = clock()
            RequestFacts.from_asgi(scope)
            timings.append(clock() - start)
        return {
            "facts": statistics.median(timings[500:]) / 1000,
            "authenticate": median_of(ram.authenticator.authenticate),
            "check": median_of(lambda facts: ram.authorizer.check(facts, rule, params)),
        }
    finally:
        ram.close()


# --- 2. uvicorn --------------------------------------------------------------------------------------------


def serve(side: str, port: int, directory: Path, time_check: bool = False, bound: str | None = None) -> None:
    """Subprocess entry: run the bare or protected app under uvicorn until terminated.

    ``time_check``: time every ``Authorizer.check`` and ``authenticate`` call inside the server and print
    their medians when it stops (what the in-process breakdown costs under load).
    """
    import uvicorn

    ram = build(config_for(directory)) if side == "protected" else None
    timings: dict[str, list[int]] = {"Authorizer.check": [], "of which authenticate": []}
    if ram is not None:
        apply_bound(ram, bound)
    if ram is not None and time_check:
        _time_calls(ram.authorizer, "check", timings["Authorizer.check"])
        _time_calls(ram.authenticator, "authenticate", timings["of which authenticate"])
    # uvicorn re-raises the SIGINT that stopped it (after a graceful shutdown): report, then exit.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(make_app(ram), **UVICORN_OPTIONS, port=port)  # type: ignore[arg-type]
    if time_check and timings["Authorizer.check"]:
        print(f"  inside the protected server (medians of {len(timings['Authorizer.check'])} calls, us):")
        for name, values in timings.items():
            print(f"    {name:26s} {statistics.median(values) / 1000:7.2f}")


def _time_calls(owner: Any, name: str, into: list[int]) -> None:
    """Wrap ``owner.name`` (an instance attribute now) so each call's duration is appended to ``into``."""
    call, clock = getattr(owner, name), time.perf_counter_ns

    def timed(*args: Any) -> Any:
        start = clock()
        try:
            return call(*args)
        finally:
            into.append(clock() - start)

    setattr(owner, name, timed)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the uvicorn subprocess exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("uvicorn did not start")


async def _connection(port: int, requests: list[bytes], deadline: float, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests and time.monotonic() < deadline:
            writer.write(requests.pop())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            counts["ok" if head.startswith(b"HTTP/1.1 200") else "failed"] += 1
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], seconds: float) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0}
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_connection(port, requests, deadline, counts) for _ in range(CONNECTIONS)))
    return counts


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), for server-side cost per request."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """One side (bare or protected) under uvicorn in its own process, kept running across rounds."""

    def __init__(
        self, side: str, directory: Path, time_check: bool = False, bound: str | None = None
    ) -> None:
        self.side = side
        self.port = _free_port()
        command = [
            sys.executable,
            __file__,
            "--serve",
            side,
            "--port",
            str(self.port),
            "--dir",
            str(directory),
            *(["--time-check"] if time_check else []),
            *(["--bound", bound] if bound else []),
        ]
        self.process = subprocess.Popen(command)
        _wait_for(self.port, self.process)

    def wire(self, targets: list[str]) -> list[bytes]:
        """The raw HTTP/1.1 requests for ``targets``, oldest signatures popped first."""
        host = f"127.0.0.1:{self.port}"
        wire = [f"GET {t} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n".encode() for t in targets]
        wire.reverse()
        return wire

    def run(self, targets: list[str], seconds: float) -> tuple[float, float]:
        """Drive the server for ``seconds``: (requests/s, server CPU µs per request)."""
        wire = self.wire(targets)
        cpu_before, started = _cpu_seconds(self.process.pid), time.monotonic()
        counts = asyncio.run(_load(self.port, wire, seconds))
        elapsed, cpu = time.monotonic() - started, _cpu_seconds(self.process.pid) - cpu_before
        if counts["failed"] or not wire:
            raise SystemExit(f"{self.side}: {counts['failed']} failed; the request pool ran dry: {not wire}")
        return counts["ok"] / elapsed, cpu / counts["ok"] * 1e6

    def stop(self) -> None:
        # SIGINT, not SIGTERM: uvicorn re-raises the signal that stopped it, and only SIGINT lets the
        # subprocess finish its own reporting (KeyboardInterrupt) instead of dying on the default handler.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def uvicorn_rounds(
    directory: Path, access_key_id: str, secret: str, time_check: bool = False, bound: str | None = None
) -> tuple[dict[str, list[tuple[float, float]]], list[float]]:
    """Alternate bare and protected for UVICORN_ROUNDS rounds; each round both sides get the same (freshly
    signed) requests. Returns the per-round (requests/s, CPU µs/request) of each side and the ratios."""
    pool = signed_targets(access_key_id, secret, POOL_PER_ROUND * (UVICORN_ROUNDS + 1), "127.0.0.1")
    rounds = [pool[i * POOL_PER_ROUND : (i + 1) * POOL_PER_ROUND] for i in range(UVICORN_ROUNDS + 1)]
    servers = [Server("bare", directory), Server("protected", directory, time_check, bound)]
    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "protected": []}
    try:
        for server in servers:  # warm-up round (its requests are spent)
            server.run(rounds[0], WARM_UP_SECONDS)
        for index in range(1, UVICORN_ROUNDS + 1):
            order = servers if index % 2 else servers[::-1]  # who goes first alternates too
            for server in order:
                runs[server.side].append(server.run(rounds[index], UVICORN_SECONDS))
    finally:
        for server in servers:
            server.stop()
    ratios = [p[0] / b[0] for b, p in zip(runs["bare"], runs["protected"], strict=True)]
    return runs, ratios


def _spread(values: list[float], spec: str) -> str:
    return " ".join(format(value, spec) for value in values)


def _offloaded(directory: Path) -> bool:
    """Whether the protected server hands decisions to a worker thread (not with in-process backends)."""
    ram = build(config_for(directory))
    try:
        return ram.blocking
    finally:
        ram.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--serve", choices=["bare", "protected"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--time-check",
        action="store_true",
        help="also time Authorizer.check inside the protected uvicorn server (slows that side a little)",
    )
    parser.add_argument(
        "--bound",
        choices=["auth", "check"],
        help="upper bound: authentication (auth) or the whole check (check) answered from its first result",
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.dir, args.time_check, args.bound)
        return
    with tempfile.TemporaryDirectory(prefix="ram-bench-") as tmp:
        directory = Path(tmp)
        os.environ.pop("RAM_MASTER_KEY", None)  # the store's key file is shared with the subprocess
        access_key_id, secret = provision(directory)
        bare_us, inline_us, offload_us = in_process(directory, access_key_id, secret, args.bound)
        overhead = inline_us - bare_us
        print(f"in-process ASGI, median of {IN_PROCESS_N} requests per variant (SQLite store, memory guard)")
        print(f"  bare Starlette endpoint:          {bare_us:8.2f} us")
        print(f"  with RAMMiddleware (inline):      {inline_us:8.2f} us  (+{overhead:.2f} us)")
        print(f"  with RAMMiddleware (offload=True): {offload_us:7.2f} us  (+{offload_us - bare_us:.2f} us)")
        if args.bound:
            freed = "authenticate" if args.bound == "auth" else "Authorizer.check"
            print(f"  UPPER BOUND: {freed} answered from its first result (costs nothing)")
        else:
            parts = breakdown(directory, access_key_id, secret)
            print("  where the inline overhead goes (medians of separate runs, us):")
            print(f"    RequestFacts.from_asgi       {parts['facts']:7.2f}")
            print(f"    Authorizer.check             {parts['check']:7.2f}")
            print(f"      of which authenticate      {parts['authenticate']:7.2f}")
            rest = overhead - parts["check"] - parts["facts"]
            print(f"    route match, scope, wrapping {rest:7.2f}  (the remainder)")
        runs, ratios = uvicorn_rounds(directory, access_key_id, secret, args.time_check, args.bound)
        ratio = statistics.median(ratios)
        print(
            f"uvicorn (1 worker, {UVICORN_OPTIONS['http']}, {UVICORN_OPTIONS['loop']} loop, same flags both "
            f"sides), {CONNECTIONS} keep-alive connections, {UVICORN_ROUNDS} alternating rounds of "
            f"{UVICORN_SECONDS:.0f} s per side; protected decisions run inline: {not _offloaded(directory)}"
        )
        for side, results in runs.items():
            rates = [rate for rate, _ in results]
            cpus = [cpu for _, cpu in results]
            print(
                f"  {side:9s}  {statistics.median(rates):7.0f} req/s (rounds: {_spread(rates, '.0f')})   "
                f"server CPU {statistics.median(cpus):6.1f} us/request (rounds: {_spread(cpus, '.1f')})"
            )
        cpu_ratio = statistics.median(c for _, c in runs["bare"]) / statistics.median(
            c for _, c in runs["protected"]
        )
        print(f"  ratio protected/bare: {ratio:.3f} (rounds: {_spread(ratios, '.3f')})")
        print(f"  server CPU per request bare/protected: {cpu_ratio:.3f}")
    head = f"BOUND {args.bound}" if args.bound else "RESULT"
    print(f"{head} overhead_median_us={overhead:.2f} uvicorn_ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
