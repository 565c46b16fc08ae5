"""``python -m examples.company_x serve|walkthrough`` (run from the repository root)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m examples.company_x", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Serve the protected ECS/RDS/OSS demo APIs.")
    serve.add_argument("--store", default="sqlite:///ram.db", help="Store URL (default sqlite:///ram.db).")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8081)
    serve.add_argument(
        "--audit", default=None, help="Audit log: a file path, '-' for stderr (default: $RAM_AUDIT)."
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="CIDR",
        help="Believe X-Forwarded-For from this address (repeatable).",
    )
    serve.add_argument(
        "--clock-file",
        type=Path,
        default=None,
        help="DEMO ONLY: take acs:CurrentTime for policy conditions from this file (ISO 8601).",
    )
    walk = commands.add_parser("walkthrough", help="Replay Company X's six steps against live servers.")
    walk.add_argument("--keep", action="store_true", help="Keep the temporary directory (store, audit logs).")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from .server import serve

        serve(
            args.store,
            args.host,
            args.port,
            trusted_proxies=tuple(args.trusted_proxy),
            clock_file=args.clock_file,
            audit=args.audit,
        )
        return 0
    from .walkthrough import run

    return int(run(keep=args.keep))


if __name__ == "__main__":
    sys.exit(main())
