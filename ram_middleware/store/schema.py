"""The versioned schema: an ordered list of migrations applied on open.

``ram_schema_version`` holds one row with the number of migrations applied. Opening a store applies the
missing ones in order inside one write transaction, so two processes opening a fresh database together
migrate it exactly once; a SQLite file already current is only read (no write lock). A database newer
than this code is refused rather than misread. Never edit a released migration: append a new one.

Names are unique per account case-insensitively (spec decision): each entity stores ``name_key``, the
lower-cased name, under a UNIQUE constraint. Names are ASCII by the name rules, so ``str.lower`` equals
SQL ``lower()`` on every engine. Foreign keys forbid orphans (a user with keys cannot vanish under
them); attachments point at users, groups or roles alike and are kept consistent by the service.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "VERSION_TABLE"]

VERSION_TABLE: Final = "CREATE TABLE IF NOT EXISTS ram_schema_version (version INTEGER NOT NULL)"

_V1: Final = (
    """CREATE TABLE ram_accounts (
        account_id TEXT PRIMARY KEY,
        alias TEXT UNIQUE,
        create_date TEXT NOT NULL)""",
    """CREATE TABLE ram_account_settings (
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account_id, name))""",
    """CREATE TABLE ram_users (
        user_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        user_name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        display_name TEXT NOT NULL,
        email TEXT NOT NULL,
        mobile_phone TEXT NOT NULL,
        comments TEXT NOT NULL,
        create_date TEXT NOT NULL,
        update_date TEXT NOT NULL,
        last_login_date TEXT,
        UNIQUE (account_id, name_key))""",
    """CREATE TABLE ram_groups (
        group_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        group_name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        comments TEXT NOT NULL,
        create_date TEXT NOT NULL,
        update_date TEXT NOT NULL,
        UNIQUE (account_id, name_key))""",
    """CREATE TABLE ram_memberships (
        group_id TEXT NOT NULL REFERENCES ram_groups (group_id),
        user_id TEXT NOT NULL REFERENCES ram_users (user_id),
        join_date TEXT NOT NULL,
        PRIMARY KEY (group_id, user_id))""",
    "CREATE INDEX ram_memberships_user ON ram_memberships (user_id)",
    """CREATE TABLE ram_roles (
        role_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        role_name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        description TEXT NOT NULL,
        trust_policy TEXT NOT NULL,
        max_session_duration INTEGER NOT NULL,
        revoked_before TEXT,
        create_date TEXT NOT NULL,
        update_date TEXT NOT NULL,
        UNIQUE (account_id, name_key))""",
    """CREATE TABLE ram_policies (
        policy_id {autoinc},
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        policy_name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        description TEXT NOT NULL,
        default_version TEXT NOT NULL,
        next_version INTEGER NOT NULL,
        create_date TEXT NOT NULL,
        update_date TEXT NOT NULL,
        UNIQUE (account_id, name_key))""",
    """CREATE TABLE ram_policy_versions (
        policy_id BIGINT NOT NULL REFERENCES ram_policies (policy_id),
        version_id TEXT NOT NULL,
        version_num INTEGER NOT NULL,
        document TEXT NOT NULL,
        create_date TEXT NOT NULL,
        PRIMARY KEY (policy_id, version_id))""",
    """CREATE TABLE ram_attachments (
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        policy_type TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        attach_date TEXT NOT NULL,
        PRIMARY KEY (target_type, target_id, policy_type, policy_name))""",
    "CREATE INDEX ram_attachments_policy ON ram_attachments (account_id, policy_type, policy_name)",
    """CREATE TABLE ram_access_keys (
        access_key_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        user_id TEXT REFERENCES ram_users (user_id),
        status TEXT NOT NULL,
        secret_ct TEXT NOT NULL,
        create_date TEXT NOT NULL,
        last_used_date TEXT)""",
    "CREATE INDEX ram_access_keys_owner ON ram_access_keys (account_id, user_id)",
    """CREATE TABLE ram_login_profiles (
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        subject TEXT NOT NULL,
        user_id TEXT REFERENCES ram_users (user_id),
        password_hash TEXT NOT NULL,
        password_history TEXT NOT NULL,
        reset_required INTEGER NOT NULL,
        mfa_bind_required INTEGER NOT NULL,
        create_date TEXT NOT NULL,
        update_date TEXT NOT NULL,
        password_changed_date TEXT NOT NULL,
        last_logon_date TEXT,
        PRIMARY KEY (account_id, subject))""",
    """CREATE TABLE ram_mfa_devices (
        serial_number TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        device_name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        seed_ct TEXT NOT NULL,
        bound_subject TEXT,
        bound_user_id TEXT REFERENCES ram_users (user_id),
        activate_date TEXT,
        last_used_step BIGINT,
        create_date TEXT NOT NULL,
        UNIQUE (account_id, name_key),
        UNIQUE (account_id, bound_subject))""",
    """CREATE TABLE ram_changes (
        id INTEGER PRIMARY KEY,
        counter BIGINT NOT NULL)""",
    "INSERT INTO ram_changes (id, counter) VALUES (1, 0)",
)

# Version 2: the password history belongs to the user (or root), not to the login profile, so that
# DeleteLoginProfile + CreateLoginProfile cannot cycle back to a recent password (see
# :mod:`ram_middleware.service.logon`). The earlier hashes (JSON list of argon2id hashes, newest first, as
# before) move to a row of their own that a deleted login profile leaves behind; the user's deletion
# removes it (its ``user_id`` foreign key). The profile keeps only the current hash.
_V2: Final = (
    """CREATE TABLE ram_password_history (
        account_id TEXT NOT NULL REFERENCES ram_accounts (account_id),
        subject TEXT NOT NULL,
        user_id TEXT REFERENCES ram_users (user_id),
        password_history TEXT NOT NULL,
        PRIMARY KEY (account_id, subject))""",
    "INSERT INTO ram_password_history (account_id, subject, user_id, password_history) "
    "SELECT account_id, subject, user_id, password_history FROM ram_login_profiles",
    "ALTER TABLE ram_login_profiles DROP COLUMN password_history",
)

# Version 3: a role's session generation (see ``SessionRevocation``): revoking its sessions counts one up,
# and tokens sealed in an older generation are revoked, whatever the clocks of the instances that issued
# them.
_V3: Final = ("ALTER TABLE ram_roles ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0",)

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_V1, _V2, _V3)
"""Migration ``n`` (1-based) brings the schema from version ``n - 1`` to ``n``."""

SCHEMA_VERSION: Final = len(MIGRATIONS)
