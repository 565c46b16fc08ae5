"""Store and guard URLs are shown without their passwords, wherever the password is written in them."""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from ram_middleware.cli import main
from ram_middleware.guard import open_guard
from ram_middleware.redaction import redacted_url
from tests.cli.conftest import CLEAN_ENV

# "Zq" appears in none of the URL templates below, so a hit can only be the password itself.
passwords = st.text(string.ascii_letters + string.digits + "!$%&'()*+,;=:@/?#[] -._~", min_size=4).map(
    lambda s: "Zq" + s
)

TEMPLATES = (
    "postgresql://ram:{pw}@db.example:5432/ram",
    "postgresql://ram:{pw}@db.example:5432/ram?sslmode=require",
    "postgresql://ram@db.example/ram?password={pw}",
    "postgresql://ram@db.example/ram?sslmode=require&password={pw}&ram_pool_size=4",
    "postgresql://ram@db.example/ram?sslpassword={pw}",
    "redis://:{pw}@cache.example:6379/6",
    "rediss://user:{pw}@[::1]:6380/6?prefix=ram:",
    "redis://cache.example:6379/6?password={pw}",
    "unix:///run/redis.sock?db=6&password={pw}",
)


@pytest.mark.parametrize("template", TEMPLATES)
@given(password=passwords)
def test_no_spelling_of_the_password_survives(template: str, password: str) -> None:
    for written in (quote(password, safe=""), password):
        shown = redacted_url(template.format(pw=written))
        assert "Zq" not in shown, shown
        assert "***" in shown


@given(password=passwords.filter(lambda s: "'" not in s and "\\" not in s and " " not in s))
def test_a_libpq_connection_string_hides_its_password(password: str) -> None:
    for written in (password, f"'{password} x'"):
        shown = redacted_url(f"host=db.example password={written} dbname=ram")
        assert "Zq" not in shown and shown.startswith("host=db.example password=***")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://cache:6379/6?prefix=ram:&password=pw", "redis://cache:6379/6?prefix=ram:&password=***"),
        # What follows a password in the query may be its unescaped tail: hidden with it.
        ("redis://cache:6379/6?password=pw&prefix=ram:", "redis://cache:6379/6?password=***"),
        ("postgresql://ram@db/ram?password=Zq0&Zq#Zq", "postgresql://ram@db/ram?password=***"),
        ("redis://:pw@[::1]:6379/6", "redis://:***@[::1]:6379/6"),
        # A libpq string whose password holds "://" is still no URL (hypothesis found it shown).
        ("host=db.example password=Zq0:// dbname=ram", "host=db.example password=*** dbname=ram"),
        ("postgresql://ram:pw@db:5432/ram", "postgresql://ram:***@db:5432/ram"),
        ("postgresql://ram@db/ram?sslmode=require", "postgresql://ram@db/ram?sslmode=require"),
        ("sqlite:///data/with@sign/ram.db", "sqlite:///data/with@sign/ram.db"),
        ("memory://", "memory://"),
    ],
)
def test_everything_but_the_password_is_kept(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_a_redis_guard_hides_a_password_given_in_the_query() -> None:
    guard = open_guard("redis://127.0.0.1:6379/6?password=s3cr3t-pw&prefix=ram:test:")
    try:
        assert "s3cr3t-pw" not in repr(guard)
    finally:
        guard.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [["init"], ["serve", "--port", "0"]])
def test_ram_init_and_serve_do_not_print_a_query_password(command: list[str]) -> None:
    # Nothing listens on port 1: the store cannot be opened, and the error names it.
    url = "postgresql://ram@127.0.0.1:1/ram?connect_timeout=1&password=hunter2-Zq"
    result = CliRunner().invoke(main, ["--store", url, *command], env={**CLEAN_ENV, "RAM_MASTER_KEY": None})
    assert result.exit_code == 1
    assert "postgresql://ram@127.0.0.1:1/ram?connect_timeout=1&password=***" in result.stderr
    assert "hunter2" not in result.output + result.stderr
