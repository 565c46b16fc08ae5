"""Settings that work but silently weaken security: each is a warning in the log when the runtime is built,
and under ``RAM_PRODUCTION`` those that leave a hole are refused (``InvalidParameter.<Setting>``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ram_middleware import deployment, errors
from ram_middleware.audit import MemorySink
from ram_middleware.config import RamConfig, build
from tests.scaleout.cluster import MASTER_KEY


def _start(caplog: pytest.LogCaptureFixture, **settings: object) -> list[str]:
    """Build and close a runtime from ``settings``; the warnings the checks logged."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ram_middleware.deployment"):
        build(RamConfig(audit=MemorySink(), **settings)).close()  # type: ignore[arg-type]
    return [r.getMessage() for r in caplog.records if r.name == "ram_middleware.deployment"]


def _refused(**settings: object) -> str:
    with pytest.raises(errors.InvalidParameter) as caught:
        build(RamConfig(audit=MemorySink(), production=True, **settings))  # type: ignore[arg-type]
    return caught.value.code


def test_a_memory_guard_beside_a_sqlite_store_is_warned_about_and_refused_in_production(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = f"sqlite:///{tmp_path}/ram.db"
    (warning,) = _start(caplog, store_url=store, guard_url="memory://")
    assert "replayed to each other worker" in warning
    assert _refused(store_url=store, guard_url="memory://") == "InvalidParameter.GuardUrl"
    assert _start(caplog, store_url=store) == []  # the default guard: the store's own file
    assert _start(caplog, store_url=store, production=True, master_keys=(MASTER_KEY,)) == []


def test_a_memory_store_is_refused_in_production(caplog: pytest.LogCaptureFixture) -> None:
    # Lost at each restart, one per worker: a key disabled through one worker still works on the others.
    assert _refused(store_url="memory://", master_keys=(MASTER_KEY,)) == "InvalidParameter.StoreUrl"
    assert _start(caplog, store_url="memory://") == []  # tests and demos: not worth a warning


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0", "0.0.0.0/1", "::ffff:0:0/96"])
def test_trusting_every_peer_as_a_proxy_is_warned_about_and_refused_in_production(
    everyone: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Any client could then send X-Forwarded-For and X-Forwarded-Proto: its own acs:SourceIp and
    # acs:SecureTransport, which IpAddress and SecureTransport conditions read.
    proxies = ("10.0.0.0/8", everyone)
    (warning,) = _start(caplog, store_url="memory://", trusted_proxies=proxies)
    assert everyone in warning and "acs:SourceIp" in warning
    refused = _refused(store_url=f"sqlite:///{tmp_path}/ram.db", trusted_proxies=proxies)
    assert refused == "InvalidParameter.TrustedProxies"
    # Private networks, however wide, and a public proxy's own address are what proxies are.
    narrow = ("10.0.0.0/8", "fc00::/7", "203.0.113.7")
    assert _start(caplog, store_url="memory://", trusted_proxies=narrow) == []


def test_undeclared_routes_left_open_are_warned_about_also_in_production(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # RAM_UNDECLARED=allow serves every route without a declaration to anyone, unauthenticated: perhaps a
    # deliberate step while declaring an app's routes, so only a warning, but never a silent one.
    (warning,) = _start(caplog, store_url="memory://", undeclared="allow")
    assert "RAM_UNDECLARED=allow" in warning and "without a credential" in warning
    production = {
        "store_url": f"sqlite:///{tmp_path}/ram.db",
        "master_keys": (MASTER_KEY,),
        "production": True,
    }
    assert _start(caplog, undeclared="allow", **production) == [warning]
    assert _start(caplog, store_url="memory://", undeclared="authenticate") == []


def _mountinfo(tmp_path: Path, fstype: str) -> Path:
    """A /proc/self/mountinfo in which ``tmp_path/net`` is a mount of type ``fstype`` (this machine has no
    network filesystem to put a database on)."""
    (tmp_path / "net").mkdir(exist_ok=True)
    mount_point = str(tmp_path / "net").replace(" ", "\\040")
    text = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        f"90 22 0:52 / {mount_point} rw,relatime shared:40 - {fstype} fileserver:/export/ram rw,vers=4.2\n"
    )
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return path


@pytest.mark.parametrize("fstype", ["nfs4", "cifs", "fuse.sshfs"])
def test_a_sqlite_file_on_a_network_filesystem_is_warned_about_and_refused_in_production(
    fstype: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite's locks do not hold there: two processes (or machines) could both claim one nonce, and the
    # file can be corrupted. The SQLite guard lives in the same file by default.
    monkeypatch.setattr(deployment, "MOUNTINFO", _mountinfo(tmp_path, fstype))
    store = f"sqlite:///{tmp_path}/net/data/ram.db"
    (warning,) = _start(caplog, store_url=store)
    assert f"{tmp_path}/net/data/ram.db" in warning and fstype in warning
    assert _refused(store_url=store, master_keys=(MASTER_KEY,)) == "InvalidParameter.StoreUrl"
    # A guard file of its own there too, beside a store on a local disk.
    local, guard = f"sqlite:///{tmp_path}/local.db", f"sqlite:///{tmp_path}/net/guard.db"
    (warning,) = _start(caplog, store_url=local, guard_url=guard)
    assert "guard.db" in warning
    monkeypatch.setattr(deployment, "MOUNTINFO", _mountinfo(tmp_path, "ext4"))
    assert _start(caplog, store_url=store) == []


def test_the_filesystem_check_reads_this_machines_mounts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _start(caplog, store_url=f"sqlite:///{tmp_path}/ram.db") == []  # a local disk


def test_the_master_key_file_beside_the_database_is_warned_about_once_in_production(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A backup of the directory carries the encrypted secrets and the key that opens them. The store and
    # the STS token keys both read the file; the operator is told once per start, not once per reader.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build(
            RamConfig(store_url=f"sqlite:///{tmp_path}/ram.db", production=True, audit=MemorySink())
        ).close()
    warnings = [r.getMessage() for r in caplog.records if "master key file" in r.getMessage()]
    assert len(warnings) == 1 and "RAM_MASTER_KEY" in warnings[0]
    assert (tmp_path / "ram.db.key").exists()  # warned, not refused: see README
