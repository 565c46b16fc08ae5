"""Where ``ram`` commands act: the :class:`Backend` interface and how a command gets one.

A backend is one account, reached either through the local store (:class:`~.local.LocalBackend`, ``--store``
and ``--account``) or through the RAM/STS API with a signed AccessKey (:class:`~.remote.RemoteBackend`,
``--endpoint`` with ``--access-key-id``/``--access-key-secret``, or ``RAM_ENDPOINT``,
``ALIBABA_CLOUD_ACCESS_KEY_ID``, ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, and for STS credentials
``--security-token`` or ``ALIBABA_CLOUD_SECURITY_TOKEN``, the variables ``ram assume-role --env`` prints; a
secret not given is asked for, unechoed, when stdin is a terminal). Both answer in the RAM API's response
shapes, so each command has one code path and prints the same thing either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import click

from .. import errors
from ..identity import AttachTarget, Principal, ram_arn
from ..organisation import OrgTarget
from ..organisation.target import Api
from ..policy import Decision
from . import CliContext, common_options
from .output import Output

__all__ = [
    "Backend",
    "NotSupportedHere",
    "Simulation",
    "Subject",
    "attached_policy_names",
    "backend_command",
    "open_backend",
    "output_command",
    "simulated_session",
]


class NotSupportedHere(errors.RAMError):
    """The operation exists only on one kind of backend (e.g. root MFA only on the local store)."""

    default_code = "OperationNotSupported"
    default_status = 400


@dataclass(frozen=True)
class Subject:
    """Whom a simulation is for: a RAM user, or a session of a role (with an optional session policy)."""

    kind: Literal["user", "role"]
    name: str
    session_policy: str | None = None


def simulated_session(account_id: str, role_name: str, role_id: str, session_policy: str | None) -> Principal:
    """The Principal of the role session a simulation is for (session name ``simulation``)."""
    return Principal(
        kind="assumed-role",
        account_id=account_id,
        name=role_name,
        principal_id=f"{role_id}:simulation",
        arn=ram_arn(account_id, f"assumed-role/{role_name}/simulation"),
        session_name="simulation",
        session_policy=session_policy,
        extra={"role_id": role_id},
    )


@dataclass(frozen=True)
class Simulation:
    """What ``ram simulate`` reports: the decision and, for ``sts:AssumeRole`` on one role, the decision of
    the role's trust policy (AssumeRole needs both; ``decision`` is then the one that refused)."""

    decision: Decision
    trust: Decision | None = None


class Backend(OrgTarget, Protocol):
    """Every operation the ``ram`` command needs, in one account (see :class:`OrgTarget` for the rest)."""

    def describe(self) -> str: ...
    def close(self) -> None: ...
    def account_summary(self) -> Api: ...
    def caller_identity(self) -> Api: ...
    def get_user(self, user_name: str) -> Api: ...
    def delete_user(self, user_name: str, *, force: bool = False) -> None: ...
    def get_group(self, group_name: str) -> Api: ...
    def delete_group(self, group_name: str, *, force: bool = False) -> None: ...
    def list_users_for_group(self, group_name: str) -> list[Api]: ...
    def delete_policy(self, policy_name: str, *, cascade: bool = False) -> None: ...
    def list_policy_versions(self, policy_name: str, policy_type: str) -> list[Api]: ...
    def get_policy_version(self, policy_name: str, policy_type: str, version_id: str) -> Api: ...
    def delete_policy_version(self, policy_name: str, version_id: str) -> None: ...
    def set_default_policy_version(self, policy_name: str, version_id: str) -> None: ...
    def list_entities_for_policy(self, policy_name: str, policy_type: str) -> Api: ...
    def update_access_key(self, user_name: str | None, access_key_id: str, status: str) -> None: ...
    def delete_access_key(self, user_name: str | None, access_key_id: str) -> None: ...
    def access_key_last_used(self, user_name: str | None, access_key_id: str) -> str | None: ...
    def delete_login_profile(self, user_name: str) -> None: ...
    def create_virtual_mfa_device(self, device_name: str) -> Api: ...
    def bind_mfa_device(self, serial_number: str, user_name: str | None, code1: str, code2: str) -> None: ...
    def unbind_mfa_device(self, user_name: str | None) -> Api: ...
    def get_user_mfa_info(self, user_name: str) -> Api: ...
    def root_mfa_device(self) -> str | None:
        """The serial number of the account root's device, or None (:class:`NotSupportedHere` remotely)."""
        ...

    def root_mfa_advice(self) -> str:
        """How the account root binds an MFA device, said in a way that works for this backend."""
        ...

    def list_virtual_mfa_devices(self) -> list[Api]: ...
    def delete_virtual_mfa_device(self, serial_number: str) -> None: ...
    def delete_role(self, role_name: str, *, force: bool = False) -> None: ...
    def revoke_role_sessions(self, role_name: str) -> str:
        """End every session of the role issued until now; the revocation time (ISO 8601, UTC)
        (:class:`NotSupportedHere` remotely: the RAM API has no such call)."""
        ...

    def assume_role(self, role_arn: str, params: Mapping[str, str], *, as_user: str | None) -> Api: ...
    def simulate(
        self, subject: Subject, action: str, resource: str, context: Mapping[str, object]
    ) -> Simulation: ...


