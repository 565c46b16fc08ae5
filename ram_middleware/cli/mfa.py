"""``ram mfa …``: virtual MFA devices. ``enable`` draws the QR code and asks for two consecutive codes."""

from __future__ import annotations

import click

from .. import errors
from ..credentials.mfa import provisioning_uri, qr_terminal
from . import main
from .backend import Backend, backend_command
from .output import Output

__all__ = ["mfa"]

_ATTEMPTS = 3


@main.group("mfa")
def mfa() -> None:
    """Virtual MFA devices: enable (QR code + two codes), disable, list, show, create-device, bind, delete."""


def _subject(user_name: str | None, root: bool) -> str | None:
    if root == bool(user_name):
        raise click.UsageError("Name a user, or give --root for the account owner (not both).")
    return None if root else user_name


def _show_enrolment(out: Output, backend: Backend, device_name: str, seed: str) -> None:
    account = backend.get_account_alias() or backend.account_id
    uri = provisioning_uri(seed, user_name=device_name, account=account)
    # The QR code and prompts go to stderr with --json, so stdout stays one JSON document.
    err = out.json_output
    click.echo("Scan this QR code with an authenticator app (Google Authenticator, Aliyun app, …):", err=err)
    click.echo(qr_terminal(uri), err=err)
    click.echo(f"Or enter this key by hand: {seed}", err=err)


def _check_can_bind(backend: Backend, subject: str | None) -> None:
    """Refuse before a device is made and its QR code scanned: the user must exist, and they (or the root)
    must have no device yet; the root's is bound only on the local store."""
    if subject is None:
        serial = backend.root_mfa_device()
    else:
        backend.get_user(subject)
        try:
            serial = backend.get_user_mfa_info(subject)["SerialNumber"]
        except errors.EntityNotExist:
            return
        except errors.AuthorizationError:
            return  # a caller who may bind but not look: the bind itself answers
    if serial is not None:
        who = subject or "The account root"
        raise errors.EntityAlreadyExists(
            "User.MFADevice", f"{who} already has an MFA device ({serial}); `ram mfa disable` it first."
        )


@mfa.command("enable")
@click.argument("user_name", required=False)
@click.option("--root", is_flag=True, help="Bind the device to the account owner (local store only).")
@click.option("--device-name", default=None, help="Device name (default: the user name, or 'root').")
@backend_command
def enable(out: Output, backend: Backend, user_name: str | None, root: bool, device_name: str | None) -> None:
    """Create a virtual MFA device, show its QR code, and bind it with two consecutive codes."""
    subject = _subject(user_name, root)
    name = device_name or (subject or "root")
    _check_can_bind(backend, subject)
    device = backend.create_virtual_mfa_device(name)
    serial = device["SerialNumber"]
    try:
        _show_enrolment(out, backend, name, device["Base32StringSeed"])
        for attempt in range(1, _ATTEMPTS + 1):
            code1 = click.prompt("First code", err=out.json_output).strip()
            code2 = click.prompt("Next code (wait for it to change)", err=out.json_output).strip()
            try:
                backend.bind_mfa_device(serial, subject, code1, code2)
                break
            except errors.InvalidAuthenticationCode:
                if attempt == _ATTEMPTS:
                    raise
                click.echo("Those codes did not match; try two fresh consecutive codes.", err=True)
    except BaseException:
        # Wrong codes, Ctrl-C or the end of input: an unbound device left behind would block the next try.
        backend.delete_virtual_mfa_device(serial)
        raise
    out.done(f"MFA enabled for {subject or 'the account root'} ({serial}).", {"SerialNumber": serial})


@mfa.command("disable")
@click.argument("user_name", required=False)
@click.option("--root", is_flag=True, help="The account owner's device (local store only).")
@click.option("--keep-device", is_flag=True, help="Only unbind; keep the device for later.")
@backend_command
def disable(out: Output, backend: Backend, user_name: str | None, root: bool, keep_device: bool) -> None:
    """Unbind a user's MFA device (and delete it, unless --keep-device)."""
    subject = _subject(user_name, root)
    serial = backend.unbind_mfa_device(subject)["SerialNumber"]
    if not keep_device:
        backend.delete_virtual_mfa_device(serial)
    out.done(f"MFA disabled for {subject or 'the account root'}.", {"SerialNumber": serial})


@mfa.command("list")
@backend_command
def list_devices(out: Output, backend: Backend) -> None:
    """List the account's virtual MFA devices and whom they are bound to."""
    devices = backend.list_virtual_mfa_devices()
    if out.json_output:
        out.data({"VirtualMFADevices": devices})
        return
    rows = [
        {
            "SerialNumber": d["SerialNumber"],
            "BoundTo": "root" if d.get("BoundToRoot") else (d.get("User") or {}).get("UserName", ""),
            "ActivateDate": d.get("ActivateDate"),
        }
        for d in devices
    ]
    out.table(rows, ("SerialNumber", "BoundTo", "ActivateDate"))


@mfa.command("show")
@click.argument("user_name")
@backend_command
def show(out: Output, backend: Backend, user_name: str) -> None:
    """Show the MFA device bound to a user."""
    out.entity(backend.get_user_mfa_info(user_name), key="MFADevice")


@mfa.command("create-device")
@click.argument("device_name")
@backend_command
def create_device(out: Output, backend: Backend, device_name: str) -> None:
    """Create an unbound device; its seed is shown this once (for scripted enrolment)."""
    device = backend.create_virtual_mfa_device(device_name)
    if out.json_output:
        out.data({"VirtualMFADevice": device})
        return
    _show_enrolment(out, backend, device_name, device["Base32StringSeed"])
    out.say(
        f"Serial number: {device['SerialNumber']}  (bind it: ram mfa bind SERIAL CODE1 CODE2 --user USER)"
    )


@mfa.command("bind")
@click.argument("serial_number")
@click.argument("code1")
@click.argument("code2")
@click.option("--user", "user_name", default=None, help="The user to bind the device to.")
@click.option("--root", is_flag=True, help="Bind to the account owner (local store only).")
@backend_command
def bind(
    out: Output,
    backend: Backend,
    serial_number: str,
    code1: str,
    code2: str,
    user_name: str | None,
    root: bool,
) -> None:
    """Bind a device to --user or --root with two consecutive codes."""
    subject = _subject(user_name, root)
    backend.bind_mfa_device(serial_number, subject, code1, code2)
    out.done(f"Bound {serial_number} to {subject or 'the account root'}.", {"SerialNumber": serial_number})


@mfa.command("delete-device")
@click.argument("serial_number")
@backend_command
def delete_device(out: Output, backend: Backend, serial_number: str) -> None:
    """Delete an unbound device."""
    backend.delete_virtual_mfa_device(serial_number)
    out.done(f"Deleted {serial_number}.")
