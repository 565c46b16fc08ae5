"""Demo identities for the notes examples (a user who may read notes but not delete them), and their
command line."""

from __future__ import annotations

import argparse
import json

from ram_middleware.service import RamService

READ_NOTES = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "notes:GetNote", "Resource": "*"}]}


def seed(service: RamService) -> tuple[str, str, str]:
    """Create an account, user ``reader`` with a notes read policy and an AccessKey; print and return
    (account id, AccessKeyId, secret)."""
    account = service.create_account().account_id
    service.create_user(account, "reader")
    service.create_policy(account, "NotesReadOnly", json.dumps(READ_NOTES))
    service.attach_policy_to_user(account, "Custom", "NotesReadOnly", "reader")
    key = service.create_access_key(account, "reader")
    print(f"account {account}, user reader: AccessKeyId={key.key.access_key_id} secret={key.secret}")
    print("(the secret is shown this once; sign requests with ram_middleware.client.RamAuth)")
    return account, key.key.access_key_id, key.secret


def parse_options(prog: str, port: int) -> argparse.Namespace:
    """The notes examples' command line: ``--seed``, ``--help``; anything else stops with a usage error."""
    parser = argparse.ArgumentParser(
        prog=prog, description=f"Serve the notes API on http://127.0.0.1:{port}."
    )
    parser.add_argument(
        "--seed",
        action="store_true",
        help="First create an account in ./ram.db with a user 'reader' allowed notes:GetNote, and print "
        "its AccessKey (a new account each time).",
    )
    return parser.parse_args()