def attached_policy_names(backend: Backend, kind: AttachTarget, name: str) -> list[str]:
    """``PolicyType:PolicyName`` of each policy attached to the user, group or role (for ``show``)."""
    return [f"{p['PolicyType']}:{p['PolicyName']}" for p in backend.list_policies_for(kind, name)]


@contextmanager
def open_backend(
    store_url: str,
    *,
    account: str | None = None,
    endpoint: str | None = None,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str | None = None,
) -> Iterator[Backend]:
    """The remote backend when ``endpoint`` is given (``security_token`` with STS credentials), else the
    local store; closed on exit."""
    backend: Backend
    if endpoint:
        from .remote import RemoteBackend

        if not access_key_id or not access_key_secret:
            raise errors.MissingParameter(
                "AccessKey",
                "--endpoint needs --access-key-id and --access-key-secret "
                "(or ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET).",
            )
        backend = RemoteBackend(endpoint, access_key_id, access_key_secret, security_token=security_token)
    else:
        from .local import LocalBackend

        backend = LocalBackend.open(store_url, account)
    try:
        yield backend
    finally:
        backend.close()


def _given(value: str | None, before: str | None, name: str) -> str | None:
    """The subcommand's option when typed after it; else one typed before it (`ram --endpoint URL …`);
    else the environment's."""
    source = click.get_current_context().get_parameter_source(name)
    typed_after = source is click.core.ParameterSource.COMMANDLINE
    return value if typed_after or before is None else before


def _keep_params(target: Callable[..., Any], source: Callable[..., Any]) -> None:
    target.__name__ = source.__name__
    target.__doc__ = source.__doc__
    # click keeps the options declared so far on the function object.
    target.__click_params__ = list(getattr(source, "__click_params__", []))  # type: ignore[attr-defined]


def backend_command(func: Callable[..., None]) -> Callable[..., None]:
    """Make ``func(out, backend, **options)`` a command body: adds the backend options (and ``--store``,
    ``--json``), opens the backend, turns any :class:`RAMError` into ``Code: Message`` and exit status 1."""

    def run(
        cli: CliContext,
        *args: Any,
        account: str | None,
        endpoint: str | None,
        access_key_id: str | None,
        access_key_secret: str | None,
        security_token: str | None,
        **kwargs: Any,
    ) -> None:
        out = Output(cli.json_output)
        remote = _given(endpoint, cli.endpoint, "endpoint")
        key_id = _given(access_key_id, cli.access_key_id, "access_key_id")
        secret = _given(access_key_secret, cli.access_key_secret, "access_key_secret")
        if remote and key_id and not secret and sys.stdin.isatty():
            # Asked for, not echoed: neither shell history nor the process list sees it.
            secret = click.prompt(f"AccessKeySecret of {key_id}", hide_input=True, err=True)
        try:
            with open_backend(
                cli.store_url,
                account=_given(account, cli.account, "account"),
                endpoint=remote,
                access_key_id=key_id,
                access_key_secret=secret,
                security_token=_given(security_token, cli.security_token, "security_token"),
            ) as backend:
                func(out, backend, *args, **kwargs)
        except errors.RAMError as exc:
            out.fail(exc)

    _keep_params(run, func)
    decorated: Callable[..., None] = run
    for option in reversed(_BACKEND_OPTIONS):
        decorated = option(decorated)
    return common_options(decorated)


_BACKEND_OPTIONS = (
    click.option(
        "--account",
        default=None,
        help="Account (id or alias) in the local store (default: its only account).",
    ),
    click.option("--endpoint", envvar="RAM_ENDPOINT", default=None, help="RAM API endpoint ($RAM_ENDPOINT)."),
    click.option(
        "--access-key-id",
        envvar="ALIBABA_CLOUD_ACCESS_KEY_ID",
        default=None,
        help="AccessKeyId for --endpoint ($ALIBABA_CLOUD_ACCESS_KEY_ID).",
    ),
    click.option(
        "--access-key-secret",
        envvar="ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        default=None,
        show_envvar=False,
        help="AccessKeySecret for --endpoint ($ALIBABA_CLOUD_ACCESS_KEY_SECRET; asked for when omitted).",
    ),
    click.option(
        "--security-token",
        envvar="ALIBABA_CLOUD_SECURITY_TOKEN",
        default=None,
        show_envvar=False,
        help="SecurityToken of STS credentials for --endpoint ($ALIBABA_CLOUD_SECURITY_TOKEN).",
    ),
)


def output_command(func: Callable[..., None]) -> Callable[..., None]:
    """Like :func:`backend_command` for commands that need no account: ``func(out, **options)``."""

    def run(cli: CliContext, *args: Any, **kwargs: Any) -> None:
        out = Output(cli.json_output)
        try:
            func(out, *args, **kwargs)
        except errors.RAMError as exc:
            out.fail(exc)

    _keep_params(run, func)
    return common_options(run)
