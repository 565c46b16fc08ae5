"""``ram init`` (create the account and its bootstrap admin), ``ram serve`` (run the control plane) and
``ram rotate-master-key`` (re-encrypt the store's secrets under the first master key).

Exit statuses of ``ram init``: 0 created; 3 the store already holds an account (nothing changed; use
``--new-account`` to add another); 1 any other error (bad alias, unreachable store, …); 2 usage errors.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging.config
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

from .. import errors
from ..bootstrap import AlreadyInitialised, initialise
from ..config import limits_from_env
from ..redaction import redacted_url
from ..service import RamService
from ..service.rules import check_alias, check_name
from ..store import Store, open_store
from . import CliContext, common_options, main
from .output import Output

__all__ = ["EXIT_ALREADY_INITIALISED", "init", "rotate_master_key", "serve"]

EXIT_ALREADY_INITIALISED = 3


@main.command("init")
@common_options
@click.option("--alias", default=None, help="Account alias (3-32 of a-z, 0-9, '-').")
@click.option("--admin", "admin_user", default="admin", show_default=True, help="Bootstrap admin user name.")
@click.option("--new-account", is_flag=True, help="Add another account even if the store already holds one.")
def init(cli: CliContext, alias: str | None, admin_user: str, new_account: bool) -> None:
    """Create the account and a bootstrap admin user with AdministratorAccess and one AccessKey.

    The account root gets no AccessKey. The admin's AccessKeySecret is printed once and never again.
    If the store already holds an account nothing is changed and the exit status is 3.
    """
    # Errors as every other command gives them: `Error: <Code>: <Message>`, or with --json a JSON object.
    out = Output(cli.json_output)
    try:
        # The quotas `ram serve` will keep to and the names given, checked before the store is made: bad
        # input leaves no empty store and key file behind.
        limits = limits_from_env()
        if cli.store_url.startswith("memory://"):
            # Its account and the admin's AccessKey, printed "to store now", would end with this command.
            raise errors.InvalidParameter(
                "StoreUrl",
                "A memory:// store ends with the command that opened it: give ram init a lasting one, "
                "sqlite:///path/to/ram.db or postgresql://user@host:5432/db.",
            )
        check_name("UserName", admin_user)
        if alias is not None:
            check_alias(alias)
    except errors.RAMError as exc:
        out.fail(exc)
    store = _opened(cli.store_url, out)
    service = RamService(store, limits=limits)
    try:
        created = initialise(service, alias=alias, admin_user=admin_user, new_account=new_account)
    except AlreadyInitialised as exc:
        _already(cli, exc)
        sys.exit(EXIT_ALREADY_INITIALISED)
    except errors.RAMError as exc:
        out.fail(exc)
    finally:
        service.directory.close()
        store.close()
    if cli.json_output:
        click.echo(json.dumps(created.to_json(), indent=2))
        return
    click.echo(
        f"Account {created.account_id}" + (f" ({created.alias})" if created.alias else "") + " created."
    )
    click.echo(f"Bootstrap admin: {created.user_name} (AdministratorAccess)")
    click.echo(f"AccessKeyId:     {created.access_key_id}")
    click.echo(f"AccessKeySecret: {created.access_key_secret}")
    click.echo("Store the secret now: it is not shown again. The account root has no AccessKey.", err=True)


@main.command("rotate-master-key")
@common_options
def rotate_master_key(cli: CliContext) -> None:
    """Re-encrypt every AccessKey secret and TOTP seed under the first master key.

    Run once, on one machine, after putting the new key first (RAM_MASTER_KEY, or the key file's first
    line) with the old ones after it on every instance; drop the old keys 12 hours later.
    """
    out = Output(cli.json_output)
    store = _opened(cli.store_url, out)
    service = RamService(store)
    try:
        changed = service.rotate_master_key()
    except errors.RAMError as exc:
        out.fail(exc)
    finally:
        service.directory.close()
        store.close()
    if cli.json_output:
        click.echo(json.dumps({"ReEncrypted": changed}))
        return
    click.echo(f"Re-encrypted {changed} AccessKey secrets and TOTP seeds under the first master key.")


def _opened(store_url: str, out: Output) -> Store:
    """The store at ``store_url``, or the command fails naming it (password hidden)."""
    try:
        return open_store(store_url)
    except (errors.RAMError, OSError) as exc:
        out.fail(_unopenable(store_url, exc))


def _unopenable(store_url: str, exc: errors.RAMError | OSError) -> errors.RAMError:
    """The store could not be opened: the cause's Code, and a message naming the store (password hidden)."""
    if isinstance(exc, errors.RAMError):
        code, cause = exc.code, exc.message
    else:
        code, cause = "ServiceUnavailable.Store", str(exc)
    message = f"Cannot open the store {redacted_url(store_url)}: {cause}"
    return errors.RAMError(message, code=code)


def _already(cli: CliContext, exc: AlreadyInitialised) -> None:
    if cli.json_output:
        accounts = [{"AccountId": a.account_id, "AccountAlias": a.alias} for a in exc.accounts]
        click.echo(json.dumps({"AlreadyInitialised": True, "Accounts": accounts}, indent=2))
    click.echo(f"{exc.message} Use --new-account to create another account.", err=True)


