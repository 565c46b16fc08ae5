"""Condition context: source IP through trusted proxies, secure transport, time, principal keys, hooks."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.context import ContextBuilder, ForwardedHeader, _parse_address, format_time
from ram_middleware.facts import RequestFacts
from ram_middleware.identity import Principal

PROXIES = ("192.0.2.0/24", "2001:db8:ffff::/48")
USER = Principal("user", "1234567890123456", "alice", "2001", "acs:ram::1234567890123456:user/alice",
                 auth_method="acs3", access_key_id="LTAIalice")  # fmt: skip


def facts(peer: str | None, *headers: tuple[str, str], scheme: str = "http") -> RequestFacts:
    return RequestFacts("GET", "/", "", tuple(headers), b"", peer, scheme)


@pytest.fixture
def builder() -> ContextBuilder:
    return ContextBuilder(trusted_proxies=PROXIES)


@pytest.mark.parametrize(
    ("peer", "chain", "expected"),
    [
        ("198.51.100.1", None, "198.51.100.1"),  # no proxy
        ("198.51.100.1", "203.0.113.9", "198.51.100.1"),  # spoof from an untrusted peer: ignored
        ("192.0.2.1", "203.0.113.9", "203.0.113.9"),  # one trusted hop
        ("192.0.2.1", "203.0.113.9, 192.0.2.7", "203.0.113.9"),  # two trusted hops skipped
        ("192.0.2.1", "10.0.0.1, 203.0.113.9", "203.0.113.9"),  # client-sent prefix ignored
        ("192.0.2.1", "192.0.2.8, 192.0.2.7", "192.0.2.8"),  # every hop trusted: the leftmost
        ("192.0.2.1", "garbage, 192.0.2.7", ""),  # the client's hop unreadable: so is the client
        ("192.0.2.1", "unknown, 192.0.2.7", ""),  # not the trusted proxy's address, which allow-lists admit
        ("192.0.2.1", "garbage, 203.0.113.9", "203.0.113.9"),  # unreadable beyond the client: never read
        ("192.0.2.1", "203.0.113.9:5555", "203.0.113.9"),  # port stripped
        ("2001:db8:ffff::1", "2001:db8:1::5", "2001:db8:1::5"),  # IPv6 proxy
        ("192.0.2.1", "::ffff:203.0.113.9", "203.0.113.9"),  # IPv4-mapped becomes IPv4
        ("192.0.2.1", None, ""),  # a trusted proxy naming no client: not its own address (allow-listed)
        ("192.0.2.1", "", ""),  # nor with the header empty
    ],
)
def test_x_forwarded_for(builder: ContextBuilder, peer: str, chain: str | None, expected: str) -> None:
    headers = (("X-Forwarded-For", chain),) if chain is not None else ()
    assert builder.source_ip(facts(peer, *headers)) == expected


def test_multiple_forwarded_for_lines_form_one_chain(builder: ContextBuilder) -> None:
    request = facts("192.0.2.1", ("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "192.0.2.5"))
    assert builder.source_ip(request) == "203.0.113.9"


def test_rfc7239_forwarded_when_configured() -> None:
    builder = ContextBuilder(trusted_proxies=PROXIES, forwarded_header="forwarded")
    header = ("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=http, for=192.0.2.60;proto=https')
    assert builder.source_ip(facts("192.0.2.1", header)) == "2001:db8:cafe::17"
    # The client reached the first proxy over plain http; the proxies' own https hop does not change that.
    assert builder.secure_transport(facts("192.0.2.1", header)) is False
    tls = ("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60')
    assert builder.secure_transport(facts("192.0.2.1", tls)) is True
    inner_http = ("Forwarded", "for=203.0.113.9;proto=https, for=192.0.2.60;proto=http")
    assert builder.secure_transport(facts("192.0.2.1", inner_http)) is False
    # An element without "for" is an unreadable hop, not one to skip to the address a client wrote.
    for line in ("for=203.0.113.5, proto=https;by=192.0.2.1", 'for=203.0.113.5, for=""'):
        assert builder.source_ip(facts("192.0.2.1", ("Forwarded", line))) == ""
    # In this mode X-Forwarded-For is not believed at all: the proxy named no client, so none is known.
    assert builder.source_ip(facts("192.0.2.1", ("X-Forwarded-For", "203.0.113.9"))) == ""


def test_secure_transport(builder: ContextBuilder) -> None:
    assert builder.secure_transport(facts("198.51.100.1", scheme="https")) is True
    assert builder.secure_transport(facts("198.51.100.1", ("X-Forwarded-Proto", "https"))) is False
    assert builder.secure_transport(facts("192.0.2.1", ("X-Forwarded-Proto", "https"))) is True
    assert builder.secure_transport(facts("192.0.2.1", ("X-Forwarded-Proto", "https, http"))) is False
    # Every report must say TLS: the client's own plain http leg is not hidden by the proxies' https one.
    assert builder.secure_transport(facts("192.0.2.1", ("X-Forwarded-Proto", "http, https"))) is False
    assert builder.secure_transport(facts("192.0.2.1", ("X-Forwarded-Proto", "HTTPS, wss"))) is True


@pytest.mark.parametrize(
    ("forwarded_header", "report"),
    [
        ("x-forwarded-for", ("X-Forwarded-Proto", "http")),
        ("x-forwarded-for", ("X-Forwarded-Proto", "http, https")),
        ("forwarded", ("Forwarded", "for=203.0.113.9;proto=http")),
        ("forwarded", ("Forwarded", "for=203.0.113.9;proto=http, for=192.0.2.7;proto=https")),
    ],
)
def test_a_proxy_that_re_encrypts_does_not_hide_the_clients_plain_http(
    forwarded_header: ForwardedHeader, report: tuple[str, str]
) -> None:
    # A load balancer that speaks TLS to the app (backend HTTPS) while the client spoke plain http to it:
    # the app's own hop is TLS, but the client's request crossed the network in clear.
    builder = ContextBuilder(trusted_proxies=PROXIES, forwarded_header=forwarded_header)
    request = facts("192.0.2.1", ("X-Forwarded-For", "203.0.113.9"), report, scheme="https")
    assert builder.secure_transport(request) is False
    assert builder.build(request, None)["acs:SecureTransport"] == "false"
    # Without any report the app's own TLS hop is all that is known; from an untrusted peer, too.
    assert builder.secure_transport(facts("192.0.2.1", ("X-Forwarded-For", "203.0.113.9"), scheme="https"))
    assert builder.secure_transport(facts("198.51.100.1", report, scheme="https"))


@pytest.mark.parametrize("written", ["::ffff:192.0.2.1", "::ffff:192.0.2.0/120", "::ffff:c000:200/120"])
def test_trusted_proxies_written_ipv4_mapped_are_ipv4(written: str) -> None:
    # A dual-stack server logs its IPv4 peers this way; requests' mapped addresses already become IPv4.
    builder = ContextBuilder(trusted_proxies=[written])
    chain = ("X-Forwarded-For", "203.0.113.9")
    assert builder.source_ip(facts("192.0.2.1", chain)) == "203.0.113.9"
    assert builder.source_ip(facts("::ffff:192.0.2.1", chain)) == "203.0.113.9"


def test_context_keys(builder: ContextBuilder) -> None:
    now = datetime(2030, 5, 6, 7, 8, 9, 999, tzinfo=timezone(timedelta(hours=8)))
    context = builder.build(facts("198.51.100.1", scheme="https"), USER, now)
    assert context == {
        "acs:SourceIp": "198.51.100.1",
        "acs:CurrentTime": "2030-05-05T23:08:09Z",
        "acs:SecureTransport": "true",
        "acs:PrincipalARN": USER.arn,
        "acs:PrincipalType": "SubUser",
        "acs:AccessId": "LTAIalice",
    }


@pytest.mark.parametrize("proxies", [(), PROXIES])
def test_an_ipv4_mapped_peer_is_its_ipv4_address(proxies: tuple[str, ...]) -> None:
    # What a dual-stack server reports for an IPv4 client; StringEquals and the audit log must see the same
    # address as IpAddress and a client behind a trusted proxy.
    builder = ContextBuilder(trusted_proxies=proxies)
    mapped = facts("::ffff:203.0.113.7", ("X-Forwarded-For", "198.51.100.1"))
    assert builder.build(mapped, None)["acs:SourceIp"] == "203.0.113.7"
    assert builder.source_ip(mapped) == "203.0.113.7"
    assert builder.build(facts("::FFFF:CB00:7107"), None)["acs:SourceIp"] == "203.0.113.7"
    assert builder.build(facts("2001:db8::7"), None)["acs:SourceIp"] == "2001:db8::7"


@pytest.mark.parametrize("proxies", [(), PROXIES])
@pytest.mark.parametrize("peer", [None, "", "localhost", "<local>", "unix:/run/app.sock", "::ffff:zz"])
def test_a_peer_that_is_no_ip_address_is_no_source_ip(proxies: tuple[str, ...], peer: str | None) -> None:
    # Servers on a Unix socket name the peer as they please (uvicorn: none, waitress: "localhost"); the
    # same deployment must give the same acs:SourceIp, and only an address or "" is one.
    builder = ContextBuilder(trusted_proxies=proxies)
    request = facts(peer, ("X-Forwarded-For", "203.0.113.9"))
    assert builder.build(request, None)["acs:SourceIp"] == ""
    assert builder.source_ip(request) == ""


def test_principal_arn_of_a_role_session_is_the_role() -> None:
    from dataclasses import replace

    from ram_middleware.policy import AttachedPolicy, decide, make_request, parse_policy

    session = replace(USER, kind="assumed-role", name="OpsAdmin", session_name="night-shift",
                      arn="acs:ram::1234567890123456:assumed-role/OpsAdmin/night-shift")  # fmt: skip
    context = ContextBuilder().build(facts("198.51.100.1"), session)
    assert context["acs:PrincipalARN"] == "acs:ram::1234567890123456:role/opsadmin"
    # A Deny aimed at the role fires for every session of it.
    document = {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecs:DeleteInstance", "Resource": "*",
         "Condition": {"StringEquals": {"acs:PrincipalARN": "acs:ram::1234567890123456:role/opsadmin"}}},
    ]}  # fmt: skip
    attached = AttachedPolicy("p", "Custom", "v1", "role", "OpsAdmin", parse_policy(document))
    decision = decide([attached], make_request("ecs:DeleteInstance", "acs:ecs:*:1:instance/i-1", context))
    assert decision.effect == "ExplicitDeny"


def test_mfa_present_only_for_sessions_that_know_it(builder: ContextBuilder) -> None:
    from dataclasses import replace

    assert "acs:MFAPresent" not in builder.build(facts("198.51.100.1"), USER)
    session = replace(USER, mfa_present=False)
    assert builder.build(facts("198.51.100.1"), session)["acs:MFAPresent"] == "false"


def test_hook_adds_keys_but_cannot_override_global_ones() -> None:
    builder = ContextBuilder(
        hook=lambda request, principal: {
            "acs:SourceVpc": "vpc-1",
            "ACS:SOURCEIP": "10.0.0.1",
            "app:Tier": "gold",
        },
        clock=lambda: datetime(2030, 1, 1, tzinfo=UTC),
    )
    context = builder.build(facts("198.51.100.1"), None)
    assert context["acs:SourceVpc"] == "vpc-1" and context["app:Tier"] == "gold"
    assert context["acs:SourceIp"] == "198.51.100.1" and "ACS:SOURCEIP" not in context
    assert context["acs:CurrentTime"] == "2030-01-01T00:00:00Z"


def test_bad_configuration_fails_at_start_up() -> None:
    with pytest.raises(errors.InvalidParameter):
        ContextBuilder(trusted_proxies=["10.0.0.0/33"])
    with pytest.raises(errors.InvalidParameter):
        ContextBuilder(forwarded_header="x-real-ip")  # type: ignore[arg-type]


def test_format_time_is_utc_seconds() -> None:
    assert format_time(datetime(2030, 1, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))) == (
        "2030-01-01T00:00:00Z"
    )


_ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))]
_MOMENTS = st.datetimes(datetime(1960, 1, 1), datetime(2100, 1, 1), timezones=st.sampled_from(_ZONES))


@given(st.lists(_MOMENTS, min_size=1, max_size=6), st.data())
def test_format_time_of_a_moment_never_depends_on_what_was_formatted_before(
    moments: list[datetime], data: st.DataObject
) -> None:
    # A request formats one clock reading twice (condition context, audit event); the second call reuses
    # the first's work, which must never hand back the text of a moment formatted in between.
    for moment in moments + data.draw(st.permutations(moments)):
        utc = moment.astimezone(UTC)
        second = utc.strftime("%Y-%m-%dT%H:%M:%S")
        assert format_time(moment) == second + "Z"
        assert format_time(moment, milliseconds=True) == f"{second}.{utc.microsecond // 1000:03d}Z"
        assert format_time(moment) == second + "Z"


_HOPS = st.one_of(
    st.sampled_from(["192.0.2.7", "192.0.2.99", "203.0.113.9", "10.0.0.1", "unknown", "", "_hidden"]),
    st.text(max_size=12),
)


@given(
    client_written=st.lists(_HOPS, max_size=4),
    client=st.sampled_from(["203.0.113.9", "198.51.100.20", "2001:db8:1::5"]),
    trusted_hops=st.lists(st.sampled_from(["192.0.2.7", "192.0.2.8", "[2001:db8:ffff::2]:80"]), max_size=3),
)
def test_hops_a_client_writes_never_change_its_source_ip(
    client_written: list[str], client: str, trusted_hops: list[str]
) -> None:
    # Whatever a client puts in X-Forwarded-For, the trusted proxies append its real address after it.
    builder = ContextBuilder(trusted_proxies=PROXIES)
    chain = ", ".join([*(hop.replace(",", "") for hop in client_written), client, *trusted_hops])
    assert builder.source_ip(facts("192.0.2.1", ("X-Forwarded-For", chain))) == client


_SYNTAX = st.sampled_from(["for=", "proto=https", ";", ",", '"', "[", "]", ":", "192.0.2.7", "_x", "unknown"])
_WRITTEN = st.text(max_size=20) | st.lists(_SYNTAX, max_size=8).map("".join)


def _node(address: str, port: bool, quoted: bool) -> str:
    """An RFC 7239 node as a proxy writes it: IPv6 in brackets, quoted when it holds a ':'."""
    node = (f"[{address}]" if ":" in address else address) + (":4711" if port else "")
    return f'"{node}"' if quoted or ":" in node else node


@given(
    client_written=st.lists(_WRITTEN, max_size=3),
    client=st.sampled_from(["203.0.113.9", "198.51.100.20", "2001:db8:1::5"]),
    port=st.booleans(),
    quoted=st.booleans(),
    proto=st.sampled_from(["http", "https", None]),
    trusted_hops=st.lists(st.sampled_from(["192.0.2.7", "192.0.2.8", "2001:db8:ffff::2"]), max_size=3),
    one_line=st.booleans(),
)
def test_forwarded_elements_a_client_writes_never_change_its_address_or_transport(
    client_written: list[str],
    client: str,
    port: bool,
    quoted: bool,
    proto: str | None,
    trusted_hops: list[str],
    one_line: bool,
) -> None:
    # Whatever a client writes in Forwarded (quotes, commas, its own for= and proto=), the trusted proxies
    # append the element naming its real address after it, on the same line or on a line of their own.
    builder = ContextBuilder(trusted_proxies=PROXIES, forwarded_header="forwarded")
    first = f"for={_node(client, port, quoted)}" + (f";proto={proto}" if proto else "")
    elements = [first, *(f"for={_node(hop, False, False)};proto=https" for hop in trusted_hops)]
    lines = [", ".join(client_written)] if client_written else []
    lines = [", ".join([*lines, *elements])] if one_line else [*lines, *elements]
    request = facts("192.0.2.1", *(("Forwarded", line) for line in lines))
    assert builder.source_ip(request) == client
    assert builder.secure_transport(request) is (proto == "https")


def test_a_naive_clock_is_refused_at_start_up() -> None:
    # datetime.utcnow() is naive: read in the server's zone, it would shift every time condition.
    with pytest.raises(errors.InvalidParameter) as caught:
        ContextBuilder(clock=lambda: datetime(2030, 1, 1, 12, 0))
    assert caught.value.code == "InvalidParameter.Clock"


@given(
    st.ip_addresses(),
    st.integers(0, 65535),
    st.sampled_from(["{a}", "{a}:{p}", '"{a}"', '"{a}:{p}"', " {a} "]),
)
def test_a_forwarding_hop_reads_as_the_ipaddress_module_reads_its_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, form: str
) -> None:
    """A hop (bare, with a port, quoted as RFC 7239 writes it) is its address; IPv4-mapped is IPv4."""
    written = f"[{address}]" if address.version == 6 and "{p}" in form else str(address)
    expected = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    assert _parse_address(form.format(a=written, p=port)) == expected
