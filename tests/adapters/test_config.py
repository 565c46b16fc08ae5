"""RamConfig from the environment, and the runtime build() assembles."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ram_middleware import errors
from ram_middleware.adapters.common import DEFAULT_MAX_BODY, max_body_from_env
from ram_middleware.audit import JsonLinesSink, MemorySink
from ram_middleware.client import RequestSigner
from ram_middleware.config import RamConfig, build
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard, SqliteGuard
from ram_middleware.routes import RouteRule
from ram_middleware.service import Limits


def test_from_env_reads_ram_variables() -> None:
    env = {
        "RAM_STORE_URL": "memory://",
        "RAM_GUARD_URL": "memory://",
        "RAM_MASTER_KEY": "k1, k2",
        "RAM_TOKEN_KEYS": "t" * 40,
        "RAM_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
        "RAM_FORWARDED_HEADER": "forwarded",
        "RAM_MAX_SKEW": "300",
        "RAM_ALLOW_ROOT_KEYS": "true",
        "RAM_REPLAY_SIGNATURES": "yes",
        "RAM_UNDECLARED": "authenticate",
        "RAM_AUDIT": "memory:",
        "RAM_HOST_ID": "api.example.test",
        "RAM_PRODUCTION": "0",
    }
    config = RamConfig.from_env(env, host_id="override")
    assert config.store_url == "memory://" and config.guard_url == "memory://"
    assert config.master_keys == ("k1", "k2") and config.token_keys == ("t" * 40,)
    assert config.trusted_proxies == ("10.0.0.0/8", "192.0.2.1")
    assert (config.forwarded_header, config.max_skew, config.allow_root_keys) == ("forwarded", 300.0, True)
    assert config.replay_signatures is True
    assert (config.undeclared, config.audit, config.host_id, config.production) == (
        "authenticate", "memory:", "override", False,
    )  # fmt: skip
    assert "k1" not in repr(config) and "t" * 40 not in repr(config)


def test_the_repr_of_a_config_and_its_runtime_hides_the_store_and_guard_passwords(tmp_path: Path) -> None:
    shared = RamConfig(
        store_url="postgresql://ram:pg-Secret-1@db.example:5432/ram",
        guard_url="redis://127.0.0.1:6379/6?password=redis-Secret-2",
    )
    assert "Secret" not in repr(shared)
    assert "store_url='postgresql://ram:***@db.example:5432/ram'" in repr(shared)
    assert "guard_url='redis://127.0.0.1:6379/6?password=***'" in repr(shared)
    # A whole runtime (as printed by a debugger, or in a traceback's locals) holds its config too.
    ram = build(
        RamConfig(
            store_url=f"sqlite:///{tmp_path}/ram.db", guard_url="redis://:redis-Secret-3@127.0.0.1:6379/6",
            audit="memory:",
        )
    )  # fmt: skip
    try:
        assert "Secret" not in repr(ram) and "redis://:***@127.0.0.1:6379/6" in repr(ram)
    finally:
        ram.close()


def test_defaults_and_bad_values() -> None:
    config = RamConfig.from_env({})
    assert (config.store_url, config.guard_url, config.undeclared) == ("sqlite:///ram.db", None, "deny")
    assert config.replay_signatures is False
    with pytest.raises(errors.InvalidParameter):
        RamConfig.from_env({"RAM_ALLOW_ROOT_KEYS": "perhaps"})
    with pytest.raises(errors.InvalidParameter):
        RamConfig.from_env({"RAM_REPLAY_SIGNATURES": "sometimes"})
    with pytest.raises(errors.InvalidParameter):
        RamConfig.from_env({"RAM_MAX_SKEW": "ten"})


def test_a_config_is_hashable_and_compares_by_value() -> None:
    cnames = {"files.example.test": "rnd-bucket"}
    first = RamConfig(store_url="memory://", oss_cnames=cnames)
    same = RamConfig(store_url="memory://", oss_cnames=dict(cnames))
    assert first == same and hash(first) == hash(same) and hash(RamConfig()) == hash(RamConfig())
    assert first != RamConfig(store_url="memory://", oss_cnames={"files.example.test": "other"})
    assert len({first, same, RamConfig()}) == 2


def test_memory_runtime_is_in_process() -> None:
    ram = build(RamConfig(store_url="memory://", audit=MemorySink()))
    try:
        assert isinstance(ram.guard, MemoryGuard)
        assert ram.blocking is False
    finally:
        ram.close()


def test_sqlite_runtime_shares_guard_file_and_offloads(tmp_path: Path) -> None:
    ram = build(RamConfig(store_url=f"sqlite:///{tmp_path}/ram.db", audit=str(tmp_path / "audit.jsonl")))
    try:
        assert isinstance(ram.guard, SqliteGuard)
        assert isinstance(ram.authorizer.audit, JsonLinesSink)
        assert ram.blocking is True
        assert (tmp_path / "ram.db.key").exists()
    finally:
        ram.close()


def test_sts_tokens_verify_in_every_process_sharing_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ram.db"
    first = build(RamConfig(store_url=url, audit=MemorySink()))
    second = build(RamConfig(store_url=url, audit=MemorySink()))
    try:
        service = first.service
        account = service.create_account().account_id
        role = service.create_role(
            account, "Ops", '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
            f'"Principal":{{"RAM":["acs:ram::{account}:root"]}}}}]}}',
        )  # fmt: skip
        issued = first.tokens.issue(
            account_id=account, role_name="Ops", role_id=role.role_id, session_name="s1", duration_seconds=900
        )
        signer = RequestSigner(
            issued.access_key_id, issued.access_key_secret, security_token=issued.security_token
        )
        signed = signer.sign("GET", "http://api.test/x", [], b"")
        facts = RequestFacts("GET", "/x", "", tuple(signed.headers.items()), b"", "127.0.0.1")
        outcome = second.authorizer.check(facts, RouteRule("ecs:DescribeInstances"))
        assert outcome.principal is not None  # authenticated by the other runtime (Ops has no policies)
        assert outcome.principal.arn == f"acs:ram::{account}:assumed-role/Ops/s1"
    finally:
        first.close()
        second.close()


def test_explicit_token_keys_are_used() -> None:
    config = RamConfig(store_url="memory://", token_keys=("x" * 32,), audit=MemorySink())
    one, two = build(config), build(config)
    try:
        issued = one.tokens.issue(
            account_id="1", role_name="r", role_id="3", session_name="ss", duration_seconds=900
        )
        assert two.tokens.verify(issued.access_key_id, issued.security_token).session_name == "ss"
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize("guard_url", [None, "memory://"])
def test_a_networked_store_needs_a_shared_guard(guard_url: str | None) -> None:
    # A per-process guard beside a shared store: a nonce used on one instance replays on the next.
    config = RamConfig(
        store_url="postgresql://db.invalid/ram", guard_url=guard_url, master_keys=("k",), audit=MemorySink()
    )
    with pytest.raises(errors.InvalidParameter) as caught:
        build(config)
    assert caught.value.code == "InvalidParameter.GuardUrl"


def test_audit_flush_interval_from_env_and_closing_the_runtime_writes_pending_events(tmp_path: Path) -> None:
    config = RamConfig.from_env({"RAM_AUDIT_FLUSH_INTERVAL": "30"}, store_url="memory://")
    assert config.audit_flush_interval == 30.0
    with pytest.raises(errors.InvalidParameter):
        RamConfig.from_env({"RAM_AUDIT_FLUSH_INTERVAL": "soon"})
    with pytest.raises(errors.InvalidParameter):
        build(RamConfig(store_url="memory://", audit_flush_interval=-1))
    path = tmp_path / "audit.jsonl"
    ram = build(RamConfig(store_url="memory://", audit=str(path), audit_flush_interval=3600))
    facts = RequestFacts("GET", "/x", "", (), b"", "203.0.113.7")
    assert ram.authorizer.check(facts, RouteRule("ecs:DescribeInstances")).error is not None
    assert path.read_text() == ""  # waiting for the writer (an hour here)
    ram.close()
    assert '"code":"MissingAuthentication"' in path.read_text()


def test_oss_domains_from_env_lower_cased_and_checked_at_start_up(tmp_path: Path) -> None:
    config = RamConfig.from_env({"RAM_OSS_DOMAINS": "oss.example.com, OSS.Other.test"})
    assert config.oss_domains == ("oss.example.com", "OSS.Other.test")
    assert RamConfig.from_env({}).oss_domains == ()
    ram = build(RamConfig(store_url="memory://", audit=MemorySink(), oss_domains=config.oss_domains))
    try:
        assert ram.authenticator.oss_domains == ("oss.example.com", "oss.other.test")
    finally:
        ram.close()
    store = tmp_path / "ram.db"
    with pytest.raises(errors.InvalidParameter) as caught:
        build(
            RamConfig(
                store_url=f"sqlite:///{store}", audit=MemorySink(), oss_domains=("oss.example.com:443",)
            )
        )
    assert caught.value.code == "InvalidParameter.OssDomains"
    assert not store.exists()  # refused before anything was opened


def test_oss_cnames_from_env_and_checked_at_start_up(tmp_path: Path) -> None:
    text = "Files.Example.com=rnd-bucket, cdn.example.com=pub"
    config = RamConfig.from_env({"RAM_OSS_CNAMES": text, "RAM_OSS_DOMAINS": "oss.example.com"})
    assert config.oss_cnames == {"files.example.com": "rnd-bucket", "cdn.example.com": "pub"}
    assert RamConfig.from_env({}).oss_cnames == {}
    ram = build(RamConfig(store_url="memory://", audit=MemorySink(), oss_cnames=config.oss_cnames))
    try:
        assert ram.authenticator.oss_cnames == config.oss_cnames
    finally:
        ram.close()
    for bad in ("files.example.com", "files.example.com=Bucket", "a=pub,a=pub"):
        with pytest.raises(errors.InvalidParameter) as caught:
            RamConfig.from_env({"RAM_OSS_CNAMES": bad})
        assert caught.value.code == "InvalidParameter.OssCnames"
    store = tmp_path / "ram.db"
    clash = RamConfig(
        store_url=f"sqlite:///{store}",
        audit=MemorySink(),
        oss_domains=("OSS.example.com",),
        oss_cnames={"oss.example.com": "pub"},  # a host both a domain and a CNAME
    )
    with pytest.raises(errors.InvalidParameter) as caught:
        build(clash)
    assert caught.value.code == "InvalidParameter.OssCnames"
    assert not store.exists()  # refused before anything was opened


def test_an_unknown_store_scheme_is_named_as_such() -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        build(RamConfig(store_url="foo://bar", master_keys=("k",), audit=MemorySink()))
    assert caught.value.code == "InvalidParameter.StoreUrl"
    assert "postgresql://" in caught.value.message  # every scheme there is, not only the local ones


@pytest.mark.parametrize(
    ("store_url", "guard_url", "package", "expected"),
    [
        (
            "memory://",
            "redis://127.0.0.1:6379/9",
            "redis",
            "A redis:// guard needs the Python package 'redis', which is not installed: "
            "install ram-middleware's 'redis' extra "
            "(from a checkout: pip install './ram-middleware[redis]').",
        ),
        (
            "postgresql://ram@127.0.0.1:5432/test",
            "sqlite:///{tmp}/guard.db",
            "psycopg",
            "A PostgreSQL store needs the Python package 'psycopg', which is not installed: "
            "install ram-middleware's 'postgres' extra "
            "(from a checkout: pip install './ram-middleware[postgres]').",
        ),
    ],
    ids=["redis-guard", "postgres-store"],
)
def test_a_backend_whose_extra_is_missing_names_the_extra_to_install(
    store_url: str,
    guard_url: str,
    package: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed: importing it fails
    for loaded in ("ram_middleware.guard_redis", "ram_middleware.store.postgres"):
        monkeypatch.delitem(sys.modules, loaded, raising=False)
    guard_url = guard_url.format(tmp=tmp_path)
    config = RamConfig(store_url=store_url, guard_url=guard_url, master_keys=("k" * 43,), audit=MemorySink())
    with pytest.raises(errors.MissingDependency) as caught:
        build(config)
    assert caught.value.message == expected


@pytest.mark.parametrize("text", ["-1", "10MB", "1e6", "١٢"])
def test_ram_max_body_must_be_a_whole_number_of_bytes(text: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="RAM_MAX_BODY must be a whole number of bytes"):
        max_body_from_env({"RAM_MAX_BODY": text})
    assert max_body_from_env({"RAM_MAX_BODY": " 2048 "}) == 2048
    assert max_body_from_env({}) == DEFAULT_MAX_BODY


def test_ram_limits_from_env_raise_or_lower_the_named_quotas_only() -> None:
    config = RamConfig.from_env({"RAM_LIMITS": " users_per_account = 5000 ,groups_per_account=300,"})
    assert config.limits == Limits(users_per_account=5000, groups_per_account=300)
    assert config.limits.roles_per_account == Limits().roles_per_account  # not named: Alibaba's default
    # Stricter than Alibaba's defaults is allowed: a company may want that.
    assert RamConfig.from_env({"RAM_LIMITS": "access_keys_per_user=1"}).limits.access_keys_per_user == 1
    assert RamConfig.from_env({}).limits == Limits() == RamConfig.from_env({"RAM_LIMITS": ""}).limits
    assert RamConfig.from_env({"RAM_LIMITS": "users_per_account=9"}, limits=Limits()).limits == Limits()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("users_per_account=0", "users_per_account must be a whole number of at least 1"),
        ("users_per_account=-5", "users_per_account must be a whole number of at least 1"),
        ("groups_per_account=1.5", "groups_per_account must be a whole number of at least 1"),
        ("groups_per_account=lots", "groups_per_account must be a whole number of at least 1"),
        ("groups_per_account=١٢", "groups_per_account must be a whole number of at least 1"),
        ("groups_per_account=", "groups_per_account must be a whole number of at least 1"),
        ("users_per_acount=5000", "unknown quota 'users_per_acount' (known: users_per_account, "),
        ("users_per_account", "takes name=value pairs separated by commas"),
        ("users_per_account=5,users_per_account=6", "gives users_per_account more than once"),
    ],
)
def test_a_bad_ram_limits_is_refused_naming_the_setting(text: str, said: str) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        RamConfig.from_env({"RAM_LIMITS": text})
    assert caught.value.code == "InvalidParameter.RAM_LIMITS"
    assert caught.value.message.startswith("RAM_LIMITS") and said in caught.value.message


@pytest.mark.parametrize("value", [0, -1, 2.0, "1000", True])
def test_limits_given_in_code_must_be_positive_whole_numbers(value: object) -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        Limits(groups_per_account=value)  # type: ignore[arg-type]
    assert caught.value.code == "InvalidParameter.Limits" and "groups_per_account" in caught.value.message


@pytest.mark.parametrize(("text", "allowed"), [("", False), ("groups_per_account=51", True)])
def test_build_gives_the_service_the_configured_limits(text: str, allowed: bool) -> None:
    ram = build(RamConfig.from_env({"RAM_LIMITS": text}, store_url="memory://", audit=MemorySink()))
    try:
        account = ram.service.create_account().account_id
        for n in range(50):
            ram.service.create_group(account, f"g{n}")
        if allowed:
            assert ram.service.create_group(account, "g50").group_name == "g50"
        else:
            with pytest.raises(errors.LimitExceeded) as caught:
                ram.service.create_group(account, "g50")
            assert caught.value.code == "LimitExceeded.Group"
    finally:
        ram.close()
