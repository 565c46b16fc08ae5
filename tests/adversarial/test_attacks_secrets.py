"""Secrets never leak, and user names cannot be enumerated.

One scenario exercises every secret the system handles — AccessKey secrets (made by the service and by the
API), STS secrets and tokens, console passwords (accepted and refused ones), the MFA seed, the master key —
through signed requests (good and bad), the control plane, the logon checks and MFA; then none of them may
appear in any log record, in stderr, in the JSON-lines audit file, in an error body, in a repr, or in the raw
bytes of the SQLite database. Enumeration: unknown key vs wrong secret differ only by the spec's codes, and a
logon for an unknown user fails exactly like a wrong password, in the same time.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest

from ram_middleware import errors
from ram_middleware.api import create_app
from ram_middleware.audit import JsonLinesSink
from ram_middleware.client import RequestSigner, Scheme
from ram_middleware.config import DirectoryKeyResolver
from ram_middleware.credentials.authenticate import Authenticator
from ram_middleware.credentials.encoding import PairMemo
from ram_middleware.credentials.mfa import code_at, time_step
from ram_middleware.facts import RequestFacts, TextMemo
from ram_middleware.guard import MemoryGuard
from tests.adapters.harness import Harness, make_harness
from tests.adapters.world import Key, World, make_world

from .drivers import AsgiDriver, RawReply, RawRequest

pytestmark = pytest.mark.timeout(120)

PASSWORD = "Correct-Horse-9-Battery"
NEW_PASSWORD = "Staple-Battery-7-Horse"
REFUSED_PASSWORD = "weakpassword-NoDigits"  # breaks the default policy (no number)
MFA_CODES = ("907153", "318264")  # wrong codes: the memos must not keep them either


class Leaks:
    """Everything written anywhere during the scenario, and every secret that must not be in it."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.outputs: dict[str, bytes] = {}

    def secret(self, label: str, value: str | None) -> None:
        if value:
            self.secrets[label] = value

    def output(self, label: str, data: str | bytes) -> None:
        self.outputs[label] = data if isinstance(data, bytes) else data.encode("utf-8", "replace")

    def found(self) -> list[str]:
        hits = []
        for label, secret in self.secrets.items():
            spellings = {secret, quote(secret, safe=""), quote(quote(secret, safe=""), safe="")}
            for where, data in self.outputs.items():
                if any(spelling.encode() in data for spelling in spellings):
                    hits.append(f"{label} in {where}")
        return hits


def api_call(
    app: AsgiDriver,
    world: World,
    key: Key,
    action: str,
    params: dict[str, str],
    version: str = "2015-05-01",
    scheme: Scheme = "acs3",
) -> RawReply:
    signer = RequestSigner(
        key.access_key_id, key.secret, security_token=key.security_token, clock=world.clock, scheme=scheme
    )
    query = urlencode(params, quote_via=quote)
    headers = [("x-acs-action", action), ("x-acs-version", version)]
    signed = signer.sign("POST", f"http://testserver/?{query}", headers, b"")
    parts = urlsplit(signed.url)
    all_headers = tuple((k.encode(), v.encode()) for k, v in [*headers, *signed.headers.items()])
    return app.send(RawRequest("POST", b"/", parts.query.encode(), all_headers))


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[tuple[World, Path]]:
    audit_file = (tmp_path / "audit.jsonl").open("w", encoding="utf-8")
    world = make_world(f"sqlite:///{tmp_path}/ram.db", audit=JsonLinesSink(audit_file, close_stream=True))
    yield world, tmp_path
    world.ram.close()