@main.command("serve")
@common_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.option(
    "--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate (serve HTTPS)."
)
@click.option(
    "--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key for --tls-cert."
)
def serve(
    cli: CliContext, host: str, port: int, log_level: str, tls_cert: str | None, tls_key: str | None
) -> None:
    """Serve the RAM (2015-05-01) and STS (2015-04-01) APIs on / and a public /healthz.

    /healthz is 200 while the store and guard answer, else 503 (point the load balancer's probe at it).

    Every call is authenticated by signature and authorized by the caller's RAM policies. Other settings come
    from the RAM_* environment variables (see ram_middleware.config). alibabacloud-credentials' role-ARN
    provider only speaks HTTPS to STS: give it --tls-cert/--tls-key.
    """
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together.")
    if tls_cert is not None and tls_key is not None:
        _check_tls(tls_cert, tls_key)
    # Imported here: uvicorn and the ASGI stack are the `serve` extra, not needed by other commands.
    try:
        import jinja2  # noqa: F401 - the console's pages, which create_app mounts
        import uvicorn

        from ..api import create_app
        from .serve_http import ReceiveTimeoutH11
    except ModuleNotFoundError as exc:
        raise click.ClickException(str(errors.missing_extra(exc, "ram serve", "serve"))) from exc
    from ..config import RamConfig, build
    from .local import require_existing

    # Before build(): the store and guard may warn as they open.
    log_config = _log_config(uvicorn.config.LOGGING_CONFIG, log_level)
    click.get_current_context().call_on_close(_restorer(logging.getLogger(_PROJECT_LOGGER)))
    logging.config.dictConfig(log_config)

    try:
        require_existing(cli.store_url)
        runtime = build(RamConfig.from_env(store_url=cli.store_url))
    except (errors.RAMError, OSError) as exc:
        # Not only the store: the guard, the audit file and every RAM_* setting are checked here too.
        raise click.ClickException(f"cannot start (store {redacted_url(cli.store_url)}): {exc}") from exc
    if not runtime.service.list_accounts():
        click.echo("warning: the store holds no account yet; run `ram init` first.", err=True)
    app = create_app(runtime, close_on_shutdown=True)
    try:
        sock = _listening_socket(host, port)
    except OSError as exc:
        runtime.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound_port = sock.getsockname()[1]
    scheme = "https" if tls_cert else "http"
    shown_host = f"[{host}]" if ":" in host else host
    where = f"{scheme}://{shown_host}:{bound_port}/"
    click.echo(f"ram-middleware control plane on {where} (store {redacted_url(cli.store_url)})", err=True)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=log_config,
        lifespan="on",
        http=ReceiveTimeoutH11,  # uvicorn's own protocols give a request all the time the client likes
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        # Forwarded headers are the middleware's to read (RAM_TRUSTED_PROXIES): uvicorn's own proxy
        # handling would rewrite the peer from any local client's X-Forwarded-For before the check.
        proxy_headers=False,
        # uvicorn's access log prints each request's query string, which carries RPC signatures,
        # SecurityTokens and, for CreateLoginProfile and the like, passwords. The audit log records every
        # call instead, without any of them.
        access_log=False,
    )
    # uvicorn shuts down gracefully on SIGINT (Ctrl-C) and SIGTERM (systemd, Docker, Kubernetes), then
    # raises the signal again under the handler there was before: the stop asked for, not a failure to
    # report ("Aborted!", exit status 1 for SIGINT; death by the signal, 143, for SIGTERM). Both exit 0.
    main_thread = threading.current_thread() is threading.main_thread()  # the only one signals reach
    previous = signal.signal(signal.SIGTERM, _stopped) if main_thread else None
    try:
        with contextlib.suppress(KeyboardInterrupt, _Stopped):
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        if previous is not None:  # None: installed from outside Python, or not in the main thread
            signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """SIGTERM, raised again by uvicorn once it has shut down gracefully."""


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped()


_PROJECT_LOGGER = "ram_middleware"


def _log_config(uvicorn_config: dict[str, Any], level: str) -> dict[str, Any]:
    """uvicorn's logging setup, with the project's own loggers on its handler (``WARNING:  …``) and at
    ``level``: else their warnings go out bare through Python's last-resort handler, whatever the level."""
    config = copy.deepcopy(uvicorn_config)
    config["loggers"][_PROJECT_LOGGER] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def _restorer(logger: logging.Logger) -> Callable[[], None]:
    """Puts ``logger`` back as it is now, for a process that goes on after the command (tests, embedding)."""
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate

    def restore() -> None:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate

    return restore


def _check_tls(cert: str, key: str) -> None:
    """Load the pair as uvicorn will, so a bad one is one line now rather than a traceback from its startup.

    A passphrase is refused rather than asked for: uvicorn would prompt on the terminal for it (or hang)."""

    def no_passphrase() -> bytes:
        raise click.ClickException(f"--tls-key {key} is encrypted; give an unencrypted PEM key.")

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key, no_passphrase)
    except (ssl.SSLError, OSError) as exc:
        raise click.ClickException(
            f"cannot use --tls-cert {cert} with --tls-key {key} "
            f"(PEM files, the key matching the certificate): {exc}"
        ) from None


def _listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket with TCP_NODELAY, which the accepted connections inherit.

    Without it every response pays ~40 ms: uvicorn writes the head and the body separately, and Nagle's
    algorithm holds the body until the client's delayed ACK of the head arrives.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
