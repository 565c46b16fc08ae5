"""LoginNetworkMasks: any written mask is a mask or a 400, and a logon is allowed from exactly the
addresses an ``IpAddress`` condition on ``acs:SourceIp`` with the same masks matches in a policy (spec
decision 10: an IPv4-mapped address or network is the IPv4 one).
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.credentials.preference import SecurityPreference, parse_network_masks
from ram_middleware.policy import make_request, parse_policy

v4 = st.ip_addresses(v=4)
# Addresses as a logon may come from: IPv4, IPv6, and IPv4 written IPv4-mapped (a dual-stack server).
addresses = st.one_of(v4.map(str), st.ip_addresses(v=6).map(str), v4.map(lambda a: f"::ffff:{a}"))
masks = st.one_of(
    st.builds(lambda a, n: f"{a}/{n}", v4, st.integers(0, 32)),
    st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=6), st.integers(0, 128)),
    st.builds(lambda a, n: f"::ffff:{a}/{n}", v4, st.integers(96, 128)),  # IPv4 networks written mapped
)


def policy_matches(written: list[str], source: str) -> bool:
    """Whether a policy's ``IpAddress`` condition on ``acs:SourceIp`` with these masks holds."""
    condition = {"IpAddress": {"acs:SourceIp": written}}
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}
    compiled = parse_policy({"Version": "1", "Statement": [statement]}).statements[0]
    return compiled.failed_condition(make_request("ram:Logon", "*", {"acs:SourceIp": source}).context) is None


@settings(max_examples=300)
@given(st.lists(masks, min_size=1, max_size=4), addresses)
@example(["::ffff:10.0.0.0/104"], "10.0.0.5")  # an IPv4 network written mapped matched no address
@example(["::ffff:10.0.0.0/104"], "::ffff:10.0.0.5")
@example(["10.0.0.0/8"], "::ffff:10.1.2.3")
def test_a_logon_is_allowed_exactly_from_the_masks(written: list[str], source: str) -> None:
    preference = SecurityPreference(login_network_masks=tuple(written))
    assert preference.login_allowed_from(source) == policy_matches(written, source)
    # What the API gives back reads back as the same masks.
    again = SecurityPreference(login_network_masks=preference.login_network_masks)
    assert again.login_network_masks == preference.login_network_masks


@given(st.lists(st.sampled_from([*"0123456789abcdef.:/;% ", "::ffff:", "中"]), max_size=30).map("".join))
def test_any_text_is_masks_or_invalid_parameter(value: str) -> None:
    try:
        parsed = parse_network_masks(value)
    except errors.InvalidParameter as refused:
        assert refused.code == "InvalidParameter.LoginNetworkMasks"
        return
    assert parse_network_masks(";".join(parsed)) == parsed