def test_no_secret_in_logs_audit_errors_reprs_or_database(
    scenario: tuple[World, Path], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    world, folder = scenario
    caplog.set_level(logging.DEBUG)
    leaks = Leaks()
    service, account = world.ram.service, world.account_id
    for who, key in world.keys.items():
        leaks.secret(f"{who}'s AccessKey secret", key.secret)
    leaks.secret("master key", (folder / "ram.db.key").read_text().strip())
    reprs: list[object] = [*world.keys.values(), world.ram.config, world.ram.tokens, world.signer("alice")]
    error_bodies: list[bytes] = []

    # Console passwords and MFA, through the service the logon flow uses.
    service.create_login_profile(account, "bob", PASSWORD)
    leaks.secret("password", PASSWORD)
    leaks.secret("new password", NEW_PASSWORD)
    leaks.secret("refused password", REFUSED_PASSWORD)
    for attempt in ("wrong-Password-1", PASSWORD):
        try:
            service.verify_login_password(account, "bob", attempt)
        except errors.RAMError as exc:
            reprs.append(exc)
    service.change_password(account, "bob", PASSWORD, NEW_PASSWORD)
    with pytest.raises(errors.InvalidParameter) as refused:
        service.change_password(account, "bob", NEW_PASSWORD, REFUSED_PASSWORD)
    reprs.append(refused.value)
    device = service.create_virtual_mfa_device(account, "bobdev")
    leaks.secret("MFA seed", device.base32_seed)
    reprs.append(device)
    step = time_step(world.clock.now)
    service.bind_mfa_device(
        account,
        device.device.serial_number,
        "bob",
        code_at(device.base32_seed, step - 1),
        code_at(device.base32_seed, step),
    )
    with pytest.raises(errors.InvalidAuthenticationCode) as wrong_code:
        service.verify_mfa_code(account, "bob", code_at(device.base32_seed, step))  # already used at binding
    reprs.append(wrong_code.value)

    # Signed requests through two adapters: good, refused, tampered, with STS credentials.
    session = world.role_session()
    leaks.secret("STS secret", session.secret)
    leaks.secret("STS token", session.security_token)
    reprs.append(session)
    for variant in ("starlette", "flask"):
        harness = make_harness(variant, world)
        for who in ("alice", "eve", "root"):
            for scheme in ("acs3", "v1"):
                harness.call("GET", "/instances/i-1", signer=world.signer(who, scheme))
        wrong = Key(world.keys["alice"].access_key_id, "not-the-secret")
        tampered = Key(session.access_key_id, session.secret, (session.security_token or "")[:-2] + "AA")
        for key in (session, wrong, tampered):
            for scheme in ("acs3", "v1"):
                reply = harness.call("GET", "/instances/i-1", signer=key.signer(world.clock, scheme))
                if reply.status >= 400:
                    error_bodies.append(reply.body)

    # The control plane: secrets it returns once (CreateAccessKey, AssumeRole) and requests it refuses.
    service.create_user(account, "admin")
    service.attach_policy_to_user(account, "System", "AdministratorAccess", "admin")
    created = service.create_access_key(account, "admin")
    admin = Key(created.key.access_key_id, created.secret)
    leaks.secret("admin's AccessKey secret", created.secret)
    reprs.append(created)
    plane = AsgiDriver(create_app(world.ram))
    try:
        replies = [
            api_call(
                plane, world, admin, "CreateLoginProfile", {"UserName": "alice", "Password": REFUSED_PASSWORD}
            ),
            api_call(plane, world, admin, "CreateLoginProfile", {"UserName": "nobody", "Password": PASSWORD}),
            api_call(
                plane,
                world,
                admin,
                "CreateLoginProfile",
                {"UserName": "nobody", "Password": PASSWORD},
                scheme="v1",
            ),
            api_call(
                plane, world, admin, "UpdateLoginProfile", {"UserName": "bob", "Password": REFUSED_PASSWORD}
            ),
            api_call(
                plane,
                world,
                admin,
                "BindMFADevice",
                {
                    "UserName": "eve",
                    "SerialNumber": device.device.serial_number,
                    "AuthenticationCode1": MFA_CODES[0],
                    "AuthenticationCode2": MFA_CODES[1],
                },
            ),
            api_call(plane, world, admin, "CreateAccessKey", {"UserName": "eve"}),
            api_call(
                plane,
                world,
                admin,
                "AssumeRole",
                {"RoleArn": f"acs:ram::{account}:role/deployer", "RoleSessionName": "leak-check"},
                "2015-04-01",
            ),
            api_call(plane, world, Key(admin.access_key_id, "wrong"), "GetUser", {"UserName": "bob"}),
        ]
    finally:
        plane.close()
    for answer in replies:
        assert answer.status < 500, answer.describe()
        if answer.status >= 400:
            error_bodies.append(answer.body)
    assert replies[5].status == 200 and replies[6].status == 200, [r.describe() for r in replies]
    fresh_key = json.loads(replies[5].body)["AccessKey"]
    credentials = json.loads(replies[6].body)["Credentials"]
    leaks.secret("first MFA code sent to BindMFADevice", MFA_CODES[0])
    leaks.secret("second MFA code sent to BindMFADevice", MFA_CODES[1])
    leaks.secret("API-created AccessKey secret", fresh_key["AccessKeySecret"])
    leaks.secret("API-issued STS secret", credentials["AccessKeySecret"])
    leaks.secret("API-issued STS token", credentials["SecurityToken"])

    # Debug mode shows the server's string to sign in SignatureDoesNotMatch; the token, and the passwords and
    # MFA codes an RPC string to sign holds, must be redacted.
    debug = Authenticator(
        DirectoryKeyResolver(world.ram.directory, world.ram.tokens),
        MemoryGuard(),
        clock=world.clock,
        debug_string_to_sign=True,
    )
    secrets = urlencode(
        {"Password": PASSWORD, "NewPassword": NEW_PASSWORD, "AuthenticationCode1": MFA_CODES[0]}
    )
    bad = RequestSigner(
        session.access_key_id, "wrong", security_token=session.security_token, scheme="v1", clock=world.clock
    ).sign("GET", f"http://testserver/instances/i-1?{secrets}", [], b"")
    parts = urlsplit(bad.url)
    with pytest.raises(errors.SignatureMismatch) as mismatch:
        debug.authenticate(RequestFacts("GET", parts.path, parts.query, (), b"", "127.0.0.1"))
    assert "server string to sign is:GET&" in mismatch.value.message
    reprs.append(mismatch.value)

    world.ram.directory.flush()  # last-used dates reach the file too
    # httpx (inside Starlette's TestClient, i.e. the *client*) logs request URLs, and an RPC v1 URL carries
    # the SecurityToken: that is the caller's logging, so only the server side's records are checked here.
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    leaks.output("log records", "\n".join(formatter.format(record) for record in server_records))
    captured = capfd.readouterr()
    leaks.output("stdout", captured.out)
    leaks.output("stderr", captured.err)
    leaks.output("error bodies", b"\n".join(error_bodies))
    leaks.output("reprs and messages", "\n".join(f"{thing!r} {thing}" for thing in reprs))
    leaks.output("audit file", (folder / "audit.jsonl").read_bytes())
    # The request path remembers short query pieces and encodings between requests; never a password
    # or an MFA code.
    memos = [thing for thing in gc.get_objects() if isinstance(thing, (TextMemo, PairMemo))]
    leaks.output("request-path memos", "\n".join(f"{k!r} {v!r}" for memo in memos for k, v in memo.items()))
    for path in sorted(folder.glob("ram.db*")):
        if path.suffix != ".key":
            leaks.output(f"database file {path.name}", path.read_bytes())
    assert len(error_bodies) >= 10 and len(leaks.secrets) >= 14
    assert (folder / "audit.jsonl").read_text().count("\n") >= 20
    assert leaks.found() == []
    # And the master key is not in the clear next to them in any encoding the database might use.
    master = leaks.secrets["master key"]
    raw_master = base64.urlsafe_b64decode(master + "=" * (-len(master) % 4))
    assert raw_master not in (folder / "ram.db").read_bytes()


# --- enumeration --------------------------------------------------------------------------------------------


def shape(harness: Harness, key: Key) -> tuple[int, str, str, frozenset[str], frozenset[str]]:
    reply = harness.call("GET", "/instances/i-1", signer=key.signer(harness.world.clock))
    body = reply.json()
    headers = frozenset(name for name in reply.headers if name not in ("date", "content-length"))
    return reply.status, body["Code"], body["Message"], frozenset(body), headers


def test_unknown_key_and_wrong_secret_reveal_only_their_codes(harness: Harness) -> None:
    world = harness.world
    unknown = [shape(harness, Key(f"LTAI{n}nosuchkey{n}", "whatever")) for n in range(2)]
    wrong = [shape(harness, Key(world.keys[who].access_key_id, "not-the-secret")) for who in ("alice", "eve")]
    assert unknown[0] == unknown[1] and wrong[0] == wrong[1]  # nothing about which key or whose
    assert unknown[0][:2] == (404, "InvalidAccessKeyId.NotFound")
    assert wrong[0][:2] == (400, "SignatureDoesNotMatch")
    assert unknown[0][3] == wrong[0][3] and unknown[0][4] == wrong[0][4]  # same fields, same headers
    for _, _, message, _, _ in [*unknown, *wrong]:
        for hint in ("alice", "eve", world.account_id, "user/", world.keys["alice"].access_key_id):
            assert hint not in message


def test_logon_failures_look_and_take_the_same_for_unknown_users(world: World) -> None:
    service, account = world.ram.service, world.account_id
    service.create_login_profile(account, "bob", PASSWORD)
    cases = {
        "wrong password": (account, "bob", "Wrong-Password-1"),
        "unknown user": (account, "mallory", "Wrong-Password-1"),
        "user without a password": (account, "eve", "Wrong-Password-1"),
        "unknown account": ("9999999999999999", "bob", "Wrong-Password-1"),
    }
    timings: dict[str, list[float]] = {label: [] for label in cases}
    messages: dict[str, tuple[str, str, int]] = {}
    for _ in range(7):
        for label, args in cases.items():
            started = time.process_time()
            with pytest.raises(errors.LoginFailed) as failed:
                service.verify_login_password(*args)
            timings[label].append(time.process_time() - started)
            messages[label] = (failed.value.code, failed.value.message, failed.value.status)
    assert len(set(messages.values())) == 1, messages
    # CPU time, the fastest of each (see the console's logon timing test for why).
    best = {label: min(values) for label, values in timings.items()}
    shown = ", ".join(f"{label} {value * 1000:.1f} ms" for label, value in best.items())
    print(f"\nadversarial: logon failure CPU time, fastest of 7: {shown}")
    assert max(best.values()) / min(best.values()) < 1.5, shown
