"""Start-up checks: settings that work but silently weaken security in a real deployment.

:func:`check_deployment` runs once per :func:`~ram_middleware.config.build` (so once per worker process).
Each finding is a warning in the server log; with ``production`` on (``RAM_PRODUCTION``) a finding that
leaves a hole no request-time check can close is refused instead, with ``InvalidParameter.<Setting>``, so
the server does not start. Findings that may be a deliberate choice (``RAM_UNDECLARED=allow``) stay
warnings either way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import NamedTuple

from . import errors
from .context import parse_network
from .store import sqlite_path

__all__ = ["Finding", "check_deployment"]

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
"""Where this process's mounts are listed (Linux); elsewhere the network filesystem check finds nothing."""

# Filesystems on which SQLite's POSIX locks are unreliable or absent (SQLite's own documentation warns off
# network filesystems): two processes or machines could each claim one nonce, or corrupt the file.
_NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs", "davfs",
    "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.juicefs",
    "fuse.davfs2",
})  # fmt: skip

# Prefixes shorter than these, outside private space, reach far beyond one organisation's proxies.
_WIDEST_PROXY_PREFIX = {4: 8, 6: 16}


class Finding(NamedTuple):
    """One unsafe setting: the ``InvalidParameter`` suffix that names it, why it is unsafe, whether
    ``RAM_PRODUCTION`` refuses it (else it is only warned about), and whether it is warned about without
    ``RAM_PRODUCTION`` (not for what tests and demos use every day)."""

    setting: str
    message: str
    refused_in_production: bool
    warned_outside_production: bool = True


def check_deployment(
    *,
    store_url: str,
    guard_url: str,
    production: bool,
    local_store: bool,
    trusted_proxies: Iterable[str] = (),
    undeclared: str = "deny",
) -> list[Finding]:
    """Log each finding about this configuration as a warning, or raise ``InvalidParameter`` for the first
    one ``production`` refuses. ``local_store``: the store is in-process or a SQLite file. Returns the
    findings warned about."""
    findings = [
        *_findings(store_url=store_url, guard_url=guard_url, local_store=local_store),
        *_proxy_findings(trusted_proxies),
        *_undeclared_findings(undeclared),
        *_network_filesystem_findings(store_url, guard_url),
    ]
    if production:
        for finding in findings:
            if finding.refused_in_production:
                message = f"{finding.message} (refused: RAM_PRODUCTION)."
                raise errors.InvalidParameter(finding.setting, message)
    warned = [finding for finding in findings if production or finding.warned_outside_production]
    for finding in warned:
        log.warning("%s", finding.message)
    return warned


def _findings(*, store_url: str, guard_url: str, local_store: bool) -> Iterable[Finding]:
    if store_url.startswith("memory://"):
        yield Finding(
            "StoreUrl",
            "RAM_STORE_URL=memory:// keeps users, AccessKeys and policies in this process only: they are "
            "lost at each restart, and every worker has its own copy, so an AccessKey disabled or deleted "
            "through one worker still works on the others. Use sqlite:/// or postgresql://",
            True,
            warned_outside_production=False,
        )
    if guard_url.startswith("memory://") and local_store and not store_url.startswith("memory://"):
        # build() already refuses a memory guard beside a networked store; a SQLite file is shared by every
        # process on the machine (uvicorn --workers, gunicorn), so the same hole opens between workers.
        yield Finding(
            "GuardUrl",
            "RAM_GUARD_URL=memory:// keeps nonces, spent TOTP codes, logouts and logon failure counts in "
            "this process only, while the SQLite store is shared by every worker on the machine: a signed "
            "request or console session can be replayed to each other worker, and every worker allows its "
            "own logon attempts. Leave RAM_GUARD_URL unset (a guard in the store's SQLite file) or use "
            "redis://",
            True,
        )


def _proxy_findings(trusted_proxies: Iterable[str]) -> Iterable[Finding]:
    """A trusted network wide enough to hold the Internet (``0.0.0.0/0``, ``::/0``, their halves) lets any
    client send the forwarded headers the middleware then believes. Private networks are what proxies sit
    in, however wide; a public proxy is named by its own address or a narrow range."""
    wide = [text.strip() for text in trusted_proxies if _holds_the_internet(parse_network(text))]
    if wide:
        yield Finding(
            "TrustedProxies",
            f"RAM_TRUSTED_PROXIES names {', '.join(wide)}: any client there may send X-Forwarded-For and "
            "X-Forwarded-Proto (Forwarded), and so choose its own acs:SourceIp and acs:SecureTransport. "
            "Name only your load balancers' addresses or networks",
            True,
        )


def _holds_the_internet(network: IPv4Network | IPv6Network) -> bool:
    widest = _WIDEST_PROXY_PREFIX[network.version]
    return network.prefixlen < widest and not network.is_private


def _undeclared_findings(undeclared: str) -> Iterable[Finding]:
    if undeclared == "allow":
        yield Finding(
            "Undeclared",
            "RAM_UNDECLARED=allow: every route without a declaration is served to anyone, without a "
            "credential or a policy check (routes added later, a framework's own pages too). Declare them "
            "(PUBLIC for open ones) and use deny, or authenticate",
            False,
        )


def _network_filesystem_findings(store_url: str, guard_url: str) -> Iterable[Finding]:
    paths = {}
    if store_url.startswith("sqlite:"):
        paths["StoreUrl"] = sqlite_path(store_url)
    if guard_url.startswith("sqlite:///"):
        paths.setdefault("GuardUrl", guard_url[len("sqlite:///") :])
    mounts = _mounts()
    for setting, path in paths.items():
        if path is None or path == ":memory:" or (setting == "GuardUrl" and path == paths.get("StoreUrl")):
            continue
        fstype = _filesystem_of(Path(path), mounts)
        if fstype in _NETWORK_FILESYSTEMS:
            yield Finding(
                setting,
                f"The SQLite file {path} is on a network filesystem ({fstype}), where SQLite's locks do "
                "not hold: processes or machines sharing it may each accept one signed request, lose each "
                "other's changes, or corrupt the file. Keep it on a local disk; for several machines use "
                "postgresql:// and redis://",
                True,
            )


def _mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) for each mount in :data:`MOUNTINFO`; empty where there is none."""
    try:
        text = MOUNTINFO.read_text(errors="replace")
    except OSError:
        return []
    mounts = []
    for line in text.splitlines():
        fields, _, tail = line.partition(" - ")
        parts, kind = fields.split(), tail.split()
        if len(parts) >= 5 and kind:
            mounts.append((parts[4].replace("\\040", " "), kind[0]))
    return mounts


def _filesystem_of(path: Path, mounts: list[tuple[str, str]]) -> str | None:
    """The type of the filesystem the file ``path`` is (or would be created) on: its nearest existing
    directory's, by the longest mount point holding it (the last mount of a point wins, as it hides the
    earlier ones)."""
    directory = Path(os.path.realpath(path.parent))
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    found: tuple[int, str] | None = None
    for point, fstype in mounts:
        holds = directory == Path(point) or Path(point) in directory.parents
        if holds and (found is None or len(point) >= found[0]):
            found = (len(point), fstype)
    return None if found is None else found[1]
