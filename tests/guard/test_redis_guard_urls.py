"""RAM_GUARD_URL as operators write it for Redis: passwords, ACL users, Unix sockets, client options, and a
Redis that answers but refuses what the guard needs (clear at start, 503 per request, never a 500)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ram_middleware import errors
from ram_middleware.guard import open_guard
from ram_middleware.guard_redis import RedisGuard
from tests.api.live import self_signed
from tests.scaleout.servers import RedisServer, free_port

pytestmark = pytest.mark.redis

PASSWORD = "s3cr3t-pw"


def _user(name: str, password: str, *rules: str) -> tuple[str, ...]:
    return ("--user", name, "on", f">{password}", "~*", "&*", "+@all", *rules)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, Path]]:
    """A private Redis with a password, ACL users lacking commands the guard needs, and a Unix socket."""
    socket = tmp_path_factory.mktemp("redis") / "redis.sock"
    options = (
        "--unixsocket", str(socket), "--unixsocketperm", "700",
        *_user("default", PASSWORD), *_user("ram", "userpass"),
        *_user("noinfo", "noinfo", "-info"), *_user("noeval", "noeval", "-eval", "-evalsha", "-script"),
        *_user("later", "later"),
    )  # fmt: skip
    redis_server = RedisServer(options)
    redis_server.start()
    try:
        yield redis_server, socket
    finally:
        redis_server.stop()


def _works(url: str) -> None:
    guard = open_guard(url)
    assert isinstance(guard, RedisGuard)
    try:
        assert PASSWORD not in repr(guard)
        assert guard.claim("nonce:AK:1", 60) is True
        assert guard.claim("nonce:AK:1", 60) is False
        assert guard.incr("fail", 60).value == 1
    finally:
        guard.close()


def test_password_and_acl_user_urls_work(server: tuple[RedisServer, Path]) -> None:
    redis_server, _ = server
    _works(f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/2?prefix=pw:")
    _works(f"redis://ram:userpass@127.0.0.1:{redis_server.port}?prefix=acl:")


def test_unix_socket_urls_work(server: tuple[RedisServer, Path]) -> None:
    """``unix:///path/redis.sock`` (before: refused as malformed, whatever followed)."""
    _, socket = server
    _works(f"unix://:{PASSWORD}@{socket}?db=3&prefix=unix:")
    _works(f"unix://{socket}?db=3&password={PASSWORD}&prefix=unix2:")


@pytest.mark.parametrize(
    ("option", "named"),
    [("sockettimeout=3", "sockettimeout"), ("ssl_ca_certs=/etc/ca.pem", "ssl_ca_certs")],  # TLS: rediss://
)
def test_an_option_the_client_does_not_know_is_refused_at_start_by_name(
    server: tuple[RedisServer, Path], option: str, named: str
) -> None:
    """Before: a TypeError traceback out of ``ram serve`` (or of the first request, had Redis been down)."""
    redis_server, _ = server
    with pytest.raises(errors.InvalidParameter) as refused:
        open_guard(f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/0?{option}")
    assert refused.value.code == "InvalidParameter.GuardUrl"
    assert named in str(refused.value) and PASSWORD not in str(refused.value)


@pytest.mark.parametrize(
    ("userinfo", "said"),
    [
        ("ram:wrong", "user name or password"),
        ("nobody:userpass", "user name or password"),
        ("noinfo:noinfo", "INFO"),
        ("noeval:noeval", "EVALSHA"),
    ],
)
def test_a_redis_that_refuses_the_guard_is_refused_at_start(
    server: tuple[RedisServer, Path], userinfo: str, said: str
) -> None:
    """A wrong password or an ACL user without a command the guard needs: before, the app started and
    answered every signed request with 503 (the log said only ``ResponseError``); now it does not start,
    and says why."""
    redis_server, _ = server
    with pytest.raises(errors.InvalidParameter) as refused:
        open_guard(f"redis://{userinfo}@127.0.0.1:{redis_server.port}/0")
    assert refused.value.code == "InvalidParameter.GuardUrl"
    assert said in str(refused.value)
    assert userinfo.partition(":")[2] not in str(refused.value)


def test_redis_cluster_is_refused_at_start(tmp_path: Path) -> None:
    # The bus port named: by default it is the port + 10000, past 65535 for a high free port.
    nodes, bus = str(tmp_path / "nodes.conf"), str(free_port())
    cluster = RedisServer(("--cluster-enabled", "yes", "--cluster-config-file", nodes, "--cluster-port", bus))
    cluster.start()
    try:
        with pytest.raises(errors.InvalidParameter) as refused:
            open_guard(cluster.url)
        assert "Redis Cluster is not supported" in str(refused.value)
    finally:
        cluster.stop()


def test_commands_taken_away_after_start_fail_closed_with_503(server: tuple[RedisServer, Path]) -> None:
    redis_server, _ = server
    guard = open_guard(f"redis://later:later@127.0.0.1:{redis_server.port}/0?prefix=later:")
    admin = redis.Redis(port=redis_server.port, password=PASSWORD)
    try:
        assert guard.claim("nonce:AK:1", 60) is True
        admin.acl_setuser("later", enabled=True, commands=["-info"])
        with pytest.raises(errors.ServiceUnavailable) as refused:
            guard.claim("nonce:AK:2", 60)
        assert refused.value.status == 503
    finally:
        admin.acl_setuser("later", enabled=True, commands=["+@all"])
        admin.close()


def test_rediss_verifies_the_certificate_and_the_log_says_why_it_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """TLS works, the server's certificate checked; one that cannot be checked is a 503 per request whose log
    line says so (before: only ``failed: ConnectionError``), without the password."""
    cert, key = self_signed(tmp_path)
    tls_port = free_port()
    tls = ("--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key))
    redis_server = RedisServer((*tls, "--tls-auth-clients", "no", "--requirepass", PASSWORD))
    redis_server.start()
    try:
        url = f"rediss://:{PASSWORD}@127.0.0.1:{tls_port}/0"
        _works(f"{url}?ssl_ca_certs={cert}")
        unverified = open_guard(url)
        caplog.set_level(logging.DEBUG)
        with pytest.raises(errors.ServiceUnavailable) as refused:
            unverified.claim("nonce:AK:1", 60)
        assert refused.value.status == 503
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
        assert PASSWORD not in caplog.text and PASSWORD not in str(refused.value)
    finally:
        redis_server.stop()


@pytest.mark.parametrize("password", ["pa?ss", "pa#ss", "p@ss"])
def test_a_password_with_url_characters_left_unescaped_is_refused_with_how_to_write_it(
    server: tuple[RedisServer, Path], password: str
) -> None:
    redis_server, _ = server
    with pytest.raises(errors.InvalidParameter) as refused:
        open_guard(f"redis://:{password}@127.0.0.1:{redis_server.port}/0")
    assert "percent-encoded" in str(refused.value)
    assert password not in str(refused.value)
