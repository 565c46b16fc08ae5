"""Configuration (:class:`RamConfig`) and the assembled runtime (:func:`build` → :class:`Ram`).

``build`` wires the parts in the order the layers stack them: store → directory (cached view) and guard →
STS token verifier → authenticator → context builder, audit sink → authorizer; the admin façade
(:class:`~ram_middleware.service.RamService`) shares the same store and directory, so a change made
through it is felt by the next request.

Environment variables read by :meth:`RamConfig.from_env` (all optional):

``RAM_STORE_URL`` (default ``sqlite:///ram.db``), ``RAM_GUARD_URL`` (default: the store's backend),
``RAM_MASTER_KEY`` (comma-separated, newest first), ``RAM_TOKEN_KEYS`` (comma-separated, newest first),
``RAM_TRUSTED_PROXIES`` (comma-separated CIDRs), ``RAM_OSS_DOMAINS`` (comma-separated host names such as
``oss.example.com`` under which OSS clients address buckets virtual-hosted, ``<bucket>.<domain>``: oss2's
default for a host-name endpoint; the app then names the bucket in its RAM resources itself, since the
path holds none), ``RAM_OSS_CNAMES`` (comma-separated ``host=bucket`` pairs such as
``files.example.com=rnd-bucket``: a bucket's own host name, to which oss2 ``is_cname=True`` sends
``/<key>``; no host may also be an OSS domain), ``RAM_FORWARDED_HEADER`` (``x-forwarded-for`` |
``forwarded``), ``RAM_MAX_SKEW`` (seconds, default 900), ``RAM_ALLOW_ROOT_KEYS`` (``true``/``false``),
``RAM_REPLAY_SIGNATURES`` (``true``/``false``, default false: refuse replays of requests that carry no nonce
by claiming their signature once; identical requests signed in the same second then fail but the first),
``RAM_UNDECLARED`` (``deny`` | ``allow`` | ``authenticate``), ``RAM_AUDIT`` (``-`` = stderr, a file path,
``logging:<logger>``, ``memory:``), ``RAM_AUDIT_FLUSH_INTERVAL`` (seconds a JSON-lines audit event may wait
to be written, default 0.2; 0 writes each before its request is answered), ``RAM_HOST_ID``,
``RAM_PRODUCTION``, ``RAM_LIMITS`` (per-account quotas as ``name=value`` pairs, e.g.
``users_per_account=5000,groups_per_account=300``; the names and Alibaba's defaults are
:class:`~ram_middleware.service.Limits`' fields, and any positive whole number is allowed, below the default
too; see :mod:`ram_middleware.service.limits`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from . import errors
from .audit import DEFAULT_FLUSH_INTERVAL, AuditSink, flush_sink, open_sink
from .authorizer import Authorizer, DiagnosticCodec, Undeclared
from .context import Clock, ContextBuilder, ContextHook, ForwardedHeader, utc_now
from .credentials.authenticate import Authenticator
from .credentials.oss import validated_cnames, validated_domains
from .credentials.sts import StsTokens, ensure_not_revoked, principal_from_claims
from .crypto import KEY_ENV, keys_from_env, load_or_create_key_file
from .deployment import check_deployment
from .guard import Guard, MemoryGuard, open_guard
from .identity import SigningKey
from .redaction import redacted_url
from .service import Limits, RamService
from .service.limits import limits_from
from .store import DEFAULT_URL, KEY_FILE_SUFFIX, Store, open_store, sqlite_path
from .store.cache import Directory

__all__ = ["DirectoryKeyResolver", "Ram", "RamConfig", "build", "limits_from_env", "parse_flag"]

_TOKEN_KEY_LABEL = b"ram-middleware/sts-token-key/v1"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class RamConfig:
    """Everything :func:`build` needs. Secrets (``master_keys``, ``token_keys``, a password in
    ``store_url`` or ``guard_url``) never appear in the repr.

    ``token_keys`` seal STS tokens; when empty they are derived from the master keys (explicit,
    ``RAM_MASTER_KEY``, or the SQLite key file), so every process sharing the store verifies the same
    tokens; with a ``memory://`` store and no keys at all a random per-process key is used.
    """

    store_url: str = DEFAULT_URL
    guard_url: str | None = None
    master_keys: tuple[str, ...] = field(default=(), repr=False)
    token_keys: tuple[str, ...] = field(default=(), repr=False)
    trusted_proxies: tuple[str, ...] = ()
    oss_domains: tuple[str, ...] = ()
    # Left out of the hash (a dict is unhashable) but compared, so a config stays usable as a key.
    oss_cnames: Mapping[str, str] = field(default_factory=dict, hash=False)
    forwarded_header: ForwardedHeader = "x-forwarded-for"
    max_skew: float = 900.0
    allow_root_keys: bool = False
    replay_signatures: bool = False
    undeclared: Undeclared = "deny"
    audit: AuditSink | str = "-"
    audit_flush_interval: float = DEFAULT_FLUSH_INTERVAL
    clock: Clock = utc_now
    host_id: str | None = None
    context_hook: ContextHook | None = None
    production: bool = False
    limits: Limits = field(default_factory=Limits)
    mfa_issuer: str = "ram-middleware"  # the name authenticator apps show above a virtual MFA device's codes

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> RamConfig:
        """A config from ``RAM_*`` variables (default: ``os.environ``); keyword arguments win."""
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        text = {
            "store_url": "RAM_STORE_URL",
            "guard_url": "RAM_GUARD_URL",
            "forwarded_header": "RAM_FORWARDED_HEADER",
            "undeclared": "RAM_UNDECLARED",
            "audit": "RAM_AUDIT",
            "host_id": "RAM_HOST_ID",
            "mfa_issuer": "RAM_MFA_ISSUER",
        }
        for name, variable in text.items():
            if source.get(variable):
                values[name] = source[variable].strip()
        lists = (
            ("master_keys", KEY_ENV),
            ("token_keys", "RAM_TOKEN_KEYS"),
            ("trusted_proxies", "RAM_TRUSTED_PROXIES"),
            ("oss_domains", "RAM_OSS_DOMAINS"),
        )
        for name, variable in lists:
            if source.get(variable):
                values[name] = tuple(_split(source[variable]))
        if source.get("RAM_OSS_CNAMES"):
            values["oss_cnames"] = validated_cnames(source["RAM_OSS_CNAMES"])
        numbers = (("max_skew", "RAM_MAX_SKEW"), ("audit_flush_interval", "RAM_AUDIT_FLUSH_INTERVAL"))
        for name, variable in numbers:
            if source.get(variable):
                values[name] = _number(variable, source[variable])
        flags = (
            ("allow_root_keys", "RAM_ALLOW_ROOT_KEYS"),
            ("replay_signatures", "RAM_REPLAY_SIGNATURES"),
            ("production", "RAM_PRODUCTION"),
        )
        for name, variable in flags:
            if variable in source:
                values[name] = parse_flag(variable, source[variable])
        if source.get("RAM_LIMITS"):
            values["limits"] = limits_from_env(source)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        # The store and guard URLs may carry a password (postgresql://ram:pw@db, redis://:pw@cache): shown
        # redacted, as the store's and guard's own reprs show them, so that a printed Ram or a traceback's
        # locals never hold it. Key fields are left out (repr=False).
        shown = []
        for f in fields(self):
            if f.repr:
                value = getattr(self, f.name)
                if f.name in ("store_url", "guard_url") and isinstance(value, str):
                    value = redacted_url(value)
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


class DirectoryKeyResolver:
    """The authenticator's :class:`KeyResolver`: long-term keys from the Directory, temporary keys from
    STS tokens (checked against the role's revocation, which the Directory caches)."""

    def __init__(self, directory: Directory, tokens: StsTokens) -> None:
        self._directory = directory
        self._tokens = tokens

    def signing_key(self, access_key_id: str) -> SigningKey | None:
        return self._directory.signing_key(access_key_id)

    def verify_security_token(self, access_key_id: str, token: str) -> SigningKey:
        claims = self._tokens.verify(access_key_id, token)
        role = self._directory.role(claims.account_id, claims.role_name)
        if role is None or role.role_id != claims.role_id:
            # Deleted (or deleted and created again under the name): the session stands for nothing now.
            raise errors.InvalidSecurityToken("Revoked", "The role of this security token no longer exists.")
        ensure_not_revoked(claims, self._directory.role_revocation(claims.account_id, claims.role_name))
        self._directory.check_session_chain(claims.chain)
        principal = principal_from_claims(claims)
        return SigningKey(access_key_id, self._tokens.secret_for(claims), principal, "Active", token)

    def note_key_used(self, access_key_id: str, when: datetime) -> None:
        # Temporary keys have no row to update.
        if not access_key_id.startswith("STS."):
            self._directory.note_key_used(access_key_id, when)


@dataclass
class Ram:
    """The assembled runtime. Adapters use :attr:`authorizer`; administration goes through :attr:`service`."""

    config: RamConfig
    store: Store
    guard: Guard
    directory: Directory
    tokens: StsTokens
    authenticator: Authenticator
    authorizer: Authorizer
    service: RamService

    @property
    def blocking(self) -> bool:
        """Whether a decision may wait on I/O (then ASGI adapters run it in a worker thread).

        In-process backends do not: a memory guard, and a memory or local SQLite store read through the
        Directory snapshot (a store read happens only on a cache miss or the periodic change check; the
        batched last-used write runs on a thread of its own).
        """
        local_store = _local_store(self.store.url)
        return not (isinstance(self.guard, MemoryGuard) and local_store)

    def flush(self) -> None:
        """Write the audit events and AccessKey last-used dates still pending; the runtime stays open.

        ASGI adapters call it as the server's lifespan ends: uvicorn, having shut down on SIGTERM, raises
        the signal again, and the process then dies without running ``atexit``."""
        flush_sink(self.authorizer.audit)
        self.directory.flush()

    def close(self) -> None:
        """Flush batched bookkeeping and audit events, and release the store."""
        audit = self.authorizer.audit
        # A sink built from a config string is ours to close; one the caller passed in is only flushed.
        finish = getattr(audit, "close" if isinstance(self.config.audit, str) else "flush", None)
        if callable(finish):
            finish()
        self.directory.close()
        close_guard = getattr(self.guard, "close", None)
        if callable(close_guard):
            close_guard()
        self.store.close()


def build(config: RamConfig | None = None) -> Ram:
    """Open the store and guard named by ``config`` and assemble the runtime."""
    config = config if config is not None else RamConfig.from_env()
    if not 0 <= config.audit_flush_interval < float("inf"):  # checked before anything is opened
        raise errors.InvalidParameter(
            "AuditFlushInterval", "audit_flush_interval must be a non-negative number of seconds."
        )
    oss_domains = validated_domains(config.oss_domains)
    oss_cnames = validated_cnames(config.oss_cnames, oss_domains)
    _check_issuer(config.mfa_issuer)
    guard_url = config.guard_url or _default_guard_url(config.store_url)
    if guard_url.startswith("memory://") and not _local_store(config.store_url):
        # Each instance would remember only its own nonces, TOTP codes and logon failures.
        raise errors.InvalidParameter(
            "GuardUrl",
            "A memory guard is per process, and this store is shared between instances: a request used on "
            "one could be replayed on another. Set RAM_GUARD_URL (e.g. redis://host:6379/0).",
        )
    check_deployment(
        store_url=config.store_url,
        guard_url=guard_url,
        production=config.production,
        local_store=_local_store(config.store_url),
        trusted_proxies=config.trusted_proxies,
        undeclared=config.undeclared,
    )
    store = open_store(config.store_url, master_keys=config.master_keys or None, production=config.production)
    guard: Guard | None = None
    try:
        guard = open_guard(guard_url)
        return _assemble(config, store, guard, oss_domains, oss_cnames)
    except BaseException:
        # A start that fails past here (the audit file cannot be opened, the change feed is down) must not
        # leave the store's pool, listener thread and connections behind, nor the guard's: build() may be
        # tried again in the same process.
        close_guard = getattr(guard, "close", None)
        if callable(close_guard):
            close_guard()
        store.close()
        raise


def _assemble(
    config: RamConfig, store: Store, guard: Guard, oss_domains: tuple[str, ...], oss_cnames: Mapping[str, str]
) -> Ram:
    """The layers over an open store and guard (see :func:`build`)."""
    directory = Directory(store)
    tokens = StsTokens(_token_keys(config), clock=config.clock)
    authenticator = Authenticator(
        DirectoryKeyResolver(directory, tokens),
        guard,
        clock=config.clock,
        max_skew=config.max_skew,
        allow_root_keys=config.allow_root_keys,
        replay_signatures=config.replay_signatures,
        oss_domains=oss_domains,
        oss_cnames=oss_cnames,
    )
    contexts = ContextBuilder(
        trusted_proxies=config.trusted_proxies,
        forwarded_header=config.forwarded_header,
        clock=config.clock,
        hook=config.context_hook,
    )
    if isinstance(config.audit, str):
        audit = open_sink(config.audit, flush_interval=config.audit_flush_interval)
    else:
        audit = config.audit
    authorizer = Authorizer(
        authenticator,
        directory,
        contexts=contexts,
        audit=audit,
        undeclared=config.undeclared,
        diagnostics=DiagnosticCodec(store.box),
        host_id=config.host_id,
    )
    service = RamService(
        store, limits=config.limits, clock=config.clock, directory=directory, guard=guard,
        mfa_issuer=config.mfa_issuer.strip(),
    )  # fmt: skip
    return Ram(config, store, guard, directory, tokens, authenticator, authorizer, service)


def limits_from_env(env: Mapping[str, str] | None = None) -> Limits:
    """The quotas ``RAM_LIMITS`` sets (default: ``os.environ``), for code that builds a service without a
    whole :class:`RamConfig` (``ram init``, ``ram policies validate``)."""
    source = os.environ if env is None else env
    return limits_from(source.get("RAM_LIMITS"), "RAM_LIMITS")


def _local_store(store_url: str) -> bool:
    return store_url.startswith(("memory://", "sqlite:"))


def _default_guard_url(store_url: str) -> str:
    """The guard on the store's own backend; a networked store has none, so it must be named."""
    if _local_store(store_url):
        path = sqlite_path(store_url)
        return "memory://" if path is None else f"sqlite:///{path}"
    if not store_url.startswith(("postgresql://", "postgres://")):
        sqlite_path(store_url)  # an unknown scheme: InvalidParameter.StoreUrl names the real mistake
    # A per-process memory guard would let a nonce be replayed against every other instance.
    raise errors.InvalidParameter(
        "GuardUrl", "This store is shared between machines: set RAM_GUARD_URL (e.g. redis://host:6379/0)."
    )


def _token_keys(config: RamConfig) -> Sequence[bytes]:
    if config.token_keys:
        return [key.encode() for key in config.token_keys]
    masters = list(config.master_keys) or keys_from_env(os.environ)
    path = sqlite_path(config.store_url) if config.store_url.startswith("sqlite:") else None
    if not masters and path is not None:
        # The store has read (and, in production, warned about) the same file as it opened.
        masters = load_or_create_key_file(Path(path + KEY_FILE_SUFFIX))
    if not masters:
        return [secrets.token_bytes(32)]
    # One derived token key per master key, in the same order, so rotating the master rotates these too.
    return [hmac.new(key.encode(), _TOKEN_KEY_LABEL, hashlib.sha256).digest() for key in masters]


def _split(text: str) -> list[str]:
    return [piece.strip() for piece in text.split(",") if piece.strip()]


def parse_flag(name: str, text: str) -> bool:
    """The on/off setting ``name`` given as text (``true``/``false``, ``yes``/``no``, ``1``/``0``, ``on``/
    ``off``; empty is off); anything else is refused rather than read as on."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise errors.InvalidParameter(name, f"{name} must be true or false.")


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise errors.InvalidParameter(name, f"{name} must be a number of seconds.") from None


def _check_issuer(name: str) -> None:
    """``mfa_issuer`` checked: authenticator apps split an ``otpauth://`` label on ``:``."""
    name = name.strip()
    if not name or ":" in name or len(name) > 64:
        raise errors.InvalidParameter(
            "MFAIssuer", "The MFA issuer must be 1 to 64 characters without ':' (RAM_MFA_ISSUER)."
        )
