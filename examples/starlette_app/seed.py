"""Demo identities for the notes examples: a user who may read notes but not delete them."""

from __future__ import annotations

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
